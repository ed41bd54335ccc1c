/** Open-set (1:N) and 1:1 decisions from similarity scores. */

import type { Candidate, Decision } from '../domain.ts';
import { FaceprintError } from '../errors.ts';

/**
 * Width of the logistic that turns a similarity into a confidence: `confidence = 1 / (1 + exp(−(s − t) / S))`
 * with `S = 0.05`. At the threshold the confidence is 0.5; 0.05 above it ≈ 0.73, 0.1 above ≈ 0.88,
 * 0.15 above ≈ 0.95 (and symmetrically below). It is a readable ranking aid, not a calibrated probability.
 */
export const CONFIDENCE_SCALE = 0.05;

/** Slack for comparing a score gap with the margin, so that e.g. 0.75 − 0.70 counts as within 0.05. */
const MARGIN_EPSILON = 1e-9;

/** The thresholds of an open-set decision. */
export interface DecisionPolicy {
  /** A candidate below this similarity is not a match. */
  threshold: number;
  /** A best candidate whose lead over the runner-up is at most this (both above threshold) is ambiguous. */
  ambiguityMargin: number;
}

/** The answer of a 1:1 verification. */
export interface VerifyDecision {
  match: boolean;
  similarity: number;
  threshold: number;
  /** See {@link CONFIDENCE_SCALE}. */
  confidence: number;
}

function invalid(message: string): FaceprintError {
  return new FaceprintError('INVALID_ARGUMENT', message);
}

function checkFinite(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw invalid(`${name} must be a finite number, got ${value}`);
}

/**
 * Probability-like confidence in [0, 1] that `similarity` is a match at `threshold`: a logistic of their
 * difference with the width {@link CONFIDENCE_SCALE}.
 */
export function confidenceOf(similarity: number, threshold: number): number {
  const value = 1 / (1 + Math.exp(-(similarity - threshold) / CONFIDENCE_SCALE));
  return Math.min(1, Math.max(0, value));
}

/**
 * The open-set decision for one probe face from its candidates (any order; one per subject):
 *
 * - `unknown` when there is no candidate or the best similarity is below `threshold`;
 * - `ambiguous` when the best is at or above `threshold` and the best *other* subject is too, within
 *   `ambiguityMargin` of the best (inclusive);
 * - `match` otherwise.
 *
 * `subjectId` is the best candidate's for `match` and `ambiguous`, undefined for `unknown`. `margin` and
 * `threshold` echo the policy. `confidence` is {@link confidenceOf} the best similarity (so below 0.5 for
 * `unknown`); with no candidate at all, `similarity` and `confidence` are 0. `candidates` are returned
 * best first (ties by subject id). Throws `INVALID_ARGUMENT` for a non-finite policy value, a negative
 * margin or a non-finite candidate similarity.
 */
export function decide(candidates: readonly Candidate[], policy: DecisionPolicy): Decision {
  checkFinite('threshold', policy.threshold);
  checkFinite('ambiguityMargin', policy.ambiguityMargin);
  if (policy.ambiguityMargin < 0) throw invalid('ambiguityMargin must be >= 0');
  for (const candidate of candidates)
    checkFinite(`similarity of ${candidate.subjectId}`, candidate.similarity);
  const { threshold, ambiguityMargin } = policy;
  const sorted = [...candidates].sort(
    (a, b) =>
      b.similarity - a.similarity || (a.subjectId < b.subjectId ? -1 : a.subjectId > b.subjectId ? 1 : 0),
  );
  const best = sorted[0];
  if (!best) {
    return {
      kind: 'unknown',
      subjectId: undefined,
      similarity: 0,
      threshold,
      margin: ambiguityMargin,
      confidence: 0,
      candidates: [],
    };
  }
  const base = {
    similarity: best.similarity,
    threshold,
    margin: ambiguityMargin,
    confidence: confidenceOf(best.similarity, threshold),
    candidates: sorted,
  };
  if (best.similarity < threshold) return { kind: 'unknown', subjectId: undefined, ...base };
  const runnerUp = sorted.find((candidate) => candidate.subjectId !== best.subjectId);
  const ambiguous =
    runnerUp !== undefined &&
    runnerUp.similarity >= threshold &&
    best.similarity - runnerUp.similarity <= ambiguityMargin + MARGIN_EPSILON;
  return { kind: ambiguous ? 'ambiguous' : 'match', subjectId: best.subjectId, ...base };
}

/** The 1:1 verification answer: a match when `similarity ≥ threshold`. Throws `INVALID_ARGUMENT` for non-finite input. */
export function verifyDecision(similarity: number, threshold: number): VerifyDecision {
  checkFinite('similarity', similarity);
  checkFinite('threshold', threshold);
  return {
    match: similarity >= threshold,
    similarity,
    threshold,
    confidence: confidenceOf(similarity, threshold),
  };
}
