/**
 * The gallery service: the facade every entry point calls. It owns the search index kept in step with the store
 * (`search/gallery-index.ts`) and the serialised writes (subjects, faces, erasure); enrolment (`enrolment.ts`),
 * identify and verify (`identification.ts`) and the model-pack checks (`compatibility.ts`) are delegated to their
 * modules, and the public shapes live in `types.ts`.
 */
import { randomUUID } from 'node:crypto';
import { type DecisionFilter, queryDecisions } from '../audit/decisions.ts';
import type { CameraTemplate } from '../camera/ports.ts';
import type { CameraGallery } from '../camera/service.ts';
import {
  CAMERA_NAME_PATTERN,
  type Candidate,
  type DecisionAuditEntry,
  type FaceTemplate,
  type Subject,
} from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { FaceAnalyser } from '../pipeline/analyser.ts';
import type { AnalyzeResult } from '../pipeline/pipeline.ts';
import { GalleryIndex } from '../search/gallery-index.ts';
import type { RemoteVectorIndex } from '../search/remote-index.ts';
import type { ModelRef } from '../types.ts';
import {
  assertCalibrationFits,
  assertNoForeignTemplates,
  type ForeignTemplates,
  foreignTemplates,
} from './compatibility.ts';
import { enrolmentTemplates, photoId, splitCameraTemplates, subjectView } from './enrolment.ts';
import type { ErasureReport, SubjectEraser } from './erasure.ts';
import type { IdentifyFollowUp } from './follow-up.ts';
import { type DecisionParts, identifyProbe, verifyProbe } from './identification.ts';
import type { EnrolmentPhotoStore, TemplateRemoval } from './photo-store.ts';
import type { FaceStore, Page } from './ports.ts';
import type {
  GalleryConfig,
  GalleryDeps,
  IdentifyRequest,
  IdentifyResult,
  PhotoInput,
  SubjectView,
  VerifyResult,
} from './types.ts';

/** Kept importable from here: the model-pack checks live in `compatibility.ts`. */
export { assertCalibrationFits, foreignTemplates } from './compatibility.ts';
/** Kept importable from here: enrolment lives in `enrolment.ts`. */
export { enrolmentTemplates } from './enrolment.ts';
/** The gallery's public shapes, kept importable from here for the service's callers. */
export type * from './types.ts';

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
  /** What identify and verify (`identification.ts`) work with. */
  private readonly decisions: DecisionParts;

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
    this.decisions = {
      pipeline: this.pipeline,
      store: this.store,
      config: this.config,
      now: this.now,
      modelId: this.space.modelId,
      search: (embedding, k) => this.searchIndex(embedding, k),
      requireSubject: (id) => this.requireSubject(id),
      cameras: this.cameras,
      followUp: this.followUp,
    };
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
   * in the audit log with its similarity, threshold and quality (see {@link identifyProbe}).
   */
  async identify(bytes: Uint8Array, context: IdentifyRequest): Promise<IdentifyResult> {
    this.assertSearchable();
    return identifyProbe(this.decisions, bytes, context);
  }

  /** 1:1 verification of the largest face of a probe against a second image or an enrolled subject. */
  verify(
    probe: Uint8Array,
    against: { image: Uint8Array } | { subjectId: string },
    source: string,
  ): Promise<VerifyResult> {
    return verifyProbe(this.decisions, probe, against, source);
  }
}
