/**
 * Quality-aware open-set decisions. A face too degraded for the embedder produces similarities that say little:
 * its true subject's score sinks towards the impostors' (a confident-looking `unknown`), and an impostor's can
 * rise above the threshold (a wrong `match`). Faces are put in a quality band by their quality score; in the
 * `poor` band a match needs the stricter `poorThreshold`, and anything short of it is answered
 * `insufficient_quality` with the face's quality reasons, never `unknown` or a weaker match.
 */
import type { Candidate, Decision, QualityBand } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { FaceQuality } from '../types.ts';
import { confidenceOf, type DecisionPolicy, decide } from './decision.ts';

/** The quality gate of the open-set decision (recorded in the calibration file when `faceprint calibrate` set it). */
export interface QualityGate {
  /** Faces whose quality score is below this are in the `poor` band (0 turns the gate off). */
  minQuality: number;
  /** The similarity a `poor` face needs for a match. */
  poorThreshold: number;
  /** How the gate was chosen, in words. */
  method: string;
}

/**
 * The gate in force when the calibration names none: measured on the surveillance profiles of `faceprint eval`
 * (docs/accuracy.md, section 8); `poorThreshold` 0.6 is above every non-mated score measured there.
 */
export const DEFAULT_QUALITY_GATE: QualityGate = {
  minQuality: 0.1,
  poorThreshold: 0.6,
  method: 'default of functions/core/search/quality-gate.ts (docs/accuracy.md section 8)',
};

/** Reason given when a face is below the gate but none of its quality factors is below its own threshold. */
export const LOW_QUALITY_SCORE = 'LOW_QUALITY_SCORE';

/** The band of a face: `poor` below the gate's `minQuality`, else `good`. */
export function qualityBand(quality: Pick<FaceQuality, 'score'>, gate: QualityGate): QualityBand {
  return quality.score < gate.minQuality ? 'poor' : 'good';
}

/**
 * {@link decide} with the quality gate: a `good` face is decided as usual; a `poor` face is a `match` (or
 * `ambiguous`) only at or above `gate.poorThreshold`, and otherwise `insufficient_quality`, carrying its
 * candidates, best similarity and the reasons (the face's quality reasons, or {@link LOW_QUALITY_SCORE}). Every
 * decision records its band.
 *
 * @throws FaceprintError INVALID_ARGUMENT for a gate whose values are not finite or out of range.
 */
export function decideWithQuality(
  candidates: readonly Candidate[],
  policy: DecisionPolicy,
  quality: Pick<FaceQuality, 'score' | 'reasons'>,
  gate: QualityGate,
): Decision {
  checkGate(gate);
  const band = qualityBand(quality, gate);
  if (band === 'good') return { ...decide(candidates, policy), qualityBand: band };
  const strict = decide(candidates, { ...policy, threshold: Math.max(policy.threshold, gate.poorThreshold) });
  if (strict.kind !== 'unknown') return { ...strict, qualityBand: band };
  return {
    ...strict,
    kind: 'insufficient_quality',
    subjectId: undefined,
    confidence: confidenceOf(strict.similarity, strict.threshold),
    qualityBand: band,
    reasons: quality.reasons.length > 0 ? [...quality.reasons] : [LOW_QUALITY_SCORE],
  };
}

function checkGate(gate: QualityGate): void {
  const ok =
    Number.isFinite(gate.minQuality) &&
    gate.minQuality >= 0 &&
    gate.minQuality <= 1 &&
    Number.isFinite(gate.poorThreshold) &&
    gate.poorThreshold >= -1 &&
    gate.poorThreshold <= 1;
  if (!ok) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `The quality gate needs minQuality in [0, 1] and poorThreshold in [-1, 1] (got ${gate.minQuality}, ${gate.poorThreshold}).`,
    );
  }
}
