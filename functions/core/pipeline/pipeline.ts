import { FaceprintError } from '../errors.ts';
import { detectWithPack } from '../models/detectors.ts';
import type { ModelPack } from '../models/pack.ts';
import { landmarkHeadPose } from '../pose/landmark-pose.ts';
import type {
  AnalyzedFace,
  Box,
  FaceQuality,
  FaceRestoration,
  FiveLandmarks,
  HeadPose,
  ModelRef,
} from '../types.ts';
import type { FaceAnalyser } from './analyser.ts';
import { DEFAULT_DEBLUR, type Deblur, deblurWhenWanted } from './deblur.ts';
import { DEFAULT_DETECT_OPTIONS, type DetectOptions, detectFaces, type RawDetection } from './detect.ts';
import { cosineSimilarity, EMBEDDING_SIZE, embedFaces } from './embed.ts';
import { DEFAULT_ENHANCE_OPTIONS, type EnhanceOptions, enhanceFace } from './enhance.ts';
import {
  type Affine,
  ARCFACE_TEMPLATE_112,
  distance,
  landmarkPoints,
  similarityTransform,
  warpAffine,
} from './geometry.ts';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits, decodeImage, type RgbImage } from './image.ts';
import { fivePointsFrom68, type Landmarks68, predictLandmarks68, rollOf } from './landmarks.ts';
import { OnnxBackend, type OnnxBackendOptions } from './models.ts';
import { estimatePose } from './pose.ts';
import { assessQuality, DEFAULT_QUALITY_THRESHOLDS, type QualityThresholds } from './quality.ts';
import {
  type CropRestoration,
  DEFAULT_CROP_RESTORATION,
  measureCropDegradation,
  restoreBeforeEnhance,
} from './restore.ts';
import { WorkBudget } from './work-budget.ts';

/**
 * Identifies the pipeline's behaviour for caches and stored templates: bump it whenever a change alters
 * embeddings (preprocessing, alignment, enhancement policy, model).
 */
export const PIPELINE_VERSION = 'fp10';

/**
 * Whether the low-light enhancement applies to a face of this quality: always, never, or (`auto`) when the face is
 * darker or flatter than the options' thresholds. The probe path and the camera templates (camera/match.ts) decide
 * it here, so they decide it alike.
 */
export function wantsEnhancement(
  quality: Pick<FaceQuality, 'brightness' | 'contrast'>,
  options: Pick<AnalyzeOptions, 'enhance' | 'enhanceBelowBrightness' | 'enhanceBelowContrast'>,
): boolean {
  return (
    options.enhance === 'always' ||
    (options.enhance === 'auto' &&
      (quality.brightness < options.enhanceBelowBrightness ||
        quality.contrast < options.enhanceBelowContrast))
  );
}

/** The embedding model every template of the shipped (default) model pack records. */
export const EMBEDDING_MODEL: ModelRef = {
  id: 'mobilefacenet-512',
  version: `faceplugin-0.0.1/${PIPELINE_VERSION}`,
};

/** Dimension of {@link EMBEDDING_MODEL}'s embeddings. */
export const EMBEDDING_DIM = 512;

/**
 * The embedding space of a model pack as templates, snapshots and calibrations record it: the pack id names the
 * space (templates of different ids are never compared), `version/pipeline` is its provenance.
 */
export function packModelRef(pack: Pick<ModelPack, 'id' | 'version'>): ModelRef {
  return { id: pack.id, version: `${pack.version}/${PIPELINE_VERSION}` };
}

export type EnhanceMode = 'auto' | 'always' | 'never';

export interface AnalyzeOptions {
  detect: DetectOptions;
  /** `auto` (default) enhances only faces darker than `enhanceBelowBrightness` or flatter than `enhanceBelowContrast`. */
  enhance: EnhanceMode;
  enhanceBelowBrightness: number;
  enhanceBelowContrast: number;
  enhanceOptions: EnhanceOptions;
  /** Average each embedding with its mirror image's (off by default: measured no gain on LFW). */
  flip: boolean;
  /**
   * Run the head-pose model (~4 ms per face plus its 224×224 crop). Off by default since session 25: the landmark
   * pose below measured as good for the quality gate (docs/accuracy.md, "Landmark head pose on stills").
   */
  pose: boolean;
  /**
   * Where the pose model is off: the head pose fitted to the 68 landmarks instead (`core/pose/landmark-pose.ts`,
   * ~2 ms CPU; within 3° of the model's yaw on LFW, docs/accuracy.md). The default; false (with `pose` false):
   * no pose (zeros).
   */
  landmarkPose?: boolean | undefined;
  /** Compute embeddings (the `detect` command and endpoint turn it off). */
  embed: boolean;
  /** Keep the aligned 112×112 crops (before and after enhancement) on each face. */
  keepCrops: boolean;
  quality: QualityThresholds;
  limits: DecodeLimits;
  /** Processing deadline of one analysis in ms (0: none); past it, PROCESSING_TIMEOUT. */
  deadlineMs: number;
  /** Aborted when the caller no longer wants the answer (an HTTP client gone): the analysis stops, CANCELLED. */
  signal?: AbortSignal | undefined;
  /**
   * Restoration of the aligned crop before enhancement and embedding (restore.ts). Default:
   * {@link DEFAULT_CROP_RESTORATION} (gated on measured compression and noise); undefined: none.
   */
  restore?: CropRestoration | undefined;
  /**
   * Deblurring of heavily blurred crops that the restoration left alone (deblur.ts). Default: {@link DEFAULT_DEBLUR};
   * undefined: none.
   */
  deblur?: Deblur | undefined;
}

export const DEFAULT_ANALYZE_OPTIONS: AnalyzeOptions = {
  detect: DEFAULT_DETECT_OPTIONS,
  enhance: 'auto',
  enhanceBelowBrightness: 60,
  enhanceBelowContrast: 20,
  enhanceOptions: DEFAULT_ENHANCE_OPTIONS,
  flip: false,
  pose: false,
  landmarkPose: true,
  embed: true,
  keepCrops: false,
  quality: DEFAULT_QUALITY_THRESHOLDS,
  limits: DEFAULT_DECODE_LIMITS,
  deadlineMs: 0,
  restore: DEFAULT_CROP_RESTORATION,
  deblur: DEFAULT_DEBLUR,
};

/** Options as callers pass them: every field optional, `detect` and `quality` merged field by field. */
export type AnalyzeOptionsInput = Partial<Omit<AnalyzeOptions, 'detect' | 'quality' | 'limits'>> & {
  detect?: Partial<DetectOptions>;
  quality?: Partial<QualityThresholds>;
  limits?: Partial<DecodeLimits>;
};

/** Resolves partial options against the defaults. */
export function resolveOptions(input: AnalyzeOptionsInput = {}): AnalyzeOptions {
  return {
    ...DEFAULT_ANALYZE_OPTIONS,
    ...input,
    detect: { ...DEFAULT_DETECT_OPTIONS, ...input.detect },
    quality: { ...DEFAULT_QUALITY_THRESHOLDS, ...input.quality },
    limits: { ...DEFAULT_DECODE_LIMITS, ...input.limits },
  };
}

export interface FaceWithCrops extends AnalyzedFace {
  /**
   * Present with `keepCrops`: the aligned crop, the crop actually embedded (enhanced or not), and the 68
   * landmarks in source-image pixels (pose synthesis, `core/pose`, fits a 3D face to them).
   */
  crops?: { aligned: RgbImage; embedded: RgbImage; landmarks68: Landmarks68 | undefined } | undefined;
}

export type Stage = 'decode' | 'detect' | 'landmarks' | 'align' | 'quality' | 'enhance' | 'embed';

export interface AnalyzeResult {
  width: number;
  height: number;
  format: string;
  faces: FaceWithCrops[];
  /** Milliseconds spent per stage (summed over faces). */
  timings: Record<Stage, number>;
}

/** Per-stage timings, all zero. */
function zeroTimings(): Record<Stage, number> {
  return { decode: 0, detect: 0, landmarks: 0, align: 0, quality: 0, enhance: 0, embed: 0 };
}

/**
 * A stopwatch over `timings`: the returned `lap(stage)` adds the milliseconds since the previous lap (the first:
 * since the clock was made) to `timings[stage]`.
 */
function stageClock(timings: Record<Stage, number>): (stage: Stage) => void {
  let t = performance.now();
  return (stage) => {
    const now = performance.now();
    timings[stage] += now - t;
    t = now;
  };
}

/**
 * Weights of the five points in the alignment fit. The eye centres are the most reliable landmarks (the nose tip
 * moves with yaw, the mouth with expression), so they count three times.
 */
export const ALIGNMENT_WEIGHTS: readonly number[] = [3, 3, 1, 1, 1];

/** The similarity transform that maps a face's five landmarks onto the ArcFace 112×112 template. */
export function alignmentTransform(landmarks: FiveLandmarks): Affine {
  return similarityTransform(landmarkPoints(landmarks), ARCFACE_TEMPLATE_112, ALIGNMENT_WEIGHTS);
}

/** Warps a face to the embedder's 112×112 template. */
export function alignFace(image: RgbImage, landmarks: FiveLandmarks): RgbImage {
  return warpAffine(image, alignmentTransform(landmarks), EMBEDDING_SIZE, EMBEDDING_SIZE);
}

/** Tilt (≈ 4°) above which landmarks are predicted a second time on an upright crop. */
const ROLL_REFINE_RADIANS = 0.07;

/** Mean eye-centre disagreement with BlazeFace's keypoints, in inter-ocular distances, above which landmarks are redone. */
const LANDMARK_AGREEMENT = 0.2;

/**
 * The face pipeline: decode → detect → landmarks → align → quality → enhance → embed. Create one per process;
 * it holds the ONNX sessions.
 */
export class FacePipeline implements FaceAnalyser {
  readonly backend: OnnxBackend;

  constructor(backend: OnnxBackend | OnnxBackendOptions = {}) {
    this.backend = backend instanceof OnnxBackend ? backend : new OnnxBackend(backend);
  }

  /** The embedding space this pipeline's templates live in (its model pack's identity). */
  get model(): ModelRef {
    return packModelRef(this.backend.pack);
  }

  /** Length of this pipeline's embeddings. */
  get embeddingSize(): number {
    return this.backend.pack.embeddingSize;
  }

  /**
   * Loads the pack's models that the default analysis runs now rather than on the first request. The head-pose
   * model is not among them (stills and video fit the pose to the landmarks); a call with `pose: true` loads it.
   */
  warmUp(): Promise<void> {
    const poseModel = DEFAULT_ANALYZE_OPTIONS.pose ? undefined : this.backend.pack.pose?.model;
    return this.backend.warmUp(this.backend.models.filter((id) => id !== poseModel));
  }

  /**
   * Finds and describes every face in an encoded image.
   *
   * @returns Faces sorted by detector confidence, each with box, landmarks, quality, pose and (unless
   *   `embed: false`) an L2-normalised embedding. An image without faces yields `faces: []`.
   * @throws FaceprintError for unreadable, unsupported, too large or too small images.
   */
  async analyze(bytes: Uint8Array, options: AnalyzeOptionsInput = {}): Promise<AnalyzeResult> {
    const resolved = resolveOptions(options);
    const budget = new WorkBudget({ deadlineMs: resolved.deadlineMs, signal: resolved.signal });
    const timings = zeroTimings();
    const lap = stageClock(timings);
    budget.check();
    const image = await decodeImage(bytes, resolved.limits);
    lap('decode');
    budget.check();
    const faces = await this.analyzeImage(image, resolved, timings, budget);
    // Decoded under the pixel budget: report every position in the frame as the caller sent it.
    const scale = image.sourceWidth / image.width;
    if (scale !== 1) for (const face of faces) toSourceFrame(face, scale);
    return { width: image.sourceWidth, height: image.sourceHeight, format: image.format, faces, timings };
  }

  /** {@link analyze} on an already decoded RGB image (video frames, evaluation). */
  async analyzeImage(
    image: RgbImage,
    options: AnalyzeOptions,
    timings: Record<Stage, number> = zeroTimings(),
    budget: WorkBudget = WorkBudget.NONE,
  ): Promise<FaceWithCrops[]> {
    const detections = await this.detectImage(image, options, timings, budget);
    return this.describeFaces(image, detections, options, timings, budget);
  }

  /** The detection step of {@link analyzeImage} alone: the pack's detector, boxes in image pixels. */
  async detectImage(
    image: RgbImage,
    options: AnalyzeOptions,
    timings: Record<Stage, number> = zeroTimings(),
    budget: WorkBudget = WorkBudget.NONE,
  ): Promise<RawDetection[]> {
    const lap = stageClock(timings);
    const detections =
      this.backend.pack.detector.family === 'ulfd+blazeface'
        ? await detectFaces(this.backend, image, options.detect, budget)
        : await detectWithPack(this.backend, image, options.detect.maxFaces);
    lap('detect');
    return detections;
  }

  /**
   * The steps of {@link analyzeImage} after detection (landmarks, alignment, pose, quality, enhancement and,
   * unless `embed: false`, embeddings) for the given detections; the video path describes only the faces it
   * needs.
   */
  async describeFaces(
    image: RgbImage,
    detections: readonly RawDetection[],
    options: AnalyzeOptions,
    timings: Record<Stage, number> = zeroTimings(),
    budget: WorkBudget = WorkBudget.NONE,
  ): Promise<FaceWithCrops[]> {
    const lap = stageClock(timings);
    const { pack } = this.backend;
    const prepared: {
      detection: RawDetection;
      landmarks: FiveLandmarks;
      /** Absent for a pack that aligns on its detector's five keypoints (no landmark model). */
      landmarks68: Landmarks68 | undefined;
      aligned: RgbImage;
      pose: HeadPose;
    }[] = [];
    for (const detection of detections) {
      budget.check();
      // A five-keypoint detector of a pack without a landmark model aligns on its own keypoints.
      const landmarks68 =
        detection.keypoints && !pack.landmarks ? undefined : await this.landmarksFor(image, detection);
      const landmarks = landmarks68 ? fivePointsFrom68(landmarks68) : (detection.keypoints as FiveLandmarks);
      lap('landmarks');
      const aligned = alignFace(image, landmarks);
      lap('align');
      const pose =
        options.pose && pack.pose
          ? await estimatePose(this.backend, image, detection.box)
          : options.landmarkPose && landmarks68
            ? poseFromLandmarks(landmarks68)
            : { yaw: 0, pitch: 0, roll: 0 };
      lap('quality');
      prepared.push({ detection, landmarks, landmarks68, aligned, pose });
    }

    const faces: FaceWithCrops[] = [];
    const toEmbed: RgbImage[] = [];
    for (const { detection, landmarks, landmarks68, aligned, pose } of prepared) {
      const quality = assessQuality(
        aligned,
        {
          interOcularPx: distance(landmarks.leftEye, landmarks.rightEye),
          detectionScore: detection.score,
          pose,
        },
        options.quality,
      );
      lap('quality');
      const enhanced = wantsEnhancement(quality, options);
      const smoothed = restoreBeforeEnhance(aligned, enhanced, options.restore, () =>
        measureCropDegradation(image, detection.box, aligned),
      );
      // A crop smoothed for blocks or noise is not also deconvolved: that would sharpen them back.
      const deblurred =
        smoothed === aligned && (options.embed || options.keepCrops)
          ? deblurWhenWanted(aligned, options.deblur)
          : undefined;
      const restored = deblurred ?? smoothed;
      const restoration: FaceRestoration = deblurred
        ? 'deblurred'
        : smoothed !== aligned
          ? 'smoothed'
          : 'none';
      const embedded = enhanced ? enhanceFace(restored, options.enhanceOptions) : restored;
      lap('enhance');
      toEmbed.push(embedded);
      faces.push({
        box: roundBox(detection.box),
        landmarks: roundLandmarks(landmarks),
        score: Math.round(detection.score * 10_000) / 10_000,
        detector: detection.detector,
        quality,
        pose: { yaw: quality.yaw, pitch: quality.pitch, roll: quality.roll },
        enhanced,
        restoration,
        embedding: new Float32Array(0),
        crops: options.keepCrops ? { aligned, embedded, landmarks68 } : undefined,
      });
    }
    if (options.embed && toEmbed.length > 0) {
      budget.check();
      const vectors = await embedFaces(this.backend, toEmbed, options.flip);
      faces.forEach((face, i) => {
        face.embedding = vectors[i]!;
      });
      lap('embed');
    }
    return faces;
  }

  /**
   * 68 landmarks for a detection, with two safeguards: a tilted head is looked at again on an upright crop, and
   * where BlazeFace also found the face, its eye keypoints check the result — a detector box cut through the face
   * (seen on strongly tilted heads) gives landmarks that disagree, and BlazeFace's box is used instead.
   */
  private async landmarksFor(image: RgbImage, detection: RawDetection): Promise<Landmarks68> {
    const predict = async (box: Box, roll: number) => {
      let points = await predictLandmarks68(this.backend, image, box, roll);
      const refinedRoll = rollOf(points);
      if (Math.abs(refinedRoll - roll) > ROLL_REFINE_RADIANS) {
        points = await predictLandmarks68(this.backend, image, box, refinedRoll);
      }
      return points;
    };
    const first = await predict(detection.box, 0);
    const second = detection.secondOpinion;
    if (!second?.keypoints) return first;
    const reference = second.keypoints;
    const disagreement = (points: Landmarks68) => {
      const five = fivePointsFrom68(points);
      const iod = Math.max(1, distance(reference.leftEye, reference.rightEye));
      return (
        (distance(five.leftEye, reference.leftEye) + distance(five.rightEye, reference.rightEye)) / 2 / iod
      );
    };
    const firstError = disagreement(first);
    if (firstError <= LANDMARK_AGREEMENT) return first;
    const roll = Math.atan2(
      reference.rightEye.y - reference.leftEye.y,
      reference.rightEye.x - reference.leftEye.x,
    );
    const alternative = await predict(second.box, roll);
    return disagreement(alternative) < firstError ? alternative : first;
  }

  /** Embeds aligned 112×112 crops directly (degradation-matched gallery variants are made this way). */
  embedCrops(crops: RgbImage[], flip = false): Promise<Float32Array[]> {
    return embedFaces(this.backend, crops, flip);
  }

  /** Releases the ONNX sessions. */
  dispose(): Promise<void> {
    return this.backend.dispose();
  }
}

/** Cosine similarity of two embeddings (both L2-normalised), in [−1, 1]. */
export function compare(a: Float32Array, b: Float32Array): number {
  if (a.length === 0 || b.length === 0) {
    throw new FaceprintError('INVALID_ARGUMENT', 'Both faces need an embedding to be compared.');
  }
  if (a.length !== b.length) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `Embeddings of different sizes (${a.length} and ${b.length}) come from different models and cannot be compared.`,
    );
  }
  return cosineSimilarity(a, b);
}

/**
 * How much a face looks like the photo's subject: its box area, weighted by detection confidence and quality, so
 * that a large but doubtful box (a poster, a pattern) does not outrank the person in the photo. Measured: with
 * area alone, a flag beside Lula da Silva in his LFW gallery photo was enrolled instead of him.
 */
export function prominence(face: Pick<AnalyzedFace, 'box' | 'score' | 'quality'>): number {
  return face.box.width * face.box.height * face.score * (0.25 + 0.75 * face.quality.score);
}

/**
 * The main face of an analysis: the most prominent ({@link prominence}); of equal ones, the first.
 *
 * @param what Names the image in the error: a path, or a phrase such as `the probe image`.
 * @throws FaceprintError `NO_FACE` when the analysis found no face.
 */
export function largestFace(result: Pick<AnalyzeResult, 'faces'>, what: string): FaceWithCrops {
  const [first, ...rest] = result.faces;
  if (!first) throw new FaceprintError('NO_FACE', `No face was found in ${what}.`);
  return rest.reduce((a, b) => (prominence(b) > prominence(a) ? b : a), first);
}

/** Maps a face found on a reduced frame back to the full-size frame (`scale`: full-size px per analysed px). */
function toSourceFrame(face: FaceWithCrops, scale: number): void {
  const b = face.box;
  face.box = roundBox({ x: b.x * scale, y: b.y * scale, width: b.width * scale, height: b.height * scale });
  const p = (q: { x: number; y: number }) => ({ x: q.x * scale, y: q.y * scale });
  const l = face.landmarks;
  face.landmarks = roundLandmarks({
    leftEye: p(l.leftEye),
    rightEye: p(l.rightEye),
    nose: p(l.nose),
    mouthLeft: p(l.mouthLeft),
    mouthRight: p(l.mouthRight),
  });
}

/** A box rounded to 0.1 px, as every reported face's box is. */
export function roundBox(box: { x: number; y: number; width: number; height: number }) {
  const r = (v: number) => Math.round(v * 10) / 10;
  return { x: r(box.x), y: r(box.y), width: r(box.width), height: r(box.height) };
}

function roundLandmarks(l: FiveLandmarks): FiveLandmarks {
  const p = (q: { x: number; y: number }) => ({ x: Math.round(q.x * 10) / 10, y: Math.round(q.y * 10) / 10 });
  return {
    leftEye: p(l.leftEye),
    rightEye: p(l.rightEye),
    nose: p(l.nose),
    mouthLeft: p(l.mouthLeft),
    mouthRight: p(l.mouthRight),
  };
}

/** The landmark-fitted head pose, or none (zeros) when the landmarks are degenerate. */
function poseFromLandmarks(landmarks68: Landmarks68): HeadPose {
  try {
    const { yaw, pitch, roll } = landmarkHeadPose(landmarks68);
    return { yaw, pitch, roll };
  } catch {
    return { yaw: 0, pitch: 0, roll: 0 };
  }
}
