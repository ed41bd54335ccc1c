/**
 * Face-recognition evaluation metrics: pure functions over score arrays. "Genuine" scores compare two
 * images of the same person, "impostor" scores two different people; a comparison is accepted when its
 * score is ≥ the threshold. Every function throws `INVALID_ARGUMENT` when the quantity it reports is
 * undefined for the input (e.g. no genuine scores), rather than returning NaN.
 */
import { FaceprintError } from '../core/errors.ts';
import { nextUp, thresholdAtRate, thresholdForFar } from '../core/search/calibration.ts';

/** One point of a ROC curve. */
export interface RocPoint {
  /** Fraction of impostor scores ≥ threshold. */
  far: number;
  /** Fraction of genuine scores ≥ threshold. */
  tar: number;
  threshold: number;
}

/** A scored pair for k-fold verification accuracy (the LFW protocol). */
export interface ScoredPair {
  score: number;
  /** True when both images show the same person. */
  same: boolean;
  /** Fold label; pairs with equal labels form one fold. */
  fold: number;
}

/** Result of {@link kFoldAccuracy}. */
export interface KFoldResult {
  mean: number;
  /** Sample standard deviation (n − 1 denominator) of the per-fold accuracies. */
  std: number;
  /** Per fold, in ascending fold-label order: the threshold chosen on the other folds and its accuracy here. */
  perFold: { fold: number; threshold: number; accuracy: number }[];
}

/** One probe of an open-set identification run. */
export interface OpenSetProbe {
  /** True when the probe's subject is enrolled in the gallery. */
  mated: boolean;
  /** 1-based rank of the true subject among the candidates; null if absent (or non-mated). */
  trueRank: number | null;
  /** The true subject's score; null if absent (or non-mated). */
  trueScore: number | null;
  /** Best score over the gallery; null when the gallery is empty or no face was found. */
  topScore: number | null;
}

function invalid(message: string): FaceprintError {
  return new FaceprintError('INVALID_ARGUMENT', message);
}

function checkScores(name: string, scores: readonly number[]): void {
  if (!Array.isArray(scores) || scores.length === 0)
    throw invalid(`${name} must be a non-empty array of scores`);
  const bad = scores.findIndex((score) => typeof score !== 'number' || !Number.isFinite(score));
  if (bad >= 0) throw invalid(`${name}[${bad}] is not a finite number`);
}

function sortedAscending(scores: readonly number[]): Float64Array {
  return Float64Array.from(scores).sort();
}

/** Number of elements of ascending `sorted` that are < `value` (strict) or ≤ `value`. */
function countBelow(sorted: Float64Array, value: number, inclusive: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = sorted[mid] as number;
    if (x < value || (inclusive && x === value)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Area under the ROC curve as the Mann–Whitney statistic: the probability that a random genuine score is
 * above a random impostor score, ties counting one half.
 */
export function rocAuc(genuine: readonly number[], impostor: readonly number[]): number {
  checkScores('genuine', genuine);
  checkScores('impostor', impostor);
  const impostors = sortedAscending(impostor);
  let wins = 0;
  for (const score of genuine) {
    const below = countBelow(impostors, score, false);
    const tied = countBelow(impostors, score, true) - below;
    wins += below + tied / 2;
  }
  return wins / (genuine.length * impostor.length);
}

/**
 * True accept rate at the threshold {@link thresholdForFar} picks for `far` on the impostor scores; also
 * reports the false accept rate actually reached there (≤ `far`).
 */
export function tarAtFar(
  genuine: readonly number[],
  impostor: readonly number[],
  far: number,
): { tar: number; threshold: number; far: number } {
  checkScores('genuine', genuine);
  const threshold = thresholdForFar(impostor, far);
  const accepted = (scores: readonly number[]) =>
    scores.filter((score) => score >= threshold).length / scores.length;
  return { tar: accepted(genuine), threshold, far: accepted(impostor) };
}

/**
 * The ROC curve for plotting: one point per distinct score (as threshold, descending), preceded by the
 * point just above the highest score (FAR = TAR = 0); FAR is non-decreasing along the array and the last
 * point is (1, 1) at the lowest score.
 */
export function rocCurve(genuine: readonly number[], impostor: readonly number[]): RocPoint[] {
  checkScores('genuine', genuine);
  checkScores('impostor', impostor);
  const g = sortedAscending(genuine);
  const i = sortedAscending(impostor);
  const thresholds = [...new Set([...g, ...i])].sort((a, b) => b - a);
  const points: RocPoint[] = [{ far: 0, tar: 0, threshold: nextUp(thresholds[0] as number) }];
  for (const threshold of thresholds) {
    points.push({
      far: (i.length - countBelow(i, threshold, false)) / i.length,
      tar: (g.length - countBelow(g, threshold, false)) / g.length,
      threshold,
    });
  }
  return points;
}

/**
 * k-fold verification accuracy (LFW protocol). For each fold, the threshold is chosen on the other folds:
 * among the midpoints between consecutive distinct training scores (the single score itself when all
 * training scores are equal), the one with the highest training accuracy, the lowest on a tie; a pair is
 * predicted "same" when its score is ≥ the threshold. That threshold's accuracy on the held-out fold is the
 * fold's accuracy. `std` is the sample standard deviation (n − 1), which is what most LFW tables report as
 * "±". Needs at least two folds.
 */
export function kFoldAccuracy(pairs: readonly ScoredPair[]): KFoldResult {
  if (!Array.isArray(pairs) || pairs.length === 0) throw invalid('pairs must be a non-empty array');
  for (const [n, pair] of pairs.entries()) {
    if (!Number.isFinite(pair.score)) throw invalid(`pairs[${n}].score is not a finite number`);
    if (!Number.isFinite(pair.fold)) throw invalid(`pairs[${n}].fold is not a finite number`);
  }
  const folds = [...new Set(pairs.map((pair) => pair.fold))].sort((a, b) => a - b);
  if (folds.length < 2) throw invalid('k-fold accuracy needs pairs from at least two folds');
  const perFold = folds.map((fold) => {
    const train = pairs.filter((pair) => pair.fold !== fold).sort((a, b) => a.score - b.score);
    const test = pairs.filter((pair) => pair.fold === fold);
    const threshold = bestThreshold(train);
    const correct = test.filter((pair) => pair.score >= threshold === pair.same).length;
    return { fold, threshold, accuracy: correct / test.length };
  });
  const accuracies = perFold.map((entry) => entry.accuracy);
  const mean = accuracies.reduce((sum, a) => sum + a, 0) / accuracies.length;
  const variance = accuracies.reduce((sum, a) => sum + (a - mean) ** 2, 0) / (accuracies.length - 1);
  return { mean, std: Math.sqrt(variance), perFold };
}

/** The training-accuracy-maximising midpoint threshold of pairs sorted by ascending score. */
function bestThreshold(sorted: readonly ScoredPair[]): number {
  const sameTotal = sorted.filter((pair) => pair.same).length;
  const first = sorted[0] as ScoredPair;
  let best = first.score;
  let bestCorrect = -1;
  let sameBelow = 0;
  let diffBelow = 0;
  // Sweep distinct values; threshold between value d and the next one: scores ≤ d are predicted "different".
  for (let n = 0; n < sorted.length; ) {
    const value = (sorted[n] as ScoredPair).score;
    while (n < sorted.length && (sorted[n] as ScoredPair).score === value) {
      if ((sorted[n] as ScoredPair).same) sameBelow++;
      else diffBelow++;
      n++;
    }
    const next = sorted[n];
    if (!next) break;
    const correct = sameTotal - sameBelow + diffBelow;
    if (correct > bestCorrect) {
      bestCorrect = correct;
      best = (value + next.score) / 2;
    }
  }
  return best;
}

function checkProbes(probes: readonly OpenSetProbe[]): void {
  if (!Array.isArray(probes)) throw invalid('probes must be an array');
  for (const [n, probe] of probes.entries()) {
    const { trueRank, trueScore, topScore } = probe;
    if (trueRank !== null && (!Number.isInteger(trueRank) || trueRank < 1)) {
      throw invalid(`probes[${n}].trueRank must be a positive integer or null`);
    }
    for (const [name, score] of [
      ['trueScore', trueScore],
      ['topScore', topScore],
    ] as const) {
      if (score !== null && !Number.isFinite(score))
        throw invalid(`probes[${n}].${name} must be finite or null`);
    }
    if (!probe.mated && (trueRank !== null || trueScore !== null)) {
      throw invalid(`probes[${n}] is non-mated but has a true rank or score`);
    }
  }
}

function matedOf(probes: readonly OpenSetProbe[]): OpenSetProbe[] {
  checkProbes(probes);
  const mated = probes.filter((probe) => probe.mated);
  if (mated.length === 0) throw invalid('no mated probes: identification rates are undefined');
  return mated;
}

/**
 * Closed-set rank-k identification rate: the fraction of mated probes whose true subject is ranked ≤ k.
 * A mated probe without a rank (no face, or the subject not returned) counts as a miss.
 */
export function rankK(probes: readonly OpenSetProbe[], k: number): number {
  if (!Number.isInteger(k) || k < 1) throw invalid(`k must be a positive integer, got ${k}`);
  const mated = matedOf(probes);
  return mated.filter((probe) => probe.trueRank !== null && probe.trueRank <= k).length / mated.length;
}

/** Cumulative match characteristic: element `r − 1` is the rank-`r` identification rate, for r = 1..maxRank. */
export function cmc(probes: readonly OpenSetProbe[], maxRank: number): number[] {
  if (!Number.isInteger(maxRank) || maxRank < 1)
    throw invalid(`maxRank must be a positive integer, got ${maxRank}`);
  const mated = matedOf(probes);
  const hitsAtRank = new Array<number>(maxRank + 1).fill(0);
  for (const probe of mated) {
    if (probe.trueRank !== null && probe.trueRank <= maxRank) {
      hitsAtRank[probe.trueRank] = (hitsAtRank[probe.trueRank] ?? 0) + 1;
    }
  }
  const curve: number[] = [];
  let cumulative = 0;
  for (let rank = 1; rank <= maxRank; rank++) {
    cumulative += hitsAtRank[rank] ?? 0;
    curve.push(cumulative / mated.length);
  }
  return curve;
}

/**
 * Open-set true-positive identification rate at a target false-positive identification rate. The
 * threshold is the smallest at which at most `floor(fpir × non-mated probes)` non-mated probes have a top
 * score ≥ it (see `thresholdForFpir`; non-mated probes without a score count in the denominator and never
 * as false positives; with no scores at all the threshold is −Infinity). A mated probe is a true positive
 * when its true subject is rank 1 with a score ≥ threshold. `fpir` in the result is the rate measured at
 * the threshold. Needs at least one mated and one non-mated probe.
 */
export function tpirAtFpir(
  probes: readonly OpenSetProbe[],
  fpir: number,
): { tpir: number; threshold: number; fpir: number } {
  if (typeof fpir !== 'number' || !(fpir >= 0 && fpir <= 1))
    throw invalid(`fpir must be in [0, 1], got ${fpir}`);
  const mated = matedOf(probes);
  const nonMated = probes.filter((probe) => !probe.mated);
  if (nonMated.length === 0) throw invalid('no non-mated probes: FPIR is undefined');
  const scores = nonMated.flatMap((probe) => (probe.topScore === null ? [] : [probe.topScore]));
  const threshold = thresholdAtRate(scores, nonMated.length, fpir);
  const falsePositives = scores.filter((score) => score >= threshold).length;
  const truePositives = mated.filter(
    (probe) => probe.trueRank === 1 && probe.trueScore !== null && probe.trueScore >= threshold,
  ).length;
  return { tpir: truePositives / mated.length, threshold, fpir: falsePositives / nonMated.length };
}

/** Fraction of all probes the system answers "unknown" for: top score null or below `threshold`. */
export function abstentionRate(probes: readonly OpenSetProbe[], threshold: number): number {
  checkProbes(probes);
  if (probes.length === 0) throw invalid('probes must not be empty');
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) throw invalid('threshold must be a number');
  return (
    probes.filter((probe) => probe.topScore === null || probe.topScore < threshold).length / probes.length
  );
}
