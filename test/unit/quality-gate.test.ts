import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../functions/core/domain.ts';
import { isFaceprintError } from '../../functions/core/errors.ts';
import {
  DEFAULT_QUALITY_GATE,
  decideWithQuality,
  LOW_QUALITY_SCORE,
  qualityBand,
} from '../../functions/core/search/quality-gate.ts';

const policy = { threshold: 0.5, ambiguityMargin: 0.03 };
const gate = { minQuality: 0.2, poorThreshold: 0.65, method: 'test' };
const candidates = (...sims: number[]): Candidate[] =>
  sims.map((similarity, i) => ({ subjectId: `s${i}`, similarity, templateId: `t${i}` }));
const clean = { score: 0.95, reasons: [] };
const blurred = { score: 0.05, reasons: ['LOW_SHARPNESS' as const] };

describe('quality bands', () => {
  it('puts a face below minQuality in the poor band, at or above it in the good band', () => {
    expect(qualityBand({ score: 0.19 }, gate)).toBe('poor');
    expect(qualityBand({ score: 0.2 }, gate)).toBe('good');
    expect(qualityBand({ score: 1 }, DEFAULT_QUALITY_GATE)).toBe('good');
  });
});

describe('decideWithQuality', () => {
  it('never answers insufficient_quality for a good face: the plain decision, with its band', () => {
    for (const sims of [[0.3], [0.55, 0.2], [0.6, 0.59], []]) {
      const d = decideWithQuality(candidates(...sims), policy, clean, gate);
      expect(d.kind).not.toBe('insufficient_quality');
      expect(d.qualityBand).toBe('good');
      expect(d.threshold).toBe(0.5);
    }
  });

  it('answers insufficient_quality with the reasons for a poor face below the poor threshold', () => {
    const low = decideWithQuality(candidates(0.3, 0.1), policy, blurred, gate);
    expect(low.kind).toBe('insufficient_quality');
    expect(low.reasons).toEqual(['LOW_SHARPNESS']);
    expect(low.subjectId).toBeUndefined();
    expect(low.qualityBand).toBe('poor');
    expect(low.similarity).toBe(0.3);
    expect(low.candidates).toHaveLength(2);
    // Above the normal threshold but below the poor band's: not a match either.
    const mid = decideWithQuality(candidates(0.6), policy, blurred, gate);
    expect(mid.kind).toBe('insufficient_quality');
    expect(mid.threshold).toBe(0.65);
    // No reason of its own below threshold: the gate says why.
    expect(decideWithQuality([], policy, { score: 0.1, reasons: [] }, gate).reasons).toEqual([
      LOW_QUALITY_SCORE,
    ]);
  });

  it('still matches a poor face whose similarity reaches the poor threshold', () => {
    const d = decideWithQuality(candidates(0.7, 0.2), policy, blurred, gate);
    expect(d.kind).toBe('match');
    expect(d.subjectId).toBe('s0');
    expect(d.threshold).toBe(0.65);
    expect(d.qualityBand).toBe('poor');
  });

  it('fails closed on a gate that makes no sense', () => {
    for (const bad of [
      { ...gate, minQuality: 1.5 },
      { ...gate, poorThreshold: Number.NaN },
    ]) {
      let caught: unknown;
      try {
        decideWithQuality(candidates(0.7), policy, clean, bad);
      } catch (error) {
        caught = error;
      }
      expect(isFaceprintError(caught, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});
