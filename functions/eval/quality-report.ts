/**
 * What the quality gate of `core/search/quality-gate.ts` would do to a run's probes at the decision threshold:
 * of the errors (wrong matches, false positives and silent misses: mated probes answered `unknown`), how many it
 * turns into `insufficient_quality`, and how many correct matches it costs. Probes without a face, or whose
 * cached line has no quality, are left out (they never reach a decision).
 */
import type { QualityGate } from '../core/search/quality-gate.ts';
import { qualityBand } from '../core/search/quality-gate.ts';

export interface GateProbe {
  mated: boolean;
  trueRank: number | null;
  topScore: number | null;
  quality?: { score: number } | undefined;
}

export interface GateOutcome {
  minQuality: number;
  poorThreshold: number;
  /** Probes with a face and a known quality. */
  judged: number;
  /** Of them, answered insufficient_quality. */
  insufficient: number;
  /** Errors at the threshold without the gate: wrong matches + false positives + silent misses. */
  errors: number;
  /** Of those errors, the ones the gate answers insufficient_quality instead. */
  errorsCaught: number;
  /** Correct matches without the gate that become insufficient_quality. */
  correctLost: number;
  correct: number;
  /** Non-mated probes accepted with the gate (wrong in the poor band needs poorThreshold), as a fraction. */
  fpir: number;
}

/** Replays the gate over scored probes at `threshold`, for each gate of `gates`. */
export function gateOutcomes(
  probes: readonly GateProbe[],
  threshold: number,
  gates: readonly Pick<QualityGate, 'minQuality' | 'poorThreshold'>[],
): GateOutcome[] {
  const judged = probes.filter((p) => p.topScore !== null && p.quality);
  const nonMated = judged.filter((p) => !p.mated).length;
  return gates.map((gate) => {
    let insufficient = 0;
    let errors = 0;
    let errorsCaught = 0;
    let correctLost = 0;
    let correct = 0;
    let falsePositives = 0;
    for (const p of judged) {
      const top = p.topScore as number;
      const poor = qualityBand(p.quality as { score: number }, { ...gate, method: '' }) === 'poor';
      const gated = poor && top < Math.max(threshold, gate.poorThreshold);
      if (gated) insufficient += 1;
      const accepted = top >= threshold;
      const isCorrect = p.mated && accepted && p.trueRank === 1;
      if (isCorrect) {
        correct += 1;
        if (gated) correctLost += 1;
      } else if (p.mated || accepted) {
        // A wrong match, a false positive, or a mated probe answered unknown.
        errors += 1;
        if (gated) errorsCaught += 1;
      }
      if (!p.mated && accepted && !gated) falsePositives += 1;
    }
    return {
      minQuality: gate.minQuality,
      poorThreshold: gate.poorThreshold,
      judged: judged.length,
      insufficient,
      errors,
      errorsCaught,
      correctLost,
      correct,
      fpir: nonMated > 0 ? falsePositives / nonMated : 0,
    };
  });
}

/** The gates every identification run reports (minQuality × poorThreshold). */
export const REPORTED_GATES: readonly { minQuality: number; poorThreshold: number }[] = [
  0.05, 0.1, 0.2, 0.3,
].flatMap((minQuality) => [0.6, 0.7].map((poorThreshold) => ({ minQuality, poorThreshold })));
