/** Thresholds from measured score distributions, and the calibration file that records them. */
import { z } from 'zod';
import { FaceprintError } from '../errors.ts';

const bits = new Float64Array(1);
const bitsAsInt = new BigInt64Array(bits.buffer);

/** The smallest double greater than `x` (Math.nextUp). */
export function nextUp(x: number): number {
  if (Number.isNaN(x) || x === Number.POSITIVE_INFINITY) return x;
  if (x === 0) return Number.MIN_VALUE;
  bits[0] = x;
  // For IEEE-754 doubles, stepping the bit pattern by one moves to the adjacent value (away from 0 when
  // positive, towards 0 when negative).
  bitsAsInt[0] = (bitsAsInt[0] as bigint) + (x > 0 ? 1n : -1n);
  return bits[0] as number;
}

function checkRate(name: string, rate: number): void {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new FaceprintError('INVALID_ARGUMENT', `${name} must be a number in [0, 1], got ${rate}`);
  }
}

function checkScores(name: string, scores: readonly number[]): void {
  if (!Array.isArray(scores) || scores.length === 0) {
    throw new FaceprintError('INVALID_ARGUMENT', `${name} must be a non-empty array of scores`);
  }
  const bad = scores.findIndex((score) => typeof score !== 'number' || !Number.isFinite(score));
  if (bad >= 0) throw new FaceprintError('INVALID_ARGUMENT', `${name}[${bad}] is not a finite number`);
}

/**
 * The smallest threshold `t` with `#{scores ≥ t} ≤ floor(targetRate × total)`, where `scores` are the
 * finite scores of `total` trials (trials without a score can never pass). When the allowance covers every
 * score, this is the lowest score (all pass), or −Infinity when there are none. Otherwise it is the double
 * just above the `(allowance + 1)`-th highest score, so a block of tied scores is excluded as a whole.
 * @internal
 */
export function thresholdAtRate(scores: readonly number[], total: number, targetRate: number): number {
  // The epsilon keeps e.g. 0.29 × 100 = 28.999999999999996 from losing an allowed false accept.
  const allowed = Math.floor(targetRate * total + 1e-9);
  if (allowed >= scores.length) {
    if (scores.length === 0) return Number.NEGATIVE_INFINITY;
    let lowest = Number.POSITIVE_INFINITY;
    for (const score of scores) if (score < lowest) lowest = score;
    return lowest;
  }
  const sorted = Float64Array.from(scores).sort().reverse();
  return nextUp(sorted[allowed] as number);
}

/**
 * Open-set threshold: the smallest threshold at which the fraction of non-mated probes whose best gallery
 * score is ≥ threshold (the false-positive identification rate) is at most `targetFpir`. Ties are handled
 * by returning a value strictly above a tied block when including it would exceed the target. When the
 * target allows every probe, returns the lowest score. Throws `INVALID_ARGUMENT` for an empty or
 * non-finite input or a target outside [0, 1].
 */
export function thresholdForFpir(nonMatedTopScores: readonly number[], targetFpir: number): number {
  checkScores('nonMatedTopScores', nonMatedTopScores);
  checkRate('targetFpir', targetFpir);
  return thresholdAtRate(nonMatedTopScores, nonMatedTopScores.length, targetFpir);
}

/**
 * 1:1 threshold: the smallest threshold at which the fraction of impostor comparisons scoring ≥ threshold
 * (the false accept rate) is at most `targetFar`; same tie handling and errors as {@link thresholdForFpir}.
 */
export function thresholdForFar(impostorScores: readonly number[], targetFar: number): number {
  checkScores('impostorScores', impostorScores);
  checkRate('targetFar', targetFar);
  return thresholdAtRate(impostorScores, impostorScores.length, targetFar);
}

/** A calibration file: the thresholds in force and how they were measured. */
export interface Calibration {
  /** Stable id; decision audit entries refer to it. */
  id: string;
  /** ISO-8601 timestamp. */
  createdAt: string;
  /** The embedding model the scores came from; a calibration is only valid for that model. */
  modelId: string;
  /** Version of the detection/alignment/enhancement pipeline that produced the scores. */
  pipelineVersion: string;
  dataset: {
    description: string;
    identities: number;
    matedProbes: number;
    nonMatedProbes: number;
  };
  /** The false-positive identification rate the open-set threshold was chosen for. */
  targetFpir: number;
  /** Open-set (1:N) threshold. */
  threshold: number;
  /** 1:1 verification threshold. */
  verifyThreshold: number;
  /** The false accept rate the verification threshold was chosen for. */
  targetFar: number;
  ambiguityMargin: number;
  measured: {
    tpirAtThreshold: number;
    fpirAtThreshold: number;
  };
  /** How the thresholds were derived, in words. */
  method: string;
  /** The quality gate of quality-aware decisions (absent: the built-in default of quality-gate.ts). */
  qualityGate?: { minQuality: number; poorThreshold: number; method: string } | undefined;
}

const rate = z.number().min(0).max(1);
const similarity = z.number().min(-1).max(1);
const count = z.number().int().nonnegative();

/** Zod schema of {@link Calibration}; thresholds are cosine similarities in [−1, 1], rates in [0, 1]. */
export const calibrationSchema: z.ZodType<Calibration> = z.object({
  id: z.string().min(1),
  createdAt: z.iso.datetime({ offset: true }),
  modelId: z.string().min(1),
  pipelineVersion: z.string().min(1),
  dataset: z.object({
    description: z.string(),
    identities: count,
    matedProbes: count,
    nonMatedProbes: count,
  }),
  targetFpir: rate,
  threshold: similarity,
  verifyThreshold: similarity,
  targetFar: rate,
  ambiguityMargin: z.number().min(0).max(2),
  measured: z.object({ tpirAtThreshold: rate, fpirAtThreshold: rate }),
  method: z.string().min(1),
  qualityGate: z
    .object({ minQuality: rate, poorThreshold: similarity, method: z.string().min(1) })
    .optional(),
});

/**
 * Validates parsed JSON as a {@link Calibration}. Throws `INVALID_ARGUMENT` whose message names every
 * offending field, e.g. `invalid calibration: threshold: Too big: expected number to be <=1`.
 */
export function parseCalibration(json: unknown): Calibration {
  const result = calibrationSchema.safeParse(json);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
  throw new FaceprintError('INVALID_ARGUMENT', `invalid calibration: ${problems.join('; ')}`, { problems });
}
