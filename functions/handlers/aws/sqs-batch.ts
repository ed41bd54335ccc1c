/**
 * The edge of the ingest and enrol functions: S3 notifications delivered through SQS, validated with zod, and the
 * partial batch response that makes SQS deliver again only what failed.
 *
 * @module
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { z } from 'zod';
import { normaliseETag, type ObjectRef } from '../../adapters/aws/s3-upload-source.ts';
import type { UploadOutcome } from '../../core/ingest/workflow.ts';
import { count, logger } from './observability.ts';

const SqsRecordSchema = z.object({
  messageId: z.string().min(1),
  body: z.string(),
  attributes: z.object({ ApproximateReceiveCount: z.string().optional() }).optional(),
});

/** An SQS batch event: only what the handlers read is checked. */
export const SqsEventSchema = z.object({ Records: z.array(SqsRecordSchema) });

const S3RecordSchema = z.object({
  eventSource: z.literal('aws:s3'),
  eventName: z.string().min(1),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      eTag: z.string().optional(),
      versionId: z.string().optional(),
    }),
  }),
});

/** The body of an SQS message sent by an S3 bucket notification. */
const S3NotificationSchema = z.union([
  // Sent once when the notification is configured.
  z.object({ Event: z.literal('s3:TestEvent') }),
  z.object({ Records: z.array(S3RecordSchema).min(1) }),
]);

/** An object key as S3 writes it into notifications: form-encoded (`+` for a space, `%XX` for the rest). */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/**
 * The objects an SQS message announces: `[]` for `s3:TestEvent`, non-ObjectCreated events and folder
 * placeholders. Throws when the body is not an S3 notification.
 */
export function objectsOfMessage(body: string): { refs: ObjectRef[]; skipped: string[] } {
  const parsed = S3NotificationSchema.parse(JSON.parse(body));
  if ('Event' in parsed) return { refs: [], skipped: ['s3:TestEvent'] };
  const refs: ObjectRef[] = [];
  const skipped: string[] = [];
  for (const record of parsed.Records) {
    const key = decodeS3Key(record.s3.object.key);
    if (!record.eventName.startsWith('ObjectCreated:')) skipped.push(`${record.eventName} ${key}`);
    else if (key.endsWith('/')) skipped.push(`folder ${key}`);
    else {
      refs.push({
        bucket: record.s3.bucket.name,
        key,
        eTag: normaliseETag(record.s3.object.eTag),
        versionId: record.s3.object.versionId,
      });
    }
  }
  return { refs, skipped };
}

/**
 * Runs `work` on every object of an SQS batch of S3 notifications, one at a time (the pipeline uses every
 * core), and returns the partial batch response: a message fails when its body is not an S3 notification,
 * when one of its objects is in flight elsewhere (retried later), or on an unexpected error; the others are
 * deleted from the queue. Objects outside `prefix` or in another bucket are ignored.
 */
export async function processSqsBatch(
  event: unknown,
  options: { prefix: string; bucket: string },
  work: (ref: ObjectRef, correlation: Record<string, string | undefined>) => Promise<UploadOutcome>,
): Promise<SQSBatchResponse> {
  const batch = SqsEventSchema.parse(event);
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  for (const message of batch.Records) {
    const correlation = { messageId: message.messageId };
    try {
      const { refs, skipped } = objectsOfMessage(message.body);
      if (skipped.length > 0) logger.info('notification skipped', { ...correlation, skipped });
      let retry = false;
      for (const ref of refs) {
        const ids = { ...correlation, objectKey: ref.key, eTag: ref.eTag };
        if (ref.bucket !== options.bucket || !ref.key.startsWith(options.prefix)) {
          logger.warn('object outside this function’s bucket prefix; ignored', {
            ...ids,
            bucket: ref.bucket,
          });
          continue;
        }
        const outcome = await work(ref, correlation);
        if (outcome.status === 'processed') count('ObjectsProcessed');
        else if (outcome.status === 'refused') count('ObjectsRefused');
        else if (outcome.status === 'duplicate') {
          count('ObjectsDuplicate');
          logger.info('already settled; not processed again', { ...ids, state: outcome.state });
        } else if (outcome.status === 'busy') {
          count('ObjectsBusy');
          logger.info('claimed by another worker; retried later', ids);
          retry = true;
        } else logger.info('object skipped', { ...ids, reason: outcome.reason });
      }
      if (retry) failures.push({ itemIdentifier: message.messageId });
    } catch (error) {
      count('ProcessingErrors');
      logger.error('message failed; SQS will deliver it again', { ...correlation, error });
      failures.push({ itemIdentifier: message.messageId });
    }
  }
  return { batchItemFailures: failures };
}
