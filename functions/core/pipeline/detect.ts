/**
 * Face detection: the ULFD whole-frame pass, a finer pyramid level for small faces (one run over the whole level,
 * or 320×240 tiles of it where the tile gate or a video's rolling scan picks some), the BlazeFace pass that finds
 * what ULFD missed (dark, blurred), the front-camera BlazeFace that confirms fine-level-only finds, and the fusion
 * of them. One cohesive cascade over one frame, longer than 400 lines because its stages share their box conventions
 * and thresholds; ULFD's priors and decoding live in `ulfd.ts`.
 */
import type { Box, DetectorName, FiveLandmarks } from '../types.ts';
import {
  DEFAULT_SECOND_LOOK,
  denoiseFrame,
  type SecondLook,
  secondLook,
  thresholdsForFrame,
  wantsSecondLook,
} from './detect-levers.ts';
import { applyLut, detectionLevels } from './enhance.ts';
import { cropResize, iou, nonMaxSuppression } from './geometry.ts';
import { type RgbImage, resizeImage } from './image.ts';
import { type OnnxBackend, output } from './models.ts';
import { tilesAroundCandidates } from './tile-gate.ts';
import { decodeUlfd, ULFD_TRAINED } from './ulfd.ts';
import { WorkBudget } from './work-budget.ts';

/** A face candidate from a detector, before landmark refinement. */
export interface RawDetection {
  box: Box;
  score: number;
  detector: DetectorName;
  /** BlazeFace's own keypoints (eyes, nose, mouth), when it found the face. */
  keypoints?: FiveLandmarks | undefined;
  /** In fusion mode: BlazeFace's detection of the same face, a second opinion used to check the landmarks. */
  secondOpinion?: RawDetection | undefined;
  /** Found on a tile of a finer pyramid level (where textures such as hair or fabric can pass for small faces). */
  fromTile?: boolean | undefined;
}

export type DetectorChoice = 'ulfd' | 'blazeface' | 'fusion';

export interface DetectOptions {
  /**
   * `ulfd`: Ultra-Light-Fast-Generic detector over an image pyramid of tiles. `blazeface`: MediaPipe BlazeFace
   * (back model) on the whole frame and on the same tiles. `fusion` (default): ULFD, plus BlazeFace faces ULFD
   * missed — measured to keep LFW accuracy while losing far fewer faces in dark, blurred frames.
   */
  detector: DetectorChoice;
  /** Smallest face side (px, source image) the pyramid must reach. */
  minFaceSize: number;
  /** ULFD face probability needed to keep a box. */
  ulfdScoreThreshold: number;
  /** BlazeFace probability needed to keep a box. */
  blazefaceScoreThreshold: number;
  /** IoU above which overlapping boxes are merged. */
  nmsIouThreshold: number;
  /** Stretch brightness and contrast of dark or flat frames before detecting (the detectors were trained on well-lit photos). */
  normaliseLighting: boolean;
  /** Upper bound on faces returned (largest scores first). */
  maxFaces: number;
  /**
   * Images whose longer side is at most this many pixels are also searched on a padded frame, since their face
   * may fill it (0: only when nothing else is found).
   */
  smallImagePadding: number;
  /**
   * Whether to look again on a padded frame (above; also when nothing was found). Off for video frames between
   * full scans and for windows around tracks, where a face is a fraction of the frame: an empty frame would
   * otherwise pay for a second, larger detection.
   */
  searchPadded: boolean;
  /**
   * Whole-frame ULFD score above which a prior marks a place where a small face may be: the fine pyramid level
   * then runs one tile centred on each such place instead of tiling the whole level (tile-gate.ts). 0: every
   * tile, the exhaustive scan.
   */
  tileGate: number;
  /**
   * A rolling scan (video): run only the fine-level tiles whose index is `index` modulo `count`, so consecutive
   * frames with index 0 … count − 1 visit every tile once. Unset: every tile.
   */
  tileSlice?: { index: number; count: number } | undefined;
  /**
   * Gaussian σ (px) applied to a dark or flat frame of ≤ 0.5 Mpx before the lighting stretch (detect-levers.ts),
   * so the stretch does not amplify its noise and blocks into the detectors' inputs. Absent: none.
   */
  denoiseBeforeStretch?: number | undefined;
  /** Multiplier of both score thresholds on frames that needed the lighting stretch. Absent: unchanged. */
  stretchedThresholdScale?: number | undefined;
  /**
   * A second look at a frame where this pass found nothing or only small faces (detect-levers.ts). Default:
   * {@link DEFAULT_SECOND_LOOK}; undefined: none.
   */
  secondLook?: SecondLook | undefined;
}

export const DEFAULT_DETECT_OPTIONS: DetectOptions = {
  detector: 'fusion',
  minFaceSize: 24,
  ulfdScoreThreshold: 0.7,
  blazefaceScoreThreshold: 0.6,
  nmsIouThreshold: 0.3,
  normaliseLighting: true,
  maxFaces: 64,
  smallImagePadding: 400,
  searchPadded: true,
  tileGate: 0,
  secondLook: DEFAULT_SECOND_LOOK,
};

/** Images up to this many pixels get the dark-frame stretch as a whole-image copy (see detectFaces). */
const STRETCH_WHOLE_PIXELS = 500_000;

/** Intersection over the smaller box's area above which the smaller, lower-scored box is dropped. */
const CONTAINED = 0.7;

function contains(outer: Box, inner: Box): boolean {
  const w = Math.min(outer.x + outer.width, inner.x + inner.width) - Math.max(outer.x, inner.x);
  const h = Math.min(outer.y + outer.height, inner.y + inner.height) - Math.max(outer.y, inner.y);
  return (Math.max(0, w) * Math.max(0, h)) / Math.max(1, inner.width * inner.height) > CONTAINED;
}

const ULFD_W = ULFD_TRAINED.width;
const ULFD_H = ULFD_TRAINED.height;
const BLAZE = 256;
/** Overlap of neighbouring tiles in level pixels: a face up to this size lies wholly inside one tile. */
const TILE_OVERLAP = 96;
/** The smallest face ULFD finds reliably, in input pixels: its smallest prior is 10 px, but faces under ~16 px were found at only some positions (measured on LFW faces pasted into 1920×1080 frames). */
const ULFD_MIN_FACE = 16;

interface Tile {
  /** Region of the pyramid level, in level pixels. */
  x: number;
  y: number;
  /** The level image the tile is cut from. */
  level: RgbImage;
  /** Level pixels per source pixel, per axis. */
  scaleX: number;
  scaleY: number;
}

/**
 * The pyramid levels to scan: the whole frame stretched to the detector's input, plus (for frames where the
 * smallest wanted face would be too small there) one finer level cut into overlapping tiles.
 */
function pyramidScales(width: number, height: number, minFaceSize: number): number[] {
  const coarse = Math.min(ULFD_W / width, ULFD_H / height);
  const needed = Math.min(1, ULFD_MIN_FACE / minFaceSize);
  const scales: number[] = [];
  // A tile level at scale s holds faces up to TILE_OVERLAP / s px whole; the next coarser level s' finds faces
  // from ULFD_MIN_FACE / s' px. Stepping by 4 (< TILE_OVERLAP / ULFD_MIN_FACE = 6) leaves no size uncovered.
  for (let s = needed; s > coarse * 1.25; s /= 4) scales.push(s);
  return scales.reverse();
}

function tilesOf(level: RgbImage, scaleX: number, scaleY: number, tw: number, th: number): Tile[] {
  const xs = positions(level.width, tw);
  const ys = positions(level.height, th);
  const tiles: Tile[] = [];
  for (const y of ys) for (const x of xs) tiles.push({ x, y, level, scaleX, scaleY });
  return tiles;
}

/**
 * The most level pixels one ULFD run looks at: a 720p frame's fine level (853×480) in one run. Larger runs are
 * no cheaper per pixel, and ONNX Runtime keeps each size's working memory (measured, one session: +58 MiB at
 * 853×480, +200 MiB at 919×1365), which the server's memory ceiling holds for every analysis worker.
 */
const REGION_MAX_PIXELS = 854 * 480;

/**
 * Overlapping regions covering a level, each at most {@link REGION_MAX_PIXELS}: the level whole where it fits,
 * else the split of columns × rows that looks at the fewest pixels. Neighbours overlap by {@link TILE_OVERLAP}, so
 * a face up to that size lies wholly inside one of them.
 */
export function levelRegions(
  width: number,
  height: number,
): { x: number; y: number; width: number; height: number }[] {
  const side = (length: number, parts: number) => Math.ceil((length + (parts - 1) * TILE_OVERLAP) / parts);
  let best = { cols: 1, rows: 1, area: Number.POSITIVE_INFINITY };
  for (let cols = 1; cols <= 64; cols++) {
    for (let rows = 1; rows <= 64; rows++) {
      const w = side(width, cols);
      const h = side(height, rows);
      if (w * h > REGION_MAX_PIXELS) continue;
      const area = w * h * cols * rows;
      if (area < best.area) best = { cols, rows, area };
      break; // more rows only add overlap
    }
  }
  const w = Math.min(width, side(width, best.cols));
  const h = Math.min(height, side(height, best.rows));
  const spread = (length: number, size: number, parts: number) =>
    Array.from({ length: parts }, (_, i) =>
      parts === 1 ? 0 : Math.round((i * (length - size)) / (parts - 1)),
    );
  const regions = [];
  for (const y of spread(height, h, best.rows))
    for (const x of spread(width, w, best.cols)) regions.push({ x, y, width: w, height: h });
  return regions;
}

function positions(length: number, tile: number): number[] {
  if (length <= tile) return [0];
  const stride = tile - TILE_OVERLAP;
  const out: number[] = [];
  for (let p = 0; p + tile < length; p += stride) out.push(p);
  out.push(length - tile);
  return out;
}

/**
 * The model input value of each 8-bit level: the detection level curve (`levels`, see `detectionLevels`)
 * followed by the model's normalisation, so a tile is normalised in one table look-up per byte.
 */
function inputTable(levels: Uint8Array | undefined, mean: number, std: number): Float32Array {
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = ((levels ? levels[v]! : v) - mean) / std;
  return table;
}

/** Copies a tile (zero-padded where it runs past the level) into a normalised CHW or HWC tensor. */
function tileTensor(
  tile: Tile,
  tw: number,
  th: number,
  layout: 'CHW' | 'HWC',
  table: Float32Array,
): Float32Array {
  const { level } = tile;
  const src = level.data;
  const out = new Float32Array(tw * th * 3).fill(table[0]!);
  const plane = tw * th;
  const rows = Math.min(th, level.height - tile.y);
  const cols = Math.min(tw, level.width - tile.x);
  for (let y = 0; y < rows; y++) {
    let s = ((tile.y + y) * level.width + tile.x) * 3;
    if (layout === 'CHW') {
      for (let o = y * tw, end = o + cols; o < end; o++, s += 3) {
        out[o] = table[src[s]!]!;
        out[o + plane] = table[src[s + 1]!]!;
        out[o + 2 * plane] = table[src[s + 2]!]!;
      }
    } else {
      for (let o = y * tw * 3, end = o + cols * 3; o < end; o++, s++) out[o] = table[src[s]!]!;
    }
  }
  return out;
}

/** Maps a box in tile-input pixels back to source pixels. */
function toSource(tile: Tile, x1: number, y1: number, x2: number, y2: number): Box {
  const sx1 = (tile.x + x1) / tile.scaleX;
  const sy1 = (tile.y + y1) / tile.scaleY;
  const sx2 = (tile.x + x2) / tile.scaleX;
  const sy2 = (tile.y + y2) / tile.scaleY;
  return { x: sx1, y: sy1, width: sx2 - sx1, height: sy2 - sy1 };
}

/** True when a box lies on a tile edge that is not the image edge: it may be a cut-off face. */
function touchesInnerTileEdge(
  tile: Tile,
  tw: number,
  th: number,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
): boolean {
  const margin = 2;
  return (
    (x1 < margin && tile.x > 0) ||
    (y1 < margin && tile.y > 0) ||
    (x2 > tw - margin && tile.x + tw < tile.level.width) ||
    (y2 > th - margin && tile.y + th < tile.level.height)
  );
}

/**
 * Runs ULFD on a region of a level, `width`×`height` level pixels from (`x`, `y`): the derived model takes any
 * input size (`ulfd.ts`), so a region is a 320×240 tile, the whole frame stretched to 320×240 as ULFD was trained,
 * or a whole pyramid level in one run, where only the two fine heads are read (`decodeUlfd`).
 */
async function runUlfd(
  backend: OnnxBackend,
  region: Tile & { width: number; height: number },
  threshold: number,
  levels: Uint8Array | undefined,
  candidates?: { box: Box; score: number }[],
  candidateThreshold = 1,
): Promise<RawDetection[]> {
  const { width, height } = region;
  const input = tileTensor(region, width, height, 'CHW', inputTable(levels, 127, 128));
  const result = await backend.run('ulfd-rfb320', input, [1, 3, height, width]);
  const decoded = decodeUlfd(
    output(result, 'ulfd-rfb320', 'scores'),
    output(result, 'ulfd-rfb320', 'locations'),
    width,
    height,
    Math.min(threshold, candidateThreshold),
    width === ULFD_W && height === ULFD_H ? 'all' : 'fine',
  );
  const found: RawDetection[] = [];
  for (const { x1, y1, x2, y2, score } of decoded) {
    if (candidates && score >= candidateThreshold)
      candidates.push({ box: toSource(region, x1, y1, x2, y2), score });
    if (score < threshold) continue;
    if (x2 - x1 < 4 || y2 - y1 < 4) continue;
    if (touchesInnerTileEdge(region, width, height, x1, y1, x2, y2)) continue;
    found.push({ box: toSource(region, x1, y1, x2, y2), score, detector: 'ulfd' });
  }
  return found;
}

/** BlazeFace anchors: 16×16 grid with 2 anchors per cell, then 8×8 with 6, centres at (i + 0.5) / grid. */
const BLAZE_ANCHORS: Float32Array = (() => {
  const anchors: number[] = [];
  for (const [grid, perCell] of [
    [16, 2],
    [8, 6],
  ] as const) {
    for (let y = 0; y < grid; y++) {
      for (let x = 0; x < grid; x++) {
        for (let k = 0; k < perCell; k++) anchors.push((x + 0.5) / grid, (y + 0.5) / grid);
      }
    }
  }
  return Float32Array.from(anchors);
})();

/** A BlazeFace model: the back-camera one for whole frames and tiles, the front-camera one for confirmations. */
interface BlazeModel {
  id: 'blazeface-back' | 'blazeface-front';
  /** Side of its square input; its anchors and regressors are in these pixels. */
  size: number;
}

const BLAZE_BACK: BlazeModel = { id: 'blazeface-back', size: BLAZE };
/**
 * The front-camera model confirms a fine-level find on a crop twice its size, where a real face fills the middle
 * half, as a selfie does: 1.3–1.7 against 5–7 ms a run, at 128² instead of 256² crop pixels. Its threshold and the
 * comparison with the back model are in docs/accuracy.md ("Confirming with the front model").
 */
const BLAZE_FRONT: BlazeModel = { id: 'blazeface-front', size: 128 };
const FRONT_CONFIRM_THRESHOLD = 0.45;

async function runBlazeFace(
  backend: OnnxBackend,
  tile: Tile,
  threshold: number,
  levels: Uint8Array | undefined,
  model: BlazeModel = BLAZE_BACK,
): Promise<RawDetection[]> {
  const { id, size } = model;
  const input = tileTensor(tile, size, size, 'HWC', inputTable(levels, 127.5, 127.5));
  const result = await backend.run(id, input, [1, size, size, 3]);
  const logits = [output(result, id, 'Identity:0'), output(result, id, 'Identity_1:0')];
  const regressors = [output(result, id, 'Identity_2:0'), output(result, id, 'Identity_3:0')];
  const found: RawDetection[] = [];
  let anchor = 0;
  for (let part = 0; part < 2; part++) {
    const logit = logits[part]!;
    const reg = regressors[part]!;
    for (let i = 0; i < logit.length; i++, anchor++) {
      const score = 1 / (1 + Math.exp(-Math.max(-80, Math.min(80, logit[i]!))));
      if (score < threshold) continue;
      const ax = BLAZE_ANCHORS[anchor * 2]! * size;
      const ay = BLAZE_ANCHORS[anchor * 2 + 1]! * size;
      const r = i * 16;
      const cx = ax + reg[r]!;
      const cy = ay + reg[r + 1]!;
      const w = reg[r + 2]!;
      const h = reg[r + 3]!;
      const x1 = cx - w / 2;
      const y1 = cy - h / 2;
      if (w < 4 || h < 4) continue;
      if (touchesInnerTileEdge(tile, size, size, x1, y1, x1 + w, y1 + h)) continue;
      const kp = (k: number) => {
        const src = toSource(tile, ax + reg[r + 4 + k * 2]!, ay + reg[r + 5 + k * 2]!, 0, 0);
        return { x: src.x, y: src.y };
      };
      // BlazeFace keypoints: 0 right eye (image left), 1 left eye, 2 nose tip, 3 mouth centre, 4/5 ear tragions.
      const mouth = kp(3);
      const leftEye = kp(0);
      const rightEye = kp(1);
      const half = (rightEye.x - leftEye.x) * 0.4;
      found.push({
        box: toSource(tile, x1, y1, x1 + w, y1 + h),
        score,
        detector: 'blazeface',
        keypoints: {
          leftEye,
          rightEye,
          nose: kp(2),
          mouthLeft: { x: mouth.x - half, y: mouth.y },
          mouthRight: { x: mouth.x + half, y: mouth.y },
        },
      });
    }
  }
  return found;
}

/**
 * Converts a BlazeFace box to the box ULFD would draw for the same face (fitted on LFW), so the 68-point
 * landmark model, trained on ULFD-like boxes, sees the crop it expects.
 */
export function blazeBoxToUlfdBox(box: Box): Box {
  const x1 = box.x + 0.053 * box.width;
  const y1 = box.y - 0.251 * box.height;
  const x2 = box.x + 0.939 * box.width;
  const y2 = box.y + 1.02 * box.height;
  return { x: x1, y: y1, width: x2 - x1, height: y2 - y1 };
}

function levelSize(image: RgbImage, scale: number): { width: number; height: number } {
  return {
    width: Math.max(1, Math.round(image.width * scale)),
    height: Math.max(1, Math.round(image.height * scale)),
  };
}

/**
 * Marks a promise that is started now and awaited later: its rejection counts as handled meanwhile (the await
 * still throws it), so a pass that stops early (a deadline, a failed model run) leaves no unhandled rejection.
 */
function started<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

async function levelImage(image: RgbImage, scale: number): Promise<RgbImage> {
  const { width: w, height: h } = levelSize(image, scale);
  return w === image.width && h === image.height ? image : resizeImage(image, w, h);
}

/**
 * Finds every face in an RGB image. Scans the whole frame and, for frames large enough that the smallest wanted
 * face would shrink below the detector's reach, overlapping tiles of finer pyramid levels; merges the results
 * with non-maximum suppression. Boxes are in source pixels, ULFD-style (BlazeFace boxes are converted).
 */
export async function detectFaces(
  backend: OnnxBackend,
  image: RgbImage,
  options: DetectOptions = DEFAULT_DETECT_OPTIONS,
  budget: WorkBudget = WorkBudget.NONE,
): Promise<RawDetection[]> {
  const { found, stretched } = await detectPass(backend, image, options, budget);
  const look = options.secondLook;
  if (!look || !wantsSecondLook(found, look, stretched)) return found;
  return secondLook(
    image,
    options,
    look,
    found,
    async (frame, opts) => (await detectPass(backend, frame, opts, budget)).found,
  );
}

/** One detection pass over a frame, and whether the frame needed the lighting stretch. */
async function detectPass(
  backend: OnnxBackend,
  image: RgbImage,
  options: DetectOptions,
  budget: WorkBudget,
): Promise<{ found: RawDetection[]; stretched: boolean }> {
  // Dark or flat frames are stretched for the detectors. On a large frame the curve goes into each model input's
  // normalisation (a full-frame copy cost more than the whole-frame detector); a small image is stretched whole,
  // as before, since the copy is cheap there and the curve applied before resampling measured better on the
  // darkest Yale B crops (docs/accuracy.md, "Speed work").
  const stretchWhole = image.width * image.height <= STRETCH_WHOLE_PIXELS;
  // On a large frame 65k samples (~650 pixels in each 1% tail) are enough for the curve, at a quarter of the cost.
  let levels = options.normaliseLighting
    ? detectionLevels(image, stretchWhole ? 250_000 : 65_536)
    : undefined;
  const stretched = levels !== undefined;
  options = thresholdsForFrame(options, stretched, options.stretchedThresholdScale);
  if (levels && stretchWhole) {
    image = applyLut(denoiseFrame(image, options.denoiseBeforeStretch ?? 0), levels);
    levels = undefined;
  }
  const found = await detectOnce(backend, image, options, budget, levels);
  const small = Math.max(image.width, image.height) <= options.smallImagePadding;
  if (!options.searchPadded || (found.length > 0 && !small)) return { found, stretched };
  // A face that fills the frame (an ID photo, a tight crop) is larger than the detectors' largest anchors: it is
  // missed, or only a part of it is found. Look again with a border around the image. Measured on the Yale B
  // crops: 410 of 1,104 faces missed without it, and gallery photos "found" as an eye and a cheek.
  const pad = Math.round(Math.max(image.width, image.height) * 0.25);
  const again = (await detectOnce(backend, padImage(image, pad), options, budget, levels)).map((d) =>
    shiftDetection(d, -pad),
  );
  if (found.length === 0) return { found: again, stretched };
  return {
    found: suppressContained(
      nonMaxSuppression([...found, ...again], options.nmsIouThreshold),
      CONTAINED,
    ).slice(0, options.maxFaces),
    stretched,
  };
}

function padImage(image: RgbImage, pad: number): RgbImage {
  const width = image.width + 2 * pad;
  const height = image.height + 2 * pad;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < image.height; y++) {
    data.set(
      image.data.subarray(y * image.width * 3, (y + 1) * image.width * 3),
      ((y + pad) * width + pad) * 3,
    );
  }
  return { width, height, data };
}

function shiftDetection(d: RawDetection, offset: number): RawDetection {
  const moveBox = (b: Box): Box => ({ ...b, x: b.x + offset, y: b.y + offset });
  const movePoint = (p: { x: number; y: number }) => ({ x: p.x + offset, y: p.y + offset });
  const moveKeypoints = (k: FiveLandmarks | undefined) =>
    k && {
      leftEye: movePoint(k.leftEye),
      rightEye: movePoint(k.rightEye),
      nose: movePoint(k.nose),
      mouthLeft: movePoint(k.mouthLeft),
      mouthRight: movePoint(k.mouthRight),
    };
  return {
    ...d,
    box: moveBox(d.box),
    keypoints: moveKeypoints(d.keypoints),
    secondOpinion: d.secondOpinion && shiftDetection(d.secondOpinion, offset),
  };
}

/**
 * True when BlazeFace also sees a face at a candidate's place: it looks at a square twice the candidate's size,
 * where a real face fills the middle half.
 */
async function confirmedByBlazeFace(
  backend: OnnxBackend,
  image: RgbImage,
  candidate: RawDetection,
  levels: Uint8Array | undefined,
): Promise<boolean> {
  const side = 2 * Math.max(candidate.box.width, candidate.box.height);
  const cx = candidate.box.x + candidate.box.width / 2;
  const cy = candidate.box.y + candidate.box.height / 2;
  const { size } = BLAZE_FRONT;
  const square = { x: cx - side / 2, y: cy - side / 2, width: side, height: side };
  const crop = cropResize(image, square, size, size);
  const tile = { x: 0, y: 0, level: crop, scaleX: 1, scaleY: 1 };
  const seen = await runBlazeFace(backend, tile, FRONT_CONFIRM_THRESHOLD, levels, BLAZE_FRONT);
  return seen.some((d) => {
    const b = blazeBoxToUlfdBox(d.box);
    return Math.hypot(b.x + b.width / 2 - size / 2, b.y + b.height / 2 - size / 2) < size * 0.15;
  });
}

/** Drops a box that lies mostly inside a better-scored one (a part of a face detected as a face of its own). */
function suppressContained<T extends { box: Box; score: number }>(items: T[], threshold: number): T[] {
  const sorted = [...items].sort((p, q) => q.score - p.score);
  const kept: T[] = [];
  for (const item of sorted) {
    const area = item.box.width * item.box.height;
    const contained = kept.some((k) => {
      const w = Math.min(k.box.x + k.box.width, item.box.x + item.box.width) - Math.max(k.box.x, item.box.x);
      const h =
        Math.min(k.box.y + k.box.height, item.box.y + item.box.height) - Math.max(k.box.y, item.box.y);
      const inter = Math.max(0, w) * Math.max(0, h);
      return inter / Math.min(area, k.box.width * k.box.height) > threshold;
    });
    if (!contained) kept.push(item);
  }
  return kept;
}

async function detectOnce(
  backend: OnnxBackend,
  image: RgbImage,
  options: DetectOptions,
  budget: WorkBudget,
  levels: Uint8Array | undefined,
): Promise<RawDetection[]> {
  const useUlfd = options.detector !== 'blazeface';
  const useBlaze = options.detector !== 'ulfd';
  const ulfd: RawDetection[] = [];
  const blaze: RawDetection[] = [];

  // Whole frame: ULFD stretches it to 320×240 (as it was trained); BlazeFace gets it letterboxed to a square.
  const scales = pyramidScales(image.width, image.height, options.minFaceSize);
  const gated = useUlfd && options.tileGate > 0 && scales.length > 0;
  const candidates: { box: Box; score: number }[] = [];
  const slice = options.tileSlice;
  // Every input this pass will need is resized at once, in the order it is needed: sharp works on libuv's threads
  // while ONNX Runtime runs on this one, so the finer levels are ready by the time the whole-frame passes end
  // (measured, docs/accuracy.md "Overlapping the resizes"). A gated or sliced scan decides its levels later.
  const wholeUlfdInput = useUlfd ? started(resizeImage(image, ULFD_W, ULFD_H)) : undefined;
  const wholeBlazeInput = useBlaze
    ? started(levelImage(image, BLAZE / Math.max(image.width, image.height)))
    : undefined;
  const levelInputs = new Map<number, Promise<RgbImage>>();
  if (!gated && !slice) for (const scale of scales) levelInputs.set(scale, started(levelImage(image, scale)));
  if (wholeUlfdInput) {
    const wholeUlfd = await wholeUlfdInput;
    ulfd.push(
      ...(await runUlfd(
        backend,
        {
          x: 0,
          y: 0,
          width: ULFD_W,
          height: ULFD_H,
          level: wholeUlfd,
          scaleX: ULFD_W / image.width,
          scaleY: ULFD_H / image.height,
        },
        options.ulfdScoreThreshold,
        levels,
        gated ? candidates : undefined,
        options.tileGate,
      )),
    );
  }
  if (wholeBlazeInput) {
    const level = await wholeBlazeInput;
    blaze.push(
      ...(await runBlazeFace(
        backend,
        { x: 0, y: 0, level, scaleX: level.width / image.width, scaleY: level.height / image.height },
        options.blazefaceScoreThreshold,
        levels,
      )),
    );
  }

  let tileIndex = 0;
  for (const scale of scales) {
    if (gated && candidates.length === 0) break;
    // This frame's share of a rolling scan; a level it has no tile of is not even resized.
    const { width: lw, height: lh } = levelSize(image, scale);
    const sliced = slice
      ? tilesOf({ width: lw, height: lh, data: image.data }, 1, 1, ULFD_W, ULFD_H).filter(
          () => tileIndex++ % slice.count === slice.index,
        )
      : [];
    if (slice && sliced.length === 0 && options.detector !== 'blazeface') continue;
    const level = await (levelInputs.get(scale) ?? levelImage(image, scale));
    const sx = level.width / image.width;
    const sy = level.height / image.height;
    if (useUlfd) {
      const tile = { width: ULFD_W, height: ULFD_H, level, scaleX: sx, scaleY: sy };
      // The whole level in one run (a few for a large level) unless a gate or a rolling scan asks for some tiles
      // of it: one run costs less than half the 320×240 tiles that cover it (11.6 vs 26 ms for 720p's level,
      // docs/accuracy.md "Fourth look").
      const regions = gated
        ? tilesAroundCandidates(candidates, level, sx, sy, ULFD_W, ULFD_H, TILE_OVERLAP / 2).map(
            (origin) => ({
              ...tile,
              ...origin,
            }),
          )
        : slice
          ? sliced.map((t) => ({ ...tile, x: t.x, y: t.y }))
          : levelRegions(level.width, level.height).map((region) => ({ ...tile, ...region }));
      for (const region of regions) {
        budget.check();
        for (const found of await runUlfd(backend, region, options.ulfdScoreThreshold, levels))
          ulfd.push({ ...found, fromTile: true });
      }
    }
    if (options.detector === 'blazeface') {
      for (const tile of tilesOf(level, sx, sy, BLAZE, BLAZE)) {
        budget.check();
        blaze.push(...(await runBlazeFace(backend, tile, options.blazefaceScoreThreshold, levels)));
      }
    }
  }
  const ulfdFaces = suppressContained(nonMaxSuppression(ulfd, options.nmsIouThreshold), CONTAINED);
  const blazeFaces = nonMaxSuppression(
    blaze.map((d) => ({ ...d, box: blazeBoxToUlfdBox(d.box) })),
    options.nmsIouThreshold,
  );
  // Fusion: ULFD boxes win where both found a face (its boxes suit the landmark model best); BlazeFace adds
  // the faces ULFD missed, typically dark or blurred ones.
  const merged = [...ulfdFaces];
  for (const face of blazeFaces) {
    const overlapping = ulfdFaces.filter((kept) => iou(kept.box, face.box) > options.nmsIouThreshold);
    for (const kept of overlapping) {
      if (!kept.secondOpinion || iou(kept.box, face.box) > iou(kept.box, kept.secondOpinion.box))
        kept.secondOpinion = face;
    }
    if (overlapping.length === 0 && merged.every((kept) => !contains(kept.box, face.box))) merged.push(face);
  }
  // A face found only on a fine tile must be confirmed by BlazeFace: fine tiles turn hair, ears and fabric into
  // small "faces" often enough to matter (seen on the seed photos).
  // A tile face the whole-frame pass also reported (one face, two boxes merged by NMS) needs no BlazeFace run.
  const whole = ulfd.filter((d) => !d.fromTile);
  const seenWhole = (face: RawDetection) => whole.some((d) => iou(d.box, face.box) > options.nmsIouThreshold);
  const confirmed: RawDetection[] = [];
  for (const face of merged) {
    budget.check();
    if (
      !face.fromTile ||
      face.secondOpinion ||
      seenWhole(face) ||
      (await confirmedByBlazeFace(backend, image, face, levels))
    )
      confirmed.push(face);
  }
  return confirmed
    .filter((d) => Math.max(d.box.width, d.box.height) >= options.minFaceSize * 0.75)
    .sort((a, b) => b.score - a.score)
    .slice(0, options.maxFaces);
}
