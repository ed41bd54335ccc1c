/**
 * Detection levers for dark, noisy, compressed frames (issue 9): a denoise of the frame before the lighting
 * stretch (the stretch multiplies sensor noise and compression blocks by the same gain as the face), detector
 * thresholds lowered on frames that needed the stretch, and a second look — denoised, at lower thresholds and/or
 * upsampled — at a frame where the first pass found nothing or only small faces. Each is an option of
 * `DetectOptions`, off unless set; docs/accuracy.md §8 has what each one measured.
 */
import type { Box, FiveLandmarks } from '../types.ts';
import type { DetectOptions, RawDetection } from './detect.ts';
import { iou, nonMaxSuppression } from './geometry.ts';
import { type RgbImage, resizeImage } from './image.ts';
import { restoreCrop } from './restore.ts';

/** The second look of {@link DetectOptions.secondLook}: how the frame and the detector change for it. */
export interface SecondLook {
  /** Gaussian σ (px) applied to the frame before it is stretched and searched again; 0: none. */
  denoise: number;
  /** Multiplier (0, 1] of both detectors' score thresholds on the second look. */
  thresholdScale: number;
  /** Upsampling factor of the frame (≥ 1), so that faces below the detectors' reach grow into it. */
  upscale: number;
  /**
   * Also look again when every face found is smaller than this many source pixels (0: only on an empty
   * frame); what both passes find is merged.
   */
  smallFaceSide: number;
  /**
   * Look again only on frames that needed the lighting stretch (dark or flat: where the stretch amplified the
   * noise that hid the face). A well-exposed frame where nothing was found holds no face that denoising reveals,
   * but a blurred texture there can pass for one (a blurred 64×48 colour gradient scored 0.80 on BlazeFace).
   * Absent: every face-less frame.
   */
  stretchedOnly?: boolean | undefined;
}

/**
 * The shipped second look (pipeline fp5): where the first pass found no face on a dark or flat frame, the frame
 * blurred with σ 1.5 and searched at 0.7 × the thresholds. Measured (docs/accuracy.md §8, "Detection levers"): it finds 55 of the 57
 * faces `cctv` probes lost, with the gated restoration +10.9 rank-1 there, and it cannot touch a frame whose
 * first pass found a face. Upsampling added nothing on those profiles and costs 4× the pixels.
 */
export const DEFAULT_SECOND_LOOK: SecondLook = {
  denoise: 1.5,
  thresholdScale: 0.7,
  upscale: 1,
  smallFaceSide: 0,
  stretchedOnly: true,
};

/** Frames larger than this (pixels) are not upsampled on the second look (cost; their faces reach the tiles). */
const UPSCALE_MAX_PIXELS = 1_000_000;

/** A frame denoised before detection: a Gaussian of σ `sigma` px (`sigma` ≤ 0: the frame itself). */
export function denoiseFrame(image: RgbImage, sigma: number): RgbImage {
  return sigma > 0 ? restoreCrop(image, { mode: 'gaussian', strength: sigma }) : image;
}

/**
 * The detector thresholds for a frame: `scale` × the configured ones where the frame needed the lighting
 * stretch (`stretched`; a dark or flat frame, whose faces score lower), else the options unchanged.
 */
export function thresholdsForFrame(
  options: DetectOptions,
  stretched: boolean,
  scale: number | undefined,
): DetectOptions {
  if (!stretched || scale === undefined || scale === 1) return options;
  return {
    ...options,
    ulfdScoreThreshold: options.ulfdScoreThreshold * scale,
    blazefaceScoreThreshold: options.blazefaceScoreThreshold * scale,
  };
}

/**
 * True when the second look should run after a first pass that found `found`; `stretched` says whether the frame
 * needed the lighting stretch (it matters only when the look is {@link SecondLook.stretchedOnly}).
 */
export function wantsSecondLook(found: readonly RawDetection[], look: SecondLook, stretched = true): boolean {
  if (look.stretchedOnly && !stretched) return false;
  if (found.length === 0) return true;
  return (
    look.smallFaceSide > 0 && found.every((d) => Math.max(d.box.width, d.box.height) < look.smallFaceSide)
  );
}

/**
 * The second look at a frame: denoises and/or upsamples it, searches it again with the scaled thresholds
 * (`pass` is one detection pass, without a further second look), maps what it finds back to the frame and
 * merges it with the first pass's `found` (boxes of the first pass win where both found a face).
 */
export async function secondLook(
  image: RgbImage,
  options: DetectOptions,
  look: SecondLook,
  found: RawDetection[],
  pass: (frame: RgbImage, options: DetectOptions) => Promise<RawDetection[]>,
): Promise<RawDetection[]> {
  let frame = denoiseFrame(image, look.denoise);
  const up = image.width * image.height * look.upscale ** 2 <= UPSCALE_MAX_PIXELS ? look.upscale : 1;
  if (up > 1) frame = await resizeImage(frame, Math.round(image.width * up), Math.round(image.height * up));
  const sx = frame.width / image.width;
  const sy = frame.height / image.height;
  const scale = Math.min(1, Math.max(0.05, look.thresholdScale));
  const again = await pass(frame, {
    ...options,
    ulfdScoreThreshold: options.ulfdScoreThreshold * scale,
    blazefaceScoreThreshold: options.blazefaceScoreThreshold * scale,
    secondLook: undefined,
  });
  const mapped = again.map((d) => scaleDetection(d, 1 / sx, 1 / sy));
  if (found.length === 0) return mapped;
  const added = mapped.filter((d) => found.every((f) => iou(f.box, d.box) <= options.nmsIouThreshold));
  return nonMaxSuppression([...found, ...added], options.nmsIouThreshold).slice(0, options.maxFaces);
}

function scaleDetection(d: RawDetection, fx: number, fy: number): RawDetection {
  const box = (b: Box): Box => ({ x: b.x * fx, y: b.y * fy, width: b.width * fx, height: b.height * fy });
  const point = (p: { x: number; y: number }) => ({ x: p.x * fx, y: p.y * fy });
  const keypoints = (k: FiveLandmarks | undefined) =>
    k && {
      leftEye: point(k.leftEye),
      rightEye: point(k.rightEye),
      nose: point(k.nose),
      mouthLeft: point(k.mouthLeft),
      mouthRight: point(k.mouthRight),
    };
  return {
    ...d,
    box: box(d.box),
    keypoints: keypoints(d.keypoints),
    secondOpinion: d.secondOpinion && scaleDetection(d.secondOpinion, fx, fy),
  };
}

/**
 * Parses `--second-look` specs: comma-separated `denoise:<σ>`, `threshold:<scale>`, `upscale:<factor>`,
 * `small:<px>` and the flag `stretched` (look only on frames that needed the lighting stretch, as the shipped
 * look does), e.g. `denoise:1.5,threshold:0.7,stretched`; unspecified parts are off.
 *
 * @returns undefined for `none`.
 * @throws Error with a sentence for an unknown part or a value out of range.
 */
export function parseSecondLook(spec: string): SecondLook | undefined {
  if (spec.trim() === 'none') return undefined;
  const look: SecondLook = { denoise: 0, thresholdScale: 1, upscale: 1, smallFaceSide: 0 };
  for (const part of spec.split(',')) {
    if (part.trim() === 'stretched') {
      look.stretchedOnly = true;
      continue;
    }
    const match = /^\s*(denoise|threshold|upscale|small):([0-9]*\.?[0-9]+)\s*$/.exec(part);
    if (!match)
      throw new Error(
        `"${part}" is not denoise:<σ>, threshold:<scale>, upscale:<factor>, small:<px> or stretched.`,
      );
    const value = Number(match[2]);
    if (match[1] === 'denoise') {
      if (value > 10) throw new Error('denoise σ must be at most 10.');
      look.denoise = value;
    } else if (match[1] === 'threshold') {
      if (!(value > 0 && value <= 1)) throw new Error('threshold scale must be in (0, 1].');
      look.thresholdScale = value;
    } else if (match[1] === 'upscale') {
      if (!(value >= 1 && value <= 4)) throw new Error('upscale must be in [1, 4].');
      look.upscale = value;
    } else {
      look.smallFaceSide = value;
    }
  }
  return look;
}
