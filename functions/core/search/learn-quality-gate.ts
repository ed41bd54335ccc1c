/**
 * Learns the quality gate (`quality-gate.ts`) from scored, labelled probes, as `faceprint calibrate` sees them:
 * `poorThreshold` keeps the poor band's false-positive rate at the target FPIR, and `minQuality` is the gate, on a
 * fixed grid, that turns the most errors into `insufficient_quality` net of the correct answers it costs.
 *
 * Errors are what the gate is for (docs/accuracy.md, section 8): wrong matches, false positives, and mated probes
 * answered `unknown` at the open-set threshold. Correct answers are correct matches and strangers answered
 * `unknown`: a gate that also labels strangers' faces `insufficient_quality` pays for each, so where quality does not
 * tell errors from correct answers (clean photos) no gate gains and it stays off. A probe whose face was not found
 * never reaches a decision and is left out.
 */
import { nextUp, thresholdForFpir } from './calibration.ts';
import type { QualityGate } from './quality-gate.ts';

/** One probe as calibration scored it. */
export interface GateSample {
  /** Its person is enrolled. */
  mated: boolean;
  /** Mated: the best candidate is its own person. */
  correct: boolean;
  /** The best candidate's fused similarity. */
  topScore: number;
  /** The face's quality score. */
  quality: number;
}

/** The `minQuality` values tried (0 = no gate). */
export const GATE_GRID: readonly number[] = [
  0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5,
];

export interface LearnedGate extends QualityGate {
  measured: {
    /** Errors at the threshold without a gate, and how many this gate turns into insufficient_quality. */
    errors: number;
    errorsCaught: number;
    /** Correct answers without a gate (correct matches, strangers answered unknown), and how many this gate costs. */
    correct: number;
    correctLost: number;
    /** Probes answered insufficient_quality, of those judged. */
    insufficient: number;
    judged: number;
  };
}

/** The poor band's threshold for a gate: at the target FPIR over its own strangers, else above all of them. */
function poorThresholdFor(
  poorStrangers: number[],
  allStrangers: number[],
  threshold: number,
  targetFpir: number,
) {
  // Too few strangers in the band to read a rate of targetFpir: stay above every stranger seen.
  const enough = poorStrangers.length * targetFpir >= 1;
  const fromData = enough
    ? thresholdForFpir(poorStrangers, targetFpir)
    : allStrangers.length > 0
      ? nextUp(Math.max(...allStrangers))
      : threshold;
  return Math.min(1, Math.max(threshold, fromData));
}

/**
 * Learns `minQuality` and `poorThreshold` for the open-set `threshold` and the target FPIR (see the module
 * header). Ties go to the lower gate; when no gate catches more errors than it costs, the gate is off
 * (`minQuality` 0).
 */
export function learnQualityGate(
  samples: readonly GateSample[],
  threshold: number,
  targetFpir: number,
  description: string,
): LearnedGate {
  const strangers = samples.filter((s) => !s.mated).map((s) => s.topScore);
  let best: LearnedGate | undefined;
  for (const minQuality of GATE_GRID) {
    const poor = samples.filter((s) => s.quality < minQuality);
    const poorThreshold = poorThresholdFor(
      poor.filter((s) => !s.mated).map((s) => s.topScore),
      strangers,
      threshold,
      targetFpir,
    );
    let errors = 0;
    let errorsCaught = 0;
    let correct = 0;
    let correctLost = 0;
    let insufficient = 0;
    for (const s of samples) {
      const gated = s.quality < minQuality && s.topScore < poorThreshold;
      if (gated) insufficient += 1;
      const accepted = s.topScore >= threshold;
      if ((s.mated && s.correct && accepted) || (!s.mated && !accepted)) {
        correct += 1;
        if (gated) correctLost += 1;
      } else {
        errors += 1;
        if (gated) errorsCaught += 1;
      }
    }
    const gate: LearnedGate = {
      minQuality,
      poorThreshold: Math.ceil(poorThreshold * 1e6) / 1e6,
      method: '',
      measured: { errors, errorsCaught, correct, correctLost, insufficient, judged: samples.length },
    };
    const net = errorsCaught - correctLost;
    if (!best || net > best.measured.errorsCaught - best.measured.correctLost) best = gate;
  }
  const chosen = best as LearnedGate;
  const net = chosen.measured.errorsCaught - chosen.measured.correctLost;
  const off = chosen.minQuality === 0 || net <= 0;
  const gate: LearnedGate = off
    ? {
        ...chosen,
        minQuality: 0,
        poorThreshold: Math.ceil(threshold * 1e6) / 1e6,
        measured: { ...chosen.measured, errorsCaught: 0, correctLost: 0, insufficient: 0 },
      }
    : chosen;
  const m = gate.measured;
  gate.method =
    `Learned by faceprint calibrate on ${description} (${m.judged} probes with a face) at threshold ${threshold.toFixed(6)}: ` +
    (off
      ? `no minQuality of ${GATE_GRID.join(', ')} caught more errors than it cost correct answers, so the gate is off.`
      : `minQuality ${gate.minQuality} (of ${GATE_GRID.join(', ')}) catches the most errors net of correct answers lost: ` +
        `${m.errorsCaught} of ${m.errors} errors (wrong matches, false positives, mated probes answered unknown) become ` +
        `insufficient_quality, at the cost of ${m.correctLost} of ${m.correct} correct answers (correct matches and strangers answered unknown); ` +
        `poorThreshold keeps the poor ` +
        `band's FPIR at ${targetFpir} (or, with too few strangers in the band, above every stranger).`);
  return gate;
}
