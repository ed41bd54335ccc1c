import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../functions/core/domain.ts';
import {
  CONFIDENCE_SCALE,
  confidenceOf,
  decide,
  verifyDecision,
} from '../../functions/core/search/decision.ts';
import { expectFaceprintError } from '../support/errors.ts';

const c = (subjectId: string, similarity: number): Candidate => ({
  subjectId,
  similarity,
  templateId: `${subjectId}-t`,
});
const policy = { threshold: 0.5, ambiguityMargin: 0.05 };

const expectInvalid = (fn: () => unknown) => expectFaceprintError(fn, 'INVALID_ARGUMENT');

describe('confidenceOf', () => {
  it('is a logistic of (similarity − threshold) / 0.05', () => {
    expect(CONFIDENCE_SCALE).toBe(0.05);
    expect(confidenceOf(0.5, 0.5)).toBe(0.5);
    // (0.6 − 0.5) / 0.05 = 2 → 1 / (1 + e^−2)
    expect(confidenceOf(0.6, 0.5)).toBeCloseTo(0.8807970779778823, 12);
    expect(confidenceOf(0.4, 0.5)).toBeCloseTo(0.11920292202211755, 12);
  });

  it('stays within [0, 1] at the extremes', () => {
    expect(confidenceOf(1, -1)).toBeLessThanOrEqual(1);
    expect(confidenceOf(1, -1)).toBeGreaterThan(0.999999);
    expect(confidenceOf(-1, 1)).toBeGreaterThanOrEqual(0);
    expect(confidenceOf(-1, 1)).toBeLessThan(1e-6);
    expect(confidenceOf(-1e6, 1e6)).toBe(0);
  });
});

describe('decide', () => {
  it('is unknown with no candidates', () => {
    expect(decide([], policy)).toEqual({
      kind: 'unknown',
      subjectId: undefined,
      similarity: 0,
      threshold: 0.5,
      margin: 0.05,
      confidence: 0,
      candidates: [],
    });
  });

  it('is unknown when the best is below the threshold', () => {
    const decision = decide([c('A', 0.45), c('B', 0.3)], policy);
    expect(decision.kind).toBe('unknown');
    expect(decision.subjectId).toBeUndefined();
    expect(decision.similarity).toBe(0.45);
    expect(decision.confidence).toBeCloseTo(1 / (1 + Math.E), 12); // (0.45 − 0.5) / 0.05 = −1
  });

  it('matches a clear winner', () => {
    const decision = decide([c('A', 0.8), c('B', 0.55)], policy);
    expect(decision).toMatchObject({
      kind: 'match',
      subjectId: 'A',
      similarity: 0.8,
      threshold: 0.5,
      margin: 0.05,
    });
    expect(decision.confidence).toBeCloseTo(1 / (1 + Math.exp(-6)), 12);
    expect(decision.candidates.map((x) => x.subjectId)).toEqual(['A', 'B']);
  });

  it('matches at exactly the threshold', () => {
    const decision = decide([c('A', 0.5)], policy);
    expect(decision.kind).toBe('match');
    expect(decision.confidence).toBe(0.5);
  });

  it('is ambiguous when the runner-up is above threshold and within the margin', () => {
    const decision = decide([c('B', 0.6), c('A', 0.62)], policy);
    expect(decision).toMatchObject({ kind: 'ambiguous', subjectId: 'A', similarity: 0.62 });
    expect(decision.candidates.map((x) => x.subjectId)).toEqual(['A', 'B']);
  });

  it('counts a gap of exactly the margin as within it', () => {
    // 0.75 − 0.7 is 0.04999999999999993 in doubles; 0.3 − 0.25 is 0.04999999999999999.
    expect(decide([c('A', 0.75), c('B', 0.7)], policy).kind).toBe('ambiguous');
    expect(decide([c('A', 0.3), c('B', 0.25)], { threshold: 0.2, ambiguityMargin: 0.05 }).kind).toBe(
      'ambiguous',
    );
    expect(decide([c('A', 0.7), c('B', 0.7)], { threshold: 0.5, ambiguityMargin: 0 }).kind).toBe('ambiguous');
    expect(decide([c('A', 0.76), c('B', 0.7)], policy).kind).toBe('match');
  });

  it('is a match when the close runner-up is below the threshold', () => {
    expect(decide([c('A', 0.52), c('B', 0.49)], policy)).toMatchObject({ kind: 'match', subjectId: 'A' });
  });

  it('orders ties by subject id and compares against another subject only', () => {
    const tie = decide([c('Z', 0.7), c('M', 0.7)], { threshold: 0.5, ambiguityMargin: 0.01 });
    expect(tie).toMatchObject({ kind: 'ambiguous', subjectId: 'M' });
    const sameSubject = decide([c('A', 0.7), c('A', 0.69), c('B', 0.55)], policy);
    expect(sameSubject).toMatchObject({ kind: 'match', subjectId: 'A' });
  });

  it('does not mutate the input', () => {
    const input = [c('B', 0.6), c('A', 0.9)];
    decide(input, policy);
    expect(input.map((x) => x.subjectId)).toEqual(['B', 'A']);
  });

  it('rejects bad policies and non-finite similarities', () => {
    expectInvalid(() => decide([], { threshold: Number.NaN, ambiguityMargin: 0 }));
    expectInvalid(() => decide([], { threshold: 0.5, ambiguityMargin: -0.1 }));
    expectInvalid(() => decide([], { threshold: 0.5, ambiguityMargin: Number.POSITIVE_INFINITY }));
    expectInvalid(() => decide([c('A', Number.NaN)], policy));
  });
});

describe('verifyDecision', () => {
  it('matches at or above the threshold', () => {
    expect(verifyDecision(0.5, 0.5)).toEqual({
      match: true,
      similarity: 0.5,
      threshold: 0.5,
      confidence: 0.5,
    });
    const below = verifyDecision(0.35, 0.45);
    expect(below.match).toBe(false);
    expect(below.confidence).toBeCloseTo(1 / (1 + Math.exp(2)), 12);
    expect(verifyDecision(0.9, 0.45).match).toBe(true);
  });

  it('rejects non-finite input', () => {
    expectInvalid(() => verifyDecision(Number.NaN, 0.5));
    expectInvalid(() => verifyDecision(0.5, Number.NEGATIVE_INFINITY));
  });
});
