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

/** A normalised 1-D Gaussian of σ `sigma`, cut at `reach` σ on each side (at least one tap). */
export function gaussianKernel(sigma: number, reach = 2.5): Float32Array {
  const radius = Math.max(1, Math.ceil(sigma * reach));
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

/**
 * Compression blockiness of a region of a frame: how much larger the luma steps across the frame's 8×8 (JPEG)
 * or 4×4 (H.264) block boundaries are than the steps inside the blocks, minus 1 (0: no grid, 1: boundary steps
 * twice the others). The grid is the frame's own (blocks start at pixel 0), so this is measured on the frame
 * before alignment warps it. Scale-free: darkening a frame does not change it. `region` defaults to the frame.
 */
export function blockiness(
  image: RgbImage,
  region?: { x: number; y: number; width: number; height: number },
): number {
  const { width, data } = image;
  const x0 = Math.max(0, Math.floor(region?.x ?? 0));
  const y0 = Math.max(0, Math.floor(region?.y ?? 0));
  const x1 = Math.min(width, Math.ceil(region ? region.x + region.width : width));
  const y1 = Math.min(image.height, Math.ceil(region ? region.y + region.height : image.height));
  if (x1 - x0 < 9 || y1 - y0 < 9) return 0;
  const lumaAt = (x: number, y: number) => {
    const i = (y * width + x) * 3;
    return 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
  };
  // Step sums by the phase of the boundary they cross ((x + 1) mod 8: 0 = a block edge), both directions.
  const sums = new Float64Array(8);
  const counts = new Float64Array(8);
  for (let y = y0; y < y1; y++)
    for (let x = x0; x < x1; x++) {
      const l = lumaAt(x, y);
      if (x + 1 < x1) {
        sums[(x + 1) % 8]! += Math.abs(lumaAt(x + 1, y) - l);
        counts[(x + 1) % 8]! += 1;
      }
      if (y + 1 < y1) {
        sums[(y + 1) % 8]! += Math.abs(lumaAt(x, y + 1) - l);
        counts[(y + 1) % 8]! += 1;
      }
    }
  const mean = (k: number) => sums[k]! / Math.max(1, counts[k]!);
  const inside = (mean(1) + mean(2) + mean(3) + mean(5) + mean(6) + mean(7)) / 6;
  // A quarter grey level keeps a flat (black) region from reading as blocky.
  return Math.max(0, (Math.max(mean(0), mean(4)) + 0.25) / (inside + 0.25) - 1);
}

/**
 * When a gated restoration applies: the face's crop is compressed (frame blockiness at the face ≥ `blockiness`)
 * or noisy once stretched (crop noise σ × the enhancement's level gain ≥ `noise` grey levels). Measured on the
 * LFW profiles and Yale B (docs/accuracy.md §8): uncompressed dark faces stay below both and keep today's path.
 */
export interface RestoreGate {
  blockiness: number;
  noise: number;
  /**
   * Blockiness from which the full `strength` applies; an open gate below it restores with `lightStrength`
   * (measured: heavy JPEG/H.264 blocks want σ 1.5, a noisy q30 JPEG loses TPIR at σ 1.5 and gains at σ 1.0).
   */
  heavyBlockiness: number;
  lightStrength: number;
}

export const DEFAULT_RESTORE_GATE: RestoreGate = {
  blockiness: 0.3,
  noise: 12,
  heavyBlockiness: 1.6,
  lightStrength: 1,
};

/** What a gated restoration measures of a face: its frame's blockiness there and its crop's stretched noise. */
export interface CropDegradation {
  blockiness: number;
  /** Luma noise σ of the aligned crop ({@link noiseSigma}) times the level gain the enhancement will apply. */
  stretchedNoise: number;
}

/** The gain of the enhancement's level stretch on a crop (255 over its 1st–99th luma percentile range). */
export function stretchGain(crop: RgbImage): number {
  const histogram = new Uint32Array(256);
  const { data } = crop;
  const n = data.length / 3;
  for (let i = 0; i < data.length; i += 3)
    histogram[Math.min(255, Math.round(0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!))]! +=
      1;
  const at = (p: number) => {
    let cumulative = 0;
    for (let v = 0; v < 256; v++) {
      cumulative += histogram[v]!;
      if (cumulative >= p * n) return v;
    }
    return 255;
  };
  return 255 / Math.max(1, at(0.99) - at(0.01));
}

/**
 * Measures a face for {@link RestoreGate}: `frame` is the analysed frame and `box` the face's box in it. The
 * blockiness is read on the box's central 60%: a box that reaches past a cropped face's edge (Yale B's padded
 * crops, a letterbox bar) would otherwise count that one hard edge as block edges when it falls on the grid.
 */
export function measureCropDegradation(
  frame: RgbImage,
  box: { x: number; y: number; width: number; height: number },
  aligned: RgbImage,
): CropDegradation {
  const centre = {
    x: box.x + 0.2 * box.width,
    y: box.y + 0.2 * box.height,
    width: 0.6 * box.width,
    height: 0.6 * box.height,
  };
  return {
    blockiness: blockiness(frame, centre),
    stretchedNoise: noiseSigma(aligned) * stretchGain(aligned),
  };
}

/** True when a face measured as `measured` passes `gate` (restoration applies). */
export function gateOpens(measured: CropDegradation, gate: RestoreGate): boolean {
  return measured.blockiness >= gate.blockiness || measured.stretchedNoise >= gate.noise;
}

/** The strength a gated restoration uses on a face whose gate is open: full on heavy blocks, else the light one. */
export function gatedStrength(measured: CropDegradation, gate: RestoreGate, strength: number): number {
  return measured.blockiness >= gate.heavyBlockiness ? strength : Math.min(strength, gate.lightStrength);
}

/**
 * A restoration and the faces it applies to: those the enhancement will stretch (`enhanced`), all (`always`),
 * or enhanced faces whose measured compression or noise passes `gate` (`gated`).
 */
export interface CropRestoration extends RestoreOptions {
  when: 'enhanced' | 'always' | 'gated';
  /** For `gated`; absent: {@link DEFAULT_RESTORE_GATE}. */
  gate?: RestoreGate | undefined;
}

/**
 * The shipped restoration (pipeline fp5): a σ 1.5 Gaussian (σ 1.0 on light blocks) on enhanced faces whose frame
 * shows compression blocks or whose stretched crop is noisy. Measured (docs/accuracy.md §8): `cctv` 57.9 → 73.5%
 * rank-1 and `night` 80.0 → 90.1% alone; clean and uncompressed dark faces stay below the gate.
 */
export const DEFAULT_CROP_RESTORATION: CropRestoration = {
  mode: 'gaussian',
  strength: 1.5,
  when: 'gated',
  gate: DEFAULT_RESTORE_GATE,
};

/**
 * The crop to enhance or embed: restored when `restoration` applies to this face (`when: 'always'`, an enhanced
 * face with `when: 'enhanced'`, or an enhanced face whose `measure()` passes the gate with `when: 'gated'`), else
 * the aligned crop itself. `measure` is called only for a gated decision.
 */
export function restoreBeforeEnhance(
  aligned: RgbImage,
  enhanced: boolean,
  restoration: CropRestoration | undefined,
  measure?: () => CropDegradation,
): RgbImage {
  if (!restoration || (restoration.when !== 'always' && !enhanced)) return aligned;
  if (restoration.when === 'gated') {
    const gate = restoration.gate ?? DEFAULT_RESTORE_GATE;
    const measured = measure?.();
    if (!measured || !gateOpens(measured, gate)) return aligned;
    return restoreCrop(aligned, {
      ...restoration,
      strength: gatedStrength(measured, gate, restoration.strength),
    });
  }
  return restoreCrop(aligned, restoration);
}

/**
 * Parses `gaussian:1.5`, `median`, `bilateral:2`, optionally suffixed `@always`, `@gated` or
 * `@gated:<blockiness>/<noise>` (default: enhanced faces only); `none` gives undefined.
 *
 * @throws FaceprintError INVALID_ARGUMENT for an unknown mode or a strength that is not a positive number.
 */
export function parseRestoration(spec: string): CropRestoration | undefined {
  const match =
    /^\s*([a-z]+)(?::([0-9]*\.?[0-9]+))?(?:@(enhanced|always|gated)(?::([0-9]*\.?[0-9]+)\/([0-9]*\.?[0-9]+))?)?\s*$/.exec(
      spec,
    );
  const mode = match?.[1] as RestoreMode | undefined;
  if (!match || !mode || !RESTORE_MODES.includes(mode)) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `Restoration "${spec}" is not one of ${RESTORE_MODES.join(', ')} (e.g. gaussian:1.5, gaussian:1.5@always or gaussian:1.5@gated).`,
    );
  }
  if (mode === 'none') return undefined;
  const strength = Number(match[2] ?? 1);
  if (!(strength > 0 && strength <= 10))
    throw new FaceprintError('INVALID_ARGUMENT', `Restoration "${spec}": the strength must be in (0, 10].`);
  const when = (match[3] as CropRestoration['when'] | undefined) ?? 'enhanced';
  if (match[4] !== undefined && when !== 'gated')
    throw new FaceprintError('INVALID_ARGUMENT', `Restoration "${spec}": only @gated takes thresholds.`);
  const gate =
    match[4] !== undefined
      ? { ...DEFAULT_RESTORE_GATE, blockiness: Number(match[4]), noise: Number(match[5]) }
      : undefined;
  // A gated restoration always names its gate, so evaluation caches keyed by the options tell gates apart.
  return {
    mode,
    strength,
    when,
    ...(gate || when === 'gated' ? { gate: gate ?? DEFAULT_RESTORE_GATE } : {}),
  };
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
