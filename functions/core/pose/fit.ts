/**
 * Camera pose of a face from its 68 landmarks against the generic 3D face: a weighted least-squares
 * scaled-orthographic (weak-perspective) fit. An affine 3D→2D fit, made orthonormal, starts a few Gauss–Newton
 * steps over rotation, scale and translation. Written here because the few lines of 3×3 algebra are smaller than
 * any library for them; at portrait distances weak perspective is within a degree or two of full perspective.
 */
import type { Point } from '../types.ts';
import { genericFace } from './generic-face.ts';
import { POSE_FIT_WEIGHTS } from './ibug.ts';

/** A row-major 3×3 rotation. */
export type Mat3 = [number, number, number, number, number, number, number, number, number];

/** A fitted camera: image point = scale · (rotation · model point)ₓᵧ + translation. */
export interface FittedPose {
  rotation: Mat3;
  scale: number;
  tx: number;
  ty: number;
  /** Degrees; positive = face turned to the image's right (the nose moves right). */
  yaw: number;
  /** Degrees; positive = face tilted up (the nose moves up), negative = seen from above. */
  pitch: number;
  /** Degrees; in-plane tilt. */
  roll: number;
  /** Weighted RMS distance between the landmarks and the fitted projection, in image pixels. */
  rmsError: number;
}

const DEG = Math.PI / 180;

/** Matrix product a·b of two row-major 3×3 matrices. */
export function multiply(a: Mat3, b: Mat3): Mat3 {
  const out = new Array<number>(9).fill(0) as Mat3;
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 3; c++)
      out[r * 3 + c] = a[r * 3]! * b[c]! + a[r * 3 + 1]! * b[3 + c]! + a[r * 3 + 2]! * b[6 + c]!;
  return out;
}

/** Transpose (the inverse, for a rotation). */
export function transpose(m: Mat3): Mat3 {
  return [m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]];
}

/**
 * The rotation of a head at yaw, pitch and roll (degrees): R = Rz(roll) · Rx(pitch) · Ry(yaw), in the generic
 * face's frame (x right, y down, z away from the camera).
 */
export function rotationFromAngles(yawDeg: number, pitchDeg: number, rollDeg = 0): Mat3 {
  const [cy, sy] = [Math.cos(yawDeg * DEG), Math.sin(yawDeg * DEG)];
  const [cx, sx] = [Math.cos(pitchDeg * DEG), Math.sin(pitchDeg * DEG)];
  const [cz, sz] = [Math.cos(rollDeg * DEG), Math.sin(rollDeg * DEG)];
  const ry: Mat3 = [cy, 0, -sy, 0, 1, 0, sy, 0, cy];
  const rx: Mat3 = [1, 0, 0, 0, cx, sx, 0, -sx, cx];
  const rz: Mat3 = [cz, -sz, 0, sz, cz, 0, 0, 0, 1];
  return multiply(rz, multiply(rx, ry));
}

/** Yaw, pitch and roll (degrees) of a rotation made as {@link rotationFromAngles} makes it. */
export function anglesFromRotation(r: Mat3): { yaw: number; pitch: number; roll: number } {
  const pitch = Math.asin(Math.max(-1, Math.min(1, -r[7])));
  return {
    yaw: Math.atan2(r[6], r[8]) / DEG,
    pitch: pitch / DEG,
    roll: Math.atan2(-r[1], r[4]) / DEG,
  };
}

function cross(a: number[], b: number[]): [number, number, number] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

function normalise(v: number[]): number[] {
  const len = Math.hypot(v[0]!, v[1]!, v[2]!) || 1;
  return v.map((x) => x / len);
}

/** Solves the n×n system a·x = b in place (Gaussian elimination with partial pivoting); null when singular. */
function solve(a: number[][], b: number[]): number[] | null {
  const n = b.length;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    if (Math.abs(a[pivot]![col]!) < 1e-12) return null;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    [b[col], b[pivot]] = [b[pivot]!, b[col]!];
    for (let r = col + 1; r < n; r++) {
      const f = a[r]![col]! / a[col]![col]!;
      for (let c = col; c < n; c++) a[r]![c]! -= f * a[col]![c]!;
      b[r]! -= f * b[col]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let c = r + 1; c < n; c++) s -= a[r]![c]! * x[c]!;
    x[r] = s / a[r]![r]!;
  }
  return x;
}

/** Rotation by the vector ω (axis · angle, radians), Rodrigues' formula. */
function rodrigues(w: number[]): Mat3 {
  const theta = Math.hypot(w[0]!, w[1]!, w[2]!);
  if (theta < 1e-12) return [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const [kx, ky, kz] = [w[0]! / theta, w[1]! / theta, w[2]! / theta];
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  const v = 1 - c;
  return [
    c + kx * kx * v,
    kx * ky * v - kz * s,
    kx * kz * v + ky * s,
    ky * kx * v + kz * s,
    c + ky * ky * v,
    ky * kz * v - kx * s,
    kz * kx * v - ky * s,
    kz * ky * v + kx * s,
    c + kz * kz * v,
  ];
}

/**
 * Fits the generic face's camera pose to 68 landmarks (iBUG order, image pixels).
 *
 * @throws Error when there are not 68 points or they are degenerate (all on one line).
 */
export function fitPose(points: readonly Point[], weights: readonly number[] = POSE_FIT_WEIGHTS): FittedPose {
  if (points.length !== 68) throw new Error(`fitPose needs the 68 landmarks, got ${points.length}`);
  const model = genericFace().landmarks;
  const w = (i: number) => weights[i] ?? 1;
  let total = 0;
  let ux = 0;
  let uy = 0;
  const pm = [0, 0, 0];
  for (let i = 0; i < 68; i++) {
    total += w(i);
    ux += w(i) * points[i]!.x;
    uy += w(i) * points[i]!.y;
    for (let c = 0; c < 3; c++) pm[c]! += w(i) * model[i * 3 + c]!;
  }
  ux /= total;
  uy /= total;
  for (let c = 0; c < 3; c++) pm[c]! /= total;
  const p = (i: number, c: number) => model[i * 3 + c]! - pm[c]!;

  // Affine start: M (2×3) = B · A⁻¹ with A = Σ w p pᵀ and B = Σ w u pᵀ.
  const rows: number[][] = [[], []];
  for (let k = 0; k < 2; k++) {
    const a = [0, 1, 2].map((r) => [0, 1, 2].map((c) => 0 * r * c));
    const b = [0, 0, 0];
    for (let i = 0; i < 68; i++) {
      const u = k === 0 ? points[i]!.x - ux : points[i]!.y - uy;
      for (let r = 0; r < 3; r++) {
        b[r]! += w(i) * u * p(i, r);
        for (let c = 0; c < 3; c++) a[r]![c]! += w(i) * p(i, r) * p(i, c);
      }
    }
    const row = solve(a, b);
    if (!row) throw new Error('fitPose: degenerate landmarks');
    rows[k] = row;
  }
  // Nearest scaled rotation: orthonormalise the two rows symmetrically, complete with their cross product.
  const n1 = Math.hypot(...(rows[0] as [number, number, number]));
  const n2 = Math.hypot(...(rows[1] as [number, number, number]));
  let scale = (n1 + n2) / 2;
  const a1 = normalise(rows[0]!);
  const a2 = normalise(rows[1]!);
  const bisector = normalise(a1.map((x, i) => x + a2[i]!));
  const other = normalise(a1.map((x, i) => x - a2[i]!));
  const r1 = normalise(bisector.map((x, i) => x + other[i]!));
  const r2 = normalise(bisector.map((x, i) => x - other[i]!));
  const r3 = cross(r1, r2);
  let rotation: Mat3 = [r1[0]!, r1[1]!, r1[2]!, r2[0]!, r2[1]!, r2[2]!, r3[0], r3[1], r3[2]];
  let tx = ux - scale * (rotation[0] * pm[0]! + rotation[1] * pm[1]! + rotation[2] * pm[2]!);
  let ty = uy - scale * (rotation[3] * pm[0]! + rotation[4] * pm[1]! + rotation[5] * pm[2]!);

  // Gauss–Newton over (ω, scale, tx, ty), rotation updated on the left: R ← exp([ω]×) · R.
  for (let iteration = 0; iteration < 8; iteration++) {
    const jtj = Array.from({ length: 6 }, () => new Array<number>(6).fill(0));
    const jtr = new Array<number>(6).fill(0);
    for (let i = 0; i < 68; i++) {
      const m = [model[i * 3]!, model[i * 3 + 1]!, model[i * 3 + 2]!];
      const q = [0, 1, 2].map(
        (r) => rotation[r * 3]! * m[0]! + rotation[r * 3 + 1]! * m[1]! + rotation[r * 3 + 2]! * m[2]!,
      );
      const res = [scale * q[0]! + tx - points[i]!.x, scale * q[1]! + ty - points[i]!.y];
      // d(ω × q)ₓ/dω = (0, q_z, −q_y); d(ω × q)ᵧ/dω = (−q_z, 0, q_x).
      const jx = [0, scale * q[2]!, -scale * q[1]!, q[0]!, 1, 0];
      const jy = [-scale * q[2]!, 0, scale * q[0]!, q[1]!, 0, 1];
      for (const [j, r] of [
        [jx, res[0]!],
        [jy, res[1]!],
      ] as [number[], number][]) {
        for (let a = 0; a < 6; a++) {
          jtr[a]! += w(i) * j[a]! * r;
          for (let b = 0; b < 6; b++) jtj[a]![b]! += w(i) * j[a]! * j[b]!;
        }
      }
    }
    for (let a = 0; a < 6; a++) jtj[a]![a]! *= 1 + 1e-9;
    const step = solve(
      jtj,
      jtr.map((x) => -x),
    );
    if (!step) break;
    rotation = multiply(rodrigues(step.slice(0, 3)), rotation);
    scale += step[3]!;
    tx += step[4]!;
    ty += step[5]!;
    if (Math.hypot(...step.slice(0, 3)) < 1e-7) break;
  }

  let sq = 0;
  for (let i = 0; i < 68; i++) {
    const m = [model[i * 3]!, model[i * 3 + 1]!, model[i * 3 + 2]!];
    const x = scale * (rotation[0] * m[0]! + rotation[1] * m[1]! + rotation[2] * m[2]!) + tx;
    const y = scale * (rotation[3] * m[0]! + rotation[4] * m[1]! + rotation[5] * m[2]!) + ty;
    sq += w(i) * ((x - points[i]!.x) ** 2 + (y - points[i]!.y) ** 2);
  }
  return { rotation, scale, tx, ty, ...anglesFromRotation(rotation), rmsError: Math.sqrt(sq / total) };
}

/** Projects the generic face's 68 points at a pose (for tests and synthetic checks). */
export function projectLandmarks(rotation: Mat3, scale: number, tx: number, ty: number): Point[] {
  const model = genericFace().landmarks;
  const out: Point[] = [];
  for (let i = 0; i < 68; i++) {
    const m = [model[i * 3]!, model[i * 3 + 1]!, model[i * 3 + 2]!];
    out.push({
      x: scale * (rotation[0] * m[0]! + rotation[1] * m[1]! + rotation[2] * m[2]!) + tx,
      y: scale * (rotation[3] * m[0]! + rotation[4] * m[1]! + rotation[5] * m[2]!) + ty,
    });
  }
  return out;
}
