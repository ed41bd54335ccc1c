import { describe, expect, it } from 'vitest';
import { UsageError } from '../../bin/cli/common.ts';
import { headPoseOptions, parseGalleryOptions } from '../../bin/cli/eval-command.ts';
import { isFaceprintError } from '../../functions/core/errors.ts';
import { resolveOptions } from '../../functions/core/pipeline/pipeline.ts';
import {
  FusedGalleryScorer,
  type GallerySubject,
  parseFusion,
  parseScoreNorm,
  parseVariants,
} from '../../functions/eval/gallery-variants.ts';

/** Deterministic unit vectors (a small LCG), so the expected scores can be computed by hand. */
function unitVectors(count: number, dim: number, seed = 7): Float32Array[] {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31 - 0.5;
  };
  return Array.from({ length: count }, () => {
    const v = Float32Array.from({ length: dim }, next);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

function invalidArgument(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(isFaceprintError(error) && error.code === 'INVALID_ARGUMENT').toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('parseVariants', () => {
  it('reads nothing, none and empty as no variants, and all as the five', () => {
    expect(parseVariants(undefined)).toEqual([]);
    expect(parseVariants('')).toEqual([]);
    expect(parseVariants('none')).toEqual([]);
    expect(parseVariants('all')).toEqual(['mirror', 'blur', 'dark', 'lowres', 'jpeg']);
  });

  it('puts a list in canonical order without duplicates, so equal sets are equal', () => {
    expect(parseVariants('lowres, dark,mirror,dark')).toEqual(['mirror', 'dark', 'lowres']);
    expect(parseVariants('jpeg,blur')).toEqual(parseVariants('blur,jpeg'));
  });

  it('refuses unknown names and original (always enrolled)', () => {
    expect(invalidArgument(() => parseVariants('mirror,sepia'))).toMatch(/"sepia"/);
    expect(invalidArgument(() => parseVariants('original'))).toMatch(/"original"/);
    invalidArgument(() => parseVariants('mirror,'));
  });
});

describe('parseFusion and parseScoreNorm', () => {
  it('defaults to max and accepts every index method', () => {
    expect(parseFusion(undefined)).toEqual({ method: 'max' });
    for (const m of ['max', 'mean', 'top2mean', 'weighted'] as const)
      expect(parseFusion(m)).toEqual({ method: m });
    invalidArgument(() => parseFusion('median'));
  });

  it('reads variant weights for weighted only, and refuses malformed ones', () => {
    expect(parseFusion('weighted', 'original=1, blur=0.9,jpeg=0')).toEqual({
      method: 'weighted',
      variantWeights: { original: 1, blur: 0.9, jpeg: 0 },
    });
    expect(invalidArgument(() => parseFusion('max', 'blur=0.9'))).toMatch(/weighted/);
    for (const bad of ['blur', 'blur=', 'blur=-1', 'blur=x', 'sepia=1', 'blur=1=2']) {
      invalidArgument(() => parseFusion('weighted', bad));
    }
  });

  it('reads score normalisations', () => {
    expect(parseScoreNorm(undefined)).toBe('none');
    expect(parseScoreNorm('znorm')).toBe('znorm');
    expect(parseScoreNorm('tnorm')).toBe('tnorm');
    invalidArgument(() => parseScoreNorm('snorm'));
  });
});

describe('parseGalleryOptions (faceprint eval)', () => {
  it('leaves everything absent by default (the one-template gallery, same cache)', () => {
    expect(parseGalleryOptions({})).toEqual({});
    expect(parseGalleryOptions({ variants: 'none', 'score-norm': 'none' })).toEqual({});
  });

  it('passes variants, fusion and normalisation through', () => {
    expect(
      parseGalleryOptions({ variants: 'blur,mirror', fusion: 'top2mean', 'score-norm': 'znorm' }),
    ).toEqual({ variants: ['mirror', 'blur'], fusion: { method: 'top2mean' }, scoreNorm: 'znorm' });
    expect(parseGalleryOptions({ 'variant-weights': 'dark=0.5' })).toEqual({
      fusion: { method: 'weighted', variantWeights: { dark: 0.5 } },
    });
  });

  it('turns parse errors into usage errors', () => {
    let caught: unknown;
    try {
      parseGalleryOptions({ variants: 'sepia' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as Error).message).toMatch(/sepia/);
    expect(() => parseGalleryOptions({ fusion: 'median' })).toThrow(UsageError);
  });
});

describe('headPoseOptions (faceprint eval --head-pose)', () => {
  it('maps each source onto the analysis options, landmarks onto the pipeline default', () => {
    expect(headPoseOptions(undefined)).toEqual({});
    expect(headPoseOptions('landmarks')).toEqual({});
    expect(headPoseOptions('model')).toEqual({ pose: true });
    expect(headPoseOptions('none')).toEqual({ landmarkPose: false });
    expect(() => headPoseOptions('hopenet')).toThrow(UsageError);
  });

  it('matches what a still gets: the landmark pose, not the model, unless asked', () => {
    const stills = resolveOptions({});
    expect([stills.pose, stills.landmarkPose]).toEqual([false, true]);
    const evalNone = resolveOptions({ pose: false, ...headPoseOptions('none') });
    expect([evalNone.pose, evalNone.landmarkPose]).toEqual([false, false]);
  });
});

describe('FusedGalleryScorer', () => {
  for (const dim of [16, 12]) {
    // 16: the WebAssembly SIMD kernel; 12: the JavaScript loop.
    const [q, ...rest] = unitVectors(13, dim);
    const query = q as Float32Array;
    const subjects: GallerySubject[] = [0, 1, 2, 3].map((i) => ({
      original: rest[3 * i] as Float32Array,
      variants: { blur: rest[3 * i + 1] as Float32Array, dark: rest[3 * i + 2] as Float32Array },
    }));

    it(`with one template per subject gives the plain dot products (dim ${dim})`, () => {
      const scorer = new FusedGalleryScorer(
        subjects.map((s) => ({ original: s.original, variants: {} })),
        { method: 'top2mean' },
      );
      const out = new Float32Array(4);
      scorer.score(query, out);
      subjects.forEach((s, i) => {
        expect(out[i]).toBeCloseTo(dot(query, s.original), 5);
      });
    });

    it(`fuses a subject's templates by max, mean and top2mean (dim ${dim})`, () => {
      const out = new Float32Array(4);
      const all = subjects.map((s) =>
        [s.original, s.variants.blur, s.variants.dark].map((v) => dot(query, v!)),
      );
      new FusedGalleryScorer(subjects, { method: 'max' }).score(query, out);
      all.forEach((s, i) => {
        expect(out[i]).toBeCloseTo(Math.max(...s), 5);
      });
      new FusedGalleryScorer(subjects, { method: 'mean' }).score(query, out);
      all.forEach((s, i) => {
        expect(out[i]).toBeCloseTo(s.reduce((a, b) => a + b) / 3, 5);
      });
      new FusedGalleryScorer(subjects, { method: 'top2mean' }).score(query, out);
      all.forEach((s, i) => {
        const [a, b] = [...s].sort((x, y) => y - x);
        expect(out[i]).toBeCloseTo(((a as number) + (b as number)) / 2, 5);
      });
    });

    it(`Z-norm standardises each subject against the other subjects' originals (dim ${dim})`, () => {
      const scorer = new FusedGalleryScorer(subjects, { method: 'max' }, 'znorm');
      const plain = new FusedGalleryScorer(subjects, { method: 'max' });
      // Subject 0's cohort: subjects 1–3's originals as probes.
      const raw = [1, 2, 3].map((j) => {
        const out = new Float32Array(4);
        plain.score((subjects[j] as GallerySubject).original, out);
        return out[0] as number;
      });
      const mean = raw.reduce((a, b) => a + b) / 3;
      const std = Math.sqrt(raw.reduce((a, b) => a + (b - mean) ** 2, 0) / 3);
      const plainOut = new Float32Array(4);
      const normOut = new Float32Array(4);
      plain.score(query, plainOut);
      scorer.score(query, normOut);
      expect(normOut[0]).toBeCloseTo(((plainOut[0] as number) - mean) / std, 3);
      expect(normOut[0]).not.toBeCloseTo(plainOut[0] as number, 2);
    });

    it(`T-norm standardises a probe's scores by the rest of the gallery, keeping the ranking (dim ${dim})`, () => {
      const plainOut = new Float32Array(4);
      const normOut = new Float32Array(4);
      new FusedGalleryScorer(subjects, { method: 'max' }).score(query, plainOut);
      new FusedGalleryScorer(subjects, { method: 'max' }, 'tnorm').score(query, normOut);
      const order = (a: Float32Array) => [0, 1, 2, 3].sort((x, y) => (a[y] as number) - (a[x] as number));
      expect(order(normOut)).toEqual(order(plainOut));
      const rest = order(normOut)
        .slice(1)
        .map((i) => normOut[i] as number);
      const mean = rest.reduce((a, b) => a + b) / 3;
      expect(mean).toBeCloseTo(0, 4);
      expect(rest.reduce((a, b) => a + (b - mean) ** 2, 0) / 3).toBeCloseTo(1, 3);
    });
  }
});
