/**
 * Enrolment: turning a photo into a subject's templates (the original embedding, the configured
 * degradation-matched and pose variants, and camera-matched templates when cameras are configured), and the
 * summaries of templates a subject is shown with.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { CameraTemplate } from '../camera/ports.ts';
import type { CameraGallery } from '../camera/service.ts';
import { type DerivedVariant, type FaceTemplate, isPoseVariant, type Subject } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { FaceAnalyser } from '../pipeline/analyser.ts';
import { decodeImage } from '../pipeline/image.ts';
import { largestFace, resolveOptions } from '../pipeline/pipeline.ts';
import { renderPoseVariants } from '../pose/views.ts';
import { faceThumbnail } from './thumbnail.ts';
import type { GalleryConfig, PhotoInput, SubjectView } from './types.ts';
import { makeVariant } from './variants.ts';

/** An enrolment photo's id: the sha256 of its bytes (the same photo enrolled twice has one id). */
export function photoId(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Turns an enrolment photo into templates: exactly one face (or the largest, when asked), refused below the
 * configured enrolment quality with its reasons, plus the configured degradation-matched variants.
 */
export async function enrolmentTemplates(
  pipeline: FaceAnalyser,
  config: Pick<GalleryConfig, 'analyze' | 'variants' | 'minEnrolQuality'>,
  subjectId: string,
  photo: PhotoInput,
  now: Date = new Date(),
  cameras?: CameraGallery,
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
  const crop = face.crops?.aligned;
  const templates: FaceTemplate[] = [
    {
      ...base,
      id: randomUUID(),
      embedding: face.embedding,
      variant: 'original',
      thumbnail: crop ? await faceThumbnail(crop) : undefined,
    },
  ];
  if (crop && config.variants.length > 0) {
    const degraded = config.variants.filter((v): v is DerivedVariant => !isPoseVariant(v));
    const posed = config.variants.filter(isPoseVariant);
    const images = await Promise.all(degraded.map((v) => makeVariant(crop, v, options)));
    // Pose views are rendered from the photo itself, which shows what the aligned crop cut off.
    if (posed.length > 0) {
      const image = await decodeImage(photo.bytes, options.limits);
      images.push(...renderPoseVariants(image, face.crops?.landmarks68, posed));
    }
    const vectors = await pipeline.embedCrops(images, options.flip);
    [...degraded, ...posed].forEach((variant, i) => {
      templates.push({ ...base, id: randomUUID(), embedding: vectors[i]!, variant });
    });
  }
  if (crop && cameras) {
    templates.push(...(await cameras.templatesFor(crop, base, photoId(photo.bytes))));
  }
  return templates;
}

/** A new enrolment's templates: the gallery's own and the camera templates (stored apart, `core/camera/`). */
export function splitCameraTemplates(templates: FaceTemplate[]): [FaceTemplate[], CameraTemplate[]] {
  const own: FaceTemplate[] = [];
  const camera: CameraTemplate[] = [];
  for (const t of templates) {
    if (t.variant === 'camera') camera.push(t as CameraTemplate);
    else own.push(t);
  }
  return [own, camera];
}

/** A subject as the gallery shows it: its record with summaries of its templates (never the embeddings). */
export function subjectView(subject: Subject, templates: FaceTemplate[]): SubjectView {
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
