/**
 * Videos in AWS, wiring only. The ingest function recognises a video under `uploads/` (the core's rule,
 * `core/video/sniff.ts`: by name, else by a ranged read of its first bytes) and hands it to AWS Batch
 * (`core/video/hand-off.ts` through the Batch feed queue); the Batch job runs the core's video workflow
 * (`processVideo`) through the upload workflow's ports (`processUpload`), writes tracks and decisions to the
 * detections table, the annotated MP4 and thumbnails under `results/videos/`, and puts the track events on the
 * bus. Every video goes to Batch, however short: see the README ("Video") for why.
 *
 * @module
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';
import { GetObjectCommand, type GetObjectCommandOutput, HeadObjectCommand } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DETECTION_EVENT_SOURCE, ENV } from '../../../lib/runtime-config.ts';
import { SqsVideoJobQueue } from '../../adapters/aws/batch-feed.ts';
import { DynamoVideoStore } from '../../adapters/aws/dynamo-video-store.ts';
import { normaliseETag, type ObjectRef } from '../../adapters/aws/s3-upload-source.ts';
import { EventBridgeTrackSink } from '../../adapters/aws/track-event-sink.ts';
import { FfmpegFrameSource } from '../../adapters/video/ffmpeg-source.ts';
import { FfmpegVideoWriter } from '../../adapters/video/ffmpeg-writer.ts';
import { uploadAuditKey } from '../../core/domain.ts';
import { blameOf, isFaceprintError } from '../../core/errors.ts';
import type { DetectionSink, UploadSource } from '../../core/ingest/ports.ts';
import { type ProcessedUpload, processUpload, type UploadOutcome } from '../../core/ingest/workflow.ts';
import { encodeImage, resizeImage } from '../../core/pipeline/image.ts';
import { auditSink, galleryMatcher } from '../../core/video/gallery-matcher.ts';
import { handOffVideo, type VideoJobQueue, videoLedgerKey } from '../../core/video/hand-off.ts';
import { isVideoUpload, SNIFF_BYTES, videoByName } from '../../core/video/sniff.ts';
import { processVideo } from '../../core/video/video-job.ts';
import type { AwsRuntime } from './composition.ts';
import { notBound } from './config.ts';
import { logger } from './observability.ts';

const requestHandler = { connectionTimeout: 3_000, requestTimeout: 15_000 } as const;

function isMissing(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion';
}

export interface AwsVideoOptions {
  /** The Batch feed queue (`FACEPRINT_BATCH_FEED_QUEUE_URL`); without it, videos are refused. */
  feedQueueUrl?: string | undefined;
  /** The hand-off's queue instead of the SQS one (tests). */
  queue?: VideoJobQueue | undefined;
  /** Where the Batch job downloads videos (default the OS temp folder). */
  scratchDir?: string | undefined;
}

/** The video side of one AWS runtime: hand-off (ingest function) and processing (Batch job). */
export class AwsVideo {
  private queueValue: VideoJobQueue | undefined;
  private storeValue: DynamoVideoStore | undefined;

  constructor(
    private readonly rt: AwsRuntime,
    // The URL is validated with the rest of the configuration at cold start (config.ts).
    private readonly options: AwsVideoOptions = { feedQueueUrl: rt.config.batchFeedQueueUrl },
  ) {
    this.queueValue = options.queue;
  }

  private get queue(): VideoJobQueue | undefined {
    if (!this.queueValue && this.options.feedQueueUrl) {
      this.queueValue = new SqsVideoJobQueue(
        this.rt.clients.s3,
        new SQSClient({ requestHandler }),
        this.options.feedQueueUrl,
      );
    }
    return this.queueValue;
  }

  private get store(): DynamoVideoStore {
    this.storeValue ??= new DynamoVideoStore({
      doc: DynamoDBDocumentClient.from(this.rt.clients.dynamo, {
        marshallOptions: { removeUndefinedValues: true },
      }),
      s3: this.rt.clients.s3,
      bucket: this.rt.config.bucket,
      detectionsTable: this.rt.config.detectionsTable ?? notBound(ENV.detectionsTable),
    });
    return this.storeValue;
  }

  /** Whether the object is a video: by its name, else by its first bytes (one ranged GET). */
  async isVideo(ref: ObjectRef): Promise<boolean> {
    const byName = videoByName(ref.key);
    if (byName !== 'unknown') return byName === 'video';
    try {
      const object = await this.rt.clients.s3.send(
        new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, Range: `bytes=0-${SNIFF_BYTES - 1}` }),
      );
      const head = object.Body ? await object.Body.transformToByteArray() : new Uint8Array(0);
      return isVideoUpload(ref.key, head);
    } catch (error) {
      // Gone: the image workflow reports it as it reports any vanished upload.
      if (isMissing(error) || (error as { name?: string }).name === 'InvalidRange') return false;
      throw error;
    }
  }

  /** The ingest function's step: an image is identified here, a video handed to Batch. */
  async ingestOrHandOff(
    ref: ObjectRef,
    correlation: Record<string, string | undefined> = {},
  ): Promise<UploadOutcome> {
    if (!(await this.isVideo(ref))) return this.rt.ingestObject(ref, correlation);
    return this.handOff(ref, correlation);
  }

  /** Hands a video upload to Batch exactly once (the ingest ledger records the hand-off). */
  async handOff(
    ref: ObjectRef,
    correlation: Record<string, string | undefined> = {},
  ): Promise<UploadOutcome> {
    const ids = { ...correlation, objectKey: ref.key, eTag: ref.eTag };
    const queue = this.queue;
    const outcome = queue
      ? await handOffVideo(ref, {
          source: this.rt.uploads,
          ledger: this.rt.ledger,
          sink: this.rt.detections,
          queue,
          request: (r, version) => ({ kind: 'video', bucket: r.bucket, key: r.key, version }),
        })
      : await processUpload(ref, {
          source: this.rt.uploads,
          ledger: this.rt.ledger,
          sink: this.rt.detections,
          process: async () => ({
            ok: false,
            error: {
              code: 'VIDEO_NEEDS_BATCH',
              message:
                'Videos are processed by AWS Batch, which this deployment does not have (batch: false).',
            },
          }),
        });
    if (outcome.status === 'processed')
      logger.info('video handed off to Batch', { ...ids, detail: outcome.detail });
    else if (outcome.status === 'refused')
      logger.warn('video refused', { ...ids, code: outcome.code, reason: outcome.message });
    return outcome;
  }

  /**
   * The Batch job's step for one video: claimed under its video ledger key, downloaded to scratch, decoded by
   * FFmpeg through the core's video workflow, recorded (tracks, decisions, files) and settled. A video that
   * cannot be decoded is recorded as failed with the reason; an operator error is thrown (the job retries).
   */
  async processObject(
    ref: ObjectRef,
    correlation: Record<string, string | undefined> = {},
  ): Promise<UploadOutcome> {
    const ids = { ...correlation, objectKey: ref.key, eTag: ref.eTag };
    const outcome = await processUpload(ref, {
      source: this.videoSource(),
      ledger: this.rt.ledger,
      sink: this.refusalSink(),
      // The claim is renewed while the video runs (however long) and released if the job fails.
      process: (r, version, signal) => this.runVideo(r, version, signal),
      onRenewalError: (error) => logger.warn('video claim renewal failed; retrying', { ...ids, error }),
    });
    if (outcome.status === 'processed') logger.info('video processed', { ...ids, detail: outcome.detail });
    else if (outcome.status === 'refused')
      logger.warn('video refused', { ...ids, code: outcome.code, reason: outcome.message });
    return outcome;
  }

  /** The upload source under the video ledger key: the same object, claimed apart from its hand-off. */
  private videoSource(): UploadSource<ObjectRef> {
    const s3 = this.rt.clients.s3;
    return {
      keyOf: (ref) => videoLedgerKey(ref.key),
      version: async (ref) => {
        if (ref.eTag) return { version: normaliseETag(ref.eTag) as string };
        try {
          const head = await s3.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
          const eTag = normaliseETag(head.ETag);
          return eTag ? { version: eTag } : { gone: true };
        } catch (error) {
          if (isMissing(error)) return { gone: true };
          throw error;
        }
      },
      read: async () => ({ gone: true }), // never called: videos are claimed, not read (processUpload)
    };
  }

  /** Refusals of the workflow itself (gone, replaced, …): the video item says why. */
  private refusalSink(): DetectionSink<ObjectRef> {
    const store = this.store;
    return {
      record: async () => {
        throw new Error('videos are recorded by their processing step');
      },
      refuse: async (ref, version, event) => {
        if (version !== undefined && event.error) await store.refuse(ref, version, event.error);
        return { resultRef: '', settle: async () => undefined, abandon: () => undefined };
      },
    };
  }

  private async runVideo(ref: ObjectRef, version: string, signal: AbortSignal): Promise<ProcessedUpload> {
    const dir = await mkdtemp(join(this.options.scratchDir ?? tmpdir(), 'faceprint-video-'));
    try {
      const input = join(dir, 'input');
      let object: GetObjectCommandOutput;
      try {
        object = await this.rt.clients.s3.send(
          new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, IfMatch: `"${version}"` }),
        );
      } catch (error) {
        if (isMissing(error))
          return {
            ok: false,
            error: { code: 'NOT_FOUND', message: 'The video was deleted before it was processed.' },
          };
        if ((error as { name?: string }).name === 'PreconditionFailed') {
          return {
            ok: false,
            error: { code: 'SUPERSEDED', message: 'The video was replaced before it was processed.' },
          };
        }
        throw error;
      }
      await pipe(object.Body as Readable, createWriteStream(input));
      const gallery = await this.rt.freshGallery();
      const annotated = join(dir, 'annotated.mp4');
      const bus = new EventBridgeTrackSink({
        events: this.rt.clients.events,
        eventBus: this.rt.config.eventBus ?? notBound(ENV.eventBus),
        source: DETECTION_EVENT_SOURCE,
      });
      let processed: Awaited<ReturnType<typeof processVideo>>;
      try {
        processed = await processVideo(
          new FfmpegFrameSource(input, { label: `The video ${ref.key}` }),
          {
            pipeline: this.rt.pipeline,
            matcher: galleryMatcher(gallery),
            events: [auditSink(gallery, uploadAuditKey(ref.key, version)), bus],
          },
          ref.key,
          // A lost claim stops decoding: the worker that took the video over records it.
          { annotate: new FfmpegVideoWriter(annotated), signal },
        );
        signal.throwIfAborted();
      } catch (error) {
        if (signal.aborted || !isFaceprintError(error) || blameOf(error) === 'operator') throw error;
        await this.store.refuse(ref, version, { code: error.code, message: error.message });
        return { ok: false, error: { code: error.code, message: error.message } };
      }
      const { result, crops } = processed;
      const thumbnails = new Map<number, Uint8Array>();
      for (const [id, list] of crops) {
        const best = list[0];
        if (best) thumbnails.set(id, await encodeImage(await resizeImage(best, 224, 224), 'jpeg'));
      }
      signal.throwIfAborted();
      const recorded = await this.store.record(ref, version, result, {
        annotated: { path: annotated },
        thumbnails,
      });
      const identified = result.tracks.filter((t) => t.decision?.kind === 'match').length;
      return { ok: true, recorded, detail: `${result.tracks.length} track(s), ${identified} identified` };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
