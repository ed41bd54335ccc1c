/**
 * Restoration of an aligned face crop before the low-light enhancement and the embedder: removes the sensor
 * noise and compression blocks that the enhancement's level stretch and CLAHE would otherwise amplify into
 * texture the embedder reads as identity. Written here (no npm package denoises raw RGB arrays in-process; sharp
 * offers only a median and a Gaussian, both tried and measured as modes).
 */
import { FaceprintError } from '../errors.ts';
import type { RgbImage } from './image.ts';

/**
 * `none`: the crop as aligned. `gaussian`: a Gaussian of σ `strength` px. `median`: a 3×3 median per channel.
 * `bilateral`: an edge-preserving 5×5 bilateral filter (spatial σ 1.5 px, range σ `strength` × the crop's own
 * noise estimate), which smooths blocks and grain but keeps the eyes' and mouth's edges.
 */
export type RestoreMode = 'none' | 'gaussian' | 'median' | 'bilateral';
export const RESTORE_MODES: readonly RestoreMode[] = ['none', 'gaussian', 'median', 'bilateral'];

export interface RestoreOptions {
  mode: RestoreMode;
  /** Gaussian σ (px) or the bilateral range multiplier. */
  strength: number;
}

/**
 * Noise level of an image's luma (grey levels; independent per-channel noise of σ is ≈ 0.668σ in luma): the median absolute deviation of the 4-neighbour Laplacian,
 * scaled to a Gaussian σ (Immerkær-style: the Laplacian of a smooth face is small, of noise and blocks large).
 */
export function noiseSigma(image: RgbImage): number {
  const { width, height, data } = image;
  const grey = new Float32Array(width * height);
  for (let i = 0; i < grey.length; i++)
    grey[i] = 0.299 * data[i * 3]! + 0.587 * data[i * 3 + 1]! + 0.114 * data[i * 3 + 2]!;
  const values: number[] = [];
  for (let y = 1; y < height - 1; y++)
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      values.push(Math.abs(grey[i - 1]! + grey[i + 1]! + grey[i - width]! + grey[i + width]! - 4 * grey[i]!));
    }
  if (values.length === 0) return 0;
  values.sort((a, b) => a - b);
  // For white noise of σ, the 4-neighbour Laplacian has σ·√20; MAD → σ by 1.4826.
  return (1.4826 * values[Math.floor(values.length / 2)]!) / Math.sqrt(20);
}

function gaussianKernel(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(sigma * 2.5));
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
    sum += k[i + radius]!;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

function gaussian(image: RgbImage, sigma: number): RgbImage {
  const { width, height, data } = image;
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const tmp = new Float32Array(data.length);
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const xx = Math.min(width - 1, Math.max(0, x + i));
          s += k[i + r]! * data[(y * width + xx) * 3 + c]!;
        }
        tmp[(y * width + x) * 3 + c] = s;
      }
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const yy = Math.min(height - 1, Math.max(0, y + i));
          s += k[i + r]! * tmp[(yy * width + x) * 3 + c]!;
        }
        out[(y * width + x) * 3 + c] = Math.round(s);
      }
  return { width, height, data: out };
}

function median3(image: RgbImage): RgbImage {
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  const window = new Uint8Array(9);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let n = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = Math.min(height - 1, Math.max(0, y + dy));
            const xx = Math.min(width - 1, Math.max(0, x + dx));
            window[n++] = data[(yy * width + xx) * 3 + c]!;
          }
        window.sort();
        out[(y * width + x) * 3 + c] = window[4]!;
      }
  return { width, height, data: out };
}

function bilateral(image: RgbImage, rangeSigma: number): RgbImage {
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  const spatial = new Float32Array(25);
  for (let dy = -2; dy <= 2; dy++)
    for (let dx = -2; dx <= 2; dx++)
      spatial[(dy + 2) * 5 + dx + 2] = Math.exp(-(dx * dx + dy * dy) / (2 * 1.5 * 1.5));
  const inv = 1 / (2 * rangeSigma * rangeSigma);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const l0 = 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
      let wsum = 0;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let dy = -2; dy <= 2; dy++) {
        const yy = Math.min(height - 1, Math.max(0, y + dy));
        for (let dx = -2; dx <= 2; dx++) {
          const xx = Math.min(width - 1, Math.max(0, x + dx));
          const j = (yy * width + xx) * 3;
          const l = 0.299 * data[j]! + 0.587 * data[j + 1]! + 0.114 * data[j + 2]!;
          const w = spatial[(dy + 2) * 5 + dx + 2]! * Math.exp(-(l - l0) * (l - l0) * inv);
          wsum += w;
          r += w * data[j]!;
          g += w * data[j + 1]!;
          b += w * data[j + 2]!;
        }
      }
      out[i] = Math.round(r / wsum);
      out[i + 1] = Math.round(g / wsum);
      out[i + 2] = Math.round(b / wsum);
    }
  return { width, height, data: out };
}

/** A restoration and the faces it applies to: those the enhancement will stretch (`enhanced`), or all. */
export interface CropRestoration extends RestoreOptions {
  when: 'enhanced' | 'always';
}

/**
 * The crop to enhance or embed: restored when `restoration` applies to this face (`when: 'always'`, or an
 * enhanced face with `when: 'enhanced'`), else the aligned crop itself.
 */
export function restoreBeforeEnhance(
  aligned: RgbImage,
  enhanced: boolean,
  restoration: CropRestoration | undefined,
): RgbImage {
  if (!restoration || (restoration.when === 'enhanced' && !enhanced)) return aligned;
  return restoreCrop(aligned, restoration);
}

/**
 * Parses `gaussian:1.5`, `median`, `bilateral:2`, optionally suffixed `@always` (default: enhanced faces only);
 * `none` gives undefined.
 *
 * @throws FaceprintError INVALID_ARGUMENT for an unknown mode or a strength that is not a positive number.
 */
export function parseRestoration(spec: string): CropRestoration | undefined {
  const match = /^\s*([a-z]+)(?::([0-9]*\.?[0-9]+))?(?:@(enhanced|always))?\s*$/.exec(spec);
  const mode = match?.[1] as RestoreMode | undefined;
  if (!match || !mode || !RESTORE_MODES.includes(mode)) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `Restoration "${spec}" is not one of ${RESTORE_MODES.join(', ')} (e.g. gaussian:1.5 or gaussian:1.5@always).`,
    );
  }
  if (mode === 'none') return undefined;
  const strength = Number(match[2] ?? 1);
  if (!(strength > 0 && strength <= 10))
    throw new FaceprintError('INVALID_ARGUMENT', `Restoration "${spec}": the strength must be in (0, 10].`);
  return { mode, strength, when: (match[3] as 'enhanced' | 'always' | undefined) ?? 'enhanced' };
}

/** Restores a crop as `options` say; `none` (or a non-positive strength) returns it unchanged. */
export function restoreCrop(crop: RgbImage, options: RestoreOptions): RgbImage {
  if (options.mode === 'none' || !(options.strength > 0)) return crop;
  switch (options.mode) {
    case 'gaussian':
      return gaussian(crop, options.strength);
    case 'median':
      return median3(crop);
    case 'bilateral':
      return bilateral(crop, Math.max(1, options.strength * noiseSigma(crop)));
  }
}
