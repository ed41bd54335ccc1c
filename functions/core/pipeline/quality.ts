import type { FaceQuality, HeadPose, QualityReason } from '../types.ts';
import type { RgbImage } from './image.ts';

export interface QualityThresholds {
  /** Mean luma (0–255) below which a face is too dark. */
  minBrightness: number;
  /** Luma standard deviation below which a face is too flat. */
  minContrast: number;
  /** Variance of the Laplacian (aligned 112×112 crop) below which a face is too blurred. */
  minSharpness: number;
  /** Inter-ocular distance (source px) below which a face is too small to recognise reliably. */
  minInterOcularPx: number;
  /** |yaw| above which the pose is too extreme (degrees). */
  maxYaw: number;
  /** |pitch| above which the pose is too extreme (degrees). */
  maxPitch: number;
  /** Detector confidence below which the detection is doubtful. */
  minDetectionScore: number;
}

export const DEFAULT_QUALITY_THRESHOLDS: QualityThresholds = {
  minBrightness: 40,
  minContrast: 18,
  minSharpness: 40,
  minInterOcularPx: 16,
  maxYaw: 45,
  maxPitch: 35,
  minDetectionScore: 0.75,
};

/** Mean and standard deviation of luma over the central region of an aligned crop (background excluded). */
export function lumaStats(crop: RgbImage): { mean: number; std: number } {
  const { width, height, data } = crop;
  const x0 = Math.floor(width * 0.2);
  const x1 = Math.ceil(width * 0.8);
  const y0 = Math.floor(height * 0.25);
  const y1 = Math.ceil(height * 0.9);
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * width + x) * 3;
      const l = 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
      sum += l;
      sumSq += l * l;
      n += 1;
    }
  }
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, sumSq / n - mean * mean)) };
}

/** The crop's luma (BT.601 weights), one value a pixel. */
export function lumaPlane(crop: RgbImage): Float32Array {
  const { data } = crop;
  const grey = new Float32Array(crop.width * crop.height);
  for (let i = 0; i < grey.length; i++)
    grey[i] = 0.299 * data[i * 3]! + 0.587 * data[i * 3 + 1]! + 0.114 * data[i * 3 + 2]!;
  return grey;
}

/** An aligned crop's central region (the face, not its background), kept one pixel in from every edge. */
function centralRegion(width: number, height: number): { x0: number; x1: number; y0: number; y1: number } {
  return {
    x0: Math.max(1, Math.floor(width * 0.2)),
    x1: Math.min(width - 1, Math.ceil(width * 0.8)),
    y0: Math.max(1, Math.floor(height * 0.25)),
    y1: Math.min(height - 1, Math.ceil(height * 0.9)),
  };
}

/** Variance of the 4-neighbour Laplacian of a `width`×`height` plane over an aligned crop's central region. */
export function centralLaplacianVariance(plane: Float32Array, width: number, height: number): number {
  const { x0, x1, y0, y1 } = centralRegion(width, height);
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * width + x;
      const v = plane[i - 1]! + plane[i + 1]! + plane[i - width]! + plane[i + width]! - 4 * plane[i]!;
      sum += v;
      sumSq += v * v;
      n += 1;
    }
  }
  const mean = sum / n;
  return sumSq / n - mean * mean;
}

/** Variance of a `width`×`height` plane over the same central region as {@link centralLaplacianVariance}. */
export function centralVariance(plane: Float32Array, width: number, height: number): number {
  const { x0, x1, y0, y1 } = centralRegion(width, height);
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const value = plane[y * width + x]!;
      sum += value;
      sumSq += value * value;
      n += 1;
    }
  }
  const mean = sum / n;
  return sumSq / n - mean * mean;
}

/**
 * Variance of the 4-neighbour Laplacian of the crop's luma over its central region: high for crisp edges, low for
 * blur. Brightness-dependent by nature, so it is read together with contrast.
 */
export function laplacianVariance(crop: RgbImage): number {
  return centralLaplacianVariance(lumaPlane(crop), crop.width, crop.height);
}

/** Linear ramp from 0 at `low` to 1 at `high`, clamped. */
function ramp(value: number, low: number, high: number): number {
  return Math.min(1, Math.max(0, (value - low) / (high - low)));
}

/**
 * Scores how usable a face is for recognition. Each factor maps to [0, 1] with a ramp that reaches 0.5 at its
 * threshold; the overall score is their product, so one bad factor is enough to mark the face unreliable. Every
 * factor below its threshold adds a machine-readable reason.
 */
export function assessQuality(
  crop: RgbImage,
  measures: { interOcularPx: number; detectionScore: number; pose: HeadPose },
  thresholds: QualityThresholds = DEFAULT_QUALITY_THRESHOLDS,
): FaceQuality {
  const { mean: brightness, std: contrast } = lumaStats(crop);
  const sharpness = laplacianVariance(crop);
  const { interOcularPx, detectionScore, pose } = measures;
  const reasons: QualityReason[] = [];
  if (brightness < thresholds.minBrightness) reasons.push('LOW_BRIGHTNESS');
  if (contrast < thresholds.minContrast) reasons.push('LOW_CONTRAST');
  if (sharpness < thresholds.minSharpness) reasons.push('LOW_SHARPNESS');
  if (interOcularPx < thresholds.minInterOcularPx) reasons.push('SMALL_FACE');
  if (Math.abs(pose.yaw) > thresholds.maxYaw || Math.abs(pose.pitch) > thresholds.maxPitch)
    reasons.push('EXTREME_POSE');
  if (detectionScore < thresholds.minDetectionScore) reasons.push('LOW_CONFIDENCE');

  const factors = [
    ramp(brightness, 0, thresholds.minBrightness * 2),
    ramp(contrast, 0, thresholds.minContrast * 2),
    ramp(sharpness, 0, thresholds.minSharpness * 2),
    ramp(interOcularPx, 0, thresholds.minInterOcularPx * 2),
    1 -
      ramp(
        Math.max(Math.abs(pose.yaw) / thresholds.maxYaw, Math.abs(pose.pitch) / thresholds.maxPitch),
        0.5,
        1.5,
      ),
    ramp(detectionScore, thresholds.minDetectionScore - 0.25, thresholds.minDetectionScore + 0.25),
  ];
  const score = factors.reduce((p, f) => p * f, 1);
  return {
    score: round(score, 4),
    reasons,
    brightness: round(brightness, 2),
    contrast: round(contrast, 2),
    sharpness: round(sharpness, 2),
    interOcularPx: round(interOcularPx, 2),
    detectionScore: round(detectionScore, 4),
    yaw: round(pose.yaw, 2),
    pitch: round(pose.pitch, 2),
    roll: round(pose.roll, 2),
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
