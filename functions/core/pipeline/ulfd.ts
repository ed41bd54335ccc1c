/**
 * The Ultra-Light-Fast-Generic face detector (RFB-320) at any input size. The shipped file is the authors' export
 * cut before its baked-in box decoding (`scripts/derive-models.mjs`, recipe `ulfd-raw-heads`), so one run can
 * cover a whole pyramid level instead of 320×240 tiles of it. This module rebuilds the priors the export held as
 * constants and decodes the raw heads, as the authors' `box_utils` does: written here because it is the model's
 * own arithmetic (four heads, SSD variance encoding), which no package carries.
 */
import { FaceprintError } from '../errors.ts';

/** The heads: how many stride-2 convolutions precede each (stride 8, 16, 32, 64) and its prior sizes in pixels. */
const HEADS: readonly { halvings: number; minBoxes: readonly number[] }[] = [
  { halvings: 3, minBoxes: [10, 16, 24] },
  { halvings: 4, minBoxes: [32, 48] },
  { halvings: 5, minBoxes: [64, 96] },
  { halvings: 6, minBoxes: [128, 192, 256] },
];
/** The stride-8 and stride-16 heads, whose priors come first in the outputs. */
const FINE_HEADS = HEADS.slice(0, 2);
/** The input size the detector was trained and exported at. */
export const ULFD_TRAINED = { width: 320, height: 240 } as const;
const CENTRE_VARIANCE = 0.1;
const SIZE_VARIANCE = 0.2;

/** The size of a head's feature map: each stride-2 convolution (kernel 3, padding 1) halves a side, rounding up. */
function featureSide(side: number, halvings: number): number {
  let s = side;
  for (let i = 0; i < halvings; i++) s = Math.ceil(s / 2);
  return s;
}

/** How many priors `heads` emit for a `width`×`height` input. */
function priorCount(heads: typeof HEADS, width: number, height: number): number {
  let count = 0;
  for (const head of heads) {
    count += featureSide(width, head.halvings) * featureSide(height, head.halvings) * head.minBoxes.length;
  }
  return count;
}

const priorCache = new Map<string, Float32Array>();

/**
 * The priors (cx, cy, w, h, normalised to the input) in the order the heads emit them: per head, row by row, each
 * cell's sizes in turn; sizes are clipped to 1.
 *
 * At the trained 320×240 the centres are the export's own, (i + 0.5) / map side (its `shrinkage = size / map`):
 * the 4,420 constants it held (tested). That puts each prior at its cell's stride position, except along y for
 * the two coarse heads (240 / 32 and 240 / 64 are not whole, so their rows sit 30 and 60 px apart). Any other size
 * gets centres at (i + 0.5) · stride, the geometry the two fine heads were trained with on both axes.
 */
export function ulfdPriors(width: number, height: number): Float32Array {
  const key = `${width}x${height}`;
  const cached = priorCache.get(key);
  if (cached) return cached;
  const trained = width === ULFD_TRAINED.width && height === ULFD_TRAINED.height;
  const priors = new Float32Array(priorCount(HEADS, width, height) * 4);
  let o = 0;
  for (const head of HEADS) {
    const cols = featureSide(width, head.halvings);
    const rows = featureSide(height, head.halvings);
    const stride = 2 ** head.halvings;
    const stepX = trained ? 1 / cols : stride / width;
    const stepY = trained ? 1 / rows : stride / height;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        for (const box of head.minBoxes) {
          priors[o++] = (c + 0.5) * stepX;
          priors[o++] = (r + 0.5) * stepY;
          priors[o++] = Math.min(1, box / width);
          priors[o++] = Math.min(1, box / height);
        }
      }
    }
  }
  // A frame size repeats (every frame of a video, every still of a camera); a handful of sizes are live at once.
  if (priorCache.size > 32) priorCache.clear();
  priorCache.set(key, priors);
  return priors;
}

/** A decoded ULFD box in input pixels. */
export interface UlfdBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
}

/** How many of the four heads a run decodes: all of them, or the two fine ones (priors 10–48 px). */
export type UlfdHeads = 'all' | 'fine';

/**
 * Decodes the raw heads of one run: each prior whose face probability reaches `threshold` becomes a corner box in
 * input pixels (centre = prior + offset · 0.1 · prior size; size = prior size · e^(offset · 0.2)).
 *
 * `heads: 'fine'` keeps the priors of the stride-8 and stride-16 heads only, for a run over a whole pyramid level:
 * the coarse heads learnt their y offsets against the export's 30 and 60 px rows, so on a tall input their boxes
 * drift (measured on a seed photo: 40 px off the same face's box on a 320×240 tile, and a second, false face),
 * while the faces they would find there are found on the next coarser level.
 *
 * @param scores the `scores` output, [priors · 2] (background, face).
 * @param locations the `locations` output, [priors · 4] (cx, cy, w, h offsets).
 * @throws FaceprintError `MODEL_MISMATCH` when the outputs do not hold one entry per prior of a `width`×`height` input.
 */
export function decodeUlfd(
  scores: Float32Array,
  locations: Float32Array,
  width: number,
  height: number,
  threshold: number,
  heads: UlfdHeads = 'all',
): UlfdBox[] {
  const priors = ulfdPriors(width, height);
  const n = priors.length / 4;
  if (scores.length !== n * 2 || locations.length !== n * 4) {
    throw new FaceprintError(
      'MODEL_MISMATCH',
      `The ULFD detector returned ${scores.length / 2} priors for a ${width}×${height} input, which has ${n}; is layers/models/ulfd-rfb320-heads.onnx the file \`npm run models\` derives?`,
    );
  }
  const boxes: UlfdBox[] = [];
  const decoded = heads === 'fine' ? priorCount(FINE_HEADS, width, height) : n;
  for (let i = 0; i < decoded; i++) {
    const score = scores[i * 2 + 1]!;
    if (score < threshold) continue;
    const p = i * 4;
    const pw = priors[p + 2]!;
    const ph = priors[p + 3]!;
    const cx = locations[p]! * CENTRE_VARIANCE * pw + priors[p]!;
    const cy = locations[p + 1]! * CENTRE_VARIANCE * ph + priors[p + 1]!;
    const w = Math.exp(locations[p + 2]! * SIZE_VARIANCE) * pw;
    const h = Math.exp(locations[p + 3]! * SIZE_VARIANCE) * ph;
    boxes.push({
      x1: (cx - w / 2) * width,
      y1: (cy - h / 2) * height,
      x2: (cx + w / 2) * width,
      y2: (cy + h / 2) * height,
      score,
    });
  }
  return boxes;
}
