import type { Box, FiveLandmarks, Point } from '../types.ts';
import type { RgbImage } from './image.ts';

/** 2×3 affine matrix [a, b, tx, c, d, ty] mapping (x, y) → (a·x + b·y + tx, c·x + d·y + ty). */
export type Affine = [number, number, number, number, number, number];

/** The standard ArcFace 112×112 five-point template (eyes, nose tip, mouth corners, image left first). */
export const ARCFACE_TEMPLATE_112: readonly Point[] = [
  { x: 38.2946, y: 51.6963 },
  { x: 73.5318, y: 51.5014 },
  { x: 56.0252, y: 71.7366 },
  { x: 41.5493, y: 92.3655 },
  { x: 70.7299, y: 92.2041 },
];

/** The five landmarks as an ordered list matching {@link ARCFACE_TEMPLATE_112}. */
export function landmarkPoints(l: FiveLandmarks): Point[] {
  return [l.leftEye, l.rightEye, l.nose, l.mouthLeft, l.mouthRight];
}

/**
 * Weighted least-squares similarity transform (rotation, uniform scale, translation) taking `from` onto `to`
 * (Umeyama 1991, 2-D case, reflection excluded). `weights` default to 1 per point.
 */
export function similarityTransform(
  from: readonly Point[],
  to: readonly Point[],
  weights?: readonly number[],
): Affine {
  const n = Math.min(from.length, to.length);
  if (n < 2) throw new Error('similarityTransform needs at least two point pairs');
  const w = (i: number) => weights?.[i] ?? 1;
  let total = 0;
  let fx = 0;
  let fy = 0;
  let tx = 0;
  let ty = 0;
  for (let i = 0; i < n; i++) {
    total += w(i);
    fx += w(i) * from[i]!.x;
    fy += w(i) * from[i]!.y;
    tx += w(i) * to[i]!.x;
    ty += w(i) * to[i]!.y;
  }
  fx /= total;
  fy /= total;
  tx /= total;
  ty /= total;
  // Cross-covariance terms; for a 2-D similarity the optimal rotation angle and scale have closed forms.
  let sxx = 0;
  let sxy = 0;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    const ax = from[i]!.x - fx;
    const ay = from[i]!.y - fy;
    const bx = to[i]!.x - tx;
    const by = to[i]!.y - ty;
    sxx += w(i) * (ax * bx + ay * by);
    sxy += w(i) * (ax * by - ay * bx);
    variance += w(i) * (ax * ax + ay * ay);
  }
  if (variance === 0) throw new Error('similarityTransform: source points coincide');
  const a = sxx / variance; // scale·cos θ
  const b = sxy / variance; // scale·sin θ
  return [a, -b, tx - (a * fx - b * fy), b, a, ty - (b * fx + a * fy)];
}

/** Applies an affine transform to a point. */
export function transformPoint(m: Affine, p: Point): Point {
  return { x: m[0] * p.x + m[1] * p.y + m[2], y: m[3] * p.x + m[4] * p.y + m[5] };
}

/** Inverse of an affine transform. */
export function invertAffine(m: Affine): Affine {
  const det = m[0] * m[4] - m[1] * m[3];
  if (det === 0) throw new Error('invertAffine: singular transform');
  const a = m[4] / det;
  const b = -m[1] / det;
  const c = -m[3] / det;
  const d = m[0] / det;
  return [a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])];
}

/**
 * Warps `image` through the affine `m` (source → destination) into a `width`×`height` RGB image with bilinear
 * sampling. When the warp shrinks the source by more than 1.5×, each output pixel averages a grid of bilinear
 * samples so that large faces are not aliased. Pixels outside the source are black.
 */
export function warpAffine(image: RgbImage, m: Affine, width: number, height: number): RgbImage {
  const inv = invertAffine(m);
  const sourcePerOutput = Math.sqrt(Math.abs(inv[0] * inv[4] - inv[1] * inv[3]));
  const ss = sourcePerOutput > 1.5 ? Math.min(8, Math.ceil(sourcePerOutput)) : 1;
  const out = new Uint8Array(width * height * 3);
  const { width: sw, height: sh, data } = image;
  const [a, b, c, d, e, f] = inv;
  const k = ss * ss;
  // Hot loop (every landmark, pose and alignment crop): plain locals, and the four neighbours read directly when
  // they all lie inside the source; the arithmetic is the same as the bounds-checked path, so the pixels are too.
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let bl = 0;
      for (let sy = 0; sy < ss; sy++) {
        const oy = y + (sy + 0.5) / ss - 0.5;
        for (let sx = 0; sx < ss; sx++) {
          const ox = x + (sx + 0.5) / ss - 0.5;
          const px = a * ox + b * oy + c;
          const py = d * ox + e * oy + f;
          const x0 = Math.floor(px);
          const y0 = Math.floor(py);
          const fx = px - x0;
          const fy = py - y0;
          if (x0 >= 0 && y0 >= 0 && x0 + 1 < sw && y0 + 1 < sh) {
            const i00 = (y0 * sw + x0) * 3;
            const i01 = i00 + sw * 3;
            r +=
              (data[i00]! * (1 - fx) + data[i00 + 3]! * fx) * (1 - fy) +
              (data[i01]! * (1 - fx) + data[i01 + 3]! * fx) * fy;
            g +=
              (data[i00 + 1]! * (1 - fx) + data[i00 + 4]! * fx) * (1 - fy) +
              (data[i01 + 1]! * (1 - fx) + data[i01 + 4]! * fx) * fy;
            bl +=
              (data[i00 + 2]! * (1 - fx) + data[i00 + 5]! * fx) * (1 - fy) +
              (data[i01 + 2]! * (1 - fx) + data[i01 + 5]! * fx) * fy;
          } else {
            r += bilinearAt(data, sw, sh, x0, y0, fx, fy, 0);
            g += bilinearAt(data, sw, sh, x0, y0, fx, fy, 1);
            bl += bilinearAt(data, sw, sh, x0, y0, fx, fy, 2);
          }
        }
      }
      const o = (y * width + x) * 3;
      out[o] = Math.round(r / k);
      out[o + 1] = Math.round(g / k);
      out[o + 2] = Math.round(bl / k);
    }
  }
  return { width, height, data: out };
}

/** One channel of a bilinear sample near the border: neighbours outside the source count as black. */
function bilinearAt(
  data: Uint8Array,
  w: number,
  h: number,
  x0: number,
  y0: number,
  fx: number,
  fy: number,
  c: number,
): number {
  const v00 = pixel(data, w, h, x0, y0, c);
  const v10 = pixel(data, w, h, x0 + 1, y0, c);
  const v01 = pixel(data, w, h, x0, y0 + 1, c);
  const v11 = pixel(data, w, h, x0 + 1, y0 + 1, c);
  return (v00 * (1 - fx) + v10 * fx) * (1 - fy) + (v01 * (1 - fx) + v11 * fx) * fy;
}

function pixel(data: Uint8Array, w: number, h: number, x: number, y: number, c: number): number {
  if (x < 0 || y < 0 || x >= w || y >= h) return 0;
  return data[(y * w + x) * 3 + c]!;
}

/**
 * Resamples the (possibly out-of-bounds) box of `image` to `width`×`height`, stretching it as needed.
 * Uses {@link warpAffine}, so large boxes are area-averaged.
 */
export function cropResize(image: RgbImage, box: Box, width: number, height: number): RgbImage {
  const sx = width / box.width;
  const sy = height / box.height;
  // An axis-aligned stretch is an affine map too; warpAffine handles the anisotropic scale via its inverse.
  return warpAffine(image, [sx, 0, -box.x * sx, 0, sy, -box.y * sy], width, height);
}

/** Intersection over union of two boxes. */
export function iou(a: Box, b: Box): number {
  const x1 = Math.max(a.x, b.x);
  const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width);
  const y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union <= 0 ? 0 : inter / union;
}

/** Greedy non-maximum suppression: keeps the best-scored item of every group overlapping by more than `threshold`. */
export function nonMaxSuppression<T extends { box: Box; score: number }>(items: T[], threshold: number): T[] {
  const sorted = [...items].sort((p, q) => q.score - p.score);
  const kept: T[] = [];
  for (const item of sorted) {
    if (kept.every((k) => iou(k.box, item.box) <= threshold)) kept.push(item);
  }
  return kept;
}

/** Euclidean distance between two points. */
export function distance(a: Point, b: Point): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}
