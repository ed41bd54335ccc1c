/**
 * The gallery service: enrolment (original template plus degradation-matched variants), the search index kept
 * in step with the store (`search/gallery-index.ts`), open-set identification with its audit, and 1:1
 * verification. One class with one job — the gallery's operations over its ports — which is why it runs past
 * 400 lines; the workflows around it (uploads, video) live in their own modules.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type DecisionFilter, queryDecisions } from '../audit/decisions.ts';
import type { CameraTemplate } from '../camera/ports.ts';
import { type CameraGallery, mergeCandidates } from '../camera/service.ts';
import {
  CAMERA_NAME_PATTERN,
  type Candidate,
  type DecisionAuditEntry,
  type FaceTemplate,
  type Subject,
} from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { FaceAnalyser } from '../pipeline/analyser.ts';
import { type AnalyzeResult, compare, largestFace, resolveOptions } from '../pipeline/pipeline.ts';
import { verifyDecision } from '../search/decision.ts';
import { GalleryIndex } from '../search/gallery-index.ts';
import { DEFAULT_QUALITY_GATE, decideWithQuality } from '../search/quality-gate.ts';
import type { RemoteVectorIndex } from '../search/remote-index.ts';
import type { ApproximateIndexing } from '../search/tiered-index.ts';
import type { Box, FaceQuality, ModelRef } from '../types.ts';
import {
  assertCalibrationFits,
  assertNoForeignTemplates,
  type ForeignTemplates,
  foreignTemplates,
} from './compatibility.ts';
import { enrolmentTemplates, photoId, splitCameraTemplates, subjectView } from './enrolment.ts';
import type { ErasureReport, SubjectEraser } from './erasure.ts';
import type { IdentifyFollowUp } from './follow-up.ts';
import type { EnrolmentPhotoStore, TemplateRemoval } from './photo-store.ts';
import type { FaceStore, IndexSnapshotStore, Page, TemplateFeed } from './ports.ts';
import type {
  GalleryConfig,
  IdentifiedFace,
  IdentifyResult,
  PhotoInput,
  SubjectView,
  VerifyResult,
  ViewAgreement,
} from './types.ts';
import { makeVariant } from './variants.ts';

/** Kept importable from here: the model-pack checks live in `compatibility.ts`. */
export { assertCalibrationFits, foreignTemplates } from './compatibility.ts';
/** Kept importable from here: enrolment lives in `enrolment.ts`. */
export { enrolmentTemplates } from './enrolment.ts';
/** The gallery's public shapes, kept importable from here for the service's callers. */
export type {
  GalleryConfig,
  IdentifiedFace,
  IdentifyRequest,
  IdentifyResult,
  PhotoInput,
  SubjectView,
  VerifyResult,
  ViewAgreement,
} from './types.ts';

export interface GalleryDeps {
  /** The face analysis: in-process (a FacePipeline) or a pool of worker threads. */
  pipeline: FaceAnalyser;
  store: FaceStore;
  snapshots: IndexSnapshotStore;
  config: GalleryConfig;
  /** The store's change feed the index is derived from (usually the store itself). */
  feed: TemplateFeed;
  now?: () => Date;
  /**
   * `self` (local mode): the service saves a snapshot after its writes. `indexer` (AWS): a separate indexer
   * publishes snapshots from the store's change stream; the service reloads the newest one and catches up with
   * the feed. Either way the index follows the feed (`search/gallery-index.ts`).
   */
  snapshotOwner?: 'self' | 'indexer';
  /** How stale the index may be before an identify looks at the feed again (default 0: every request). */
  indexRefreshIntervalMs?: number | undefined;
  /** A failed index refresh while serving (the loaded index keeps serving). */
  onIndexStale?: ((error: unknown) => void) | undefined;
  /** Erases a deleted subject's traces beyond the store (audit rows, stored results); see `erasure.ts`. */
  eraser?: SubjectEraser | undefined;
  /** Unknown persons, the review queue and reviewers' negatives (see `follow-up.ts`); none when omitted. */
  followUp?: IdentifyFollowUp | undefined;
  /** Where accepted enrolment photos are kept, so `gallery reembed` can re-embed them with another pack. */
  photos?: EnrolmentPhotoStore | undefined;
  /** An approximate graph past a crossover (local mode at scale, `search/tiered-index.ts`); exact when omitted. */
  approximate?: ApproximateIndexing | undefined;
  /**
   * A remote vector index (AWS `index: 's3vectors'`): searched instead of a loaded snapshot, erased from on
   * delete; its one writer is the AWS indexer, so a new template is searchable once the indexer has put it.
   */
  remoteIndex?: RemoteVectorIndex | undefined;
  /**
   * Configured cameras and their camera-matched templates (`core/camera/service.ts`): made at enrolment, searched
   * when an identify call names its camera. Without it, a camera name is only recorded.
   */
  cameras?: CameraGallery | undefined;
}

/**
 * The gallery: enrols subjects (original template plus degradation-matched variants), keeps the vector index in
 * step with the store of record, identifies every face of a probe with an open-set decision, verifies 1:1, and
 * writes every decision to the audit log. Writes are serialised; reads run concurrently.
 */
export class GalleryService {
  private readonly pipeline: FaceAnalyser;
  private readonly store: FaceStore;
  private readonly photos: EnrolmentPhotoStore | undefined;
  readonly config: GalleryConfig;
  private readonly now: () => Date;
  private readonly index: GalleryIndex;
  private readonly remote: RemoteVectorIndex | undefined;
  private writes: Promise<unknown> = Promise.resolve();
  private readonly eraser: SubjectEraser | undefined;
  private readonly followUp: IdentifyFollowUp | undefined;
  private readonly cameras: CameraGallery | undefined;
  /** The pipeline's embedding space: its model pack's id and embedding length. */
  private readonly space: { modelId: string; dim: number };
  /** Set when the store holds subjects whose only templates are of another pack: searching is refused. */
  private foreign: ForeignTemplates | undefined;

  constructor(deps: GalleryDeps) {
    this.eraser = deps.eraser;
    this.remote = deps.remoteIndex;
    this.followUp = deps.followUp;
    this.cameras = deps.cameras;
    this.pipeline = deps.pipeline;
    this.store = deps.store;
    this.photos = deps.photos;
    this.config = deps.config;
    this.now = deps.now ?? (() => new Date());
    this.space = { modelId: this.pipeline.model.id, dim: this.pipeline.embeddingSize };
    assertCalibrationFits(this.config.calibration, this.space.modelId);
    this.index = new GalleryIndex({
      snapshots: deps.snapshots,
      feed: deps.feed,
      model: { id: this.space.modelId, dim: this.space.dim },
      writesSnapshots: (deps.snapshotOwner ?? 'self') === 'self',
      refreshIntervalMs: deps.indexRefreshIntervalMs,
      onStale: deps.onIndexStale,
      now: () => this.now().getTime(),
      approximate: deps.approximate,
    });
  }

  /** The embedding space (model pack id) and dimension this gallery searches. */
  get model(): ModelRef {
    return this.pipeline.model;
  }

  /**
   * Loads the index: the newest snapshot, checked for this model (else rebuilt from the store), plus whatever the
   * store's change feed says happened since it was written.
   */
  async open(): Promise<{ templates: number; subjects: number; rebuilt: boolean }> {
    this.foreign = foreignTemplates(await this.store.listTemplates(), this.space.modelId);
    if (this.remote) return { templates: Number.NaN, subjects: Number.NaN, rebuilt: false };
    const { templates, subjects, rebuilt } = await this.index.open();
    return { templates, subjects, rebuilt };
  }

  /**
   * Brings the index up to date with the store (at most once per `indexRefreshIntervalMs`; loads it on first
   * use), so that what another process enrolled or deleted is searched. Cheap when nothing changed. Returns
   * whether anything changed.
   */
  async ensureFresh(): Promise<boolean> {
    if (this.remote) return false;
    const refresh = await this.index.ensureFresh();
    return refresh !== undefined && (refresh.rebuilt || refresh.applied > 0);
  }

  /**
   * Refuses to search while some subject's only templates are of another model pack (the gallery was enrolled
   * with another pack and `faceprint gallery reembed` has not finished): such a subject could never match.
   *
   * @throws FaceprintError `INDEX_INCOMPATIBLE`.
   */
  assertSearchable(): void {
    assertNoForeignTemplates(this.foreign, this.space.modelId);
  }

  /** Number of templates and subjects in the index (null for a remote index, which does not count them). */
  stats(): { templates: number | null; subjects: number | null; kernel: string } {
    if (this.remote) return { templates: null, subjects: null, kernel: this.remote.engine };
    return this.index.stats();
  }

  /** Top-k subjects for an embedding: from the remote index when there is one, else the local index. */
  private async searchIndex(embedding: Float32Array, k: number): Promise<Candidate[]> {
    const fusion = this.config.fusion;
    return this.remote
      ? this.remote.search(embedding, { k, fusion })
      : this.index.search(embedding, { k, fusion });
  }

  private serialise<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writes.then(work, work);
    this.writes = run.catch(() => undefined);
    return run;
  }

  /** After a write of this process: the index takes it (and anything else new) from the feed, then is saved. */
  private async afterWrite(): Promise<void> {
    if (this.remote) return; // the indexer puts new templates from the stream
    await this.index.refresh();
    await this.index.save();
  }

  /** Analyses an enrolment photo into templates (not yet stored): one face, quality-checked, plus variants. */
  templatesFromPhoto(subjectId: string, photo: PhotoInput): Promise<FaceTemplate[]> {
    return enrolmentTemplates(this.pipeline, this.config, subjectId, photo, this.now(), this.cameras);
  }

  /**
   * Stores a new enrolment's camera templates once its gallery templates are stored; if that fails, `undo` takes
   * the enrolment back, so nothing is half-written.
   */
  private async storeCameraTemplates(
    templates: CameraTemplate[],
    undo: () => Promise<unknown>,
  ): Promise<void> {
    if (!this.cameras || templates.length === 0) return;
    try {
      await this.cameras.addTemplates(templates);
    } catch (error) {
      await undo();
      throw error;
    }
  }

  /** Creates a subject, optionally with a first photo. Nothing is stored if the photo is refused. */
  async createSubject(
    input: { id?: string | undefined; name: string; metadata?: Record<string, string> | undefined },
    photo?: PhotoInput,
  ): Promise<SubjectView> {
    const subject: Subject = {
      id: input.id ?? randomUUID(),
      name: input.name,
      metadata: input.metadata ?? {},
      createdAt: this.now().toISOString(),
    };
    // The photo is analysed before taking the write lock: slow work must not block other writers.
    const [templates, cameraTemplates] = splitCameraTemplates(
      photo ? await this.templatesFromPhoto(subject.id, photo) : [],
    );
    return this.serialise(async () => {
      await this.store.createSubject(subject, templates);
      await this.storeCameraTemplates(cameraTemplates, () => this.store.deleteSubject(subject.id));
      if (photo) await this.keepPhoto(subject.id, photo);
      await this.afterWrite();
      return subjectView(subject, templates);
    });
  }

  /** Creates a subject from templates made elsewhere (an unknown person's faces, promoted). */
  async createSubjectFromTemplates(subject: Subject, templates: FaceTemplate[]): Promise<SubjectView> {
    return this.serialise(async () => {
      await this.store.createSubject(subject, templates);
      await this.afterWrite();
      return subjectView(subject, templates);
    });
  }

  /** Adds a photo's templates to an existing subject. */
  async addFace(subjectId: string, photo: PhotoInput): Promise<SubjectView> {
    const subject = await this.requireSubject(subjectId);
    const [templates, cameraTemplates] = splitCameraTemplates(
      await this.templatesFromPhoto(subject.id, photo),
    );
    return this.serialise(async () => {
      await this.store.addTemplates(subject.id, templates);
      await this.storeCameraTemplates(cameraTemplates, async () => {
        const removal = this.store as unknown as Partial<TemplateRemoval>;
        await removal.deleteTemplates?.(
          subject.id,
          templates.map((t) => t.id),
        );
      });
      await this.keepPhoto(subject.id, photo);
      await this.afterWrite();
      return subjectView(subject, await this.store.listTemplates(subject.id));
    });
  }

  private async keepPhoto(subjectId: string, photo: PhotoInput): Promise<void> {
    if (!this.photos) return;
    await this.photos.put({ subjectId, id: photoId(photo.bytes), source: photo.source }, photo.bytes);
  }

  private async requireSubject(id: string): Promise<Subject> {
    const subject = await this.store.getSubject(id);
    if (!subject) throw new FaceprintError('SUBJECT_NOT_FOUND', `There is no subject with id "${id}".`);
    return subject;
  }

  /** Whether a subject with this id exists. */
  async hasSubject(id: string): Promise<boolean> {
    return (await this.store.getSubject(id)) !== undefined;
  }

  /** A subject with summaries of its templates (never the embeddings). */
  async getSubject(id: string): Promise<SubjectView> {
    const subject = await this.requireSubject(id);
    return subjectView(subject, await this.store.listTemplates(id));
  }

  listSubjects(limit: number, cursor?: string): Promise<Page<Subject>> {
    return this.store.listSubjects({ limit, cursor });
  }

  /**
   * A subject's enrolment thumbnail (JPEG), erased with the subject; undefined when it has none. Throws
   * `SUBJECT_NOT_FOUND` for an unknown subject. See {@link FaceStore.getThumbnail}.
   */
  async thumbnail(subjectId: string, templateId?: string): Promise<Uint8Array | undefined> {
    await this.requireSubject(subjectId);
    return this.store.getThumbnail(subjectId, templateId);
  }

  /** Recent decisions of the audit log, newest first, filtered; see {@link queryDecisions}. */
  listDecisions(filter: DecisionFilter, page: { limit: number; cursor?: string | undefined }) {
    return queryDecisions(this.store, filter, page);
  }

  /** Deletes a subject's record, templates and index entries. */
  /**
   * Deletes a subject with its templates and, where the deployment provides a {@link SubjectEraser}, erases the
   * traces it leaves in the audit log and the stored results; returns what was erased.
   */
  async deleteSubject(id: string): Promise<ErasureReport> {
    return this.serialise(async () => {
      // An unknown id is refused before anything is touched: a 404 writes nothing.
      await this.requireSubject(id);
      const templates = await this.store.countTemplates(id);
      // Out of this index first (no identify may find it once the delete is asked for); the feed then
      // carries the deletion to every other process's index.
      if (this.remote) {
        await this.remote.removeTemplates((await this.store.listTemplates(id)).map((t) => t.id));
      } else this.index.removeSubject(id);
      await this.cameras?.eraseSubject(id);
      await this.store.deleteSubject(id);
      await this.afterWrite();
      await this.photos?.deleteSubject(id);
      await this.followUp?.eraseSubject(id);
      const traces = (await this.eraser?.eraseTraces(id)) ?? {
        auditRowsRedacted: 0,
        filesRemoved: [],
        filesRedacted: [],
        ledgerRows: 0,
        storageCompacted: false,
      };
      return { subjectId: id, templates, ...traces };
    });
  }

  /**
   * The configured camera an upload's folder names (`uploads/<camera>/…` or `<camera>/…`), or undefined: an
   * upload is never refused for its folder, so a folder that names no configured camera is only its source.
   */
  async cameraOfUpload(key: string): Promise<string | undefined> {
    if (!this.cameras) return undefined;
    const parts = key
      .replace(/^\/+/, '')
      .replace(/^uploads\//, '')
      .split('/');
    const folder = parts.length > 1 ? parts[0] : undefined;
    if (!folder || !CAMERA_NAME_PATTERN.test(folder)) return undefined;
    return (await this.cameras.list()).some((c) => c.id === folder) ? folder : undefined;
  }

  /** Candidates for an embedding computed elsewhere (a video track's aggregated embedding). */
  searchEmbedding(embedding: Float32Array, k = this.config.topK): Promise<Candidate[]> {
    return this.searchIndex(embedding, k);
  }

  /** A subject's display name, or undefined. */
  async subjectName(id: string): Promise<string | undefined> {
    return (await this.store.getSubject(id))?.name;
  }

  /** Appends rows to the audit log (video track decisions). */
  appendAudit(entries: DecisionAuditEntry[]): Promise<void> {
    return entries.length === 0 ? Promise.resolve() : this.store.appendAudit(entries);
  }

  /** Detection only: every face with box, landmarks and quality. */
  async detect(bytes: Uint8Array): Promise<AnalyzeResult> {
    return this.pipeline.analyze(bytes, { ...this.config.analyze, embed: false });
  }

  /**
   * Identifies every face in a probe image: top-k candidate subjects and an open-set decision per face, each kept
   * in the audit log with its similarity, threshold and quality.
   */
  async identify(
    bytes: Uint8Array,
    context: {
      source: string;
      operation?: string | undefined;
      topK?: number | undefined;
      /** Names the input exactly once (an upload's key and version): its audit rows keep the same ids on a retry. */
      auditKey?: string | undefined;
      /** Aborted when the caller has gone (the client disconnected): the analysis stops early. */
      signal?: AbortSignal | undefined;
      camera?: string | undefined;
    },
  ): Promise<IdentifyResult> {
    this.assertSearchable();
    // A camera the deployment does not know is refused before any work (CAMERA_NOT_FOUND).
    const camera = context.camera && this.cameras ? await this.cameras.require(context.camera) : undefined;
    const agreementOn = this.config.agreement === 'mirror';
    const followUp = this.followUp;
    const result = await this.pipeline.analyze(bytes, {
      ...this.config.analyze,
      keepCrops: agreementOn || followUp?.wantsCrops === true,
      signal: context.signal,
    });
    const { calibration } = this.config;
    const policy = { threshold: calibration.threshold, ambiguityMargin: calibration.ambiguityMargin };
    const mirrored = agreementOn
      ? await this.pipeline.embedCrops(
          await Promise.all(
            result.faces.map((f) =>
              makeVariant(f.crops!.embedded, 'mirror', resolveOptions(this.config.analyze)),
            ),
          ),
        )
      : [];
    const k = context.topK ?? this.config.topK;
    const cameraTemplateIds = new Set<string>();
    let cameraTemplateCount = 0;
    const searched = await Promise.all(
      result.faces.map(async (face) => {
        const own = await this.searchIndex(face.embedding, k);
        if (!camera || !this.cameras || !this.config.searchCameraTemplates) return own;
        const matched = await this.cameras.search(camera.id, face.embedding, k, this.config.fusion);
        cameraTemplateCount = matched.templates;
        for (const c of matched.candidates) cameraTemplateIds.add(c.templateId);
        return mergeCandidates(own, matched.candidates, k);
      }),
    );
    // Every candidate's name in one round trip (one BatchGetItem in DynamoDB), not one look-up per candidate.
    const names = await this.store.subjectNames(searched.flat().map((c) => c.subjectId));
    const nameOf = (id: string) => names.get(id);
    const faces: IdentifiedFace[] = [];
    for (const [i, face] of result.faces.entries()) {
      const candidates = searched[i] ?? [];
      let decision = decideWithQuality(
        candidates,
        policy,
        face.quality,
        this.config.qualityGate ?? calibration.qualityGate ?? DEFAULT_QUALITY_GATE,
      );
      let agreement: ViewAgreement | undefined;
      const second = mirrored[i];
      if (second) {
        const [best] = await this.searchIndex(second, 1);
        const agreed =
          best !== undefined && best.subjectId === decision.subjectId && best.similarity >= policy.threshold;
        agreement = { view: 'mirror', subjectId: best?.subjectId, similarity: best?.similarity ?? 0, agreed };
        if (decision.kind === 'match' && !agreed) decision = { ...decision, kind: 'ambiguous' };
      }
      if (followUp) decision = await followUp.adjust(face.embedding, decision, candidates, policy);
      if (camera) {
        const best = candidates.find((c) => c.subjectId === decision.subjectId) ?? candidates[0];
        decision = {
          ...decision,
          camera: {
            id: camera.id,
            searched: this.config.searchCameraTemplates === true,
            templates: cameraTemplateCount,
            bestIsCameraTemplate: best !== undefined && cameraTemplateIds.has(best.templateId),
          },
        };
      }
      faces.push({
        agreement,
        box: face.box,
        landmarks: face.landmarks,
        quality: face.quality,
        enhanced: face.enhanced,
        decision: {
          ...decision,
          subjectName: decision.subjectId ? nameOf(decision.subjectId) : undefined,
        },
        candidates: candidates.map((c) => ({ ...c, name: nameOf(c.subjectId) })),
      });
    }
    const at = this.now().toISOString();
    const auditIds = faces.map((_, faceIndex) =>
      context.auditKey === undefined ? randomUUID() : auditId(context.auditKey, faceIndex),
    );
    await this.store.appendAudit(
      faces.map(
        (face, faceIndex): DecisionAuditEntry => ({
          id: auditIds[faceIndex] as string,
          at,
          operation: context.operation ?? 'identify',
          source: context.source,
          faceIndex,
          box: face.box,
          quality: face.quality,
          decision: face.decision,
          model: this.pipeline.model,
          calibration: calibration.id,
          qualityBand: face.decision.qualityBand,
          ...(context.camera ? { camera: context.camera } : {}),
        }),
      ),
    );
    if (followUp && faces.length > 0) {
      const refs = await followUp.record(
        faces.map((face, faceIndex) => ({
          auditId: auditIds[faceIndex] as string,
          faceIndex,
          box: face.box,
          quality: face.quality,
          embedding: result.faces[faceIndex]?.embedding as Float32Array,
          crop: result.faces[faceIndex]?.crops?.aligned,
          decision: face.decision,
        })),
        {
          at,
          source: context.source,
          operation: context.operation ?? 'identify',
          camera: context.camera,
          model: this.pipeline.model,
        },
      );
      refs.forEach((ref, i) => {
        if (faces[i] && (ref.unknownId || ref.sightingId || ref.reviewId)) faces[i].followUp = ref;
      });
    }
    return {
      width: result.width,
      height: result.height,
      faces,
      calibration: calibration.id,
      ...(context.camera ? { camera: context.camera } : {}),
      model: this.pipeline.model,
    };
  }

  /** 1:1 verification of the largest face of a probe against a second image or an enrolled subject. */
  async verify(
    probe: Uint8Array,
    against: { image: Uint8Array } | { subjectId: string },
    source: string,
  ): Promise<VerifyResult> {
    const probeFace = largestFace(await this.pipeline.analyze(probe, this.config.analyze), 'the probe image');
    let similarity: number;
    let other: { box: Box; quality: FaceQuality } | undefined;
    let subjectId: string | undefined;
    if ('image' in against) {
      const face = largestFace(
        await this.pipeline.analyze(against.image, this.config.analyze),
        'the second image',
      );
      similarity = compare(probeFace.embedding, face.embedding);
      other = { box: face.box, quality: face.quality };
    } else {
      const subject = await this.requireSubject(against.subjectId);
      subjectId = subject.id;
      const templates = (await this.store.listTemplates(subject.id)).filter(
        (t) => t.model.id === this.space.modelId,
      );
      if (templates.length === 0) {
        throw new FaceprintError(
          'NO_FACE',
          `Subject "${subject.id}" has no enrolled face to verify against.`,
        );
      }
      similarity = Math.max(...templates.map((t) => compare(probeFace.embedding, t.embedding)));
    }
    const threshold = this.config.calibration.verifyThreshold;
    const decision = verifyDecision(similarity, threshold);
    await this.store.appendAudit([
      {
        id: randomUUID(),
        at: this.now().toISOString(),
        operation: 'verify',
        source,
        faceIndex: 0,
        box: probeFace.box,
        quality: probeFace.quality,
        decision: {
          kind: decision.match ? 'match' : 'unknown',
          subjectId,
          similarity: decision.similarity,
          threshold,
          margin: 0,
          confidence: decision.confidence,
          candidates: [],
        },
        model: this.pipeline.model,
        calibration: this.config.calibration.id,
      },
    ]);
    return {
      ...decision,
      subjectId,
      faces: [{ box: probeFace.box, quality: probeFace.quality }, ...(other ? [other] : [])],
    };
  }
}

/** A stable audit-row id for face `faceIndex` of the input named `auditKey` (UUID-shaped, from its sha256). */
function auditId(auditKey: string, faceIndex: number): string {
  const hex = createHash('sha256').update(`${auditKey}#${faceIndex}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
