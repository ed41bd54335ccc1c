import { describe, expect, it } from 'vitest';
import type { TemplateVariant } from '../../functions/core/domain.ts';
import { type IndexEntry, VectorIndex } from '../../functions/core/search/vector-index.ts';
import { expectFaceprintError } from '../support/errors.ts';
import { randomUnit, rng } from '../support/random.ts';

/** A unit vector whose cosine with e0 is `s` (the rest of its mass on axis `axis`). */
function withCosine(dim: number, s: number, axis = 1): Float32Array {
  const v = new Float32Array(dim);
  v[0] = s;
  v[axis] = Math.sqrt(1 - s * s);
  return v;
}

function axis(dim: number, i: number): Float32Array {
  const v = new Float32Array(dim);
  v[i] = 1;
  return v;
}

function entry(
  templateId: string,
  subjectId: string,
  vector: Float32Array,
  variant: TemplateVariant = 'original',
) {
  return { templateId, subjectId, variant, vector } satisfies IndexEntry;
}

/** Brute-force reference: max fusion in float64, sorted by score then subject id. */
function reference(entries: IndexEntry[], query: Float32Array, k: number) {
  const qn = Math.hypot(...query);
  const best = new Map<string, { similarity: number; templateId: string }>();
  for (const e of entries) {
    let dot = 0;
    for (let i = 0; i < query.length; i++) dot += (e.vector[i] as number) * (query[i] as number);
    const similarity = dot / (qn * Math.hypot(...e.vector));
    const current = best.get(e.subjectId);
    if (!current || similarity > current.similarity)
      best.set(e.subjectId, { similarity, templateId: e.templateId });
  }
  return [...best.entries()]
    .map(([subjectId, v]) => ({ subjectId, ...v }))
    .sort((a, b) => b.similarity - a.similarity || (a.subjectId < b.subjectId ? -1 : 1))
    .slice(0, k);
}

const expectError = expectFaceprintError;

const kernels = [true, false] as const;

describe('VectorIndex', () => {
  it('uses the WebAssembly SIMD kernel for dims that are a multiple of 16, and JS otherwise', () => {
    expect(new VectorIndex({ modelId: 'm', dim: 512 }).kernel).toBe('wasm-simd');
    expect(new VectorIndex({ modelId: 'm', dim: 512, simd: false }).kernel).toBe('js');
    expect(new VectorIndex({ modelId: 'm', dim: 10 }).kernel).toBe('js');
  });

  it('rejects bad constructor options', () => {
    expectError(() => new VectorIndex({ modelId: '', dim: 4 }), 'INVALID_ARGUMENT');
    expectError(() => new VectorIndex({ modelId: 'm', dim: 0 }), 'INVALID_ARGUMENT');
    expectError(() => new VectorIndex({ modelId: 'm', dim: 2.5 }), 'INVALID_ARGUMENT');
  });

  for (const simd of kernels) {
    describe(simd ? 'SIMD kernel' : 'JS kernel', () => {
      const dim = 16;

      it('counts rows and subjects and knows its template ids', () => {
        const index = new VectorIndex({ modelId: 'm', dim, simd });
        index.add([
          entry('a1', 'A', axis(dim, 0)),
          entry('a2', 'A', axis(dim, 1)),
          entry('b1', 'B', axis(dim, 2)),
        ]);
        expect(index.size).toBe(3);
        expect(index.subjectCount).toBe(2);
        expect(index.has('a2')).toBe(true);
        expect(index.has('c1')).toBe(false);
        expect(index.hasSubject('B')).toBe(true);
        expect(index.subjectIds()).toEqual(['A', 'B']);
      });

      it('returns exact cosine similarities, best subject first, with the best template', () => {
        const index = new VectorIndex({ modelId: 'm', dim, simd });
        index.add([
          entry('a1', 'A', withCosine(dim, 0.6)),
          entry('a2', 'A', withCosine(dim, 0.8, 2)),
          entry('b1', 'B', withCosine(dim, 0.7)),
          entry('c1', 'C', withCosine(dim, -0.5)),
        ]);
        const result = index.search(axis(dim, 0), { k: 5 });
        expect(result.map((c) => [c.subjectId, c.templateId])).toEqual([
          ['A', 'a2'],
          ['B', 'b1'],
          ['C', 'c1'],
        ]);
        expect(result[0]?.similarity).toBeCloseTo(0.8, 6);
        expect(result[1]?.similarity).toBeCloseTo(0.7, 6);
        expect(result[2]?.similarity).toBeCloseTo(-0.5, 6);
        expect(index.search(axis(dim, 0), { k: 1 }).map((c) => c.subjectId)).toEqual(['A']);
      });

      it('normalises vectors and queries, so scale does not change scores', () => {
        const index = new VectorIndex({ modelId: 'm', dim, simd });
        const scaled = withCosine(dim, 0.6).map((x) => x * 7);
        index.add([entry('a1', 'A', scaled)]);
        const query = axis(dim, 0).map((x) => x * 0.01);
        expect(index.search(query, { k: 1 })[0]?.similarity).toBeCloseTo(0.6, 6);
        const stored = [...index.entries()][0]?.vector;
        expect(Math.hypot(...(stored ?? []))).toBeCloseTo(1, 6);
      });

      it('breaks score ties by subject id', () => {
        const index = new VectorIndex({ modelId: 'm', dim, simd });
        index.add([
          entry('z', 'Z', withCosine(dim, 0.5)),
          entry('b', 'B', withCosine(dim, 0.5)),
          entry('m', 'M', withCosine(dim, 0.5)),
        ]);
        expect(index.search(axis(dim, 0), { k: 2 }).map((c) => c.subjectId)).toEqual(['B', 'M']);
      });

      it('fuses per subject with max, mean, top2mean and weighted', () => {
        const index = new VectorIndex({ modelId: 'm', dim, simd });
        index.add([
          entry('a-orig', 'A', withCosine(dim, 0.9), 'original'),
          entry('a-dark', 'A', withCosine(dim, 0.5), 'dark'),
          entry('a-blur', 'A', withCosine(dim, 0.1), 'blur'),
          entry('b-orig', 'B', withCosine(dim, 0.6), 'original'),
        ]);
        const q = axis(dim, 0);
        const score = (method: 'max' | 'mean' | 'top2mean') => {
          const a = index.search(q, { k: 2, fusion: { method } }).find((c) => c.subjectId === 'A');
          return a?.similarity;
        };
        expect(score('max')).toBeCloseTo(0.9, 6);
        expect(score('mean')).toBeCloseTo((0.9 + 0.5 + 0.1) / 3, 6);
        expect(score('top2mean')).toBeCloseTo((0.9 + 0.5) / 2, 6);
        // B has one template: top2mean falls back to it.
        const b = index.search(q, { k: 2, fusion: { method: 'top2mean' } }).find((c) => c.subjectId === 'B');
        expect(b?.similarity).toBeCloseTo(0.6, 6);
        // Mean ranks B (0.6) above A (0.5); every method names A's best raw template.
        const mean = index.search(q, { k: 2, fusion: { method: 'mean' } });
        expect(mean.map((c) => c.subjectId)).toEqual(['B', 'A']);
        expect(mean[1]?.templateId).toBe('a-orig');

        const weighted = index.search(q, {
          k: 2,
          fusion: { method: 'weighted', variantWeights: { dark: 2 } },
        });
        expect(weighted[0]).toMatchObject({ subjectId: 'A', templateId: 'a-dark' });
        expect(weighted[0]?.similarity).toBeCloseTo(1.0, 6);
        const down = index.search(q, {
          k: 2,
          fusion: { method: 'weighted', variantWeights: { original: 0.5 } },
        });
        expect(down.map((c) => c.subjectId)).toEqual(['A', 'B']);
        expect(down[0]?.templateId).toBe('a-dark');
        expect(down[0]?.similarity).toBeCloseTo(0.5, 6);
        expect(down[1]?.similarity).toBeCloseTo(0.3, 6);
      });

      it('skips excluded templates and drops subjects with none left', () => {
        const index = new VectorIndex({ modelId: 'm', dim, simd });
        index.add([
          entry('a1', 'A', withCosine(dim, 0.9)),
          entry('a2', 'A', withCosine(dim, 0.4)),
          entry('b1', 'B', withCosine(dim, 0.6)),
        ]);
        const result = index.search(axis(dim, 0), { k: 5, exclude: (id) => id === 'a1' || id === 'b1' });
        expect(result).toHaveLength(1);
        expect(result[0]).toMatchObject({ subjectId: 'A', templateId: 'a2' });
        expect(result[0]?.similarity).toBeCloseTo(0.4, 6);
      });

      it('removes a subject, compacting rows and keeping the others searchable', () => {
        const index = new VectorIndex({ modelId: 'm', dim, simd, initialCapacity: 2 });
        index.add([
          entry('a1', 'A', withCosine(dim, 0.1)),
          entry('b1', 'B', withCosine(dim, 0.9)),
          entry('c1', 'C', withCosine(dim, 0.5)),
          entry('b2', 'B', withCosine(dim, 0.95)),
          entry('d1', 'D', withCosine(dim, 0.3)),
        ]);
        expect(index.removeSubject('B')).toBe(2);
        expect(index.removeSubject('B')).toBe(0);
        expect(index.size).toBe(3);
        expect(index.subjectCount).toBe(3);
        expect(index.has('b1')).toBe(false);
        expect(index.subjectIds()).toEqual(['A', 'C', 'D']);
        expect([...index.entries()].map((e) => [e.templateId, e.subjectId])).toEqual([
          ['a1', 'A'],
          ['c1', 'C'],
          ['d1', 'D'],
        ]);
        const result = index.search(axis(dim, 0), { k: 5 });
        expect(result.map((c) => c.subjectId)).toEqual(['C', 'D', 'A']);
        expect(result[1]?.similarity).toBeCloseTo(0.3, 6);
        // Re-adding after removal works and the freed ids can be reused.
        index.add([entry('b1', 'B', withCosine(dim, 0.2)), entry('a2', 'A', withCosine(dim, 0.7))]);
        expect(index.search(axis(dim, 0), { k: 2 }).map((c) => [c.subjectId, c.templateId])).toEqual([
          ['A', 'a2'],
          ['C', 'c1'],
        ]);
      });

      it('matches a brute-force reference on random data while growing from capacity 1', () => {
        const next = rng(simd ? 1 : 2);
        const bigDim = 512;
        const index = new VectorIndex({ modelId: 'm', dim: bigDim, simd, initialCapacity: 1 });
        const all: IndexEntry[] = [];
        for (let batch = 0; batch < 7; batch++) {
          const entries = Array.from({ length: 1 + batch * 13 }, (_, n) =>
            entry(`t${batch}-${n}`, `s${Math.floor(next() * 60)}`, randomUnit(bigDim, next)),
          );
          index.add(entries);
          all.push(...entries);
        }
        expect(index.size).toBe(all.length);
        for (let q = 0; q < 5; q++) {
          const query = randomUnit(bigDim, next);
          const got = index.search(query, { k: 10 });
          const want = reference(all, query, 10);
          expect(got.map((c) => c.subjectId)).toEqual(want.map((c) => c.subjectId));
          expect(got.map((c) => c.templateId)).toEqual(want.map((c) => c.templateId));
          for (const [n, c] of got.entries())
            expect(c.similarity).toBeCloseTo(want[n]?.similarity ?? Number.NaN, 5);
        }
      });

      it('answers searchMany like repeated search', () => {
        const next = rng(7);
        const index = new VectorIndex({ modelId: 'm', dim, simd });
        index.add(Array.from({ length: 40 }, (_, n) => entry(`t${n}`, `s${n % 9}`, randomUnit(dim, next))));
        const queries = Array.from({ length: 4 }, () => randomUnit(dim, next));
        const many = index.searchMany(queries, { k: 3 });
        expect(many).toHaveLength(4);
        for (const [n, query] of queries.entries()) expect(many[n]).toEqual(index.search(query, { k: 3 }));
      });
    });
  }

  it('gives the same ranking with both kernels', () => {
    const next = rng(11);
    const dim = 512;
    const entries = Array.from({ length: 300 }, (_, n) =>
      entry(`t${n}`, `s${n % 50}`, randomUnit(dim, next)),
    );
    const wasm = new VectorIndex({ modelId: 'm', dim });
    const js = new VectorIndex({ modelId: 'm', dim, simd: false });
    wasm.add(entries);
    js.add(entries);
    const query = randomUnit(dim, next);
    const a = wasm.search(query, { k: 20 });
    const b = js.search(query, { k: 20 });
    expect(a.map((c) => c.subjectId)).toEqual(b.map((c) => c.subjectId));
    for (const [n, c] of a.entries())
      expect(Math.abs(c.similarity - (b[n]?.similarity ?? 9))).toBeLessThan(1e-5);
  });

  it('supports a dimension that is not a multiple of 4', () => {
    const index = new VectorIndex({ modelId: 'm', dim: 3 });
    index.add([entry('a', 'A', new Float32Array([1, 2, 2])), entry('b', 'B', new Float32Array([0, 0, 1]))]);
    const result = index.search(new Float32Array([1, 0, 0]), { k: 2 });
    expect(result[0]?.subjectId).toBe('A');
    expect(result[0]?.similarity).toBeCloseTo(1 / 3, 6);
    expect(result[1]?.similarity).toBeCloseTo(0, 6);
  });

  it('returns no candidates from an empty index', () => {
    const index = new VectorIndex({ modelId: 'm', dim: 16 });
    expect(index.search(axis(16, 0), { k: 3 })).toEqual([]);
  });

  it('rejects bad entries atomically', () => {
    const dim = 16;
    const index = new VectorIndex({ modelId: 'm', dim });
    index.add([entry('a1', 'A', axis(dim, 0))]);
    const bad: [string, IndexEntry[]][] = [
      ['wrong dimension', [entry('x', 'X', new Float32Array(8))]],
      ['NaN', [entry('x', 'X', new Float32Array(dim).fill(Number.NaN))]],
      ['Infinity', [entry('x', 'X', Object.assign(axis(dim, 0), { 3: Number.POSITIVE_INFINITY }))]],
      ['all zeros', [entry('x', 'X', new Float32Array(dim))]],
      ['existing template id', [entry('a1', 'A', axis(dim, 1))]],
      ['repeated template id', [entry('x', 'X', axis(dim, 1)), entry('x', 'X', axis(dim, 2))]],
      ['unknown variant', [{ ...entry('x', 'X', axis(dim, 1)), variant: 'sepia' as TemplateVariant }]],
      ['empty subject id', [entry('x', '', axis(dim, 1))]],
      ['empty template id', [entry('', 'X', axis(dim, 1))]],
    ];
    for (const [what, entries] of bad) {
      const error = expectError(
        () => index.add([entry('ok', 'OK', axis(dim, 3)), ...entries]),
        'INVALID_ARGUMENT',
      );
      expect(error.message.length, what).toBeGreaterThan(0);
    }
    expect(index.size).toBe(1);
    expect(index.has('ok')).toBe(false);
  });

  it('rejects bad queries and options', () => {
    const dim = 16;
    const index = new VectorIndex({ modelId: 'm', dim });
    index.add([entry('a1', 'A', axis(dim, 0))]);
    expectError(() => index.search(new Float32Array(8), { k: 1 }), 'INVALID_ARGUMENT');
    expectError(() => index.search(new Float32Array(dim), { k: 1 }), 'INVALID_ARGUMENT');
    expectError(() => index.search(new Float32Array(dim).fill(Number.NaN), { k: 1 }), 'INVALID_ARGUMENT');
    expectError(() => index.search(axis(dim, 0), { k: 0 }), 'INVALID_ARGUMENT');
    expectError(() => index.search(axis(dim, 0), { k: 1.5 }), 'INVALID_ARGUMENT');
    expectError(
      () =>
        index.search(axis(dim, 0), { k: 1, fusion: { method: 'weighted', variantWeights: { dark: -1 } } }),
      'INVALID_ARGUMENT',
    );
    expectError(
      () => index.search(axis(dim, 0), { k: 1, fusion: { method: 'median' as 'max' } }),
      'INVALID_ARGUMENT',
    );
  });

  it('iterates entries with copies of the stored vectors', () => {
    const dim = 16;
    const index = new VectorIndex({ modelId: 'm', dim });
    index.add([entry('a1', 'A', axis(dim, 0), 'dark'), entry('b1', 'B', axis(dim, 1), 'mirror')]);
    const entries = [...index.entries()];
    expect(entries.map((e) => [e.templateId, e.subjectId, e.variant])).toEqual([
      ['a1', 'A', 'dark'],
      ['b1', 'B', 'mirror'],
    ]);
    expect(Array.from(entries[1]?.vector ?? [])).toEqual(Array.from(axis(dim, 1)));
    (entries[0] as IndexEntry).vector.fill(0);
    expect(index.search(axis(dim, 0), { k: 1 })[0]?.similarity).toBeCloseTo(1, 6);
  });
});
