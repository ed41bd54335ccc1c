/**
 * The composition root of the AWS runtimes: DynamoDB and S3 adapters, the face pipeline and the gallery service
 * over them, created lazily and once per container (a warm Lambda reuses them; the indexer never loads a model).
 * It also holds what the ingest and enrol functions and the Batch job share: the per-object workflows (claim in
 * the ledger → download → identify or enrol → record → publish) and the parsing of S3 notifications from SQS.
 *
 * @module
 */

import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { z } from 'zod';
import { DETECTION_EVENT_SOURCE, ENV, PREFIX } from '../../../lib/runtime-config.ts';
import { DynamoFaceStore } from '../../adapters/aws/dynamo-face-store.ts';
import { DynamoIngestLedger } from '../../adapters/aws/dynamo-ingest-ledger.ts';
import { S3SnapshotStore } from '../../adapters/aws/s3-snapshot-store.ts';
import { isSubjectId, SubjectNameSchema } from '../../core/domain.ts';
import { type FaceprintErrorCode, isFaceprintError } from '../../core/errors.ts';
import { defaultGalleryConfig } from '../../core/gallery/config.ts';
import { GalleryService, type PhotoInput } from '../../core/gallery/service.ts';
import { type IngestEvent, ingestImage } from '../../core/ingest/ingest.ts';
import type { IngestState } from '../../core/ingest/ports.ts';
import { DEFAULT_DECODE_LIMITS } from '../../core/pipeline/image.ts';
import { FacePipeline } from '../../core/pipeline/pipeline.ts';
import { type AwsClients, createClients } from './clients.ts';
import { type AwsConfig, notBound } from './config.ts';
import { count, logger, recordDecisions, timed } from './observability.ts';

/** `detail-type` of the detection events on the bus (`source` is `DETECTION_EVENT_SOURCE`). */
export const DETECTION_DETAIL_TYPE = 'Faceprint Detection';

/** How often a warm container asks S3 whether a newer index snapshot was published. */
export const SNAPSHOT_CHECK_INTERVAL_MS = 10_000;

/** Days a detection record is kept (its `expiresAt` TTL), as long as the decision audit log. */
const DETECTION_RETENTION_DAYS = 400;

/** Largest event detail published (EventBridge allows 256 KB per entry, envelope included). */
const MAX_EVENT_DETAIL_BYTES = 240_000;
/** Largest ingest event stored in a detection record (DynamoDB allows 400 KB per item). */
const MAX_RECORD_EVENT_BYTES = 350_000;

/**
 * Errors that are not the input's fault (a missing or mismatched model, a broken index): `ingestImage` turns
 * every FaceprintError into a `failed` event, so these are thrown again here, and SQS retries the message.
 */
const OPERATOR_ERRORS: ReadonlySet<string> = new Set<FaceprintErrorCode>([
  'MODEL_UNAVAILABLE',
  'MODEL_MISMATCH',
  'INDEX_CORRUPT',
  'INDEX_INCOMPATIBLE',
]);

/** Enrolment refusals: the photo is the problem, retrying cannot help; recorded as failed in the ledger. */
const ENROL_REFUSALS: ReadonlySet<string> = new Set<FaceprintErrorCode>([
  'INVALID_IMAGE',
  'UNSUPPORTED_FORMAT',
  'IMAGE_TOO_LARGE',
  'IMAGE_TOO_SMALL',
  'NO_FACE',
  'MULTIPLE_FACES',
  'LOW_QUALITY',
  'INVALID_ARGUMENT',
]);

// ---------------------------------------------------------------------------------------------------------------
// Snapshot freshness

/** What {@link SnapshotFreshness} needs: cheap tag look-ups, the (expensive) refresh, and a clock. */
export interface FreshnessDeps {
  /** The published snapshot's ETag, or undefined when there is none. */
  latestTag(): Promise<string | undefined>;
  /** Reloads the index: the newest snapshot plus the templates created since. */
  refresh(): Promise<unknown>;
  now(): number;
  intervalMs: number;
  /** A failed check on a warm container: the index already loaded keeps serving. */
  onStale?(error: unknown): void;
}

/**
 * Keeps a container's index fresh: the first call loads it (cold start); later calls ask S3 for the snapshot's
 * ETag at most once per interval and reload only when it changed. Concurrent callers share one check. A failed
 * check on a warm container is reported and the loaded index keeps serving; on a cold start it throws.
 */
export class SnapshotFreshness {
  private loaded = false;
  private tag: string | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;

  constructor(private readonly deps: FreshnessDeps) {}

  /** Whether the index was loaded at least once. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  async ensureFresh(): Promise<void> {
    if (this.loaded && this.deps.now() - this.checkedAt < this.deps.intervalMs) return;
    this.pending ??= this.check().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async check(): Promise<void> {
    const started = this.deps.now();
    try {
      const tag = await this.deps.latestTag();
      if (!this.loaded || tag !== this.tag) {
        await this.deps.refresh();
        this.tag = tag;
        this.loaded = true;
      }
    } catch (error) {
      if (!this.loaded) throw error;
      this.deps.onStale?.(error);
    } finally {
      this.checkedAt = started;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Objects and outcomes

/** An object named by an S3 notification (key already URL-decoded), a manifest or a listing. */
export interface ObjectRef {
  bucket: string;
  key: string;
  /** Without quotes. Looked up with HeadObject when absent. */
  eTag?: string | undefined;
  /** Set by S3 notifications on a versioned bucket: the exact version the event is about. */
  versionId?: string | undefined;
}

/** What happened to one object. Unexpected errors are thrown instead. */
export type ObjectOutcome =
  | { status: 'processed'; detail: string }
  | { status: 'refused'; code: string; message: string }
  | { status: 'duplicate'; state: IngestState }
  | { status: 'busy' }
  | { status: 'ignored'; reason: string };

/** An ETag without its quotes (S3 notifications carry none, HeadObject/GetObject do). */
export function normaliseETag(eTag: string | undefined): string | undefined {
  return eTag?.replace(/^W\//, '').replace(/"/g, '') || undefined;
}

/** The stale-claim age for the ledger from a Lambda context: twice the function's timeout, plus a margin. */
export function staleAfterFor(context: Pick<Context, 'getRemainingTimeInMillis'>): number {
  return 2 * context.getRemainingTimeInMillis() + 30_000;
}

/** Parses `gallery/<subjectId>/<file>`; undefined when the key does not follow that layout. */
export function galleryKeySubject(key: string): string | undefined {
  if (!key.startsWith(PREFIX.gallery)) return undefined;
  const [subjectId, ...file] = key.slice(PREFIX.gallery.length).split('/');
  if (subjectId === undefined || file.length === 0 || file.join('/') === '') return undefined;
  if (!isSubjectId(subjectId)) return undefined;
  return subjectId;
}

interface Downloaded {
  bytes: Uint8Array;
  eTag: string | undefined;
  metadata: Record<string, string>;
}

function isMissing(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion';
}

/** Decodes the RFC 2047 `=?UTF-8?B?…?=` form that S3 clients use for non-ASCII metadata values. */
function decodeMetadataValue(value: string): string {
  const encoded = /^=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=$/i.exec(value.trim());
  return encoded ? Buffer.from(encoded[1] ?? '', 'base64').toString('utf8') : value;
}

/** Same shape as the event, without `faces` (the decisions stay in the detection record's summary). */
function bounded(event: IngestEvent, maxBytes: number): { json: string; truncated: boolean } {
  const json = JSON.stringify(event);
  if (Buffer.byteLength(json) <= maxBytes) return { json, truncated: false };
  return { json: JSON.stringify({ ...event, faces: [], truncated: true }), truncated: true };
}

// ---------------------------------------------------------------------------------------------------------------
// The runtime

export interface RuntimeOptions {
  /** Clients to use instead of creating them (tests). */
  clients?: AwsClients | undefined;
  /** Age after which a ledger claim counts as abandoned (default: the ledger's 15 minutes). */
  staleAfterMs?: number | undefined;
  /** Snapshot check interval (default {@link SNAPSHOT_CHECK_INTERVAL_MS}). */
  snapshotCheckIntervalMs?: number | undefined;
  now?: (() => number) | undefined;
}

/**
 * One container's Faceprint on AWS. Every part is created on first use and kept: a function only pays for what
 * its role uses. The gallery runs with `snapshotOwner: 'indexer'` (the indexer function publishes the index
 * snapshots; this side only reads them and catches up with newer templates).
 */
export class AwsRuntime {
  private clientsValue: AwsClients | undefined;
  private pipelineValue: FacePipeline | undefined;
  private storeValue: DynamoFaceStore | undefined;
  private snapshotsValue: S3SnapshotStore | undefined;
  private ledgerValue: DynamoIngestLedger | undefined;
  private galleryValue: GalleryService | undefined;
  private docValue: DynamoDBDocumentClient | undefined;
  private freshness: SnapshotFreshness | undefined;
  private readonly now: () => number;

  constructor(
    readonly config: AwsConfig,
    private readonly options: RuntimeOptions = {},
  ) {
    this.clientsValue = options.clients;
    this.now = options.now ?? Date.now;
  }

  get clients(): AwsClients {
    this.clientsValue ??= createClients();
    return this.clientsValue;
  }

  /** The face pipeline (ONNX sessions are created on first use, then shared). */
  get pipeline(): FacePipeline {
    this.pipelineValue ??= new FacePipeline({ modelsDir: this.config.modelsDir });
    return this.pipelineValue;
  }

  /** Subjects, templates and the audit log. Tables the role is not bound to fail loudly if touched. */
  get store(): DynamoFaceStore {
    const c = this.config;
    this.storeValue ??= new DynamoFaceStore(this.clients.dynamo, {
      subjects: c.subjectsTable ?? notBound(ENV.subjectsTable),
      templates: c.templatesTable ?? notBound(ENV.templatesTable),
      detections: c.detectionsTable ?? notBound(ENV.detectionsTable),
    });
    return this.storeValue;
  }

  get snapshots(): S3SnapshotStore {
    this.snapshotsValue ??= new S3SnapshotStore(
      this.clients.s3,
      this.config.bucket,
      this.config.indexPrefix ?? PREFIX.index,
    );
    return this.snapshotsValue;
  }

  /**
   * Which (key, ETag) pairs were processed: in the idempotency table (the one table every object consumer is
   * bound to), so a redelivered S3 event never processes an object twice.
   */
  get ledger(): DynamoIngestLedger {
    this.ledgerValue ??= new DynamoIngestLedger(
      this.clients.dynamo,
      this.config.idempotencyTable ?? notBound(ENV.idempotencyTable),
      {
        keySchema: 'id',
        ...(this.options.staleAfterMs === undefined ? {} : { staleAfterMs: this.options.staleAfterMs }),
        now: this.now,
      },
    );
    return this.ledgerValue;
  }

  /** Releases the ONNX sessions, if any were created (the Batch job, at exit). */
  async dispose(): Promise<void> {
    await this.pipelineValue?.dispose().catch(() => undefined);
  }

  /** The gallery service. Search through {@link freshGallery}, which keeps its index current. */
  get gallery(): GalleryService {
    this.galleryValue ??= new GalleryService({
      pipeline: this.pipeline,
      store: this.store,
      snapshots: this.snapshots,
      config: defaultGalleryConfig(this.config.calibration),
      snapshotOwner: 'indexer',
    });
    return this.galleryValue;
  }

  private get doc(): DynamoDBDocumentClient {
    this.docValue ??= DynamoDBDocumentClient.from(this.clients.dynamo, {
      marshallOptions: { removeUndefinedValues: true },
    });
    return this.docValue;
  }

  /**
   * The gallery with a current index: loaded from the newest snapshot (plus the templates created since) at
   * cold start, and reloaded when a newer snapshot is published (checked at most every 10 s).
   */
  async freshGallery(): Promise<GalleryService> {
    const gallery = this.gallery;
    this.freshness ??= new SnapshotFreshness({
      latestTag: () => this.snapshots.latestTag(),
      refresh: () =>
        timed('Refresh', async () => {
          const stats = await gallery.refreshFromSnapshot();
          logger.info('index loaded', stats);
          return stats;
        }),
      now: this.now,
      intervalMs: this.options.snapshotCheckIntervalMs ?? SNAPSHOT_CHECK_INTERVAL_MS,
      onStale: (error) => logger.warn('index freshness check failed; serving the loaded index', { error }),
    });
    await this.freshness.ensureFresh();
    return gallery;
  }

  /** The object's ETag (without quotes), from the reference or a HeadObject; undefined when it is gone. */
  private async eTagOf(ref: ObjectRef): Promise<string | undefined> {
    if (ref.eTag) return normaliseETag(ref.eTag);
    try {
      const head = await this.clients.s3.send(
        new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
      );
      return normaliseETag(head.ETag);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Downloads an object; undefined when it no longer exists; `tooLarge` without reading a huge body. */
  private async download(ref: ObjectRef): Promise<Downloaded | { tooLarge: number } | undefined> {
    try {
      const object = await this.clients.s3.send(
        new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
      );
      const size = object.ContentLength ?? 0;
      if (size > DEFAULT_DECODE_LIMITS.maxBytes) {
        (object.Body as { destroy?: () => void } | undefined)?.destroy?.();
        return { tooLarge: size };
      }
      const bytes = object.Body ? await object.Body.transformToByteArray() : new Uint8Array(0);
      return { bytes, eTag: normaliseETag(object.ETag), metadata: object.Metadata ?? {} };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Claims (key, ETag) in the ledger; the outcome instead when it is gone, settled or in flight elsewhere. */
  private async claim(ref: ObjectRef): Promise<{ eTag: string } | { outcome: ObjectOutcome }> {
    const eTag = await this.eTagOf(ref);
    if (!eTag) return { outcome: { status: 'ignored', reason: 'the object no longer exists' } };
    const claim = await this.ledger.claim(ref.key, eTag);
    if (claim.acquired) return { eTag };
    return {
      outcome: claim.state === 'claimed' ? { status: 'busy' } : { status: 'duplicate', state: claim.state },
    };
  }

  /** Settles a claimed object as failed: retrying cannot help. */
  private async refuse(ref: ObjectRef, eTag: string, code: string, message: string): Promise<ObjectOutcome> {
    await this.ledger.fail(ref.key, eTag, `${code}: ${message}`);
    return { status: 'refused', code, message };
  }

  /**
   * Claims the object in the ledger and downloads it. Returns the outcome instead when there is nothing to do
   * (already settled, in flight elsewhere, gone, replaced, too large); the last three are settled as failed.
   */
  private async claimAndDownload(
    ref: ObjectRef,
    ids: Record<string, string | undefined>,
  ): Promise<{ eTag: string; object: Downloaded } | { outcome: ObjectOutcome }> {
    const claimed = await this.claim(ref);
    if ('outcome' in claimed) return claimed;
    const { eTag } = claimed;
    const object = await timed('Download', () => this.download(ref));
    if (!object) {
      return {
        outcome: await this.refuse(ref, eTag, 'NOT_FOUND', 'The object was deleted before it was processed.'),
      };
    }
    if ('tooLarge' in object) {
      const message = `The object is ${object.tooLarge} bytes; the limit is ${DEFAULT_DECODE_LIMITS.maxBytes}.`;
      return { outcome: await this.refuse(ref, eTag, 'IMAGE_TOO_LARGE', message) };
    }
    if (object.eTag !== undefined && object.eTag !== eTag) {
      // Overwritten since the event: the new version has an event of its own.
      logger.info('object replaced since the event; skipped', { ...ids, currentETag: object.eTag });
      const message = `The object was replaced (ETag ${object.eTag}) before it was processed.`;
      return { outcome: await this.refuse(ref, eTag, 'SUPERSEDED', message) };
    }
    return { eTag, object };
  }

  /**
   * Ingests one uploaded image: identify every face, store the detection record (`pk` = `DETECTION#<key>`,
   * `sk` = ETag), publish it on the bus, settle the ledger. A corrupt or unreadable image is recorded and
   * published as a `failed` event (and settled as failed): not an error.
   */
  async ingestObject(
    ref: ObjectRef,
    correlation: Record<string, string | undefined> = {},
  ): Promise<ObjectOutcome> {
    const ids = { ...correlation, objectKey: ref.key, eTag: ref.eTag };
    const claimed = await this.claimAndDownload(ref, ids);
    if ('outcome' in claimed) return claimed.outcome;
    const { eTag, object } = claimed;
    const gallery = await this.freshGallery();
    const event = await timed('Identify', () => ingestImage(gallery, { key: ref.key, bytes: object.bytes }));
    if (event.status === 'failed' && event.error && OPERATOR_ERRORS.has(event.error.code)) {
      throw new Error(
        `ingest of ${ref.key} failed on the service side: ${event.error.code}: ${event.error.message}`,
      );
    }
    await timed('Record', () => this.putDetection(event, eTag));
    await timed('Publish', () => this.publish(event));
    if (event.status === 'failed') {
      const error = event.error ?? { code: 'FAILED', message: 'The image could not be processed.' };
      logger.warn('upload refused', { ...ids, eTag, code: error.code, reason: error.message });
      return this.refuse(ref, eTag, error.code, error.message);
    }
    await this.ledger.complete(ref.key, eTag, `DETECTION#${ref.key}|${eTag}`);
    recordDecisions(event.faces);
    logger.info('upload identified', { ...ids, eTag, ...event.summary });
    return { status: 'processed', detail: `${event.summary.faces} faces, ${event.summary.matches} matches` };
  }

  /**
   * Enrols one photo under `gallery/<subjectId>/<file>`: the first photo creates the subject (named by the
   * object's `name` metadata, else by its id), later ones add faces. `take-largest: true` metadata enrols the
   * largest face of a photo with several. A refused photo is settled as failed, not retried.
   */
  async enrolObject(
    ref: ObjectRef,
    correlation: Record<string, string | undefined> = {},
  ): Promise<ObjectOutcome> {
    const subjectId = galleryKeySubject(ref.key);
    const ids = { ...correlation, objectKey: ref.key, eTag: ref.eTag, subjectId };
    if (!subjectId) {
      // Recorded in the ledger (without downloading the photo), so the operator finds the reason.
      const claimed = await this.claim(ref);
      if ('outcome' in claimed) return claimed.outcome;
      logger.warn('enrolment photo refused', { ...ids, code: 'INVALID_KEY' });
      const message = 'Enrolment photos go under gallery/<subject id>/<file>, with a valid subject id.';
      return this.refuse(ref, claimed.eTag, 'INVALID_KEY', message);
    }
    const claimed = await this.claimAndDownload(ref, ids);
    if ('outcome' in claimed) return claimed.outcome;
    const { eTag, object } = claimed;
    const photo: PhotoInput = {
      bytes: object.bytes,
      source: ref.key,
      takeLargest: object.metadata['take-largest']?.trim().toLowerCase() === 'true',
    };
    try {
      const { created, templates } = await timed('Enrol', () => this.enrolPhoto(subjectId, object, photo));
      await this.ledger.complete(ref.key, eTag, `SUBJECT#${subjectId}`);
      logger.info(created ? 'subject created' : 'face added', { ...ids, eTag, templates });
      return { status: 'processed', detail: created ? 'subject created' : 'face added' };
    } catch (error) {
      if (!isFaceprintError(error) || !ENROL_REFUSALS.has(error.code)) throw error;
      logger.warn('enrolment photo refused', { ...ids, eTag, code: error.code, reason: error.message });
      return this.refuse(ref, eTag, error.code, error.message);
    }
  }

  private async enrolPhoto(
    subjectId: string,
    object: Downloaded,
    photo: PhotoInput,
  ): Promise<{ created: boolean; templates: number }> {
    const gallery = this.gallery;
    if (!(await this.store.getSubject(subjectId))) {
      const given =
        object.metadata.name === undefined ? undefined : decodeMetadataValue(object.metadata.name);
      const name = SubjectNameSchema.safeParse(given).success ? (given as string) : subjectId;
      try {
        const subject = await gallery.createSubject(
          { id: subjectId, name, metadata: { enrolledFrom: photo.source } },
          photo,
        );
        return { created: true, templates: subject.templates.length };
      } catch (error) {
        // Two photos of a new subject at once: the other one created it; add this one.
        if (!isFaceprintError(error, 'SUBJECT_EXISTS')) throw error;
      }
    }
    const subject = await gallery.addFace(subjectId, photo);
    return { created: false, templates: subject.templates.length };
  }

  private async putDetection(event: IngestEvent, eTag: string): Promise<void> {
    const table = this.config.detectionsTable ?? notBound(ENV.detectionsTable);
    const { json, truncated } = bounded(event, MAX_RECORD_EVENT_BYTES);
    await this.doc.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: `DETECTION#${event.key}`,
          sk: eTag,
          key: event.key,
          eTag,
          sha256: event.sha256,
          status: event.status,
          reason: event.error ? `${event.error.code}: ${event.error.message}` : undefined,
          processedAt: event.processedAt,
          summary: event.summary,
          event: json,
          truncated: truncated || undefined,
          expiresAt: Math.floor(Date.parse(event.processedAt) / 1000) + DETECTION_RETENTION_DAYS * 86_400,
        },
      }),
    );
  }

  private async publish(event: IngestEvent): Promise<void> {
    const { json } = bounded(event, MAX_EVENT_DETAIL_BYTES);
    const result = await this.clients.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.config.eventBus ?? notBound(ENV.eventBus),
            Source: DETECTION_EVENT_SOURCE,
            DetailType: DETECTION_DETAIL_TYPE,
            Detail: json,
          },
        ],
      }),
    );
    // PutEvents reports per-entry failures in the response, not as an exception.
    if ((result.FailedEntryCount ?? 0) > 0) {
      const entry = result.Entries?.[0];
      throw new Error(`PutEvents refused the detection event: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// S3 notifications delivered through SQS (the edge of the ingest and enrol functions)

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
  work: (ref: ObjectRef, correlation: Record<string, string | undefined>) => Promise<ObjectOutcome>,
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
