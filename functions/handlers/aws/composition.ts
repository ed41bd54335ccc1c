/**
 * The composition root of the AWS runtimes: wiring only. DynamoDB, S3 and EventBridge adapters, the face pipeline
 * and the gallery service over them, created lazily and once per container (a warm Lambda reuses them; the
 * indexer never loads a model). The ingest and enrol functions and the Batch job all run the core's upload
 * workflow (`core/ingest/workflow.ts`) through {@link AwsRuntime.ingestObject} and {@link AwsRuntime.enrolObject}.
 *
 * @module
 */

import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { DETECTION_EVENT_SOURCE, ENV, PREFIX } from '../../../lib/runtime-config.ts';
import { AwsSubjectEraser } from '../../adapters/aws/aws-erasure.ts';
import { DynamoDetectionSink } from '../../adapters/aws/detection-sink.ts';
import { DynamoFaceStore } from '../../adapters/aws/dynamo-face-store.ts';
import { DynamoIngestLedger } from '../../adapters/aws/dynamo-ingest-ledger.ts';
import { DynamoReviewStore } from '../../adapters/aws/dynamo-review-store.ts';
import { DynamoUnknownStore } from '../../adapters/aws/dynamo-unknown-store.ts';
import { S3PhotoStore } from '../../adapters/aws/s3-photo-store.ts';
import { S3SnapshotStore } from '../../adapters/aws/s3-snapshot-store.ts';
import { type ObjectRef, S3UploadSource } from '../../adapters/aws/s3-upload-source.ts';
import { S3VectorsIndex } from '../../adapters/aws/s3vectors-index.ts';
import { isSubjectId } from '../../core/domain.ts';
import { defaultGalleryConfig } from '../../core/gallery/config.ts';
import { GalleryService, type PhotoInput } from '../../core/gallery/service.ts';
import { enrolPhotoOfSubject } from '../../core/ingest/enrol-photo.ts';
import type { UploadSource } from '../../core/ingest/ports.ts';
import { enrolUpload, ingestUpload, type UploadOutcome } from '../../core/ingest/workflow.ts';
import { DEFAULT_DECODE_LIMITS } from '../../core/pipeline/image.ts';
import { FacePipeline } from '../../core/pipeline/pipeline.ts';
import type { RemoteVectorIndex } from '../../core/search/remote-index.ts';
import { composeFollowUp, type FollowUpParts } from '../../core/unknowns/compose.ts';
import { type AwsClients, createClients, createVectorsClient } from './clients.ts';
import { type AwsConfig, notBound } from './config.ts';
import { logger, recordDecisions, timed } from './observability.ts';

export type { ObjectRef } from '../../adapters/aws/s3-upload-source.ts';
export type { UploadOutcome } from '../../core/ingest/workflow.ts';

/** How often a warm container asks S3 whether a newer index snapshot was published. */
export const SNAPSHOT_CHECK_INTERVAL_MS = 10_000;

// ---------------------------------------------------------------------------------------------------------------
// Objects

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

// ---------------------------------------------------------------------------------------------------------------
// The runtime

export interface RuntimeOptions {
  /** Clients to use instead of creating them (tests). */
  clients?: AwsClients | undefined;
  /** Age after which a ledger claim counts as abandoned (default: the ledger's 15 minutes). */
  staleAfterMs?: number | undefined;
  /** The remote vector index to use instead of S3 Vectors' client (tests: a contract fake). */
  vectorIndex?: RemoteVectorIndex | undefined;
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
  private eraserValue: AwsSubjectEraser | undefined;
  private ledgerValue: DynamoIngestLedger | undefined;
  private uploadsValue: S3UploadSource | undefined;
  private detectionsValue: DynamoDetectionSink | undefined;
  private galleryValue: GalleryService | undefined;
  private vectorIndexValue: RemoteVectorIndex | undefined;
  private photosValue: S3PhotoStore | undefined;
  private docValue: DynamoDBDocumentClient | undefined;
  private followUpValue: FollowUpParts | undefined;
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

  /**
   * The S3 Vectors index when the deployment has one (`FACEPRINT_VECTOR_INDEX`): identify searches it, the API
   * erases from it, the indexer writes it. Undefined on the snapshot path.
   */
  get vectorIndex(): RemoteVectorIndex | undefined {
    if (this.vectorIndexValue) return this.vectorIndexValue;
    const arn = this.config.vectorIndex;
    this.vectorIndexValue =
      this.options.vectorIndex ??
      (arn ? new S3VectorsIndex({ client: createVectorsClient(), indexArn: arn }) : undefined);
    return this.vectorIndexValue;
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

  /** Erasure of what a deleted subject leaves in DynamoDB and S3 (every object version, old snapshots). */
  get eraser(): AwsSubjectEraser {
    this.eraserValue ??= new AwsSubjectEraser({
      doc: this.doc,
      s3: this.clients.s3,
      bucket: this.config.bucket,
      detectionsTable: this.config.detectionsTable ?? notBound(ENV.detectionsTable),
      idempotencyTable: this.config.idempotencyTable,
      galleryPrefix: PREFIX.gallery,
      pruneSnapshots: () => this.snapshots.pruneSuperseded(),
    });
    return this.eraserValue;
  }

  /** Releases the ONNX sessions, if any were created (the Batch job, at exit). */
  async dispose(): Promise<void> {
    await this.pipelineValue?.dispose().catch(() => undefined);
  }

  /** Enrolment photos kept for re-embedding with another model pack (`gallery/` uploads and `photos/`). */
  get photos(): S3PhotoStore {
    this.photosValue ??= new S3PhotoStore(this.clients.s3, this.config.bucket, PREFIX.photos);
    return this.photosValue;
  }

  /** The gallery service. Search through {@link freshGallery}, which keeps its index current. */
  get gallery(): GalleryService {
    this.galleryValue ??= new GalleryService({
      pipeline: this.pipeline,
      store: this.store,
      snapshots: this.snapshots,
      feed: this.store,
      config: defaultGalleryConfig(this.config.calibration),
      photos: this.photos,
      snapshotOwner: 'indexer',
      remoteIndex: this.vectorIndex,
      // Built on first use: only the API (DELETE /subjects/{id}) erases, and only it is bound to what erasure needs.
      eraser: { eraseTraces: (id) => this.eraser.eraseTraces(id) },
      indexRefreshIntervalMs: this.options.snapshotCheckIntervalMs ?? SNAPSHOT_CHECK_INTERVAL_MS,
      onIndexStale: (error) =>
        logger.warn('index freshness check failed; serving the loaded index', { error }),
      // Unknown persons and reviews where the role is bound to their table (api, ingest, Batch; not enrol).
      ...(this.config.followUpTable ? { followUp: this.followUp.followUp } : {}),
    });
    if (this.config.followUpTable) this.followUp.bind(this.galleryValue, this.pipeline);
    return this.galleryValue;
  }

  /**
   * Unknown persons and the review queue on the follow-up table: the same core services as local mode
   * (`composeFollowUp`), verdicts audited in the detections table.
   */
  get followUp(): FollowUpParts {
    this.followUpValue ??= composeFollowUp({
      unknowns: new DynamoUnknownStore(
        this.clients.dynamo,
        this.config.followUpTable ?? notBound(ENV.followUpTable),
      ),
      reviews: new DynamoReviewStore(
        this.clients.dynamo,
        this.config.followUpTable ?? notBound(ENV.followUpTable),
      ),
      audit: this.store,
      calibrationId: () => this.config.calibration.id,
      config: this.config.followUp,
      now: () => new Date(this.now()),
    });
    return this.followUpValue;
  }

  private get doc(): DynamoDBDocumentClient {
    this.docValue ??= DynamoDBDocumentClient.from(this.clients.dynamo, {
      marshallOptions: { removeUndefinedValues: true },
    });
    return this.docValue;
  }

  /**
   * A cold start's work done before the first request (Lambda's init phase): the index fetched and decoded and
   * the ONNX sessions created side by side (the snapshot's bytes arrive while the sessions load). Never throws:
   * what failed here is done again, and reported, by the first request that needs it.
   */
  async prepareColdStart(): Promise<void> {
    const started = performance.now();
    const ready: Record<string, number> = {};
    // Each part's end is also a performance mark (with the process's CPU time): bench/cold-start.bench.ts reads them.
    const marked = <T>(name: string, work: Promise<T>) =>
      work.finally(() => {
        ready[`${name}Ms`] = Math.round(performance.now() - started);
        const cpu = process.cpuUsage();
        performance.mark(`faceprint:cold-start:${name}`, {
          detail: { cpuMs: (cpu.user + cpu.system) / 1000 },
        });
      });
    // With a remote vector index the gallery loads nothing: freshGallery returns at once.
    const [index, models] = await Promise.allSettled([
      marked('index', this.freshGallery()),
      marked('models', this.pipeline.warmUp()),
    ]);
    for (const [part, outcome] of [
      ['index', index],
      ['models', models],
    ] as const) {
      if (outcome.status === 'rejected') {
        logger.warn('cold-start preparation failed; the first request retries it', {
          part,
          error: outcome.reason,
        });
      }
    }
    logger.info('cold start prepared', { ms: Math.round(performance.now() - started), ...ready });
  }

  /**
   * The gallery with a current index: loaded from the newest snapshot (plus the templates created since) at
   * cold start, and reloaded when a newer snapshot is published (checked at most every 10 s).
   */
  async freshGallery(): Promise<GalleryService> {
    const gallery = this.gallery;
    const changed = await gallery.ensureFresh();
    if (changed) logger.info('index loaded', gallery.stats());
    return gallery;
  }

  /** Where uploads are read from: the data bucket, refusing objects over the decode limit unread. */
  get uploads(): S3UploadSource {
    this.uploadsValue ??= new S3UploadSource(this.clients.s3, DEFAULT_DECODE_LIMITS.maxBytes);
    return this.uploadsValue;
  }

  /** Where detections go: the detections table and the event bus. */
  get detections(): DynamoDetectionSink {
    this.detectionsValue ??= new DynamoDetectionSink({
      doc: this.doc,
      events: this.clients.events,
      detectionsTable: this.config.detectionsTable ?? notBound(ENV.detectionsTable),
      eventBus: this.config.eventBus ?? notBound(ENV.eventBus),
      eventSource: DETECTION_EVENT_SOURCE,
    });
    return this.detectionsValue;
  }

  /**
   * Ingests one uploaded image through the core's upload workflow (`ingestUpload`): claim (key, ETag), read,
   * identify, record the detection and publish it, settle. A corrupt or unreadable image is recorded and
   * published as a `failed` detection: not an error.
   */
  async ingestObject(
    ref: ObjectRef,
    correlation: Record<string, string | undefined> = {},
  ): Promise<UploadOutcome> {
    const ids = { ...correlation, objectKey: ref.key, eTag: ref.eTag };
    const outcome = await ingestUpload(ref, {
      source: timedSource(this.uploads),
      ledger: this.ledger,
      sink: this.detections,
      gallery: () => this.freshGallery(),
    });
    if (outcome.status === 'processed' && outcome.event) {
      recordDecisions(outcome.event.faces);
      logger.info('upload identified', { ...ids, ...outcome.event.summary });
    } else if (outcome.status === 'refused') {
      logger.warn('upload refused', { ...ids, code: outcome.code, reason: outcome.message });
    }
    return outcome;
  }

  /**
   * Enrols one photo under `gallery/<subjectId>/<file>` through the core's workflow (`enrolUpload`): the first
   * photo creates the subject (named by the object's `name` metadata, else by its id), later ones add faces.
   * `take-largest: true` metadata enrols the largest face of a photo with several. A refused photo is settled as
   * failed, not retried; a key outside that layout is claimed and refused without being read.
   */
  async enrolObject(
    ref: ObjectRef,
    correlation: Record<string, string | undefined> = {},
  ): Promise<UploadOutcome> {
    const subjectId = galleryKeySubject(ref.key);
    const ids = { ...correlation, objectKey: ref.key, eTag: ref.eTag, subjectId };
    return enrolUpload(ref, {
      source: timedSource(this.uploads),
      ledger: this.ledger,
      invalid: subjectId
        ? undefined
        : {
            code: 'INVALID_KEY',
            message: 'Enrolment photos go under gallery/<subject id>/<file>, with a valid subject id.',
          },
      onRefused: (code, reason) => logger.warn('enrolment photo refused', { ...ids, code, reason }),
      enrol: async (bytes, metadata) => {
        const id = subjectId as string;
        const photo: PhotoInput = {
          bytes,
          source: ref.key,
          takeLargest: metadata['take-largest']?.trim().toLowerCase() === 'true',
        };
        const { created, templates } = await timed('Enrol', () =>
          enrolPhotoOfSubject(this.gallery, id, photo, metadata.name),
        );
        logger.info(created ? 'subject created' : 'face added', { ...ids, templates });
        return { resultRef: `SUBJECT#${id}`, detail: created ? 'subject created' : 'face added' };
      },
    });
  }
}

/** The upload source with its read timed (the `Download` metric). */
function timedSource(source: S3UploadSource): UploadSource<ObjectRef> {
  return {
    keyOf: (ref) => source.keyOf(ref),
    version: (ref) => source.version(ref),
    read: (ref, version) => timed('Download', () => source.read(ref, version)),
  };
}
