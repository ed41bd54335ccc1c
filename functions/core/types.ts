/** Shared value types of the face pipeline and the gallery. Plain data: safe to serialise as JSON. */

export interface Point {
  x: number;
  y: number;
}

/** Axis-aligned box in source-image pixels (top-left origin). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The five alignment points; "left" and "right" are as seen in the image, not the person's own. */
export interface FiveLandmarks {
  leftEye: Point;
  rightEye: Point;
  nose: Point;
  mouthLeft: Point;
  mouthRight: Point;
}

export interface HeadPose {
  /** Degrees; positive = face turned to the image's right. */
  yaw: number;
  pitch: number;
  roll: number;
}

export type QualityReason =
  | 'LOW_BRIGHTNESS'
  | 'LOW_CONTRAST'
  | 'LOW_SHARPNESS'
  | 'SMALL_FACE'
  | 'EXTREME_POSE'
  | 'LOW_CONFIDENCE';

export interface FaceQuality {
  /** Overall usability for recognition in [0, 1]. */
  score: number;
  reasons: QualityReason[];
  /** Mean luma (0–255) of the aligned crop, before enhancement. */
  brightness: number;
  /** Standard deviation of luma (0–255) of the aligned crop, before enhancement. */
  contrast: number;
  /** Variance of the Laplacian of the aligned 112×112 grey crop. */
  sharpness: number;
  /** Distance between the eye centres in source-image pixels. */
  interOcularPx: number;
  detectionScore: number;
  yaw: number;
  pitch: number;
  roll: number;
}

export type DetectorName = 'ulfd' | 'blazeface' | 'scrfd' | 'retinaface';

export interface DetectedFace {
  box: Box;
  landmarks: FiveLandmarks;
  /** Detector confidence in [0, 1]. */
  score: number;
  detector: DetectorName;
}

export type FaceRestoration = 'none' | 'smoothed' | 'deblurred';

export interface AnalyzedFace extends DetectedFace {
  quality: FaceQuality;
  pose: HeadPose;
  /** True when low-light enhancement was applied to the aligned crop before embedding. */
  enhanced: boolean;
  /**
   * What was done to the aligned crop before the enhancement: `smoothed` (compression blocks or stretched noise,
   * pipeline/restore.ts), `deblurred` (heavy blur deconvolved, pipeline/deblur.ts) or `none`. A reviewer weighs a
   * match on a deconvolved face accordingly.
   */
  restoration: FaceRestoration;
  /** L2-normalised embedding (512-d for the shipped model). */
  embedding: Float32Array;
}

export interface ModelRef {
  id: string;
  version: string;
}
