/**
 * Configured cameras and their camera-matched templates (`domain.ts`, `CameraVariant`): adding a camera (its
 * settings typed in or estimated from its images), backfilling a template per enrolment photo for it (resumable,
 * with progress), making one per configured camera at every new enrolment, and searching one camera's templates
 * for an identify call that names it. The gallery's own index never holds camera templates: each camera has a
 * small exact index here, rebuilt when the store says its templates changed.
 */
import { randomUUID } from 'node:crypto';
import type { Candidate, FaceTemplate } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { EnrolmentPhotoStore } from '../gallery/photo-store.ts';
import type { FaceAnalyser } from '../pipeline/analyser.ts';
import type { RgbImage } from '../pipeline/image.ts';
import { type AnalyzeOptionsInput, largestFace, resolveOptions } from '../pipeline/pipeline.ts';
import { type FusionConfig, VectorIndex } from '../search/vector-index.ts';
import { cameraMatchedCrop } from './match.ts';
import type { CameraStore, CameraTemplate } from './ports.ts';
import { assertCameraId, type Camera, type CameraProvenance, type CameraSettings } from './profile.ts';

export interface CameraGalleryDeps {
  store: CameraStore;
  /** The gallery's analyser (camera templates live in the gallery's embedding space). */
  pipeline: FaceAnalyser;
  /** The gallery's analysis options (the probe path a camera template must match). */
  analyze: AnalyzeOptionsInput;
  /** The kept enrolment photos a backfill works from; without them only new enrolments get camera templates. */
  photos?: EnrolmentPhotoStore | undefined;
  now?: (() => Date) | undefined;
}

/** Progress of a backfill: photos done (made or skipped) of the total. */
export type BackfillProgress = (done: number, total: number) => void;

export interface BackfillResult {
  camera: string;
  /** Enrolment photos looked at. */
  photos: number;
  /** Camera templates made now. */
  made: number;
  /** Photos that already had this camera's template (a resumed backfill). */
  skipped: number;
  /** Photos that could not be used (gone, or no face found in them any more), with why. */
  failed: { subjectId: string; photoId: string; reason: string }[];
}

/** A seed per photo and camera, so that the noise of a camera template is the same on every run. */
function seedOf(photoId: string, cameraId: string): number {
  let h = 2166136261;
  for (const ch of `${photoId}#${cameraId}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

export class CameraGallery {
  readonly #store: CameraStore;
  readonly #pipeline: FaceAnalyser;
  readonly #analyze: AnalyzeOptionsInput;
  readonly #photos: EnrolmentPhotoStore | undefined;
  readonly #now: () => Date;
  readonly #indexes = new Map<string, { version: string; index: VectorIndex; templates: number }>();

  constructor(deps: CameraGalleryDeps) {
    this.#store = deps.store;
    this.#pipeline = deps.pipeline;
    this.#analyze = deps.analyze;
    this.#photos = deps.photos;
    this.#now = deps.now ?? (() => new Date());
  }

  /** Every configured camera, by id. */
  list(): Promise<Camera[]> {
    return this.#store.listCameras();
  }

  /**
   * The configured camera `id`.
   *
   * @throws FaceprintError INVALID_ARGUMENT for a malformed id, CAMERA_NOT_FOUND for one that is not configured.
   */
  async require(id: string): Promise<Camera> {
    assertCameraId(id);
    const camera = await this.#store.getCamera(id);
    if (!camera) {
      throw new FaceprintError(
        'CAMERA_NOT_FOUND',
        `There is no configured camera "${id}"; add it with \`faceprint camera add ${id} <image…>\` or PUT /cameras/${id}.`,
        { camera: id },
      );
    }
    return camera;
  }

  /**
   * Configures (or reconfigures) a camera, then backfills its templates from the kept enrolment photos.
   * Reconfiguring drops the templates made for the old settings first.
   *
   * @throws FaceprintError INVALID_ARGUMENT for a malformed id.
   */
  async add(
    id: string,
    settings: CameraSettings,
    provenance: CameraProvenance,
    onProgress?: BackfillProgress,
  ): Promise<{ camera: Camera; backfill: BackfillResult }> {
    assertCameraId(id);
    const at = this.#now().toISOString();
    const existing = await this.#store.getCamera(id);
    const camera: Camera = { id, settings, provenance, createdAt: existing?.createdAt ?? at, updatedAt: at };
    await this.#store.putCamera(camera);
    this.#indexes.delete(id);
    return { camera, backfill: await this.backfill(id, onProgress) };
  }

  /** Removes a camera and its templates; false when it was not configured. */
  async remove(id: string): Promise<boolean> {
    assertCameraId(id);
    this.#indexes.delete(id);
    return this.#store.deleteCamera(id);
  }

  /**
   * Makes the camera's template for every kept enrolment photo that lacks one (resumable: an interrupted backfill
   * is finished by running it again). Photos are re-analysed with the gallery's options (the enrolment rule: the
   * most prominent face).
   *
   * @throws FaceprintError CAMERA_NOT_FOUND.
   */
  async backfill(id: string, onProgress?: BackfillProgress): Promise<BackfillResult> {
    const camera = await this.require(id);
    const result: BackfillResult = { camera: id, photos: 0, made: 0, skipped: 0, failed: [] };
    const photos = (await this.#photos?.list()) ?? [];
    const done = await this.#store.backfilledPhotos(id, this.#pipeline.model.id);
    result.photos = photos.length;
    onProgress?.(0, photos.length);
    for (const [i, photo] of photos.entries()) {
      if (done.has(`${photo.subjectId}#${photo.id}`)) result.skipped += 1;
      else {
        try {
          const bytes = await this.#photos?.get(photo.subjectId, photo.id);
          if (!bytes) throw new FaceprintError('SUBJECT_NOT_FOUND', 'the photo is gone');
          const options = resolveOptions({ ...this.#analyze, keepCrops: true });
          const face = largestFace(await this.#pipeline.analyze(bytes, options), photo.source);
          const crop = face.crops?.aligned;
          if (!crop) throw new FaceprintError('NO_FACE', 'no aligned face');
          const base = {
            subjectId: photo.subjectId,
            source: photo.source,
            box: face.box,
            quality: face.quality,
            model: this.#pipeline.model,
            createdAt: this.#now().toISOString(),
          };
          await this.#store.addCameraTemplates(await this.#templates([camera], crop, base, photo.id));
          result.made += 1;
        } catch (error) {
          if (error instanceof FaceprintError && error.code === 'CAMERA_NOT_FOUND') throw error;
          result.failed.push({
            subjectId: photo.subjectId,
            photoId: photo.id,
            reason: error instanceof Error ? error.message : String(error),
          });
        }
      }
      onProgress?.(i + 1, photos.length);
    }
    return result;
  }

  /** One template per camera for an enrolment crop (not stored). */
  async #templates(
    cameras: readonly Camera[],
    crop: RgbImage,
    base: Omit<FaceTemplate, 'id' | 'embedding' | 'variant'>,
    photoId: string,
  ): Promise<CameraTemplate[]> {
    if (cameras.length === 0) return [];
    const options = resolveOptions(this.#analyze);
    const crops = await Promise.all(
      cameras.map((c) => cameraMatchedCrop(crop, c.settings, options, seedOf(photoId, c.id))),
    );
    const vectors = await this.#pipeline.embedCrops(crops, options.flip);
    return cameras.map((c, i) => ({
      ...base,
      id: randomUUID(),
      embedding: vectors[i] as Float32Array,
      variant: 'camera',
      camera: c.id,
      photoId,
    }));
  }

  /** The templates of every configured camera for a new enrolment's crop (stored by {@link addTemplates}). */
  async templatesFor(
    crop: RgbImage,
    base: Omit<FaceTemplate, 'id' | 'embedding' | 'variant'>,
    photoId: string,
  ): Promise<CameraTemplate[]> {
    return this.#templates(await this.#store.listCameras(), crop, base, photoId);
  }

  /** Stores camera templates made by {@link templatesFor}. */
  addTemplates(templates: readonly CameraTemplate[]): Promise<void> {
    return this.#store.addCameraTemplates(templates);
  }

  /**
   * Deletes camera `id`'s templates of other model packs than the gallery's: after `gallery reembed` they are never
   * searched again, and they would still count as the camera's templates. Returns how many went.
   */
  async pruneOtherPacks(id: string): Promise<number> {
    this.#indexes.delete(id);
    return this.#store.deleteOtherPackCameraTemplates(id, this.#pipeline.model.id);
  }

  /** Deletes a subject's camera templates (its deletion). */
  eraseSubject(subjectId: string): Promise<number> {
    return this.#store.deleteSubjectCameraTemplates(subjectId);
  }

  /** How many templates a camera has. */
  countTemplates(id: string): Promise<number> {
    return this.#store.countCameraTemplates(id);
  }

  /**
   * The top `k` subjects by their best template of camera `id` (of the gallery's model pack), and how many
   * templates were searched. The index is rebuilt when the store's version of the camera's templates changed.
   */
  async search(
    id: string,
    embedding: Float32Array,
    k: number,
    fusion: FusionConfig,
  ): Promise<{ candidates: Candidate[]; templates: number }> {
    const version = await this.#store.cameraTemplatesVersion(id);
    let entry = this.#indexes.get(id);
    if (!entry || entry.version !== version) {
      const templates = await this.#store.listCameraTemplates(id, this.#pipeline.model.id);
      const index = new VectorIndex({
        modelId: this.#pipeline.model.id,
        dim: this.#pipeline.embeddingSize,
        initialCapacity: Math.max(1, templates.length),
      });
      index.add(
        templates.map((t) => ({
          templateId: t.id,
          subjectId: t.subjectId,
          variant: 'camera' as const,
          vector: t.embedding,
        })),
      );
      entry = { version, index, templates: templates.length };
      this.#indexes.set(id, entry);
    }
    if (entry.templates === 0) return { candidates: [], templates: 0 };
    return { candidates: entry.index.search(embedding, { k, fusion }), templates: entry.templates };
  }
}

/**
 * Merges the gallery's candidates with a camera's: a subject's similarity is the higher of its two (exactly the
 * `max` fusion over the union of its templates), the best template is the one that gave it; the top `k` remain.
 */
export function mergeCandidates(
  gallery: readonly Candidate[],
  camera: readonly Candidate[],
  k: number,
): Candidate[] {
  const best = new Map<string, Candidate>();
  for (const c of [...gallery, ...camera]) {
    const seen = best.get(c.subjectId);
    if (!seen || c.similarity > seen.similarity) best.set(c.subjectId, c);
  }
  return [...best.values()].sort((a, b) => b.similarity - a.similarity).slice(0, k);
}
