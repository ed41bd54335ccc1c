import type { Box, FiveLandmarks, Point } from '../types.ts';
import { type Affine, invertAffine, transformPoint, warpAffine } from './geometry.ts';
import type { RgbImage } from './image.ts';
import { type OnnxBackend, output } from './models.ts';

const SIZE = 64;

/** The 68 points (iBUG 300-W order) in source pixels. */
export type Landmarks68 = Point[];

/**
 * Runs the 68-point landmark model on a face box: the box is cut out, stretched to 64×64 grey and scaled to
 * 0–1 (value / 256), as the model was trained; its outputs are in box units. With `roll` (radians), the crop is
 * first turned about the box centre so that a tilted head appears upright, which the model handles far better.
 */
export async function predictLandmarks68(
  backend: OnnxBackend,
  image: RgbImage,
  box: Box,
  roll = 0,
): Promise<Landmarks68> {
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const sx = SIZE / box.width;
  const sy = SIZE / box.height;
  const cos = Math.cos(-roll);
  const sin = Math.sin(-roll);
  // Source → crop: rotate by −roll about the box centre, then stretch the box onto 64×64.
  const toCrop: Affine = [
    sx * cos,
    -sx * sin,
    SIZE / 2 - sx * (cos * cx - sin * cy),
    sy * sin,
    sy * cos,
    SIZE / 2 - sy * (sin * cx + cos * cy),
  ];
  const crop = warpAffine(image, toCrop, SIZE, SIZE);
  const input = new Float32Array(SIZE * SIZE);
  for (let i = 0; i < input.length; i++) {
    const r = crop.data[i * 3]!;
    const g = crop.data[i * 3 + 1]!;
    const b = crop.data[i * 3 + 2]!;
    input[i] = (0.299 * r + 0.587 * g + 0.114 * b) / 256;
  }
  const model = backend.pack.landmarks?.model ?? 'pfld-68';
  const raw = output(await backend.run(model, input, [1, 1, SIZE, SIZE]), model, 'output');
  const toSource = invertAffine(toCrop);
  const points: Point[] = [];
  for (let i = 0; i < 68; i++)
    points.push(transformPoint(toSource, { x: raw[i * 2]! * SIZE, y: raw[i * 2 + 1]! * SIZE }));
  return points;
}

function mean(points: Point[], indices: number[]): Point {
  let x = 0;
  let y = 0;
  for (const i of indices) {
    x += points[i]!.x;
    y += points[i]!.y;
  }
  return { x: x / indices.length, y: y / indices.length };
}

/** The head's in-plane tilt (radians) from the eye line of a 68-point set. */
export function rollOf(points: Landmarks68): number {
  const left = mean(points, [36, 37, 38, 39, 40, 41]);
  const right = mean(points, [42, 43, 44, 45, 46, 47]);
  return Math.atan2(right.y - left.y, right.x - left.x);
}

/** Reduces 68 points to the five alignment points: eye centres, nose tip, mouth corners (outer and inner lip averaged). */
export function fivePointsFrom68(points: Landmarks68): FiveLandmarks {
  return {
    leftEye: mean(points, [36, 37, 38, 39, 40, 41]),
    rightEye: mean(points, [42, 43, 44, 45, 46, 47]),
    nose: mean(points, [30]),
    mouthLeft: mean(points, [48, 60]),
    mouthRight: mean(points, [54, 64]),
  };
}
