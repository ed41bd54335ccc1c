import { describe, expect, it } from 'vitest';
import { nextUp } from '../../functions/core/search/calibration.ts';
import {
  abstentionRate,
  cmc,
  kFoldAccuracy,
  type OpenSetProbe,
  rankK,
  rocAuc,
  rocCurve,
  type ScoredPair,
  tarAtFar,
  tpirAtFpir,
} from '../../functions/eval/metrics.ts';
import { expectFaceprintError } from '../support/errors.ts';

const expectInvalid = (fn: () => unknown) => expectFaceprintError(fn, 'INVALID_ARGUMENT');

describe('rocAuc', () => {
  it('counts genuine-over-impostor wins with ties as one half', () => {
    // 0.9 and 0.8 beat all three impostors (3 + 3); 0.5 beats 0.3 and 0.1 and ties 0.5 (2.5) → 8.5 / 9.
    expect(rocAuc([0.9, 0.8, 0.5], [0.5, 0.3, 0.1])).toBeCloseTo(8.5 / 9, 12);
  });

  it('is 1 for perfect separation, 0 for reversed, 0.5 when everything ties', () => {
    expect(rocAuc([0.8, 0.9], [0.1, 0.2, 0.3])).toBe(1);
    expect(rocAuc([0.1], [0.2, 0.3])).toBe(0);
    expect(rocAuc([0.4, 0.4], [0.4, 0.4, 0.4])).toBe(0.5);
  });

  it('rejects empty inputs', () => {
    expectInvalid(() => rocAuc([], [0.1]));
    expectInvalid(() => rocAuc([0.1], []));
    expectInvalid(() => rocAuc([Number.NaN], [0.1]));
  });
});

describe('tarAtFar', () => {
  const genuine = [0.9, 0.8, 0.6, 0.4];
  const impostor = [0.7, 0.5, 0.3, 0.2, 0.1];

  it('picks the threshold on impostors and measures genuine acceptance there', () => {
    // One of five impostors may pass (0.7): threshold just above 0.5; genuine 0.9, 0.8, 0.6 pass.
    expect(tarAtFar(genuine, impostor, 0.2)).toEqual({ tar: 0.75, threshold: nextUp(0.5), far: 0.2 });
    expect(tarAtFar(genuine, impostor, 0)).toEqual({ tar: 0.5, threshold: nextUp(0.7), far: 0 });
    // 0.3 × 5 = 1.5 → still one impostor.
    expect(tarAtFar(genuine, impostor, 0.3).tar).toBe(0.75);
    expect(tarAtFar(genuine, impostor, 1)).toEqual({ tar: 1, threshold: 0.1, far: 1 });
  });

  it('rejects empty inputs', () => {
    expectInvalid(() => tarAtFar([], impostor, 0.1));
    expectInvalid(() => tarAtFar(genuine, [], 0.1));
  });
});

describe('rocCurve', () => {
  it('has one point per distinct score, from (0, 0) to (1, 1)', () => {
    expect(rocCurve([0.9, 0.5], [0.5, 0.2])).toEqual([
      { far: 0, tar: 0, threshold: nextUp(0.9) },
      { far: 0, tar: 0.5, threshold: 0.9 },
      { far: 0.5, tar: 1, threshold: 0.5 },
      { far: 1, tar: 1, threshold: 0.2 },
    ]);
  });

  it('is monotone on a larger set', () => {
    const points = rocCurve([0.9, 0.7, 0.7, 0.3, 0.6], [0.1, 0.7, 0.2, 0.2, 0.5]);
    expect(points).toHaveLength(1 + 7);
    for (let i = 1; i < points.length; i++) {
      const [a, b] = [points[i - 1], points[i]];
      expect(b?.far).toBeGreaterThanOrEqual(a?.far ?? 2);
      expect(b?.tar).toBeGreaterThanOrEqual(a?.tar ?? 2);
      expect(b?.threshold).toBeLessThan(a?.threshold ?? -2);
    }
    expect(points.at(-1)).toEqual({ far: 1, tar: 1, threshold: 0.1 });
  });
});

describe('kFoldAccuracy', () => {
  const pairs: ScoredPair[] = [
    { score: 0.9, same: true, fold: 0 },
    { score: 0.2, same: false, fold: 0 },
    { score: 0.8, same: true, fold: 1 },
    { score: 0.45, same: false, fold: 1 },
    { score: 0.6, same: true, fold: 2 },
    { score: 0.7, same: false, fold: 2 },
  ];

  it('chooses each fold threshold on the other folds and reports mean and sample std', () => {
    const result = kFoldAccuracy(pairs);
    // Fold 0: train 0.45d 0.6s 0.7d 0.8s; midpoints 0.525 (3/4), 0.65 (2/4), 0.75 (3/4) → lowest best 0.525;
    //   test: 0.9 same ✓, 0.2 diff ✓ → 1.
    // Fold 1: train 0.2d 0.6s 0.7d 0.9s; 0.4 (3/4), 0.65 (2/4), 0.8 (3/4) → 0.4; test: 0.8 ✓, 0.45 ≥ 0.4 ✗ → 0.5.
    // Fold 2: train 0.2d 0.45d 0.8s 0.9s; 0.325 (3/4), 0.625 (4/4), 0.85 (3/4) → 0.625; test: 0.6 ✗, 0.7 ✗ → 0.
    expect(result.perFold.map((f) => f.fold)).toEqual([0, 1, 2]);
    expect(result.perFold.map((f) => f.accuracy)).toEqual([1, 0.5, 0]);
    expect(result.perFold[0]?.threshold).toBeCloseTo(0.525, 12);
    expect(result.perFold[1]?.threshold).toBeCloseTo(0.4, 12);
    expect(result.perFold[2]?.threshold).toBeCloseTo(0.625, 12);
    expect(result.mean).toBeCloseTo(0.5, 12);
    // Sample std: sqrt((0.25 + 0 + 0.25) / 2) = 0.5 (the population std would be 0.408).
    expect(result.std).toBeCloseTo(0.5, 12);
  });

  it('uses the single training score when all training scores tie', () => {
    const ties: ScoredPair[] = [
      { score: 0.5, same: true, fold: 1 },
      { score: 0.5, same: false, fold: 1 },
      { score: 0.5, same: true, fold: 2 },
      { score: 0.5, same: true, fold: 2 },
    ];
    const result = kFoldAccuracy(ties);
    expect(result.perFold).toEqual([
      { fold: 1, threshold: 0.5, accuracy: 0.5 },
      { fold: 2, threshold: 0.5, accuracy: 1 },
    ]);
    expect(result.mean).toBe(0.75);
    expect(result.std).toBeCloseTo(Math.sqrt(0.125), 12);
  });

  it('needs two folds and finite scores', () => {
    expectInvalid(() => kFoldAccuracy([]));
    expectInvalid(() => kFoldAccuracy([{ score: 0.5, same: true, fold: 0 }]));
    expectInvalid(() =>
      kFoldAccuracy([
        { score: Number.NaN, same: true, fold: 0 },
        { score: 0.5, same: true, fold: 1 },
      ]),
    );
  });
});

describe('open-set identification', () => {
  const mated = (
    trueRank: number | null,
    trueScore: number | null,
    topScore: number | null,
  ): OpenSetProbe => ({
    mated: true,
    trueRank,
    trueScore,
    topScore,
  });
  const nonMated = (topScore: number | null): OpenSetProbe => ({
    mated: false,
    trueRank: null,
    trueScore: null,
    topScore,
  });
  const probes: OpenSetProbe[] = [
    mated(1, 0.8, 0.8),
    mated(2, 0.6, 0.7),
    mated(1, 0.45, 0.45),
    mated(null, null, 0.5), // true subject not among the candidates
    mated(null, null, null), // no face
    nonMated(0.65),
    nonMated(0.4),
    nonMated(0.5),
    nonMated(null),
  ];

  it('computes rank-k and the CMC over mated probes, counting no-face probes as misses', () => {
    expect(rankK(probes, 1)).toBe(2 / 5);
    expect(rankK(probes, 2)).toBe(3 / 5);
    expect(rankK(probes, 10)).toBe(3 / 5);
    expect(cmc(probes, 3)).toEqual([2 / 5, 3 / 5, 3 / 5]);
  });

  it('computes TPIR at FPIR with the calibrated threshold', () => {
    // Four non-mated probes with scores 0.65, 0.5, 0.4 and one without a face.
    // FPIR 0.25 → one may pass → threshold just above 0.5; rank-1 true scores 0.8 ✓, 0.45 ✗.
    expect(tpirAtFpir(probes, 0.25)).toEqual({ tpir: 1 / 5, threshold: nextUp(0.5), fpir: 0.25 });
    expect(tpirAtFpir(probes, 0)).toEqual({ tpir: 1 / 5, threshold: nextUp(0.65), fpir: 0 });
    // FPIR 0.5 → two → just above 0.4; 0.45 now passes.
    expect(tpirAtFpir(probes, 0.5)).toEqual({ tpir: 2 / 5, threshold: nextUp(0.4), fpir: 0.5 });
    // FPIR 0.75 → three: every scored non-mated probe may pass → the lowest score.
    expect(tpirAtFpir(probes, 0.75)).toEqual({ tpir: 2 / 5, threshold: 0.4, fpir: 0.75 });
    // A rank-2 probe never counts, however high its score.
    expect(tpirAtFpir(probes, 1).tpir).toBe(2 / 5);
  });

  it('computes the abstention rate over all probes', () => {
    // Below 0.5 or no score: 0.45, no face, 0.4, no face → 4 of 9.
    expect(abstentionRate(probes, 0.5)).toBe(4 / 9);
    expect(abstentionRate(probes, 0)).toBe(2 / 9);
    expect(abstentionRate(probes, 0.81)).toBe(1);
  });

  it('handles an empty gallery: no ranks, no scores', () => {
    const empty = [mated(null, null, null), mated(null, null, null), nonMated(null)];
    expect(rankK(empty, 1)).toBe(0);
    expect(cmc(empty, 2)).toEqual([0, 0]);
    expect(tpirAtFpir(empty, 0.01)).toEqual({ tpir: 0, threshold: Number.NEGATIVE_INFINITY, fpir: 0 });
    expect(abstentionRate(empty, 0.3)).toBe(1);
  });

  it('handles all-unknown runs', () => {
    // Everything below the threshold: nothing identified, everything abstained.
    const low = [mated(1, 0.2, 0.2), mated(3, 0.1, 0.25), nonMated(0.3), nonMated(0.1)];
    expect(tpirAtFpir(low, 0)).toEqual({ tpir: 0, threshold: nextUp(0.3), fpir: 0 });
    expect(abstentionRate(low, 0.35)).toBe(1);
    // Only non-mated probes: identification rates are undefined, abstention is not.
    const unknownOnly = [nonMated(0.3), nonMated(null)];
    expectInvalid(() => rankK(unknownOnly, 1));
    expectInvalid(() => cmc(unknownOnly, 1));
    expectInvalid(() => tpirAtFpir(unknownOnly, 0.1));
    expect(abstentionRate(unknownOnly, 0.5)).toBe(1);
  });

  it('rejects inconsistent probes and bad arguments', () => {
    expectInvalid(() => tpirAtFpir([mated(1, 0.9, 0.9)], 0.1));
    expectInvalid(() => rankK([{ mated: false, trueRank: 1, trueScore: 0.5, topScore: 0.5 }], 1));
    expectInvalid(() => rankK([mated(0, 0.5, 0.5)], 1));
    expectInvalid(() => rankK([mated(1.5, 0.5, 0.5)], 1));
    expectInvalid(() => rankK(probes, 0));
    expectInvalid(() => cmc(probes, 0));
    expectInvalid(() => tpirAtFpir(probes, 1.5));
    expectInvalid(() => abstentionRate([], 0.5));
    expectInvalid(() => abstentionRate([mated(1, Number.NaN, 0.5)], 0.5));
  });
});
