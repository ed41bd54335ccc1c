/**
 * Deblurring of an aligned face crop before the enhancement and the embedder: a Richardson–Lucy deconvolution with
 * a Gaussian point-spread function, for faces so blurred that the embedder cannot read them (a σ 4 px blur took
 * LFW one-shot rank-1 to ~47%). Gated on the crop's {@link bandSharpness}, so sharp, dark, compressed and noisy faces
 * keep today's path: deconvolution amplifies noise and blocks, and on dark or motion-blurred faces it measured as a
 * loss (docs/accuracy.md, "Deblurring heavily blurred faces"). Written here: sharp has no deconvolution, and no npm
 * package deconvolves raw RGB arrays in-process.
 */
import { FaceprintError } from '../errors.ts';
import type { RgbImage } from './image.ts';
import { centralLaplacianVariance, centralVariance, lumaPlane } from './quality.ts';
import { gaussianKernel } from './restore.ts';

export interface Deblur {
  /** σ (px of the 112×112 crop) of the Gaussian the deconvolution undoes. */
  sigma: number;
  /** Richardson–Lucy iterations: more restore more detail and more noise. */
  iterations: number;
  /** Deblur only crops whose {@link bandSharpness} is below this. */
  below: number;
}

/**
 * The shipped deblurring (pipeline fp10): σ 2.5, 25 iterations, on crops whose band sharpness is below 0.003.
 * Measured on LFW (10th–90th percentile): sharp crops lie at 0.014–0.039, σ 2-blurred ones at 0.0045–0.014 and
 * σ 4-blurred ones at 0.0011–0.0030, JPEG q40 after the blur or not. fp9 gated at 0.005 on the unsmoothed
 * Laplacian, which JPEG blocks lifted above the gate, so most blurred-then-compressed faces were not deconvolved
 * (docs/accuracy.md, "A sharpness the encoder does not fool").
 */
export const DEFAULT_DEBLUR: Deblur = { sigma: 2.5, iterations: 25, below: 0.003 };

/** σ (crop px) of the Gaussian {@link bandSharpness} smooths with before its Laplacian. */
const BAND_SIGMA = 1;

/**
 * The Laplacian variance of the crop's luma smoothed by a Gaussian of σ 1 px, over the luma variance, both over the
 * crop's central region. The division makes it blind to brightness and contrast (a dark sharp face is not taken for
 * a blurred one); the smoothing makes it blind to an encoder's 8-px blocks and ringing, which read as detail to
 * the plain Laplacian, while the σ 2–5 px blur of an out-of-focus camera still shows.
 */
export function bandSharpness(crop: RgbImage): number {
  const { width, height } = crop;
  const luma = lumaPlane(crop);
  const kernel = gaussianKernel(BAND_SIGMA, 3);
  const smoothed = new Float32Array(luma.length);
  convolve(
    luma,
    width,
    height,
    kernel,
    new Float32Array(luma.length),
    smoothed,
    new Float32Array(width + kernel.length - 1),
    new Float64Array(width),
  );
  return (
    centralLaplacianVariance(smoothed, width, height) / Math.max(1, centralVariance(luma, width, height))
  );
}

/** True when `deblur` applies to this crop. */
export function wantsDeblur(crop: RgbImage, deblur: Deblur | undefined): boolean {
  return deblur !== undefined && bandSharpness(crop) < deblur.below;
}

/**
 * Separable convolution of one plane with a symmetric kernel, edges clamped. `tmp` is scratch, `row` holds one
 * padded source row and `column` one output row's sums. Each pass runs the taps over whole rows (the clamping is
 * done once, by padding a row or by clamping a tap's row index), so the inner loops have no branches, and the
 * symmetric kernel's taps are taken in pairs. Sums are in double precision: the crops came out the same to the
 * byte as with a per-pixel, per-tap loop, at half its time.
 */
function convolve(
  src: Float32Array,
  width: number,
  height: number,
  kernel: Float32Array,
  tmp: Float32Array,
  out: Float32Array,
  row: Float32Array,
  column: Float64Array,
): void {
  const r = (kernel.length - 1) / 2;
  for (let y = 0; y < height; y++) {
    const offset = y * width;
    const first = src[offset]!;
    const last = src[offset + width - 1]!;
    for (let i = 0; i < r; i++) {
      row[i] = first;
      row[r + width + i] = last;
    }
    row.set(src.subarray(offset, offset + width), r);
    const centre = kernel[r]!;
    for (let x = 0; x < width; x++) {
      const c = x + r;
      let s = centre * row[c]!;
      for (let i = 1; i <= r; i++) s += kernel[r + i]! * (row[c - i]! + row[c + i]!);
      tmp[offset + x] = s;
    }
  }
  for (let y = 0; y < height; y++) {
    const here = y * width;
    const centre = kernel[r]!;
    for (let x = 0; x < width; x++) column[x] = centre * tmp[here + x]!;
    for (let i = 1; i <= r; i++) {
      const above = Math.max(0, y - i) * width;
      const below = Math.min(height - 1, y + i) * width;
      const k = kernel[r + i]!;
      for (let x = 0; x < width; x++) column[x]! += k * (tmp[above + x]! + tmp[below + x]!);
    }
    out.set(column, y * width);
  }
}

/**
 * Richardson–Lucy deconvolution of each channel with a Gaussian of σ `sigma` px: the estimate is multiplied, each
 * iteration, by the blurred ratio of the observed image to the re-blurred estimate (the Gaussian is symmetric, so
 * it is its own adjoint). Values are offset by 1 so that black pixels take part.
 */
export function richardsonLucy(image: RgbImage, sigma: number, iterations: number): RgbImage {
  const { width, height, data } = image;
  const n = width * height;
  // Cut at 3 σ, not the restoration's 2.5: a deconvolution amplifies what a short kernel leaves out.
  const kernel = gaussianKernel(sigma, 3);
  const observed = new Float32Array(n);
  const estimate = new Float32Array(n);
  const blurred = new Float32Array(n);
  const ratio = new Float32Array(n);
  const tmp = new Float32Array(n);
  const row = new Float32Array(width + kernel.length - 1);
  const column = new Float64Array(width);
  const out = new Uint8Array(data.length);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) observed[i] = data[i * 3 + c]! + 1;
    estimate.set(observed);
    for (let it = 0; it < iterations; it++) {
      convolve(estimate, width, height, kernel, tmp, blurred, row, column);
      for (let i = 0; i < n; i++) ratio[i] = observed[i]! / Math.max(1e-3, blurred[i]!);
      convolve(ratio, width, height, kernel, tmp, blurred, row, column);
      for (let i = 0; i < n; i++) estimate[i]! *= blurred[i]!;
    }
    for (let i = 0; i < n; i++) {
      const v = Math.round(estimate[i]! - 1);
      out[i * 3 + c] = Math.max(0, Math.min(255, v));
    }
  }
  return { width, height, data: out };
}

/**
 * The crop deconvolved with `deblur`'s settings when `deblur` applies to it ({@link wantsDeblur}); undefined
 * otherwise. The probe path and the camera templates (camera/match.ts) deblur through this one rule.
 */
export function deblurWhenWanted(crop: RgbImage, deblur: Deblur | undefined): RgbImage | undefined {
  return deblur && wantsDeblur(crop, deblur)
    ? richardsonLucy(crop, deblur.sigma, deblur.iterations)
    : undefined;
}

/**
 * Parses `rl:<sigma>x<iterations>@<below>` (e.g. `rl:2.5x25@0.003`; parts left out keep {@link DEFAULT_DEBLUR}'s) or
 * `none` (undefined).
 *
 * @throws FaceprintError INVALID_ARGUMENT for anything else or a value out of range.
 */
export function parseDeblur(spec: string): Deblur | undefined {
  const trimmed = spec.trim();
  if (trimmed === 'none') return undefined;
  const match = /^rl(?::([0-9]*\.?[0-9]+)(?:x([0-9]+))?)?(?:@([0-9]*\.?[0-9]+))?$/.exec(trimmed);
  if (!match) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `Deblurring "${spec}" is not "none" or rl:<sigma>x<iterations>@<below> (e.g. rl:2.5x25@0.003).`,
    );
  }
  const deblur: Deblur = {
    sigma: match[1] === undefined ? DEFAULT_DEBLUR.sigma : Number(match[1]),
    iterations: match[2] === undefined ? DEFAULT_DEBLUR.iterations : Number(match[2]),
    below: match[3] === undefined ? DEFAULT_DEBLUR.below : Number(match[3]),
  };
  if (!(deblur.sigma > 0 && deblur.sigma <= 8) || !(deblur.iterations >= 1 && deblur.iterations <= 100)) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `Deblurring "${spec}": sigma must be in (0, 8] and iterations in 1–100.`,
    );
  }
  return deblur;
}
