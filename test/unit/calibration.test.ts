import { describe, expect, it } from 'vitest';
import {
  type Calibration,
  calibrationSchema,
  nextUp,
  parseCalibration,
  thresholdForFar,
  thresholdForFpir,
} from '../../functions/core/search/calibration.ts';
import { expectFaceprintError } from '../support/errors.ts';

const expectInvalid = (fn: () => unknown) => expectFaceprintError(fn, 'INVALID_ARGUMENT');

const rate = (scores: number[], t: number) => scores.filter((s) => s >= t).length / scores.length;

describe('nextUp', () => {
  it('returns the adjacent larger double', () => {
    expect(nextUp(1)).toBe(1 + 2 ** -52);
    expect(nextUp(-1)).toBe(-1 + 2 ** -53);
    expect(nextUp(0)).toBe(Number.MIN_VALUE);
    expect(nextUp(-0)).toBe(Number.MIN_VALUE);
    expect(nextUp(Number.NEGATIVE_INFINITY)).toBe(-Number.MAX_VALUE);
    expect(nextUp(0.8)).toBeGreaterThan(0.8);
    expect((0.8 + nextUp(0.8)) / 2 === 0.8 || (0.8 + nextUp(0.8)) / 2 === nextUp(0.8)).toBe(true);
  });
});

describe('thresholdForFpir', () => {
  const ten = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

  it('lets through at most floor(target × n) non-mated probes, and no lower threshold does', () => {
    // Two of ten may pass: the threshold sits just above the third-highest score, 0.8.
    const t = thresholdForFpir(ten, 0.2);
    expect(t).toBe(nextUp(0.8));
    expect(rate(ten, t)).toBe(0.2);
    expect(rate(ten, 0.8)).toBe(0.3);
    // 0.25 × 10 = 2.5 → still two.
    expect(thresholdForFpir(ten, 0.25)).toBe(nextUp(0.8));
  });

  it('steps strictly above a tied block', () => {
    const tied = [0.9, 0.7, 0.7, 0.7, 0.1];
    // Two of five may pass, but the 0.7s come as a block of three: only 0.9 passes.
    const t = thresholdForFpir(tied, 0.4);
    expect(t).toBe(nextUp(0.7));
    expect(rate(tied, t)).toBe(0.2);
    // Four of five may pass: the whole 0.7 block fits.
    expect(thresholdForFpir(tied, 0.8)).toBe(nextUp(0.1));
    expect(rate(tied, nextUp(0.1))).toBe(0.8);
  });

  it('is just above the top score at target 0 and the lowest score at target 1', () => {
    expect(thresholdForFpir(ten, 0)).toBe(nextUp(1.0));
    expect(thresholdForFpir(ten, 1)).toBe(0.1);
    expect(thresholdForFpir([0.4, 0.4], 0)).toBe(nextUp(0.4));
  });

  it('does not lose an allowed false positive to floating-point rounding', () => {
    // 0.29 × 100 = 28.999999999999996 in doubles; 29 probes may pass.
    const scores = Array.from({ length: 100 }, (_, i) => i / 100);
    const t = thresholdForFpir(scores, 0.29);
    expect(scores.filter((s) => s >= t).length).toBe(29);
  });

  it('holds the defining property on pseudo-random scores with ties', () => {
    let seed = 12345;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let trial = 0; trial < 50; trial++) {
      const scores = Array.from({ length: 1 + Math.floor(next() * 60) }, () => Math.round(next() * 20) / 20);
      const target = Math.round(next() * 100) / 100;
      const t = thresholdForFpir(scores, target);
      const allowed = Math.floor(target * scores.length + 1e-9);
      expect(scores.filter((s) => s >= t).length).toBeLessThanOrEqual(allowed);
      // The next distinct score below t would let too many through (unless t is already the lowest score).
      const below = scores.filter((s) => s < t);
      if (below.length > 0) {
        const lower = Math.max(...below);
        expect(scores.filter((s) => s >= lower).length).toBeGreaterThan(allowed);
      }
    }
  });

  it('rejects empty or non-finite scores and targets outside [0, 1]', () => {
    expectInvalid(() => thresholdForFpir([], 0.1));
    expectInvalid(() => thresholdForFpir([0.1, Number.NaN], 0.1));
    expectInvalid(() => thresholdForFpir([0.1, Number.POSITIVE_INFINITY], 0.1));
    expectInvalid(() => thresholdForFpir([0.1], -0.01));
    expectInvalid(() => thresholdForFpir([0.1], 1.01));
    expectInvalid(() => thresholdForFpir([0.1], Number.NaN));
  });
});

describe('thresholdForFar', () => {
  it('applies the same rule to impostor comparisons', () => {
    const impostors = [0.05, 0.12, 0.31, 0.31, 0.2, 0.44, 0.18, 0.09];
    // 0.25 × 8 = 2 may pass; sorted: 0.44, 0.31, 0.31, … → only 0.44 can, the tied 0.31s cannot.
    const t = thresholdForFar(impostors, 0.25);
    expect(t).toBe(nextUp(0.31));
    expect(rate(impostors, t)).toBe(0.125);
    expect(thresholdForFar(impostors, 0.375)).toBe(nextUp(0.2));
    expectInvalid(() => thresholdForFar([], 0.01));
  });
});

describe('calibration file', () => {
  const valid: Calibration = {
    id: 'cal-2025-01-02',
    createdAt: '2025-01-02T03:04:05.000Z',
    modelId: 'arcface-r100@1',
    pipelineVersion: '1.0.0',
    dataset: {
      description: 'synthetic dark/blur probes',
      identities: 100,
      matedProbes: 400,
      nonMatedProbes: 400,
    },
    targetFpir: 0.01,
    threshold: 0.42,
    verifyThreshold: 0.38,
    targetFar: 0.001,
    ambiguityMargin: 0.05,
    measured: { tpirAtThreshold: 0.87, fpirAtThreshold: 0.0075 },
    method: 'thresholdForFpir over non-mated top-1 scores',
  };

  it('parses a valid calibration and survives a JSON round trip', () => {
    expect(parseCalibration(JSON.parse(JSON.stringify(valid)))).toEqual(valid);
    expect(calibrationSchema.safeParse(valid).success).toBe(true);
  });

  it('names each offending field', () => {
    const error = expectInvalid(() =>
      parseCalibration({ ...valid, threshold: 1.5, dataset: { ...valid.dataset, identities: -1 } }),
    );
    expect(error.message).toMatch(/^invalid calibration: /);
    expect(error.message).toContain('threshold');
    expect(error.message).toContain('dataset.identities');
    const { method: _omitted, ...missing } = valid;
    expect(expectInvalid(() => parseCalibration(missing)).message).toContain('method');
    expect(expectInvalid(() => parseCalibration({ ...valid, createdAt: 'last tuesday' })).message).toContain(
      'createdAt',
    );
    expect(expectInvalid(() => parseCalibration({ ...valid, targetFpir: 2 })).message).toContain(
      'targetFpir',
    );
    expectInvalid(() => parseCalibration(null));
    expectInvalid(() => parseCalibration('{}'));
  });
});
