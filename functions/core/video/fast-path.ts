/**
 * The frame fast path: consecutive frames of one camera change little, so the costly fine pyramid of the
 * detector runs only every N frames, on a scene change, and in small windows around the faces the tracker
 * expects; every other frame pays only for the whole-frame detector.
 */

import { iou } from '../pipeline/geometry.ts';
import type { RgbImage } from '../pipeline/image.ts';
import type { AnalyzeOptions, FacePipeline, FaceWithCrops, Stage } from '../pipeline/pipeline.ts';
import type { Box } from '../types.ts';

/** ULFD's input and its smallest reliable face, as in detect.ts: faces below this need the fine pyramid. */
const ULFD_W = 320;
const ULFD_H = 240;
const ULFD_MIN_FACE = 16;

/**
 * The smallest face (px) the whole-frame detector alone finds in a frame of this size: asking for it as
 * `minFaceSize` makes the detector skip its tiles.
 */
export function fastMinFaceSize(width: number, height: number): number {
  const coarse = Math.min(ULFD_W / width, ULFD_H / height);
  return Math.ceil(ULFD_MIN_FACE / Math.min(1, coarse * 1.25)) + 1;
}

const THUMB = 32;

/** A 32×32 luma thumbnail (nearest sample) for scene-change detection; costs microseconds. */
export function thumbnailOf(image: RgbImage): Uint8Array {
  const out = new Uint8Array(THUMB * THUMB);
  for (let y = 0; y < THUMB; y++) {
    const sy = Math.min(image.height - 1, Math.floor(((y + 0.5) * image.height) / THUMB));
    for (let x = 0; x < THUMB; x++) {
      const sx = Math.min(image.width - 1, Math.floor(((x + 0.5) * image.width) / THUMB));
      const i = (sy * image.width + sx) * 3;
      out[y * THUMB + x] = (image.data[i]! * 77 + image.data[i + 1]! * 150 + image.data[i + 2]! * 29) >> 8;
    }
  }
  return out;
}

/** A cut or a camera move: the mean absolute luma difference of the thumbnails exceeds `threshold` (0–255). */
export function sceneChanged(a: Uint8Array, b: Uint8Array, threshold = 24): boolean {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length > threshold;
}

/** Copies a region of an image (clamped to it). */
export function cropRegion(image: RgbImage, box: Box): { image: RgbImage; x: number; y: number } {
  const x = Math.max(0, Math.floor(box.x));
  const y = Math.max(0, Math.floor(box.y));
  const w = Math.min(image.width - x, Math.ceil(box.width));
  const h = Math.min(image.height - y, Math.ceil(box.height));
  const data = new Uint8Array(Math.max(0, w) * Math.max(0, h) * 3);
  for (let row = 0; row < h; row++) {
    const from = ((y + row) * image.width + x) * 3;
    data.set(image.data.subarray(from, from + w * 3), row * w * 3);
  }
  return { image: { width: Math.max(0, w), height: Math.max(0, h), data }, x, y };
}

function shiftFace(face: FaceWithCrops, dx: number, dy: number): FaceWithCrops {
  const p = (q: { x: number; y: number }) => ({ x: q.x + dx, y: q.y + dy });
  const l = face.landmarks;
  return {
    ...face,
    box: { ...face.box, x: face.box.x + dx, y: face.box.y + dy },
    landmarks: {
      leftEye: p(l.leftEye),
      rightEye: p(l.rightEye),
      nose: p(l.nose),
      mouthLeft: p(l.mouthLeft),
      mouthRight: p(l.mouthRight),
    },
  };
}

/**
 * Looks for the faces of tracks the whole-frame pass missed (small, dark or blurred ones) in windows three times
 * their box, with the full detector, and returns the faces it adds (fully described) to the `found` boxes. A
 * window is searched for faces of at least half its track's size and never on a padded copy, so it costs one
 * whole-window pass, not a pyramid.
 */
export async function searchAroundTracks(
  pipeline: FacePipeline,
  image: RgbImage,
  predicted: readonly Box[],
  found: readonly Box[],
  options: AnalyzeOptions,
  timings: Record<Stage, number>,
): Promise<FaceWithCrops[]> {
  const boxes = [...found];
  const added: FaceWithCrops[] = [];
  for (const box of predicted) {
    if (boxes.some((b) => iou(b, box) > 0.3)) continue;
    const side = Math.max(box.width, box.height) * 3;
    const window = cropRegion(image, {
      x: box.x + box.width / 2 - side / 2,
      y: box.y + box.height / 2 - side / 2,
      width: side,
      height: side,
    });
    if (window.image.width < 16 || window.image.height < 16) continue;
    const minFaceSize = Math.max(
      options.detect.minFaceSize,
      Math.floor(Math.min(box.width, box.height) * 0.5),
    );
    const local = await pipeline.analyzeImage(
      window.image,
      { ...options, detect: { ...options.detect, minFaceSize, searchPadded: false } },
      timings,
    );
    for (const face of local) {
      const shifted = shiftFace(face, window.x, window.y);
      if (boxes.some((b) => iou(b, shifted.box) > 0.3)) continue;
      boxes.push(shifted.box);
      added.push(shifted);
    }
  }
  return added;
}
