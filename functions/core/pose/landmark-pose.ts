/**
 * Head pose from the 68 landmarks alone: the generic 3D face fitted to them (`fit.ts`, a weak-perspective
 * solvePnP), its angles expressed in the convention of the pose model (`pipeline/pose.ts`, hopenet), so the
 * quality score can use either. Costs well under a millisecond per face against the pose model's ONNX run; how
 * close it comes to the pose model is measured by `npm run bench:landmark-pose` (docs/accuracy.md).
 */
import type { Landmarks68 } from '../pipeline/landmarks.ts';
import type { HeadPose } from '../types.ts';
import { fitPose } from './fit.ts';

/**
 * Signs that map the fit's angles onto the pose model's (measured: the fit's yaw is the mirror of hopenet's,
 * see docs/accuracy.md, "Landmark head pose").
 */
export const LANDMARK_POSE_SIGNS = { yaw: -1, pitch: 1, roll: 1 } as const;

/**
 * Yaw, pitch and roll (degrees, the pose model's convention) of a face from its 68 landmarks, with the fit's
 * RMS residual in pixels (large when the landmarks do not look like a face).
 *
 * @throws Error when the landmarks are not 68 points or are degenerate.
 */
export function landmarkHeadPose(landmarks68: Landmarks68): HeadPose & { rmsError: number } {
  const fit = fitPose(landmarks68);
  const round = (v: number) => Math.round(v * 100) / 100 + 0;
  return {
    yaw: round(LANDMARK_POSE_SIGNS.yaw * fit.yaw),
    pitch: round(LANDMARK_POSE_SIGNS.pitch * fit.pitch),
    roll: round(LANDMARK_POSE_SIGNS.roll * fit.roll),
    rmsError: fit.rmsError,
  };
}
