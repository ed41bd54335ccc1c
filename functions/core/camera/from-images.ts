/**
 * A camera's settings estimated from its own images: the frame measures of `estimate.ts` plus the faces the
 * pipeline finds in them (their inter-ocular distance and brightness), mapped to settings by
 * `settingsFromEstimate`, with the provenance that records how they were made.
 */
import type { FaceAnalyser } from '../pipeline/analyser.ts';
import { estimateCameraProfile } from './estimate.ts';
import { type CameraProvenance, type CameraSettings, settingsFromEstimate } from './profile.ts';

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Estimates camera settings from encoded images of that camera.
 *
 * @throws FaceprintError INVALID_ARGUMENT when no image is given; decoding errors of the images.
 */
export async function estimateCameraSettings(
  pipeline: FaceAnalyser,
  images: readonly { bytes: Uint8Array; source: string }[],
): Promise<{ settings: CameraSettings; provenance: CameraProvenance }> {
  const iods: number[] = [];
  const brightness: number[] = [];
  for (const { bytes } of images) {
    const result = await pipeline.analyze(bytes, { embed: false, pose: false });
    for (const face of result.faces) {
      iods.push(face.quality.interOcularPx);
      brightness.push(face.quality.brightness);
    }
  }
  const estimate = await estimateCameraProfile(
    images.map((i) => i.bytes),
    iods,
  );
  const faceBrightness = median(brightness);
  return {
    settings: settingsFromEstimate(estimate, faceBrightness),
    provenance: {
      method: 'estimated',
      estimate,
      faceBrightness,
      sources: images.map((i) => i.source),
      notEstimated: [
        'blur (set it with --blur if known)',
        ...(iods.length === 0 ? ['face size (no face found)'] : []),
      ],
    },
  };
}
