/**
 * Lambda `ingest.handler`: S3 ObjectCreated notifications for `uploads/`, delivered by SQS in batches with
 * partial batch responses. Each image is identified once per (key, ETag), whatever the number of deliveries;
 * its detection record goes to the detections table and its event to the bus (see `AwsRuntime.ingestObject`).
 *
 * Videos (`core/video/sniff.ts`'s rule) are not processed here: each is handed to AWS Batch once
 * (`AwsVideo.handOff`, through the Batch feed queue), recorded in the ingest ledger as handed off.
 *
 * Failures: a corrupt or unreadable image is a result (a `failed` detection record and event), not an error;
 * an unexpected error puts its message in `batchItemFailures`, so SQS delivers it again and, after
 * `maxReceiveCount` receives, moves it to the ingest DLQ.
 *
 * @module
 */
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { PREFIX } from '../../lib/runtime-config.ts';
import { AwsRuntime, staleAfterFor } from './aws/composition.ts';
import { readConfig } from './aws/config.ts';
import { invocation } from './aws/observability.ts';
import { processSqsBatch } from './aws/sqs-batch.ts';
import { AwsVideo } from './aws/video.ts';

const config = readConfig('ingest');
let runtime: AwsRuntime | undefined;
let videos: AwsVideo | undefined;

export async function handler(event: unknown, context: Context): Promise<SQSBatchResponse> {
  runtime ??= new AwsRuntime(config, { staleAfterMs: staleAfterFor(context) });
  const rt = runtime;
  videos ??= new AwsVideo(rt);
  const video = videos;
  return invocation(context, { requestId: context.awsRequestId }, () =>
    processSqsBatch(event, { prefix: PREFIX.uploads, bucket: config.bucket }, (ref, correlation) =>
      video.ingestOrHandOff(ref, correlation),
    ),
  );
}
