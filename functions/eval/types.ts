/**
 * The evaluation's data shapes: the configuration of a run, its results, and the per-image work items that the
 * embedding cache, the worker threads and the scoring pass between them.
 */

import type { CameraSettings } from '../core/camera/profile.ts';
import type { AnalyzeOptions, AnalyzeOptionsInput } from '../core/pipeline/pipeline.ts';
import type { FusionConfig } from '../core/search/vector-index.ts';
import type { MissAttribution } from './attribution.ts';
import type { CameraMatchMode } from './camera-matched.ts';
import type { GalleryVariant, ScoreNorm } from './gallery-variants.ts';
import type { RocPoint } from './metrics.ts';
import type { GateOutcome } from './quality-report.ts';

export type ProtocolName = 'pairs' | 'one-shot' | 'lighting';
export const PROTOCOLS: readonly ProtocolName[] = ['pairs', 'one-shot', 'lighting'];

/** Which face of a multi-face image is evaluated. */
export type FaceSelection = 'largest' | 'centre';

export interface EvalConfig {
  /** `<root>/<identity>/<images>`. */
  data: string;
  protocol: ProtocolName;
  /** Pairs file for `pairs` (default `<data>/pairs-dev.txt`, else `<data>/pairs.txt`). */
  pairsFile?: string | undefined;
  /** Degradation spec applied to probes only (for `pairs`: to the second image of every pair). */
  degrade?: string | undefined;
  /** First N pairs (balanced over folds and classes) or first N identities. */
  limit?: number | undefined;
  /** Worker threads, each with its own single-threaded pipeline; 1 runs in-process with default threads. */
  workers?: number | undefined;
  /** Pipeline options (defaults: the shipped pipeline, without the pose model, which does not change embeddings). */
  options?: AnalyzeOptionsInput | undefined;
  /** Embedding cache folder (default `.eval-cache`); null disables the cache. */
  cacheDir?: string | null | undefined;
  /** Decision threshold whose abstention rate is reported (default: the shipped calibration's open-set threshold). */
  threshold?: number | undefined;
  /** Inter-ocular distance of the clean images, for `lowres` (default: LFW's). */
  referenceIod?: number | undefined;
  /**
   * Black border added on every side before analysis, as a fraction of the longer side (default 0). Tightly
   * cropped faces (Extended Yale B's 168×192 crops) fill the frame and are mostly missed by the detectors;
   * a border of 0.5 puts them back in a scene-like frame. Luma buckets are measured before padding.
   */
  pad?: number | undefined;
  /**
   * Identification only: which face of a gallery photo is enrolled. Default `centre` for one-shot (LFW-like
   * data: the labelled person is the face at the centre of the frame; the most prominent face enrolled the other
   * person of two-person photos) and `largest` (most prominent, enrolment's rule) for lighting.
   */
  galleryFace?: FaceSelection | undefined;
  /** How many worst failures to keep (default 12). */
  worst?: number | undefined;
  /**
   * Identification only: degradation-matched variants enrolled beside each gallery image's original template,
   * made from its aligned crop as enrolment makes them (default none: one template per identity).
   */
  variants?: readonly GalleryVariant[] | undefined;
  /** Identification only: how a subject's template scores fuse (default max; no effect without variants). */
  fusion?: FusionConfig | undefined;
  /** Identification only: per-subject normalisation of the fused scores (default none). */
  scoreNorm?: ScoreNorm | undefined;
  /**
   * One-shot only: one more template per gallery subject, degraded to match the probes' camera (`oracle`: the
   * probe degradation itself; `estimated`: a camera profile estimated from a few degraded probes). See
   * `camera-matched.ts`.
   */
  cameraMatched?: CameraMatchMode | undefined;
  /** With `cameraMatched`: cohort-normalise the camera templates' scores (`CameraScoreNorm`, max fusion). */
  cameraNorm?: boolean | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/** An image as evaluated: path, the degradation applied and the face's box (for thumbnails). */
export interface ImageRef {
  path: string;
  degrade: string;
  box: { x: number; y: number; width: number; height: number } | null;
}

/** A failure worth looking at: the probe, what it was wrongly matched to, and its true match. */
export interface Failure {
  probe: ImageRef;
  wrong: (ImageRef & { score: number; identity?: string }) | null;
  truth: (ImageRef & { score: number | null }) | null;
}

export interface RunStats {
  images: number;
  cacheHits: number;
  computed: number;
  workers: number;
  wallSeconds: number;
  embedSeconds: number;
}

export interface PairsResult {
  protocol: 'pairs';
  pairs: number;
  accuracy: { mean: number; std: number; perFold: { fold: number; threshold: number; accuracy: number }[] };
  auc: number;
  tarAtFar: { far: number; tar: number; threshold: number }[];
  /** Images without a usable face; their pairs score −1 (always "different"). */
  detectionFailures: number;
  pairsWithMissingFace: number;
  roc: RocPoint[];
  worst: Failure[];
}

export interface IdentificationResult {
  protocol: 'one-shot' | 'lighting';
  gallerySize: number;
  matedProbes: number;
  nonMatedProbes: number;
  rank1: number;
  rank5: number;
  cmc: number[];
  /** Open set (one-shot only). */
  tpirAtFpir: { fpir: number; tpir: number; threshold: number }[];
  /** TPIR measured at a sweep of target FPIRs, for the plot. */
  tpirCurve: { fpir: number; tpir: number }[];
  /** At `threshold`: fraction of all probes answered "unknown", and of mated / non-mated ones. */
  atThreshold: { threshold: number; abstention: number; matedTpir: number; nonMatedFpir: number } | null;
  detectionFailures: { gallery: number; mated: number; nonMated: number; paths: string[] };
  /** Lighting: rank-1 per brightness bucket of the probe's mean luma. */
  buckets: { label: string; probes: number; rank1: number; detectionFailures: number }[];
  /** Degraded runs: where each mated probe's rank-1 miss happened (null for clean probes). */
  missAttribution?: MissAttribution | null | undefined;
  /** The quality gate replayed at `threshold` for a few gates (probes with a cached quality only). */
  qualityGate?: GateOutcome[] | undefined;
  worst: Failure[];
}

export interface EvalResult {
  config: {
    data: string;
    protocol: ProtocolName;
    pairsFile?: string | undefined;
    degrade: string;
    limit?: number | undefined;
    pad?: number | undefined;
    galleryFace?: FaceSelection | undefined;
    variants?: GalleryVariant[] | undefined;
    fusion?: FusionConfig | undefined;
    scoreNorm?: ScoreNorm | undefined;
    /** The camera-matched template of each subject, and the estimated camera's settings. */
    cameraMatched?:
      | {
          mode: CameraMatchMode;
          settings?: CameraSettings | undefined;
          galleryFailures: number;
          norm?: boolean | undefined;
        }
      | undefined;
    options: Partial<AnalyzeOptions>;
    pipelineVersion: string;
  };
  stats: RunStats;
  result: PairsResult | IdentificationResult;
}

export interface Job {
  path: string;
  select: FaceSelection;
  degrade: string;
  /** Gallery images: the variants to embed from the selected face's aligned crop. */
  variants?: readonly GalleryVariant[] | undefined;
}

/** What the cache keeps per image: the selected face's embedding and a little metadata. */
export interface Embedded {
  embedding: Float32Array | null;
  box: ImageRef['box'];
  /** Mean luma of the whole (degraded) image. */
  luma: number;
  faces: number;
  enhanced: boolean;
  error?: string | undefined;
  /** The selected face's quality (absent in cache lines written before it was recorded). */
  quality?: EmbeddedQuality | undefined;
  /** The requested gallery variants' embeddings (absent when there is no face). */
  variants?: Partial<Record<GalleryVariant, Float32Array>> | undefined;
}

/** The part of a face's quality the evaluation keeps: enough to replay a quality gate. */
export interface EmbeddedQuality {
  score: number;
  reasons: string[];
  brightness: number;
  contrast: number;
  sharpness: number;
  interOcularPx: number;
  detectionScore: number;
}

export interface WorkerRequest {
  id: number;
  path: string;
  select: FaceSelection;
  degrade: string;
  seed: number;
  variants?: readonly GalleryVariant[] | undefined;
}
