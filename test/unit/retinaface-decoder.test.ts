/**
 * The RetinaFace decoder of user model packs on hand-built output tensors: the prior boxes (order, centres,
 * sizes), the SSD-style variance decoding of boxes and five keypoints, the score threshold, the refusal of
 * outputs that do not fit the manifest's priors, and non-maximum suppression over the decoded faces.
 */
import { describe, expect, it } from 'vitest';
import type { FaceprintError } from '../../functions/core/errors.ts';
import { decodeRetinaface, retinafacePriors } from '../../functions/core/models/detectors.ts';
import { nonMaxSuppression } from '../../functions/core/pipeline/geometry.ts';

/** 64×64 input; steps 16 and 32 with two and one prior sizes: 4×4×2 + 2×2×1 = 36 priors. */
const ROLE = {
  minSizes: [[16, 32], [48]],
  steps: [16, 32],
  variance: [0.1, 0.2] as [number, number],
  scoreThreshold: 0.5,
};
const W = 64;
const H = 64;
const N = 4 * 4 * 2 + 2 * 2;

function outputs() {
  return {
    boxes: new Float32Array(N * 4),
    scores: new Float32Array(N * 2),
    keypoints: new Float32Array(N * 10),
  };
}

/** Sets prior `i`'s face probability (background = 1 − p). */
function score(out: ReturnType<typeof outputs>, i: number, p: number) {
  out.scores[i * 2] = 1 - p;
  out.scores[i * 2 + 1] = p;
}

describe('RetinaFace priors', () => {
  it('lists, per step, every cell row by row with each of its sizes, normalised to the input', () => {
    const priors = retinafacePriors(ROLE, W, H);
    expect(priors).toHaveLength(N * 4);
    // First cell of step 16: centre (8, 8), sizes 16 then 32.
    expect(Array.from(priors.subarray(0, 8))).toEqual([0.125, 0.125, 0.25, 0.25, 0.125, 0.125, 0.5, 0.5]);
    // Second cell of the first row: x moves by one step, y stays.
    expect(priors[8]).toBeCloseTo(24 / 64);
    expect(priors[9]).toBeCloseTo(8 / 64);
    // First prior of step 32 comes after all 32 of step 16: centre (16, 16), size 48.
    expect(Array.from(priors.subarray(32 * 4, 33 * 4))).toEqual([0.25, 0.25, 0.75, 0.75]);
  });

  it('rounds partial cells up, as the model heads do for sides that are not multiples of the step', () => {
    // 72×40 at step 16: ceil(72/16) = 5 columns, ceil(40/16) = 3 rows; one size.
    expect(retinafacePriors({ minSizes: [[16]], steps: [16] }, 72, 40)).toHaveLength(5 * 3 * 4);
  });
});

describe('RetinaFace decoding', () => {
  it('decodes a zero offset as the prior box itself, and keypoints at the prior centre', () => {
    const out = outputs();
    score(out, 0, 0.9);
    const [face, ...rest] = decodeRetinaface(out, ROLE, W, H);
    expect(rest).toHaveLength(0);
    expect(face?.score).toBeCloseTo(0.9);
    expect(face?.box.x).toBeCloseTo(0);
    expect(face?.box.y).toBeCloseTo(0);
    expect(face?.box.width).toBeCloseTo(16);
    expect(face?.box.height).toBeCloseTo(16);
    expect(face?.keypoints).toHaveLength(5);
    for (const k of face?.keypoints ?? []) {
      expect(k.x).toBeCloseTo(8);
      expect(k.y).toBeCloseTo(8);
    }
  });

  it('applies the variances: centre offsets × v0 × prior size, sizes × exp(offset × v1)', () => {
    const out = outputs();
    // Prior 33: step 32, cell (1, 0): centre (48, 16), size 48.
    const i = 33;
    score(out, i, 0.8);
    out.boxes.set([1, -0.5, Math.log(2) / 0.2, 0], i * 4);
    // Keypoints: left eye +1 prior size × v0 in x, mouth right −1 in y.
    out.keypoints.set([1, 0, 0, 0, 0, 0, 0, 0, 0, -1], i * 10);
    const [face] = decodeRetinaface(out, ROLE, W, H);
    const cx = 48 + 1 * 0.1 * 48;
    const cy = 16 - 0.5 * 0.1 * 48;
    expect(face?.box.width).toBeCloseTo(96);
    expect(face?.box.height).toBeCloseTo(48);
    expect(face?.box.x).toBeCloseTo(cx - 48);
    expect(face?.box.y).toBeCloseTo(cy - 24);
    expect(face?.keypoints[0]?.x).toBeCloseTo(48 + 0.1 * 48);
    expect(face?.keypoints[0]?.y).toBeCloseTo(16);
    expect(face?.keypoints[4]?.x).toBeCloseTo(48);
    expect(face?.keypoints[4]?.y).toBeCloseTo(16 - 0.1 * 48);
  });

  it('keeps only priors whose face score reaches the threshold', () => {
    const out = outputs();
    score(out, 3, 0.49);
    score(out, 5, 0.5);
    score(out, 20, 0.99);
    const faces = decodeRetinaface(out, ROLE, W, H);
    expect(faces.map((f) => f.score)).toEqual([0.5, 0.99].map((p) => expect.closeTo(p, 5)));
  });

  it('refuses outputs whose length does not match the priors of the manifest, naming roles.detector', () => {
    const out = outputs();
    const short = { ...out, scores: out.scores.subarray(0, (N - 1) * 2) };
    let error: FaceprintError | undefined;
    try {
      decodeRetinaface(short, ROLE, W, H);
    } catch (e) {
      error = e as FaceprintError;
    }
    expect(error?.code).toBe('MODEL_MISMATCH');
    expect(error?.message).toContain(`give ${N}`);
    expect(error?.message).toContain('roles.detector');
  });

  it('leaves one face per person after non-maximum suppression of overlapping priors', () => {
    const out = outputs();
    // Two sizes of the same cell (16 and 32 px around (24, 24)) and a far face at step 32.
    score(out, 5 * 2, 0.7);
    score(out, 5 * 2 + 1, 0.95);
    out.boxes.set([0, 0, Math.log(0.75) / 0.2, Math.log(0.75) / 0.2], (5 * 2 + 1) * 4);
    score(out, 35, 0.9);
    const faces = decodeRetinaface(out, ROLE, W, H);
    expect(faces).toHaveLength(3);
    const kept = nonMaxSuppression(faces, 0.4);
    expect(kept.map((f) => f.score)).toEqual([0.95, 0.9].map((p) => expect.closeTo(p, 5)));
    // The suppressed 16-px box lies inside the kept 24-px one around the same centre.
    expect(kept[0]?.box.width).toBeCloseTo(24);
    expect((kept[0]?.box.x ?? 0) + (kept[0]?.box.width ?? 0) / 2).toBeCloseTo(24);
  });
});
