/**
 * The video hand-off's queue in AWS (`VideoJobQueue`): a one-video manifest `{"kind": "video", "keys": [...]}`
 * under `batch/videos/` (named by the upload's key and ETag, so a repeated hand-off rewrites the same object),
 * then a message `{"manifest": "<that key>"}` on the Batch feed queue, which the EventBridge pipe turns into one
 * `batch:SubmitJob` (lib/constructs/batch.ts). The ingest function never calls AWS Batch itself.
 */
import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { VIDEO_MANIFEST_PREFIX } from '../../../lib/runtime-config.ts';
import type { VideoJobQueue, VideoJobRequest } from '../../core/video/hand-off.ts';

export { VIDEO_MANIFEST_PREFIX };

/** The manifest key of one video upload at one version. */
export function videoManifestKey(key: string, version: string): string {
  return `${VIDEO_MANIFEST_PREFIX}${createHash('sha256').update(`${key}\n${version}`).digest('hex').slice(0, 32)}.json`;
}

export class SqsVideoJobQueue implements VideoJobQueue {
  constructor(
    private readonly s3: S3Client,
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
  ) {}

  async submit(request: VideoJobRequest): Promise<{ jobRef: string }> {
    const manifest = videoManifestKey(request.key, request.version);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: request.bucket,
        Key: manifest,
        Body: JSON.stringify({ kind: 'video', keys: [{ key: request.key, eTag: request.version }] }),
        ContentType: 'application/json',
      }),
    );
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify({ manifest }) }),
    );
    return { jobRef: manifest };
  }
}
