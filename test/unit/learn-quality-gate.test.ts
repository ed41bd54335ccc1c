import { describe, expect, it } from 'vitest';
import { type GateSample, learnQualityGate } from '../../functions/core/search/learn-quality-gate.ts';
import { decideWithQuality } from '../../functions/core/search/quality-gate.ts';

/** A seeded stream in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a * 1664525 + 1013904223) >>> 0;
    return a / 4_294_967_296;
  };
}

/**
 * Good faces (quality 0.3–1) are matched well above the threshold 0.5; poor ones (quality < 0.08) score like
 * strangers (around 0.3) and are mostly wrong; strangers of both kinds top out near 0.45.
 */
function synthetic(): GateSample[] {
  const r = rng(9);
  const out: GateSample[] = [];
  for (let i = 0; i < 300; i++)
    out.push({ mated: true, correct: true, topScore: 0.6 + 0.3 * r(), quality: 0.3 + 0.7 * r() });
  for (let i = 0; i < 100; i++)
    out.push({ mated: true, correct: r() < 0.2, topScore: 0.2 + 0.25 * r(), quality: 0.08 * r() });
  for (let i = 0; i < 200; i++)
    out.push({ mated: false, correct: false, topScore: 0.1 + 0.35 * r(), quality: r() });
  return out;
}

describe('learnQualityGate (what faceprint calibrate records)', () => {
  it('puts the gate above the poor faces and below the good ones, and records how', () => {
    const gate = learnQualityGate(synthetic(), 0.5, 0.01, 'a synthetic folder');
    expect(gate.minQuality).toBeGreaterThan(0.075);
    expect(gate.minQuality).toBeLessThanOrEqual(0.3);
    expect(gate.poorThreshold).toBeGreaterThanOrEqual(0.5);
    // Every poor mated probe was an error (unknown at 0.5): all are caught. No correct match is lost; the cost is
    // the strangers below the gate, whose correct "unknown" becomes insufficient_quality.
    const samples = synthetic();
    expect(gate.measured.errorsCaught).toBe(100);
    const poorStrangers = samples.filter((x) => !x.mated && x.quality < gate.minQuality).length;
    expect(gate.measured.correctLost).toBe(poorStrangers);
    expect(poorStrangers).toBeLessThan(100);
    expect(gate.method).toContain('a synthetic folder');
    expect(gate.method).toContain(`minQuality ${gate.minQuality}`);
  });

  it('with the learned gate, insufficient_quality is returned for a poor face and never for a good one', () => {
    const gate = learnQualityGate(synthetic(), 0.5, 0.01, 'synthetic');
    const candidates = [{ subjectId: 's', similarity: 0.35, templateId: 't' }];
    const policy = { threshold: 0.5, ambiguityMargin: 0.03 };
    expect(
      decideWithQuality(candidates, policy, { score: 0.04, reasons: ['LOW_SHARPNESS'] }, gate).kind,
    ).toBe('insufficient_quality');
    expect(decideWithQuality(candidates, policy, { score: 0.9, reasons: [] }, gate).kind).toBe('unknown');
  });

  it('turns the gate off where quality does not predict errors (clean data)', () => {
    const r = rng(3);
    const clean: GateSample[] = [];
    for (let i = 0; i < 300; i++)
      clean.push({ mated: true, correct: true, topScore: 0.6 + 0.3 * r(), quality: 0.5 + 0.5 * r() });
    for (let i = 0; i < 100; i++)
      clean.push({ mated: false, correct: false, topScore: 0.1 + 0.3 * r(), quality: 0.5 + 0.5 * r() });
    const gate = learnQualityGate(clean, 0.5, 0.01, 'clean');
    expect(gate.minQuality).toBe(0);
    expect(gate.measured.insufficient).toBe(0);
    expect(gate.method).toContain('the gate is off');
  });

  it('keeps the poor band above every stranger when it holds too few to read the target FPIR', () => {
    const samples: GateSample[] = [
      ...synthetic(),
      { mated: false, correct: false, topScore: 0.58, quality: 0.01 },
    ];
    const gate = learnQualityGate(samples, 0.5, 0.01, 'synthetic');
    expect(gate.poorThreshold).toBeGreaterThan(0.58);
  });
});
