import { createHash, randomUUID } from 'node:crypto';
import type {
  Candidate,
  Decision,
  DecisionAuditEntry,
  FaceTemplate,
  Subject,
  TemplateVariant,
} from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import {
  type AnalyzeOptionsInput,
  type AnalyzeResult,
  compare,
  type FacePipeline,
  largestFace,
  resolveOptions,
} from '../pipeline/pipeline.ts';
import type { Calibration } from '../search/calibration.ts';
import { decide, verifyDecision } from '../search/decision.ts';
import { assertCompatible, decodeSnapshot, encodeSnapshot, inspectSnapshot } from '../search/snapshot.ts';
import { type FusionConfig, VectorIndex } from '../search/vector-index.ts';
import type { Box, FaceQuality, FiveLandmarks, ModelRef } from '../types.ts';
import type { EnrolmentPhotoStore } from './photo-store.ts';
import type { FaceStore, IndexSnapshotStore, Page } from './ports.ts';
import { makeVariant } from './variants.ts';

/** Kept here too for the gallery's callers (calibrate.ts); the pipeline owns it. */
export { largestFace } from '../pipeline/pipeline.ts';

/** How the gallery enrols and decides. Configuration, not code: change it with measurements. */
export interface GalleryConfig {
  /** Templates stored per enrolment photo besides `original`. */
  variants: Exclude<TemplateVariant, 'original'>[];
  /** How a subject's template scores fuse into one similarity. */
  fusion: FusionConfig;
  /** Enrolment photos whose face scores below this quality are refused, with the reasons. */
  minEnrolQuality: number;
  /** Candidates returned per probe face. */
  topK: number;
  /** Thresholds and their provenance. */
  calibration: Calibration;
  /** Pipeline options for every analysis. */
  analyze: AnalyzeOptionsInput;
  /**
   * Verification by agreement of two views: with `mirror`, each probe face is also searched as its mirror image,
   * and a match stands only when that second view names the same subject above the threshold; otherwise the
   * decision becomes `ambiguous`. (Cosine and L2 agreement would be no check at all: on unit vectors they rank
   * identically.) Off by default until measured to help.
   */
  agreement?: 'none' | 'mirror' | undefined;
}

export interface PhotoInput {
  bytes: Uint8Array;
  /** File name, object key or `api`: recorded with each template. */
  source: string;
  /** Take the largest face when the photo holds several (default: refuse with MULTIPLE_FACES). */
  takeLargest?: boolean | undefined;
  /** How error messages name the photo (default: `source`), e.g. "the photo" for an HTTP upload. */
  label?: string | undefined;
}

export interface SubjectView extends Subject {
  templates: {
    id: string;
    variant: TemplateVariant;
    source: string;
    quality: FaceQuality;
    createdAt: string;
  }[];
}

/** The second view's verdict when {@link GalleryConfig.agreement} is on. */
export interface ViewAgreement {
  view: 'mirror';
  subjectId: string | undefined;
  similarity: number;
  agreed: boolean;
}

export interface IdentifiedFace {
  agreement?: ViewAgreement | undefined;
  box: Box;
  landmarks: FiveLandmarks;
  quality: FaceQuality;
  enhanced: boolean;
  decision: Decision & { subjectName?: string | undefined };
  candidates: (Candidate & { name?: string | undefined })[];
}

export interface IdentifyResult {
  width: number;
  height: number;
  faces: IdentifiedFace[];
  calibration: string;
  model: { id: string; version: string };
}

export interface VerifyResult {
  match: boolean;
  similarity: number;
  threshold: number;
  confidence: number;
  faces: { box: Box; quality: FaceQuality }[];
  subjectId?: string | undefined;
}

export interface GalleryDeps {
  pipeline: FacePipeline;
  store: FaceStore;
  snapshots: IndexSnapshotStore;
  config: GalleryConfig;
  now?: () => Date;
  /**
   * `self` (local mode): the service saves a snapshot after every write and reconciles it with the whole store
   * on open. `indexer` (AWS): a separate indexer publishes snapshots from the store's change stream; the service
   * loads the newest one and catches up with templates created since (`store.templatesCreatedAfter`).
   */
  snapshotOwner?: 'self' | 'indexer';
  /** Where accepted enrolment photos are kept, so `gallery reembed` can re-embed them with another pack. */
  photos?: EnrolmentPhotoStore | undefined;
}

/** A store that can list templates created after a time (the AWS identify path's catch-up). */
interface CatchUpStore {
  templatesCreatedAfter(isoTime: string): Promise<FaceTemplate[]>;
}

function canCatchUp(store: FaceStore): store is FaceStore & CatchUpStore {
  return typeof (store as Partial<CatchUpStore>).templatesCreatedAfter === 'function';
}

/**
 * The gallery: enrols subjects (original template plus degradation-matched variants), keeps the vector index in
 * step with the store of record, identifies every face of a probe with an open-set decision, verifies 1:1, and
 * writes every decision to the audit log. Writes are serialised; reads run concurrently.
 */
export class GalleryService {
  private readonly pipeline: FacePipeline;
  private readonly store: FaceStore;
  private readonly snapshots: IndexSnapshotStore;
  private readonly photos: EnrolmentPhotoStore | undefined;
  readonly config: GalleryConfig;
  private readonly now: () => Date;
  private index: VectorIndex;
  private writes: Promise<unknown> = Promise.resolve();
  private readonly snapshotOwner: 'self' | 'indexer';
  /** The snapshot version this process last loaded or wrote. */
  private seenVersion: string | undefined;
  private refreshing: Promise<boolean> | undefined;
  /** The pipeline's embedding space: its model pack's id and embedding length. */
  private readonly space: { modelId: string; dim: number };
  /** Set when the store holds subjects whose only templates are of another pack: searching is refused. */
  private foreign: ForeignTemplates | undefined;

  constructor(deps: GalleryDeps) {
    this.pipeline = deps.pipeline;
    this.store = deps.store;
    this.snapshots = deps.snapshots;
    this.photos = deps.photos;
    this.config = deps.config;
    this.now = deps.now ?? (() => new Date());
    this.snapshotOwner = deps.snapshotOwner ?? 'self';
    this.space = { modelId: this.pipeline.model.id, dim: this.pipeline.embeddingSize };
    assertCalibrationFits(this.config.calibration, this.space.modelId);
    this.index = new VectorIndex(this.space);
  }

  /** The embedding space (model pack id) and dimension this gallery searches. */
  get model(): ModelRef {
    return this.pipeline.model;
  }

  /**
   * Indexer mode: loads the newest published snapshot and adds the templates created since it was written (minus
   * a minute of clock-skew margin), so a subject enrolled a second ago is found before the indexer catches up.
   * Without a snapshot, the index is built from the whole store.
   */
  async refreshFromSnapshot(): Promise<{ templates: number; subjects: number; caughtUp: number }> {
    const bytes = await this.snapshots.load();
    let index: VectorIndex | undefined;
    let since: string | undefined;
    if (bytes) {
      try {
        index = decodeSnapshot(bytes);
        assertCompatible(index, this.space);
        since = new Date(Date.parse(inspectSnapshot(bytes).createdAt) - 60_000).toISOString();
      } catch {
        index = undefined;
      }
    }
    index ??= new VectorIndex(this.space);
    const recent =
      since && canCatchUp(this.store)
        ? await this.store.templatesCreatedAfter(since)
        : await this.store.listTemplates();
    const missing = recent.filter((t) => t.model.id === this.space.modelId && !index.has(t.id));
    index.add(
      missing.map((t) => ({
        templateId: t.id,
        subjectId: t.subjectId,
        variant: t.variant,
        vector: t.embedding,
      })),
    );
    this.index = index;
    return { templates: index.size, subjects: index.subjectCount, caughtUp: missing.length };
  }

  /**
   * Loads the newest index snapshot and reconciles it with the store of record: a snapshot that is missing,
   * corrupt, for another model or out of step (a crash between a store write and a snapshot save) is rebuilt.
   */
  async open(): Promise<{ templates: number; subjects: number; rebuilt: boolean }> {
    const templates = await this.store.listTemplates();
    let loaded: VectorIndex | undefined;
    const bytes = await this.snapshots.load();
    if (bytes) {
      try {
        loaded = decodeSnapshot(bytes);
        assertCompatible(loaded, this.space);
      } catch {
        loaded = undefined;
      }
    }
    this.foreign = foreignTemplates(templates, this.space.modelId);
    const current = templates.filter((t) => t.model.id === this.space.modelId);
    const inStep =
      loaded !== undefined && loaded.size === current.length && current.every((t) => loaded.has(t.id));
    if (loaded && inStep) {
      this.index = loaded;
      this.seenVersion = await this.snapshots.version?.();
      return { templates: loaded.size, subjects: loaded.subjectCount, rebuilt: false };
    }
    const index = new VectorIndex(this.space);
    index.add(
      current.map((t) => ({
        templateId: t.id,
        subjectId: t.subjectId,
        variant: t.variant,
        vector: t.embedding,
      })),
    );
    this.index = index;
    await this.snapshots.save(encodeSnapshot(index, { createdAt: this.now().toISOString() }));
    this.seenVersion = await this.snapshots.version?.();
    return { templates: index.size, subjects: index.subjectCount, rebuilt: true };
  }

  /**
   * Reloads the index when another process replaced the snapshot since this one last read or wrote it (the CLI
   * enrolling while the local server runs). Cheap when nothing changed: one `stat`. Returns whether it reloaded.
   */
  refreshIfStale(): Promise<boolean> {
    if (!this.snapshots.version) return Promise.resolve(false);
    this.refreshing ??= this.serialise(async () => {
      const version = await this.snapshots.version?.();
      if (version === this.seenVersion) return false;
      if (this.snapshotOwner === 'self') {
        await this.open();
      } else {
        await this.refreshFromSnapshot();
        this.seenVersion = version;
      }
      return true;
    }).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /**
   * Refuses to search while some subject's only templates are of another model pack (the gallery was enrolled
   * with another pack and `faceprint gallery reembed` has not finished): such a subject could never match.
   *
   * @throws FaceprintError `INDEX_INCOMPATIBLE`.
   */
  assertSearchable(): void {
    const foreign = this.foreign;
    if (!foreign) return;
    throw new FaceprintError(
      'INDEX_INCOMPATIBLE',
      `The gallery holds ${foreign.subjects} subject(s) enrolled only with model pack ${foreign.modelIds.join(', ')}, which pack ${this.space.modelId} cannot search; run \`faceprint gallery reembed\` with this pack (or select the pack they were enrolled with).`,
      { modelIds: foreign.modelIds, subjects: foreign.subjects, modelId: this.space.modelId },
    );
  }

  /** Number of templates and subjects in the index. */
  stats(): { templates: number; subjects: number; kernel: string } {
    return { templates: this.index.size, subjects: this.index.subjectCount, kernel: this.index.kernel };
  }

  private serialise<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writes.then(work, work);
    this.writes = run.catch(() => undefined);
    return run;
  }

  private async persistIndex(): Promise<void> {
    if (this.snapshotOwner !== 'self') return;
    await this.snapshots.save(encodeSnapshot(this.index, { createdAt: this.now().toISOString() }));
    this.seenVersion = await this.snapshots.version?.();
  }

  /** Analyses an enrolment photo into templates (not yet stored): one face, quality-checked, plus variants. */
  templatesFromPhoto(subjectId: string, photo: PhotoInput): Promise<FaceTemplate[]> {
    return enrolmentTemplates(this.pipeline, this.config, subjectId, photo, this.now());
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
    const templates = photo ? await this.templatesFromPhoto(subject.id, photo) : [];
    return this.serialise(async () => {
      await this.store.createSubject(subject, templates);
      if (photo) await this.keepPhoto(subject.id, photo);
      this.addToIndex(templates);
      await this.persistIndex();
      return view(subject, templates);
    });
  }

  /** Adds a photo's templates to an existing subject. */
  async addFace(subjectId: string, photo: PhotoInput): Promise<SubjectView> {
    const subject = await this.requireSubject(subjectId);
    const templates = await this.templatesFromPhoto(subject.id, photo);
    return this.serialise(async () => {
      await this.store.addTemplates(subject.id, templates);
      await this.keepPhoto(subject.id, photo);
      this.addToIndex(templates);
      await this.persistIndex();
      return view(subject, await this.store.listTemplates(subject.id));
    });
  }

  private async keepPhoto(subjectId: string, photo: PhotoInput): Promise<void> {
    if (!this.photos) return;
    const id = createHash('sha256').update(photo.bytes).digest('hex');
    await this.photos.put({ subjectId, id, source: photo.source }, photo.bytes);
  }

  private addToIndex(templates: FaceTemplate[]): void {
    this.index.add(
      templates.map((t) => ({
        templateId: t.id,
        subjectId: t.subjectId,
        variant: t.variant,
        vector: t.embedding,
      })),
    );
  }

  private async requireSubject(id: string): Promise<Subject> {
    const subject = await this.store.getSubject(id);
    if (!subject) throw new FaceprintError('SUBJECT_NOT_FOUND', `There is no subject with id "${id}".`);
    return subject;
  }

  /** A subject with summaries of its templates (never the embeddings). */
  async getSubject(id: string): Promise<SubjectView> {
    const subject = await this.requireSubject(id);
    return view(subject, await this.store.listTemplates(id));
  }

  listSubjects(limit: number, cursor?: string): Promise<Page<Subject>> {
    return this.store.listSubjects({ limit, cursor });
  }

  /** Deletes a subject's record, templates and index entries. */
  async deleteSubject(id: string): Promise<void> {
    await this.serialise(async () => {
      // An unknown id is refused before anything is touched: a 404 writes nothing.
      await this.requireSubject(id);
      // Index first: if the store delete fails, the next open() rebuilds the index from the store.
      this.index.removeSubject(id);
      await this.store.deleteSubject(id);
      await this.photos?.deleteSubject(id);
      await this.persistIndex();
    });
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
    context: { source: string; operation?: string; topK?: number },
  ): Promise<IdentifyResult> {
    this.assertSearchable();
    const agreementOn = this.config.agreement === 'mirror';
    const result = await this.pipeline.analyze(bytes, { ...this.config.analyze, keepCrops: agreementOn });
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
    const names = new Map<string, string | undefined>();
    const nameOf = async (id: string) => {
      if (!names.has(id)) names.set(id, (await this.store.getSubject(id))?.name);
      return names.get(id);
    };
    const faces: IdentifiedFace[] = [];
    for (const [i, face] of result.faces.entries()) {
      const candidates = this.index.search(face.embedding, {
        k: context.topK ?? this.config.topK,
        fusion: this.config.fusion,
      });
      let decision = decide(candidates, policy);
      let agreement: ViewAgreement | undefined;
      const second = mirrored[i];
      if (second) {
        const [best] = this.index.search(second, { k: 1, fusion: this.config.fusion });
        const agreed =
          best !== undefined && best.subjectId === decision.subjectId && best.similarity >= policy.threshold;
        agreement = { view: 'mirror', subjectId: best?.subjectId, similarity: best?.similarity ?? 0, agreed };
        if (decision.kind === 'match' && !agreed) decision = { ...decision, kind: 'ambiguous' };
      }
      faces.push({
        agreement,
        box: face.box,
        landmarks: face.landmarks,
        quality: face.quality,
        enhanced: face.enhanced,
        decision: {
          ...decision,
          subjectName: decision.subjectId ? await nameOf(decision.subjectId) : undefined,
        },
        candidates: await Promise.all(
          candidates.map(async (c) => ({ ...c, name: await nameOf(c.subjectId) })),
        ),
      });
    }
    const at = this.now().toISOString();
    await this.store.appendAudit(
      faces.map(
        (face, faceIndex): DecisionAuditEntry => ({
          id: randomUUID(),
          at,
          operation: context.operation ?? 'identify',
          source: context.source,
          faceIndex,
          box: face.box,
          quality: face.quality,
          decision: face.decision,
          model: this.pipeline.model,
          calibration: calibration.id,
        }),
      ),
    );
    return {
      width: result.width,
      height: result.height,
      faces,
      calibration: calibration.id,
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

/**
 * Turns an enrolment photo into templates: exactly one face (or the largest, when asked), refused below the
 * configured enrolment quality with its reasons, plus the configured degradation-matched variants.
 */
export async function enrolmentTemplates(
  pipeline: FacePipeline,
  config: Pick<GalleryConfig, 'analyze' | 'variants' | 'minEnrolQuality'>,
  subjectId: string,
  photo: PhotoInput,
  now: Date = new Date(),
): Promise<FaceTemplate[]> {
  const options = resolveOptions({ ...config.analyze, keepCrops: true });
  const result = await pipeline.analyze(photo.bytes, options);
  const label = photo.label ?? photo.source;
  const [first, ...rest] = result.faces;
  if (!first) throw new FaceprintError('NO_FACE', `No face was found in ${label}.`);
  if (rest.length > 0 && !photo.takeLargest) {
    throw new FaceprintError(
      'MULTIPLE_FACES',
      `${label.charAt(0).toUpperCase()}${label.slice(1)} shows ${result.faces.length} faces; enrol a photo of one person or ask for the largest face.`,
      { faces: result.faces.length },
    );
  }
  const face = largestFace(result, label);
  if (face.quality.score < config.minEnrolQuality) {
    throw new FaceprintError(
      'LOW_QUALITY',
      `The face in ${photo.source} is not good enough to enrol (quality ${face.quality.score.toFixed(2)} < ${config.minEnrolQuality}${face.quality.reasons.length ? `: ${face.quality.reasons.join(', ')}` : ''}).`,
      { quality: face.quality },
    );
  }
  const createdAt = now.toISOString();
  const base = {
    subjectId,
    source: photo.source,
    box: face.box,
    quality: face.quality,
    model: pipeline.model,
    createdAt,
  };
  const templates: FaceTemplate[] = [
    { ...base, id: randomUUID(), embedding: face.embedding, variant: 'original' },
  ];
  const crop = face.crops?.aligned;
  if (crop && config.variants.length > 0) {
    const images = await Promise.all(config.variants.map((v) => makeVariant(crop, v, options)));
    const vectors = await pipeline.embedCrops(images, options.flip);
    config.variants.forEach((variant, i) => {
      templates.push({ ...base, id: randomUUID(), embedding: vectors[i]!, variant });
    });
  }
  return templates;
}

function view(subject: Subject, templates: FaceTemplate[]): SubjectView {
  return {
    ...subject,
    templates: templates.map((t) => ({
      id: t.id,
      variant: t.variant,
      source: t.source,
      quality: t.quality,
      createdAt: t.createdAt,
    })),
  };
}

/** Subjects whose templates are all of other model packs than the gallery's. */
interface ForeignTemplates {
  modelIds: string[];
  subjects: number;
}

/** The subjects that have templates, but none of `modelId` (undefined when every subject has some). */
export function foreignTemplates(templates: FaceTemplate[], modelId: string): ForeignTemplates | undefined {
  const ours = new Set<string>();
  const theirs = new Map<string, Set<string>>();
  for (const t of templates) {
    if (t.model.id === modelId) ours.add(t.subjectId);
    else {
      const ids = theirs.get(t.subjectId) ?? new Set<string>();
      ids.add(t.model.id);
      theirs.set(t.subjectId, ids);
    }
  }
  const modelIds = new Set<string>();
  let subjects = 0;
  for (const [subjectId, ids] of theirs) {
    if (ours.has(subjectId)) continue;
    subjects += 1;
    for (const id of ids) modelIds.add(id);
  }
  return subjects === 0 ? undefined : { modelIds: [...modelIds].sort(), subjects };
}

/**
 * A calibration is valid only for the embedding space it was measured in: thresholds of one pack mean nothing for
 * another. Fails closed.
 *
 * @throws FaceprintError `MODEL_MISMATCH`.
 */
export function assertCalibrationFits(calibration: Calibration, modelId: string): void {
  if (calibration.modelId === modelId) return;
  throw new FaceprintError(
    'MODEL_MISMATCH',
    `Calibration ${calibration.id} was measured for model pack ${calibration.modelId}, not ${modelId}; run \`faceprint calibrate --model-pack <dir> --out <dir>/calibration.json\` for this pack.`,
    { calibrationModelId: calibration.modelId, modelId },
  );
}
