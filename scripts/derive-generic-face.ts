/**
 * Derives `functions/core/pose/generic-face-data.ts`, the generic 3D face that pose synthesis fits to a photo:
 *
 * 1. The dense mesh is MediaPipe's canonical face model (468 vertices, 898 triangles, centimetres), read from
 *    `geometry_pipeline_metadata_landmarks.binarypb` inside the npm package `@mediapipe/face_mesh` (Apache-2.0).
 *    Unpack it first: `npm pack @mediapipe/face_mesh@0.4.1657299874` in a temporary folder and `tar xzf` it;
 *    the package itself is never committed.
 * 2. The 68 iBUG points are where Faceprint's own landmark model (pfld-68) puts them on frontal faces: the mean,
 *    in the ArcFace-aligned frame, of the 68 landmarks of frontal lfw-dev gallery photos (head-pose model
 *    |yaw|, |pitch| < 8°), made left–right symmetric, then carried into the mesh's frame by a similarity fit on
 *    eight anchors whose MediaPipe vertices are unambiguous (eye corners, mouth corners, nose tip, chin). Each
 *    point's depth is the depth of the mesh's front surface under it.
 *
 *   node scripts/derive-generic-face.ts <unpacked package folder> [lfw-dev root] [photos]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { similarityTransform, transformPoint } from '../functions/core/pipeline/geometry.ts';
import { decodeImage } from '../functions/core/pipeline/image.ts';
import { fivePointsFrom68 } from '../functions/core/pipeline/landmarks.ts';
import { alignmentTransform, FacePipeline, resolveOptions } from '../functions/core/pipeline/pipeline.ts';
import { IBUG_MIRROR } from '../functions/core/pose/ibug.ts';
import { scanDataset } from '../functions/eval/dataset.ts';

const [packageDir, lfwRoot = resolve('..', 'shared', 'data', 'lfw-dev'), photos = '400'] =
  process.argv.slice(2);
if (!packageDir)
  throw new Error('usage: derive-generic-face.ts <unpacked @mediapipe/face_mesh> [lfw-dev] [photos]');

// --- 1. The canonical mesh from the packed assets (protobuf wire format, parsed by hand: three fields). ---
const loader = readFileSync(join(packageDir, 'face_mesh_solution_packed_assets_loader.js'), 'utf8');
const entry =
  /"filename": "[^"]*geometry_pipeline_metadata_landmarks\.binarypb", "start": (\d+), "end": (\d+)/.exec(
    loader,
  );
if (!entry) throw new Error('geometry_pipeline_metadata_landmarks.binarypb is not in the package');
const blob = readFileSync(join(packageDir, 'face_mesh_solution_packed_assets.data')).subarray(
  Number(entry[1]),
  Number(entry[2]),
);
type Field = { field: number; wire: number; value: number | Buffer };
function varint(buf: Buffer, at: number): [number, number] {
  let result = 0;
  let shift = 1;
  let p = at;
  for (;;) {
    const byte = buf[p++] as number;
    result += (byte & 0x7f) * shift;
    shift *= 128;
    if (!(byte & 0x80)) return [result, p];
  }
}
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let p = 0;
  while (p < buf.length) {
    const [key, next] = varint(buf, p);
    p = next;
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      const [v, q] = varint(buf, p);
      out.push({ field, wire, value: v });
      p = q;
    } else if (wire === 2) {
      const [length, q] = varint(buf, p);
      out.push({ field, wire, value: buf.subarray(q, q + length) });
      p = q + length;
    } else if (wire === 5) {
      out.push({ field, wire, value: buf.readFloatLE(p) });
      p += 4;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}
// GeometryPipelineMetadata.canonical_mesh = 1; Mesh3d.vertex_buffer = 3 (x, y, z, u, v), index_buffer = 4.
const mesh = fields(fields(blob).find((f) => f.field === 1)?.value as Buffer);
const buffer = mesh.filter((f) => f.field === 3).map((f) => f.value as number);
const indices: number[] = [];
for (const f of mesh.filter((m) => m.field === 4)) {
  if (f.wire === 0) indices.push(f.value as number);
  else {
    const packed = f.value as Buffer;
    for (let p = 0; p < packed.length; ) {
      const [v, q] = varint(packed, p);
      indices.push(v);
      p = q;
    }
  }
}
// MediaPipe: y up, z towards the viewer. Ours: image axes (x right, y down), z away from the camera.
const vertices: [number, number, number][] = [];
for (let i = 0; i < buffer.length; i += 5)
  vertices.push([buffer[i] as number, -(buffer[i + 1] as number), -(buffer[i + 2] as number)]);
console.log(`canonical mesh: ${vertices.length} vertices, ${indices.length / 3} triangles`);

// --- 2. Mean frontal pfld-68 landmarks in the aligned frame. ---
const dataset = scanDataset(lfwRoot);
const pipeline = new FacePipeline({ threads: 0 });
const options = resolveOptions({ keepCrops: true, pose: true });
const sum = Array.from({ length: 68 }, () => ({ x: 0, y: 0 }));
let used = 0;
for (const identity of dataset.identities.slice(0, Number(photos))) {
  const path = identity.images[0];
  if (!path) continue;
  const image = await decodeImage(readFileSync(path));
  const faces = await pipeline.analyzeImage(image, options);
  const face = faces.sort((a, b) => b.box.width - a.box.width)[0];
  const l68 = face?.crops?.landmarks68;
  if (!face || !l68 || Math.abs(face.pose.yaw) > 8 || Math.abs(face.pose.pitch) > 8) continue;
  const align = alignmentTransform(fivePointsFrom68(l68));
  l68.forEach((p, i) => {
    const q = transformPoint(align, p);
    sum[i]!.x += q.x;
    sum[i]!.y += q.y;
  });
  used += 1;
}
await pipeline.dispose();
const mean = sum.map((p) => ({ x: p.x / used, y: p.y / used }));
// Symmetric about the vertical line through the eye and mouth midpoints.
const axis = (mean[39]!.x + mean[42]!.x + mean[48]!.x + mean[54]!.x + mean[36]!.x + mean[45]!.x) / 6;
const symmetric = mean.map((p, i) => {
  const m = mean[IBUG_MIRROR[i] as number]!;
  return { x: (p.x + 2 * axis - m.x) / 2, y: (p.y + m.y) / 2 };
});
console.log(`mean landmarks of ${used} frontal photos`);

// --- 3. Into the mesh frame: similarity fit on unambiguous anchors, then the front surface's depth. ---
const ANCHORS: [number, number][] = [
  [36, 33],
  [39, 133],
  [42, 362],
  [45, 263],
  [48, 61],
  [54, 291],
  [30, 4],
  [8, 152],
];
const toMesh = similarityTransform(
  ANCHORS.map(([i]) => symmetric[i]!),
  ANCHORS.map(([, v]) => ({ x: vertices[v]![0], y: vertices[v]![1] })),
);
function frontDepth(x: number, y: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let t = 0; t < indices.length; t += 3) {
    const [a, b, c] = [vertices[indices[t]!]!, vertices[indices[t + 1]!]!, vertices[indices[t + 2]!]!];
    const det = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
    if (Math.abs(det) < 1e-9) continue;
    const l1 = ((b[1] - c[1]) * (x - c[0]) + (c[0] - b[0]) * (y - c[1])) / det;
    const l2 = ((c[1] - a[1]) * (x - c[0]) + (a[0] - c[0]) * (y - c[1])) / det;
    const l3 = 1 - l1 - l2;
    if (l1 < -1e-6 || l2 < -1e-6 || l3 < -1e-6) continue;
    best = Math.min(best, l1 * a[2] + l2 * b[2] + l3 * c[2]);
  }
  if (Number.isFinite(best)) return best;
  // Outside the mesh (the jaw line can be): the nearest vertex's depth.
  let nearest = vertices[0]!;
  for (const v of vertices)
    if (Math.hypot(v[0] - x, v[1] - y) < Math.hypot(nearest[0] - x, nearest[1] - y)) nearest = v;
  return nearest[2];
}
const landmarks = symmetric.map((p) => {
  const q = transformPoint(toMesh, p);
  return [q.x, q.y, frontDepth(q.x, q.y)] as [number, number, number];
});
const mirror = vertices.map((v) => {
  let best = 0;
  let bestDistance = Number.POSITIVE_INFINITY;
  vertices.forEach((w, j) => {
    const d = Math.hypot(w[0] + v[0], w[1] - v[1], w[2] - v[2]);
    if (d < bestDistance) {
      bestDistance = d;
      best = j;
    }
  });
  return best;
});

const f = (x: number) => (Math.round(x * 1000) / 1000).toString();
const header = `/**
 * The generic 3D face of pose synthesis. GENERATED by scripts/derive-generic-face.ts; do not edit by hand.
 *
 * Source and licence:
 * - MESH_VERTICES and MESH_TRIANGLES: MediaPipe's canonical face model (468 vertices, 898 triangles, in cm),
 *   from mediapipe/modules/face_geometry/data/geometry_pipeline_metadata_landmarks.binarypb as shipped in the npm
 *   package @mediapipe/face_mesh@0.4.1657299874. Copyright Google LLC, Apache License 2.0
 *   (http://www.apache.org/licenses/LICENSE-2.0). Changed: axes turned to image axes (x right, y down, z away
 *   from the camera); texture coordinates dropped.
 * - LANDMARKS_68 (iBUG 300-W order, same frame): x, y are the mean pfld-68 landmarks of ${used} frontal lfw-dev
 *   photos (Faceprint's own measurement, Apache-2.0 like the rest of Faceprint), made symmetric and fitted to
 *   the mesh on eight anchor vertices; z is the depth of the mesh's front surface under each point.
 * - MESH_MIRROR: for each vertex, the index of its left–right mirror vertex.
 */
// biome-ignore-all lint/suspicious/noApproximativeNumericConstant: generated data, not hand-written constants\n`;
const body = `// biome-ignore format: generated data
export const MESH_VERTICES: readonly number[] = [${vertices.map((v) => v.map(f).join(',')).join(',')}];

// biome-ignore format: generated data
export const MESH_TRIANGLES: readonly number[] = [${indices.join(',')}];

// biome-ignore format: generated data
export const MESH_MIRROR: readonly number[] = [${mirror.join(',')}];

// biome-ignore format: generated data
export const LANDMARKS_68: readonly number[] = [${landmarks.map((v) => v.map(f).join(',')).join(',')}];
`;
writeFileSync(resolve('functions/core/pose/generic-face-data.ts'), header + body);
console.log('wrote functions/core/pose/generic-face-data.ts');
