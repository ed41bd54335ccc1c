/**
 * A camera profile estimated from the camera's own images: brightness, noise, blur, compression level and (when
 * the caller passes detections) face size. The JPEG quality comes from the file's quantisation tables: the
 * luminance table is compared with the IJG reference table that every common encoder scales (libjpeg's
 * `jpeg_quality_scaling`), so the quality is read, not guessed from artefacts. Parsing the DQT segment is a few
 * lines; no npm package exposes the tables (sharp and exif readers do not).
 */
import { decodeImage, type RgbImage } from '../pipeline/image.ts';
import { noiseSigma } from '../pipeline/restore.ts';

/** The IJG (ITU-T T.81 Annex K) luminance quantisation table, in natural (row-major) order. */
const IJG_LUMA = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22,
  29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103,
  121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/** Zig-zag index → natural index, as DQT segments store coefficients in zig-zag order. */
const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
  53, 60, 61, 54, 47, 55, 62, 63,
];

/** The luminance quantisation table (id 0) of a JPEG file, natural order; undefined for other formats. */
export function jpegLumaTable(bytes: Uint8Array): number[] | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1] as number;
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image / start of scan: no table before
    const length = ((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number);
    if (marker === 0xdb) {
      let j = i + 4;
      while (j < i + 2 + length) {
        const precision = (bytes[j] as number) >> 4;
        const id = (bytes[j] as number) & 0x0f;
        const size = precision === 0 ? 1 : 2;
        const table = new Array<number>(64);
        for (let k = 0; k < 64; k++) {
          const at = j + 1 + k * size;
          table[ZIGZAG[k] as number] =
            size === 1 ? (bytes[at] as number) : ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
        }
        if (id === 0) return table;
        j += 1 + 64 * size;
      }
    }
    i += 2 + length;
  }
  return undefined;
}

/**
 * The IJG quality (1–100) whose scaled reference table is closest to `table`: libjpeg scales the reference by
 * `s = q < 50 ? 5000 / q : 200 − 2q` percent, rounding and clamping each entry to 1–255.
 */
export function jpegQualityOf(table: readonly number[]): number {
  let best = 1;
  let bestError = Number.POSITIVE_INFINITY;
  for (let q = 1; q <= 100; q++) {
    const s = q < 50 ? 5000 / q : 200 - 2 * q;
    let error = 0;
    for (let k = 0; k < 64; k++) {
      const expected = Math.min(255, Math.max(1, Math.floor(((IJG_LUMA[k] as number) * s + 50) / 100)));
      error += Math.abs(expected - (table[k] as number));
    }
    if (error < bestError) {
      bestError = error;
      best = q;
    }
  }
  return best;
}

/** Variance of the 4-neighbour Laplacian of a frame's luma (its sharpness; lower = blurrier). */
export function frameLaplacianVariance(image: RgbImage): number {
  const { width, height, data } = image;
  const grey = new Float32Array(width * height);
  for (let i = 0; i < grey.length; i++)
    grey[i] =
      0.299 * (data[i * 3] as number) +
      0.587 * (data[i * 3 + 1] as number) +
      0.114 * (data[i * 3 + 2] as number);
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = 1; y < height - 1; y++)
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const v =
        (grey[i - 1] as number) +
        (grey[i + 1] as number) +
        (grey[i - width] as number) +
        (grey[i + width] as number) -
        4 * (grey[i] as number);
      sum += v;
      sumSq += v * v;
      n += 1;
    }
  if (n === 0) return 0;
  const mean = sum / n;
  return sumSq / n - mean * mean;
}

/** A camera's measured character, as the median over its images. */
export interface CameraProfile {
  /** Mean luma, 0–255. */
  brightness: number;
  /** Noise σ in grey levels (see `noiseSigma`). */
  noise: number;
  /** Frame Laplacian variance. */
  sharpness: number;
  /** IJG JPEG quality read from the quantisation tables; null when no image was a JPEG. */
  jpegQuality: number | null;
  /** Median inter-ocular distance of the faces passed in (px); null without faces. */
  interOcularPx: number | null;
  images: number;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Estimates a camera profile from encoded images (and, optionally, the inter-ocular distances of faces detected
 * in them): the median of each measure over the images.
 *
 * @throws FaceprintError from decoding (unreadable or unsupported images), and INVALID_ARGUMENT-like refusal when
 * no image is given.
 */
export async function estimateCameraProfile(
  images: readonly Uint8Array[],
  interOcularPx: readonly number[] = [],
): Promise<CameraProfile> {
  const brightness: number[] = [];
  const noise: number[] = [];
  const sharpness: number[] = [];
  const quality: number[] = [];
  for (const bytes of images) {
    const table = jpegLumaTable(bytes);
    if (table) quality.push(jpegQualityOf(table));
    const image = await decodeImage(bytes);
    let sum = 0;
    for (let i = 0; i + 2 < image.data.length; i += 3)
      sum +=
        0.299 * (image.data[i] as number) +
        0.587 * (image.data[i + 1] as number) +
        0.114 * (image.data[i + 2] as number);
    brightness.push(sum / Math.max(1, image.data.length / 3));
    noise.push(noiseSigma(image));
    sharpness.push(frameLaplacianVariance(image));
  }
  return {
    brightness: median(brightness) ?? 0,
    noise: median(noise) ?? 0,
    sharpness: median(sharpness) ?? 0,
    jpegQuality: median(quality),
    interOcularPx: median([...interOcularPx]),
    images: images.length,
  };
}
