/**
 * The generic 3D face (MediaPipe's canonical face mesh with the 68 iBUG points on it; source and licence in
 * `generic-face-data.ts`) in the shapes the fit and the renderer use, plus what is derived from it once: vertex
 * normals, and the weights that spread the 68 landmarks' fitting residuals over the mesh's vertices.
 *
 * Frame: x to the image's right, y down, z away from the camera (right-handed), centimetres, centred on the
 * mean of the 68 points.
 */
import { LANDMARKS_68, MESH_MIRROR, MESH_TRIANGLES, MESH_VERTICES } from './generic-face-data.ts';

export interface GenericFace {
  /** x, y, z per vertex. */
  vertices: Float64Array;
  /** Three vertex indices per triangle. */
  triangles: Uint16Array;
  /** Each vertex's left–right mirror vertex. */
  mirror: Uint16Array;
  /** Outward unit normal per vertex (x, y, z); the face's front points towards −z. */
  normals: Float64Array;
  /** The 68 iBUG points (x, y, z). */
  landmarks: Float64Array;
  /**
   * Row-normalised weights (vertex-major, 68 per vertex) of each landmark in a vertex's share of the fit's
   * residuals: a Gaussian of the frontal (x, y) distance, σ = {@link RESIDUAL_SIGMA_CM}.
   */
  residualWeights: Float64Array;
  /**
   * Vertices from this index on are the skirt's outermost ring: a view pins them where the photo had them, so
   * the turned face joins the unturned surroundings without a seam.
   */
  pinnedFrom: number;
}

/** Reach of a landmark's residual over the mesh (cm): about an eye's width. */
export const RESIDUAL_SIGMA_CM = 1.5;

function build(): GenericFace {
  const raw = Float64Array.from(MESH_VERTICES);
  const landmarks = Float64Array.from(LANDMARKS_68);
  const n = raw.length / 3;
  const centre = [0, 0, 0];
  for (let i = 0; i < 68; i++) for (let c = 0; c < 3; c++) centre[c]! += landmarks[i * 3 + c]! / 68;
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) raw[i * 3 + c]! -= centre[c]!;
  for (let i = 0; i < 68; i++) for (let c = 0; c < 3; c++) landmarks[i * 3 + c]! -= centre[c]!;
  const { vertices: extended, triangles, mirror, pinnedFrom } = withSkirt(raw, MESH_TRIANGLES, MESH_MIRROR);
  return { ...finish(extended, triangles, mirror, landmarks), pinnedFrom };
}

/** Rings around the mesh's outline, each {@link SKIRT_RINGS} step further out and further back. */
const SKIRT_RINGS: readonly { spread: number; back: number }[] = [
  { spread: 1.25, back: 1.5 },
  { spread: 1.7, back: 3.5 },
];

/**
 * Adds a skirt to the mesh: rings of vertices outside its outline (the hair, ears and neck around a face),
 * joined to it by triangle strips, so that a turned head carries its surroundings with it instead of leaving a
 * seam against the unturned background.
 */
function withSkirt(
  vertices: Float64Array,
  triangleList: readonly number[],
  mirrorList: readonly number[],
): { vertices: Float64Array; triangles: Uint16Array; mirror: Uint16Array; pinnedFrom: number } {
  const edgeUse = new Map<string, number>();
  const next = new Map<number, number>();
  for (let t = 0; t < triangleList.length; t += 3) {
    for (let k = 0; k < 3; k++) {
      const a = triangleList[t + k]!;
      const b = triangleList[t + ((k + 1) % 3)]!;
      const key = a < b ? `${a},${b}` : `${b},${a}`;
      edgeUse.set(key, (edgeUse.get(key) ?? 0) + 1);
    }
  }
  for (let t = 0; t < triangleList.length; t += 3) {
    for (let k = 0; k < 3; k++) {
      const a = triangleList[t + k]!;
      const b = triangleList[t + ((k + 1) % 3)]!;
      if (edgeUse.get(a < b ? `${a},${b}` : `${b},${a}`) === 1) next.set(a, b);
    }
  }
  // The outline is the longest boundary loop (the others ring the eyes and the mouth).
  let outline: number[] = [];
  const seen = new Set<number>();
  for (const start of next.keys()) {
    if (seen.has(start)) continue;
    const loop: number[] = [];
    for (let v: number | undefined = start; v !== undefined && !seen.has(v); v = next.get(v)) {
      seen.add(v);
      loop.push(v);
    }
    if (loop.length > outline.length) outline = loop;
  }
  const n = vertices.length / 3;
  const count = outline.length;
  const out = new Float64Array((n + count * SKIRT_RINGS.length) * 3);
  out.set(vertices);
  const triangles = [...triangleList];
  const mirror = [...mirrorList];
  const position = new Map(outline.map((v, i) => [v, i]));
  SKIRT_RINGS.forEach((ring, r) => {
    for (let i = 0; i < count; i++) {
      const b = outline[i]!;
      const o = (n + r * count + i) * 3;
      out[o] = vertices[b * 3]! * ring.spread;
      out[o + 1] = vertices[b * 3 + 1]! * ring.spread;
      out[o + 2] = vertices[b * 3 + 2]! + ring.back;
      // The mirror of a skirt vertex is the skirt vertex of the outline vertex's mirror.
      const m = position.get(mirrorList[b]!);
      mirror.push(m === undefined ? n + r * count + i : n + r * count + m);
    }
    const inner = (i: number) => (r === 0 ? outline[i % count]! : n + (r - 1) * count + (i % count));
    const outer = (i: number) => n + r * count + (i % count);
    for (let i = 0; i < count; i++) {
      triangles.push(inner(i), inner(i + 1), outer(i + 1), inner(i), outer(i + 1), outer(i));
    }
  });
  return {
    vertices: out,
    triangles: Uint16Array.from(triangles),
    mirror: Uint16Array.from(mirror),
    pinnedFrom: n + count * (SKIRT_RINGS.length - 1),
  };
}

function finish(
  raw: Float64Array,
  triangles: Uint16Array,
  mirror: Uint16Array,
  landmarks: Float64Array,
): Omit<GenericFace, 'pinnedFrom'> {
  const n = raw.length / 3;

  // Area-weighted vertex normals, oriented so that the nose tip's points at the camera (−z).
  const normals = new Float64Array(n * 3);
  for (let t = 0; t < triangles.length; t += 3) {
    const [a, b, c] = [triangles[t]! * 3, triangles[t + 1]! * 3, triangles[t + 2]! * 3];
    const u = [raw[b]! - raw[a]!, raw[b + 1]! - raw[a + 1]!, raw[b + 2]! - raw[a + 2]!];
    const v = [raw[c]! - raw[a]!, raw[c + 1]! - raw[a + 1]!, raw[c + 2]! - raw[a + 2]!];
    const nx = u[1]! * v[2]! - u[2]! * v[1]!;
    const ny = u[2]! * v[0]! - u[0]! * v[2]!;
    const nz = u[0]! * v[1]! - u[1]! * v[0]!;
    for (const k of [a, b, c]) {
      normals[k]! += nx;
      normals[k + 1]! += ny;
      normals[k + 2]! += nz;
    }
  }
  let nose = 0;
  for (let i = 0; i < n; i++) if (raw[i * 3 + 2]! < raw[nose * 3 + 2]!) nose = i;
  const sign = normals[nose * 3 + 2]! < 0 ? 1 : -1;
  for (let i = 0; i < n; i++) {
    const len = Math.hypot(normals[i * 3]!, normals[i * 3 + 1]!, normals[i * 3 + 2]!) || 1;
    for (let c = 0; c < 3; c++) normals[i * 3 + c] = (sign * normals[i * 3 + c]!) / len;
  }

  const residualWeights = new Float64Array(n * 68);
  const twoSigma2 = 2 * RESIDUAL_SIGMA_CM * RESIDUAL_SIGMA_CM;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    let nearest = 0;
    let nearestD = Number.POSITIVE_INFINITY;
    for (let j = 0; j < 68; j++) {
      const d2 = (raw[i * 3]! - landmarks[j * 3]!) ** 2 + (raw[i * 3 + 1]! - landmarks[j * 3 + 1]!) ** 2;
      if (d2 < nearestD) {
        nearestD = d2;
        nearest = j;
      }
      const w = Math.exp(-d2 / twoSigma2);
      residualWeights[i * 68 + j] = w;
      sum += w;
    }
    if (sum < 1e-12) {
      // Far from every landmark (the top of the forehead): follow the nearest one.
      residualWeights[i * 68 + nearest] = 1;
      sum = 1;
    }
    for (let j = 0; j < 68; j++) residualWeights[i * 68 + j]! /= sum;
  }
  return {
    vertices: raw,
    triangles,
    mirror,
    normals,
    landmarks,
    residualWeights,
  };
}

/** The generic face, built on first use. */
let cached: GenericFace | undefined;

/** The generic 3D face (built once per process, ~1 ms). */
export function genericFace(): GenericFace {
  cached ??= build();
  return cached;
}
