/**
 * Novel views of a face from one photo (after Hassner et al. 2015, "Effective face frontalization in
 * unconstrained images", with one generic 3D face): the generic mesh is posed onto the photo's 68 landmarks
 * ({@link fitPose}), bent in the image plane so that its landmarks land exactly on the photo's (the fit's
 * residuals, spread smoothly over the mesh: the person's own 2D shape), turned to the asked yaw and pitch, and
 * drawn triangle by triangle with a depth buffer, each pixel's colour read from the photo where its point was.
 * Where the photo saw a point edge-on or not at all (the far side of a turned head), the colour comes from the
 * mirror point on the other half of the face. The view is then aligned to the ArcFace 112×112 template by its
 * own five points, as a probe at that pose would be. Pixels outside the mesh keep the photo's aligned crop.
 *
 * Hand-written on raw RGB buffers (no GPU, no rasteriser library in this codebase's dependencies): about 2 ms a
 * view (`npm run bench:pose`).
 */

import {
  type Affine,
  ARCFACE_TEMPLATE_112,
  similarityTransform,
  transformPoint,
  warpAffine,
} from '../pipeline/geometry.ts';
import type { RgbImage } from '../pipeline/image.ts';
import { fivePointsFrom68, type Landmarks68 } from '../pipeline/landmarks.ts';
import { ALIGNMENT_WEIGHTS, alignmentTransform } from '../pipeline/pipeline.ts';
import type { Point } from '../types.ts';
import { type FittedPose, fitPose, type Mat3, multiply, rotationFromAngles, transpose } from './fit.ts';
import { genericFace } from './generic-face.ts';

/** Output side: the embedder's aligned crop. */
const SIZE = 112;
/** Border of the working frame around the aligned crop, so a turned head can show what lay outside it. */
const MARGIN = 40;
const FRAME = SIZE + 2 * MARGIN;

/** A photo prepared for rendering: its face in an aligned working frame and the fitted, personalised mesh. */
export interface PoseSource {
  /** The face, aligned as the embedder's crop is, with {@link MARGIN} px more on every side. */
  frame: RgbImage;
  /** The fitted camera (in working-frame pixels). */
  pose: FittedPose;
  /** Mesh vertices in the source camera frame, working-frame pixels (x, y on the photo; z depth). */
  vertices: Float64Array;
  /** The 68 landmarks in the same frame. */
  landmarks: Float64Array;
  /** Per vertex, how squarely the photo saw it: 0 (edge-on or hidden) … 1. */
  visibility: Float64Array;
}

function toFrame(m: Affine): Affine {
  return [m[0], m[1], m[2] + MARGIN, m[3], m[4], m[5] + MARGIN];
}

/**
 * Prepares a photo for {@link renderView}: cuts the aligned working frame out of `image`, fits the generic
 * face to the 68 landmarks (image pixels) and personalises the mesh.
 */
export function preparePoseSource(image: RgbImage, landmarks68: Landmarks68): PoseSource {
  const face = genericFace();
  const toWork = toFrame(alignmentTransform(fivePointsFrom68(landmarks68)));
  const frame = warpAffine(image, toWork, FRAME, FRAME);
  const points = landmarks68.map((p) => transformPoint(toWork, p));
  const pose = fitPose(points);
  const r = pose.rotation;
  const s = pose.scale;
  const place = (m: Float64Array, i: number, out: Float64Array) => {
    const [x, y, z] = [m[i * 3]!, m[i * 3 + 1]!, m[i * 3 + 2]!];
    out[i * 3] = s * (r[0] * x + r[1] * y + r[2] * z) + pose.tx;
    out[i * 3 + 1] = s * (r[3] * x + r[4] * y + r[5] * z) + pose.ty;
    out[i * 3 + 2] = s * (r[6] * x + r[7] * y + r[8] * z);
  };
  const landmarks = new Float64Array(68 * 3);
  const residual = new Float64Array(68 * 2);
  for (let i = 0; i < 68; i++) {
    place(face.landmarks, i, landmarks);
    residual[i * 2] = points[i]!.x - landmarks[i * 3]!;
    residual[i * 2 + 1] = points[i]!.y - landmarks[i * 3 + 1]!;
    landmarks[i * 3] = points[i]!.x;
    landmarks[i * 3 + 1] = points[i]!.y;
  }
  const n = face.vertices.length / 3;
  const vertices = new Float64Array(n * 3);
  const visibility = new Float64Array(n);
  for (let v = 0; v < n; v++) {
    place(face.vertices, v, vertices);
    let dx = 0;
    let dy = 0;
    for (let j = 0; j < 68; j++) {
      const w = face.residualWeights[v * 68 + j]!;
      dx += w * residual[j * 2]!;
      dy += w * residual[j * 2 + 1]!;
    }
    vertices[v * 3]! += dx;
    vertices[v * 3 + 1]! += dy;
    const nz =
      r[6] * face.normals[v * 3]! + r[7] * face.normals[v * 3 + 1]! + r[8] * face.normals[v * 3 + 2]!;
    // Facing the camera is nz = −1; beyond ~70° from it, texture is smeared and the mirror side is better.
    visibility[v] = Math.max(0, Math.min(1, (-nz - 0.2) / 0.35));
  }
  return { frame, pose, vertices, landmarks, visibility };
}

function sample(frame: RgbImage, x: number, y: number, out: Float64Array, o: number, weight: number): void {
  const w = frame.width;
  const h = frame.height;
  const cx = Math.max(0, Math.min(w - 1.001, x));
  const cy = Math.max(0, Math.min(h - 1.001, y));
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const fx = cx - x0;
  const fy = cy - y0;
  const d = frame.data;
  const i00 = (y0 * w + x0) * 3;
  const i10 = i00 + 3;
  const i01 = i00 + w * 3;
  const i11 = i01 + 3;
  for (let c = 0; c < 3; c++) {
    const top = d[i00 + c]! * (1 - fx) + d[i10 + c]! * fx;
    const bottom = d[i01 + c]! * (1 - fx) + d[i11 + c]! * fx;
    out[o + c]! += weight * (top * (1 - fy) + bottom * fy);
  }
}

/**
 * Renders the prepared face at an absolute head pose (degrees; yaw > 0 turned to the image's right, pitch < 0
 * seen from above), aligned to the embedder's 112×112 template. Every pixel is written (the photo's aligned crop
 * behind the face) and every value is a convex combination of photo pixels, so a view has no holes and no
 * out-of-range values.
 */
export function renderView(source: PoseSource, yaw: number, pitch: number): RgbImage {
  const face = genericFace();
  const { frame, vertices, landmarks, visibility } = source;
  // Turn about the landmarks' centre: target = Δ · (p − c) + c with Δ = R(target) · R(source)ᵀ.
  const delta: Mat3 = multiply(
    rotationFromAngles(yaw, pitch, source.pose.roll),
    transpose(source.pose.rotation),
  );
  let cx = 0;
  let cy = 0;
  let cz = 0;
  for (let i = 0; i < 68; i++) {
    cx += landmarks[i * 3]! / 68;
    cy += landmarks[i * 3 + 1]! / 68;
    cz += landmarks[i * 3 + 2]! / 68;
  }
  const turn = (m: Float64Array, i: number): [number, number, number] => {
    const x = m[i * 3]! - cx;
    const y = m[i * 3 + 1]! - cy;
    const z = m[i * 3 + 2]! - cz;
    return [
      delta[0] * x + delta[1] * y + delta[2] * z + cx,
      delta[3] * x + delta[4] * y + delta[5] * z + cy,
      delta[6] * x + delta[7] * y + delta[8] * z + cz,
    ];
  };
  // Align the turned face by its own five points, as the pipeline aligns a probe.
  const turnedLandmarks: Point[] = [];
  for (let i = 0; i < 68; i++) {
    const [x, y] = turn(landmarks, i);
    turnedLandmarks.push({ x, y });
  }
  const five = fivePointsFrom68(turnedLandmarks);
  const align = similarityTransform(
    [five.leftEye, five.rightEye, five.nose, five.mouthLeft, five.mouthRight],
    ARCFACE_TEMPLATE_112,
    ALIGNMENT_WEIGHTS,
  );
  const n = vertices.length / 3;
  const ox = new Float64Array(n);
  const oy = new Float64Array(n);
  const oz = new Float64Array(n);
  const zScale = Math.hypot(align[0], align[3]);
  for (let v = 0; v < n; v++) {
    if (v >= face.pinnedFrom) {
      // Pinned where the background crop has it, behind everything else.
      ox[v] = vertices[v * 3]! - MARGIN;
      oy[v] = vertices[v * 3 + 1]! - MARGIN;
      oz[v] = 1e9;
      continue;
    }
    const [x, y, z] = turn(vertices, v);
    ox[v] = align[0] * x + align[1] * y + align[2];
    oy[v] = align[3] * x + align[4] * y + align[5];
    oz[v] = z * zScale;
  }

  // Background: the photo's own aligned crop.
  const out = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    const from = ((y + MARGIN) * FRAME + MARGIN) * 3;
    out.set(frame.data.subarray(from, from + SIZE * 3), y * SIZE * 3);
  }
  const depth = new Float64Array(SIZE * SIZE).fill(Number.POSITIVE_INFINITY);
  const colour = new Float64Array(3);
  const { triangles, mirror } = face;
  for (let t = 0; t < triangles.length; t += 3) {
    const a = triangles[t]!;
    const b = triangles[t + 1]!;
    const c = triangles[t + 2]!;
    const area = (ox[b]! - ox[a]!) * (oy[c]! - oy[a]!) - (ox[c]! - ox[a]!) * (oy[b]! - oy[a]!);
    if (Math.abs(area) < 1e-9) continue;
    const minX = Math.max(0, Math.ceil(Math.min(ox[a]!, ox[b]!, ox[c]!)));
    const maxX = Math.min(SIZE - 1, Math.floor(Math.max(ox[a]!, ox[b]!, ox[c]!)));
    const minY = Math.max(0, Math.ceil(Math.min(oy[a]!, oy[b]!, oy[c]!)));
    const maxY = Math.min(SIZE - 1, Math.floor(Math.max(oy[a]!, oy[b]!, oy[c]!)));
    if (minX > maxX || minY > maxY) continue;
    const [ma, mb, mc] = [mirror[a]!, mirror[b]!, mirror[c]!];
    for (let y = minY; y <= maxY; y++) {
      for (let x = minX; x <= maxX; x++) {
        const l1 = ((ox[b]! - x) * (oy[c]! - y) - (ox[c]! - x) * (oy[b]! - y)) / area;
        const l2 = ((ox[c]! - x) * (oy[a]! - y) - (ox[a]! - x) * (oy[c]! - y)) / area;
        const l3 = 1 - l1 - l2;
        if (l1 < -1e-9 || l2 < -1e-9 || l3 < -1e-9) continue;
        const z = l1 * oz[a]! + l2 * oz[b]! + l3 * oz[c]!;
        const p = y * SIZE + x;
        if (z >= depth[p]!) continue;
        depth[p] = z;
        const seen = l1 * visibility[a]! + l2 * visibility[b]! + l3 * visibility[c]!;
        const seenMirror = l1 * visibility[ma]! + l2 * visibility[mb]! + l3 * visibility[mc]!;
        // The mirror side only stands in for what the photo saw badly, and only where it saw better.
        const own = seen >= 1 || seenMirror <= seen ? 1 : seen / (seen + (1 - seen) * seenMirror);
        colour.fill(0);
        sample(
          frame,
          l1 * vertices[a * 3]! + l2 * vertices[b * 3]! + l3 * vertices[c * 3]!,
          l1 * vertices[a * 3 + 1]! + l2 * vertices[b * 3 + 1]! + l3 * vertices[c * 3 + 1]!,
          colour,
          0,
          own,
        );
        if (own < 1) {
          sample(
            frame,
            l1 * vertices[ma * 3]! + l2 * vertices[mb * 3]! + l3 * vertices[mc * 3]!,
            l1 * vertices[ma * 3 + 1]! + l2 * vertices[mb * 3 + 1]! + l3 * vertices[mc * 3 + 1]!,
            colour,
            0,
            1 - own,
          );
        }
        const o = p * 3;
        out[o] = Math.round(colour[0]!);
        out[o + 1] = Math.round(colour[1]!);
        out[o + 2] = Math.round(colour[2]!);
      }
    }
  }
  return { width: SIZE, height: SIZE, data: out };
}

/** Renders several views of one photo (the fit and the working frame are made once). */
export function renderViews(
  image: RgbImage,
  landmarks68: Landmarks68,
  poses: readonly { yaw: number; pitch: number }[],
): { source: PoseSource; views: RgbImage[] } {
  const source = preparePoseSource(image, landmarks68);
  return { source, views: poses.map((p) => renderView(source, p.yaw, p.pitch)) };
}
