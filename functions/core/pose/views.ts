/**
 * Pose views as gallery templates: which {@link PoseVariant}s to render for an enrolment photo, and the
 * probe-side alternative (frontalisation). Both take the photo and its 68 landmarks, as the pipeline keeps them
 * with `keepCrops`.
 */
import { isPoseVariant, POSE_VARIANTS, type PoseVariant, poseOfVariant } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { RgbImage } from '../pipeline/image.ts';
import type { Landmarks68 } from '../pipeline/landmarks.ts';
import { preparePoseSource, renderView } from './render.ts';

/**
 * Renders the given pose variants of a face (aligned 112×112 crops, in the order asked).
 *
 * @throws FaceprintError INVALID_ARGUMENT when the landmarks are missing or degenerate.
 */
export function renderPoseVariants(
  image: RgbImage,
  landmarks68: Landmarks68 | undefined,
  variants: readonly PoseVariant[],
): RgbImage[] {
  if (variants.length === 0) return [];
  if (landmarks68?.length !== 68) {
    throw new FaceprintError('INVALID_ARGUMENT', 'Pose views need the face’s 68 landmarks.');
  }
  const source = preparePoseSource(image, landmarks68);
  return variants.map((v) => {
    const { yaw, pitch } = poseOfVariant(v);
    return renderView(source, yaw, pitch);
  });
}

/** The probe rendered frontal (yaw 0, pitch 0), aligned as the embedder's crop is. */
export function frontalise(image: RgbImage, landmarks68: Landmarks68): RgbImage {
  return renderView(preparePoseSource(image, landmarks68), 0, 0);
}

/**
 * Parses a pose-view list (`pose:-40,0,pose:40,0`, `all` or `none`/empty) into {@link POSE_VARIANTS} order.
 *
 * @throws FaceprintError INVALID_ARGUMENT for a name that is not one of {@link POSE_VARIANTS}.
 */
export function parsePoseVariants(spec: string | undefined): PoseVariant[] {
  const text = (spec ?? '').trim();
  if (text === '' || text === 'none') return [];
  if (text === 'all') return [...POSE_VARIANTS];
  const names = text.match(/pose:-?\d+,-?\d+|[^,]+/g) ?? [];
  const wanted = new Set<PoseVariant>();
  for (const raw of names) {
    const name = raw.trim();
    if (!isPoseVariant(name)) {
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        `Unknown pose view "${name}"; use ${POSE_VARIANTS.join(', ')} (comma-separated), all or none.`,
      );
    }
    wanted.add(name);
  }
  return POSE_VARIANTS.filter((v) => wanted.has(v));
}
