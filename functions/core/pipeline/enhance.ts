import type { RgbImage } from './image.ts';

/** Luma (Rec. 601) of one RGB pixel. */
function luma(data: Uint8Array, i: number): number {
  return 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
}

/**
 * The luma values at the given percentiles (0–1) of an image, from a 256-bin histogram of at most about
 * `maxSamples` evenly spaced pixels.
 */
export function lumaPercentiles(image: RgbImage, percentiles: number[], maxSamples = 250_000): number[] {
  const histogram = new Uint32Array(256);
  const { data } = image;
  const step = Math.max(1, Math.floor(data.length / 3 / maxSamples)) * 3;
  let n = 0;
  for (let i = 0; i + 2 < data.length; i += step) {
    histogram[Math.min(255, Math.round(luma(data, i)))]! += 1;
    n += 1;
  }
  return percentiles.map((p) => {
    const target = p * n;
    let cumulative = 0;
    for (let v = 0; v < 256; v++) {
      cumulative += histogram[v]!;
      if (cumulative >= target) return v;
    }
    return 255;
  });
}

/** Maps every byte of an image through a 256-entry table (a copy). */
export function applyLut(image: RgbImage, lut: Uint8Array): RgbImage {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = lut[image.data[i]!]!;
  return { width: image.width, height: image.height, data: out };
}

/**
 * The level curve that stretches a dark or flat frame (1st–99th luma percentile to 0–255) and lifts a still-dark
 * mean with a gamma curve, so detectors trained on well-lit photos see faces in it; `undefined` when the frame's
 * levels already span most of the range. Detection applies it to its small model inputs (see detect.ts), not to
 * the whole frame: a full-frame copy cost more than the whole-frame detector itself (17 ms at 1280×720).
 */
export function detectionLevels(image: RgbImage, maxSamples = 250_000): Uint8Array | undefined {
  const [low, high, median] = lumaPercentiles(image, [0.01, 0.99, 0.5], maxSamples) as [
    number,
    number,
    number,
  ];
  const range = Math.max(1, high - low);
  if (range >= 180 && median >= 60) return undefined;
  const stretchedMedian = ((median - low) / range) * 255;
  // Gamma that moves the median towards mid-grey, but never darkens and never more than γ = 0.4.
  const gamma =
    stretchedMedian > 0 && stretchedMedian < 100
      ? Math.max(0.4, Math.log(110 / 255) / Math.log(stretchedMedian / 255))
      : 1;
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) {
    const t = Math.min(1, Math.max(0, (v - low) / range));
    lut[v] = Math.round(255 * t ** gamma);
  }
  return lut;
}

/**
 * {@link detectionLevels} applied to the whole image (the input itself when no stretch is needed). Used for
 * detection only; recognition uses {@link enhanceFace}.
 */
export function normaliseForDetection(image: RgbImage): RgbImage {
  const lut = detectionLevels(image);
  return lut ? applyLut(image, lut) : image;
}

export interface ClaheOptions {
  /** Tiles per side. */
  grid: number;
  /** Clip limit as a multiple of the mean histogram bin height. */
  clipLimit: number;
}

/**
 * Contrast-limited adaptive histogram equalisation of a grey plane (Zuiderveld 1994): per-tile clipped
 * histograms, bilinear interpolation between tile mappings.
 */
export function clahe(grey: Uint8Array, width: number, height: number, options: ClaheOptions): Uint8Array {
  const { grid, clipLimit } = options;
  const tileW = width / grid;
  const tileH = height / grid;
  const maps: Uint8Array[] = [];
  for (let ty = 0; ty < grid; ty++) {
    for (let tx = 0; tx < grid; tx++) {
      const x0 = Math.floor(tx * tileW);
      const x1 = Math.floor((tx + 1) * tileW);
      const y0 = Math.floor(ty * tileH);
      const y1 = Math.floor((ty + 1) * tileH);
      const hist = new Float64Array(256);
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) hist[grey[y * width + x]!]! += 1;
      const count = Math.max(1, (x1 - x0) * (y1 - y0));
      const limit = Math.max(1, (clipLimit * count) / 256);
      let excess = 0;
      for (let v = 0; v < 256; v++) {
        if (hist[v]! > limit) {
          excess += hist[v]! - limit;
          hist[v] = limit;
        }
      }
      const bonus = excess / 256;
      const map = new Uint8Array(256);
      let cumulative = 0;
      for (let v = 0; v < 256; v++) {
        cumulative += hist[v]! + bonus;
        map[v] = Math.min(255, Math.round((cumulative / count) * 255));
      }
      maps.push(map);
    }
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = Math.min(grid - 1, Math.max(0, (y + 0.5) / tileH - 0.5));
    const ty0 = Math.floor(gy);
    const ty1 = Math.min(grid - 1, ty0 + 1);
    const fy = gy - ty0;
    for (let x = 0; x < width; x++) {
      const gx = Math.min(grid - 1, Math.max(0, (x + 0.5) / tileW - 0.5));
      const tx0 = Math.floor(gx);
      const tx1 = Math.min(grid - 1, tx0 + 1);
      const fx = gx - tx0;
      const v = grey[y * width + x]!;
      const top = maps[ty0 * grid + tx0]![v]! * (1 - fx) + maps[ty0 * grid + tx1]![v]! * fx;
      const bottom = maps[ty1 * grid + tx0]![v]! * (1 - fx) + maps[ty1 * grid + tx1]![v]! * fx;
      out[y * width + x] = Math.round(top * (1 - fy) + bottom * fy);
    }
  }
  return out;
}

export interface EnhanceOptions {
  clahe: ClaheOptions;
}

export const DEFAULT_ENHANCE_OPTIONS: EnhanceOptions = { clahe: { grid: 4, clipLimit: 2.5 } };

/**
 * Low-light enhancement of an aligned face crop: stretches luma to the 1st–99th percentile range, equalises it
 * locally with CLAHE, and recombines it with the original chroma (YCbCr), so colour is kept while detail in
 * shadows comes back.
 */
export function enhanceFace(crop: RgbImage, options: EnhanceOptions = DEFAULT_ENHANCE_OPTIONS): RgbImage {
  const { width, height, data } = crop;
  const n = width * height;
  const y = new Uint8Array(n);
  const original = new Float32Array(n);
  const cb = new Float32Array(n);
  const cr = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = data[i * 3]!;
    const g = data[i * 3 + 1]!;
    const b = data[i * 3 + 2]!;
    const l = 0.299 * r + 0.587 * g + 0.114 * b;
    y[i] = Math.round(l);
    original[i] = l;
    cb[i] = b - l;
    cr[i] = r - l;
  }
  const [low, high] = lumaPercentiles(crop, [0.01, 0.99]) as [number, number];
  const range = Math.max(1, high - low);
  for (let i = 0; i < n; i++) y[i] = Math.round(Math.min(255, Math.max(0, ((y[i]! - low) / range) * 255)));
  const equalised = clahe(y, width, height, options.clahe);
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const l = equalised[i]!;
    // Chroma scaled with the luma gain (bounded), so a brightened dark face does not look washed out.
    const gain = Math.min(3, (l + 1) / (original[i]! + 1));
    const r = l + cr[i]! * gain;
    const b = l + cb[i]! * gain;
    const g = (l - 0.299 * r - 0.114 * b) / 0.587;
    out[i * 3] = Math.min(255, Math.max(0, Math.round(r)));
    out[i * 3 + 1] = Math.min(255, Math.max(0, Math.round(g)));
    out[i * 3 + 2] = Math.min(255, Math.max(0, Math.round(b)));
  }
  return { width, height, data: out };
}
