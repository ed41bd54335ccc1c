/**
 * Lambda `enrol.handler`: S3 ObjectCreated notifications for `gallery/<subjectId>/<file>`, delivered by SQS in
 * batches with partial batch responses. The first photo of a subject creates it (named by the object's
 * `x-amz-meta-name`, else by its id); later photos add faces (see `AwsRuntime.enrolObject`). Each photo is
 * enrolled once per (key, ETag). A refused photo (no face, several faces, low quality, unreadable, bad key) is
 * settled as failed in the ledger with its reason, not retried; unexpected errors go to `batchItemFailures`.
 *
 * @module
 */
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { PREFIX } from '../../lib/runtime-config.ts';
import { AwsRuntime, staleAfterFor } from './aws/composition.ts';
import { readConfig } from './aws/config.ts';
import { invocation } from './aws/observability.ts';
import { processSqsBatch } from './aws/sqs-batch.ts';

const config = readConfig('enrol');
let runtime: AwsRuntime | undefined;

export async function handler(event: unknown, context: Context): Promise<SQSBatchResponse> {
  runtime ??= new AwsRuntime(config, { staleAfterMs: staleAfterFor(context) });
  const rt = runtime;
  return invocation(context, { requestId: context.awsRequestId }, () =>
    processSqsBatch(event, { prefix: PREFIX.gallery, bucket: config.bucket }, (ref, correlation) =>
      rt.enrolObject(ref, correlation),
    ),
  );
}
