/**
 * Re-embedding a gallery with another model pack. Subject by subject, every kept enrolment photo is analysed with
 * the new pack and the subject's new templates are added in one atomic store write, so a run killed at any point
 * leaves each subject either untouched or complete; a re-run skips the complete ones (no duplicates). The old
 * pack's templates stay, and keep serving searches with the old pack, until every subject has new ones; only
 * then are they removed and the new index written. Configured cameras (when given) are then backfilled for the
 * new pack, so camera-matched identification keeps working without a separate `camera backfill`, and their old
 * pack's templates are removed like the gallery's.
 */
import type { BackfillProgress, BackfillResult, CameraGallery } from '../camera/service.ts';
import type { FaceTemplate } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { FacePipeline } from '../pipeline/pipeline.ts';
import { encodeSnapshot } from '../search/snapshot.ts';
import { VectorIndex } from '../search/vector-index.ts';
import { enrolmentTemplates } from './enrolment.ts';
import type { EnrolmentPhotoStore, TemplateRemoval } from './photo-store.ts';
import type { FaceStore, IndexSnapshotStore } from './ports.ts';
import type { GalleryConfig } from './types.ts';

export interface ReembedDeps {
  /** The pipeline of the new pack. */
  pipeline: FacePipeline;
  store: FaceStore & Partial<TemplateRemoval>;
  photos: EnrolmentPhotoStore;
  snapshots: IndexSnapshotStore;
  config: Pick<GalleryConfig, 'analyze' | 'variants' | 'minEnrolQuality'>;
  now?: () => Date;
  /** Called after each subject: subjects done so far (skipped ones included) out of the total. */
  onProgress?: (done: number, total: number, subjectId: string) => void;
  /**
   * The configured cameras, on the new pack's pipeline. Once every subject has new templates, each camera is
   * backfilled for the new pack (resumable, like the backfill itself), then its other packs' templates are
   * removed: a camera's search reads only the gallery pack's templates.
   */
  cameras?: Pick<CameraGallery, 'list' | 'backfill' | 'pruneOtherPacks'> | undefined;
  /** The progress callback of one camera's backfill (photos done of the total). */
  cameraProgress?: (camera: string) => BackfillProgress;
}

export interface ReembedResult {
  subjects: number;
  /** Subjects re-embedded by this run. */
  reembedded: number;
  /** Subjects a previous run had already finished. */
  skipped: number;
  /** Subjects with no kept photo (enrolled before photos were kept): they keep only old templates. */
  withoutPhotos: string[];
  /** Photos the new pack found no usable face in, per subject. */
  refused: { subjectId: string; source: string; reason: string }[];
  /** Old-pack templates removed at the end (0 while some subject is not done). */
  removed: number;
  complete: boolean;
  templates: number;
  /**
   * One backfill per configured camera, made once the gallery was complete (empty otherwise), with how many of
   * the camera's old-pack templates were then removed.
   */
  cameras: (BackfillResult & { removed: number })[];
}

async function allSubjectIds(store: FaceStore): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listSubjects({ limit: 500, cursor });
    ids.push(...page.items.map((s) => s.id));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

/**
 * Re-embeds every subject's kept enrolment photos with `deps.pipeline`'s pack; resumable (see the module header).
 *
 * @throws FaceprintError `INVALID_ARGUMENT` when the store cannot remove single templates.
 */
export async function reembedGallery(deps: ReembedDeps): Promise<ReembedResult> {
  const { pipeline, store, photos } = deps;
  const target = pipeline.model.id;
  const now = deps.now ?? (() => new Date());
  const ids = await allSubjectIds(store);
  const result: ReembedResult = {
    subjects: ids.length,
    reembedded: 0,
    skipped: 0,
    withoutPhotos: [],
    refused: [],
    removed: 0,
    complete: false,
    templates: 0,
    cameras: [],
  };
  for (const [i, subjectId] of ids.entries()) {
    const existing = await store.listTemplates(subjectId);
    if (existing.some((t) => t.model.id === target)) {
      result.skipped += 1;
    } else {
      const kept = await photos.list(subjectId);
      if (kept.length === 0) result.withoutPhotos.push(subjectId);
      const fresh: FaceTemplate[] = [];
      for (const photo of kept) {
        const bytes = await photos.get(subjectId, photo.id);
        if (!bytes) continue;
        try {
          fresh.push(
            ...(await enrolmentTemplates(
              pipeline,
              deps.config,
              subjectId,
              { bytes, source: photo.source, takeLargest: true },
              now(),
            )),
          );
        } catch (error) {
          if (!(error instanceof FaceprintError)) throw error;
          result.refused.push({ subjectId, source: photo.source, reason: error.message });
        }
      }
      // One atomic write per subject: killed before it, the subject is redone; after it, skipped.
      if (fresh.length > 0) {
        await store.addTemplates(subjectId, fresh);
        result.reembedded += 1;
      } else if (kept.length > 0) {
        result.withoutPhotos.push(subjectId);
      }
    }
    deps.onProgress?.(i + 1, ids.length, subjectId);
  }
  const all = await store.listTemplates();
  const done = new Set(all.filter((t) => t.model.id === target).map((t) => t.subjectId));
  result.complete = ids.every((id) => done.has(id));
  if (!result.complete) return result;
  if (typeof store.deleteTemplates !== 'function') {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      'This store cannot remove single templates, so the old pack’s templates were kept.',
    );
  }
  // The new index first, then the old templates go: a crash in between leaves a searchable gallery.
  const current = all.filter((t) => t.model.id === target);
  const index = new VectorIndex({ modelId: target, dim: pipeline.embeddingSize });
  index.add(
    current.map((t) => ({
      templateId: t.id,
      subjectId: t.subjectId,
      variant: t.variant,
      vector: t.embedding,
    })),
  );
  await deps.snapshots.save(encodeSnapshot(index, { createdAt: now().toISOString() }));
  const old = new Map<string, string[]>();
  for (const t of all) {
    if (t.model.id === target) continue;
    old.set(t.subjectId, [...(old.get(t.subjectId) ?? []), t.id]);
  }
  for (const [subjectId, templateIds] of old) {
    result.removed += await store.deleteTemplates(subjectId, templateIds);
  }
  result.templates = index.size;
  const { cameras } = deps;
  if (cameras) {
    for (const camera of await cameras.list()) {
      const backfill = await cameras.backfill(camera.id, deps.cameraProgress?.(camera.id));
      result.cameras.push({ ...backfill, removed: await cameras.pruneOtherPacks(camera.id) });
    }
  }
  return result;
}
