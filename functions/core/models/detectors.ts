/**
 * Decoders for the two common five-keypoint detector families of user model packs, so an InsightFace-style pack
 * (SCRFD `det_10g`, `det_2.5g`, …) or a RetinaFace export runs without code:
 *
 * - **SCRFD** (anchor-free, per stride: scores, distance-to-border boxes, keypoint offsets, each in units of the
 *   stride, `anchorsPerCell` anchors per grid cell), as InsightFace's `scrfd.py` decodes it;
 * - **RetinaFace** (prior boxes per stride and `minSizes`, SSD-style `variance` encoding of boxes and keypoints).
 *
 * The frame is letterboxed (aspect kept, padded right and bottom) onto the model's input; boxes come back in
 * source pixels. The decoders are pure functions over the output arrays, tested on hand-built outputs.
 */
import { FaceprintError } from '../errors.ts';
import type { RawDetection } from '../pipeline/detect.ts';
import { cropResize, nonMaxSuppression } from '../pipeline/geometry.ts';
import type { RgbImage } from '../pipeline/image.ts';
import type { OnnxBackend } from '../pipeline/models.ts';
import type { Box, FiveLandmarks, Point } from '../types.ts';
import type { ModelManifestEntry, RetinafaceRole, ScrfdRole } from './pack.ts';

/** A decoded face in model-input pixels. */
export interface DecodedFace {
  box: Box;
  score: number;
  keypoints: Point[];
}

function five(points: Point[]): FiveLandmarks {
  const [leftEye, rightEye, nose, mouthLeft, mouthRight] = points as [Point, Point, Point, Point, Point];
  return { leftEye, rightEye, nose, mouthLeft, mouthRight };
}

/**
 * Decodes SCRFD outputs for an input of `width`×`height`.
 *
 * @param outputs Per stride (same order as `role.strides`): scores [cells·A], boxes [cells·A·4], keypoints [cells·A·10].
 */
export function decodeScrfd(
  outputs: { scores: Float32Array; boxes: Float32Array; keypoints: Float32Array }[],
  role: Pick<ScrfdRole, 'strides' | 'anchorsPerCell' | 'scoreThreshold'>,
  width: number,
  height: number,
): DecodedFace[] {
  const faces: DecodedFace[] = [];
  role.strides.forEach((stride, level) => {
    const out = outputs[level];
    if (!out) return;
    const cols = Math.ceil(width / stride);
    const rows = Math.ceil(height / stride);
    const anchors = rows * cols * role.anchorsPerCell;
    if (
      out.scores.length < anchors ||
      out.boxes.length < anchors * 4 ||
      out.keypoints.length < anchors * 10
    ) {
      throw new FaceprintError(
        'MODEL_MISMATCH',
        `SCRFD stride ${stride} outputs hold ${out.scores.length} scores for a ${width}×${height} input, which needs ${anchors}; check roles.detector.strides, anchorsPerCell and the output order.`,
      );
    }
    for (let i = 0; i < anchors; i++) {
      const score = out.scores[i]!;
      if (score < role.scoreThreshold) continue;
      const cell = Math.floor(i / role.anchorsPerCell);
      const cx = (cell % cols) * stride;
      const cy = Math.floor(cell / cols) * stride;
      const d = (k: number) => out.boxes[i * 4 + k]! * stride;
      const x1 = cx - d(0);
      const y1 = cy - d(1);
      const x2 = cx + d(2);
      const y2 = cy + d(3);
      const keypoints: Point[] = [];
      for (let k = 0; k < 5; k++) {
        keypoints.push({
          x: cx + out.keypoints[i * 10 + k * 2]! * stride,
          y: cy + out.keypoints[i * 10 + k * 2 + 1]! * stride,
        });
      }
      faces.push({ box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 }, score, keypoints });
    }
  });
  return faces;
}

/** RetinaFace prior boxes (cx, cy, w, h, normalised to the input) in the order its heads emit them. */
export function retinafacePriors(
  role: Pick<RetinafaceRole, 'minSizes' | 'steps'>,
  width: number,
  height: number,
): Float32Array {
  const priors: number[] = [];
  role.steps.forEach((step, level) => {
    const sizes = role.minSizes[level] ?? [];
    const rows = Math.ceil(height / step);
    const cols = Math.ceil(width / step);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        for (const size of sizes) {
          priors.push(((c + 0.5) * step) / width, ((r + 0.5) * step) / height, size / width, size / height);
        }
      }
    }
  });
  return Float32Array.from(priors);
}

/**
 * Decodes RetinaFace outputs: `boxes` [N·4] (variance-encoded offsets), `scores` [N·2] (softmax background, face),
 * `keypoints` [N·10], against {@link retinafacePriors}.
 */
export function decodeRetinaface(
  outputs: { boxes: Float32Array; scores: Float32Array; keypoints: Float32Array },
  role: Pick<RetinafaceRole, 'minSizes' | 'steps' | 'variance' | 'scoreThreshold'>,
  width: number,
  height: number,
): DecodedFace[] {
  const priors = retinafacePriors(role, width, height);
  const n = priors.length / 4;
  if (
    outputs.scores.length !== n * 2 ||
    outputs.boxes.length !== n * 4 ||
    outputs.keypoints.length !== n * 10
  ) {
    throw new FaceprintError(
      'MODEL_MISMATCH',
      `RetinaFace outputs hold ${outputs.scores.length / 2} priors for a ${width}×${height} input, the manifest's minSizes and steps give ${n}; check roles.detector.`,
    );
  }
  const [v0, v1] = role.variance;
  const faces: DecodedFace[] = [];
  for (let i = 0; i < n; i++) {
    const score = outputs.scores[i * 2 + 1]!;
    if (score < role.scoreThreshold) continue;
    const [px, py, pw, ph] = [priors[i * 4]!, priors[i * 4 + 1]!, priors[i * 4 + 2]!, priors[i * 4 + 3]!];
    const cx = px + outputs.boxes[i * 4]! * v0 * pw;
    const cy = py + outputs.boxes[i * 4 + 1]! * v0 * ph;
    const w = pw * Math.exp(outputs.boxes[i * 4 + 2]! * v1);
    const h = ph * Math.exp(outputs.boxes[i * 4 + 3]! * v1);
    const keypoints: Point[] = [];
    for (let k = 0; k < 5; k++) {
      keypoints.push({
        x: (px + outputs.keypoints[i * 10 + k * 2]! * v0 * pw) * width,
        y: (py + outputs.keypoints[i * 10 + k * 2 + 1]! * v0 * ph) * height,
      });
    }
    faces.push({
      box: { x: (cx - w / 2) * width, y: (cy - h / 2) * height, width: w * width, height: h * height },
      score,
      keypoints,
    });
  }
  return faces;
}

/** The model's input size from its manifest shape; a dynamic side (−1 or 0) is taken as 640. */
function inputSize(entry: ModelManifestEntry): { width: number; height: number } {
  const s = entry.input.shape;
  const [h, w] = entry.input.layout === 'NCHW' ? [s[2], s[3]] : [s[1], s[2]];
  const side = (v: number | undefined) => (v !== undefined && v > 0 ? v : 640);
  return { width: side(w), height: side(h) };
}

function toTensor(image: RgbImage, entry: ModelManifestEntry): Float32Array {
  const plane = image.width * image.height;
  const input = new Float32Array(plane * 3);
  const { mean, std, layout, channelOrder } = entry.input;
  const order = channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const value = (image.data[i * 3 + order[c]!]! - (mean[c] ?? 0)) / (std[c] ?? 1);
      if (layout === 'NCHW') input[c * plane + i] = value;
      else input[i * 3 + c] = value;
    }
  }
  return input;
}

/**
 * Runs the pack's SCRFD or RetinaFace detector on a whole frame (letterboxed) and returns its faces in source
 * pixels, each with its five keypoints, best first, after non-maximum suppression.
 */
export async function detectWithPack(
  backend: OnnxBackend,
  image: RgbImage,
  maxFaces: number,
): Promise<RawDetection[]> {
  const role = backend.pack.detector;
  if (role.family === 'ulfd+blazeface') {
    throw new Error('detectWithPack: the ulfd+blazeface family is handled by detect.ts');
  }
  const entry = backend.entry(role.model);
  const { width, height } = inputSize(entry);
  const scale = Math.min(width / image.width, height / image.height);
  // Letterbox: the source region that maps onto the whole input, padded right and bottom.
  const frame = cropResize(
    image,
    { x: 0, y: 0, width: width / scale, height: height / scale },
    width,
    height,
  );
  const shape = entry.input.layout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3];
  const result = await backend.run(role.model, toTensor(frame, entry), shape);
  const get = (name: string): Float32Array => {
    const tensor = result[name];
    if (!tensor) {
      throw new FaceprintError(
        'MODEL_MISMATCH',
        `Detector ${role.model} produced no output named "${name}"; roles.detector.outputs must name its outputs (${Object.keys(result).join(', ')}).`,
      );
    }
    return tensor.data as Float32Array;
  };
  const decoded =
    role.family === 'scrfd'
      ? decodeScrfd(
          role.strides.map((_, i) => ({
            scores: get(role.outputs.scores[i] ?? ''),
            boxes: get(role.outputs.boxes[i] ?? ''),
            keypoints: get(role.outputs.keypoints[i] ?? ''),
          })),
          role,
          width,
          height,
        )
      : decodeRetinaface(
          {
            boxes: get(role.outputs.boxes),
            scores: get(role.outputs.scores),
            keypoints: get(role.outputs.keypoints),
          },
          role,
          width,
          height,
        );
  const back = (p: Point): Point => ({ x: p.x / scale, y: p.y / scale });
  const faces = decoded.map(
    (f): RawDetection => ({
      box: {
        x: f.box.x / scale,
        y: f.box.y / scale,
        width: f.box.width / scale,
        height: f.box.height / scale,
      },
      score: f.score,
      detector: role.family,
      keypoints: five(f.keypoints.map(back)),
    }),
  );
  return nonMaxSuppression(faces, role.nmsIouThreshold).slice(0, maxFaces);
}
