/**
 * The approximate index (usearch HNSW behind the AnnGraph port) and the tiered index that switches to it past the
 * crossover: planted answers, real deletes, reload after a crash. Real native usearch, no mocks.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dropAnn, loadAnn, saveAnn } from '../../functions/adapters/local/ann-file-store.ts';
import { HnswlibGraph } from '../../functions/adapters/local/hnswlib-graph.ts';
import {
  quantiseRows,
  searchBreadthFor,
  UsearchGraph,
  usearchGraphFactory,
} from '../../functions/adapters/local/usearch-graph.ts';
import {
  type AnnManifest,
  ApproximateIndex,
  DEFAULT_GROUP_SIMILARITY,
  MAX_GROUP_SIZE,
} from '../../functions/core/search/ann-index.ts';
import { decodeSnapshot, encodeSnapshot } from '../../functions/core/search/snapshot.ts';
import { DEFAULT_CROSSOVER, parseCrossover, TieredIndex } from '../../functions/core/search/tiered-index.ts';
import { type IndexEntry, VectorIndex } from '../../functions/core/search/vector-index.ts';
import { expectFaceprintError } from '../support/errors.ts';
import { randomUnit, rng } from '../support/random.ts';

const DIM = 64;

/** `subjects` people with 3 templates each, spread around a random centre. */
function gallery(subjects: number, seed: number): IndexEntry[] {
  const next = rng(seed);
  const out: IndexEntry[] = [];
  for (let s = 0; s < subjects; s++) {
    const centre = randomUnit(DIM, next);
    for (let t = 0; t < 3; t++) {
      const noise = randomUnit(DIM, next);
      const v = centre.map((x, i) => x + 0.3 * (noise[i] as number));
      out.push({
        templateId: `s${s}-t${t}`,
        subjectId: `s${s}`,
        variant: t === 0 ? 'original' : 'mirror',
        vector: v,
      });
    }
  }
  return out;
}

function probeNear(vector: Float32Array, seed: number): Float32Array {
  const noise = randomUnit(DIM, rng(seed));
  return vector.map((x, i) => x + 0.05 * (noise[i] as number));
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.each([
  ['usearch i8', () => new UsearchGraph(DIM, { quantization: 'i8' })],
  ['usearch f32', () => new UsearchGraph(DIM, { quantization: 'f32' })],
  ['hnswlib', () => new HnswlibGraph(DIM, 1000)],
])('ApproximateIndex on %s', (_name, makeGraph) => {
  it('returns the exact answer (subject, template, similarity) on a planted gallery', () => {
    const entries = gallery(600, 1);
    const exact = new VectorIndex({ modelId: 'm', dim: DIM });
    exact.add(entries);
    const approx = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: makeGraph() });
    approx.add(entries);
    expect(approx.size).toBe(1800);
    expect(approx.subjectCount).toBe(600);
    // A subject's three templates lie within ~0.9 cosine of each other: most share one node.
    expect(approx.nodeCount).toBeLessThan(1200);
    expect(approx.graph.size).toBe(approx.nodeCount);
    const rescore = (q: Float32Array, ids: readonly string[]) => exact.similaritiesOf(q, ids);
    for (let i = 0; i < 60; i++) {
      const planted = entries[i * 30] as IndexEntry;
      const query = probeNear(planted.vector, 100 + i);
      const want = exact.search(query, { k: 5 });
      const got = approx.search(query, { k: 5 }, rescore);
      expect(got.map((c) => c.subjectId)).toEqual(want.map((c) => c.subjectId));
      expect(got[0]?.subjectId).toBe(planted.subjectId);
      expect(got[0]?.templateId).toBe(want[0]?.templateId);
      expect(Math.abs((got[0]?.similarity ?? 0) - (want[0]?.similarity ?? 0))).toBeLessThan(1e-5);
      // Without re-scoring, each template carries its node's similarity: the planted subject still ranks first.
      expect(approx.search(query, { k: 5 })[0]?.subjectId).toBe(planted.subjectId);
    }
  });

  it('deletes for real: no query finds an erased subject, even with its own vectors', () => {
    const entries = gallery(200, 2);
    const approx = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: makeGraph() });
    approx.add(entries);
    const nodes = approx.nodeCount;
    const manifest = approx.manifest();
    const s7Nodes = new Set(manifest.keys.filter((_, i) => manifest.subjectIds[i] === 's7')).size;
    expect(approx.removeSubject('s7')).toBe(3);
    expect(approx.removeSubject('s7')).toBe(0);
    expect(approx.hasSubject('s7')).toBe(false);
    expect(approx.size).toBe(597);
    expect(approx.graph.size).toBe(nodes - s7Nodes);
    for (const e of entries.filter((x) => x.subjectId === 's7')) {
      const found = approx.search(e.vector, { k: 200 });
      expect(found.map((c) => c.subjectId)).not.toContain('s7');
      expect(found).toHaveLength(199);
    }
  });
});

describe('usearch int8 quantisation and exact re-scoring', () => {
  it('quantises each row over its own largest component, rounded: cosine of the codes within 1e-3 of exact', () => {
    const next = rng(9);
    const dim = 512;
    const rows = Array.from({ length: 200 }, () => randomUnit(dim, next));
    const flat = new Float32Array(rows.length * dim);
    for (const [i, r] of rows.entries()) flat.set(r, i * dim);
    const codes = quantiseRows(flat, dim);
    const query = probeNear512(rows[0] as Float32Array, 50);
    const q = quantiseRows(query, dim);
    // usearch's own cast, for comparison: unit length × 127, truncated toward zero.
    const cast = (v: Float32Array) => Int8Array.from(v, (x) => Math.trunc(x * 127));
    const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let j = 0; j < dim; j++) {
        dot += (a[j] as number) * (b[j] as number);
        na += (a[j] as number) ** 2;
        nb += (b[j] as number) ** 2;
      }
      return dot / Math.sqrt(na * nb);
    };
    let worst = 0;
    let worstCast = 0;
    for (let i = 0; i < rows.length; i++) {
      const exactCos = cosine(rows[i] as Float32Array, query);
      worstCast = Math.max(
        worstCast,
        Math.abs(cosine(cast(rows[i] as Float32Array), cast(query)) - exactCos),
      );
      const row = codes.subarray(i * dim, (i + 1) * dim);
      // The whole range: usearch's own cast (unit length × 127, truncated) leaves such a row ~±5 of the ±127 codes.
      expect(Math.max(...Array.from(row, Math.abs))).toBe(127);
      let exact = 0;
      let dot = 0;
      let nr = 0;
      let nq = 0;
      for (let j = 0; j < dim; j++) {
        exact += (rows[i]?.[j] as number) * (query[j] as number);
        dot += (row[j] as number) * (q[j] as number);
        nr += (row[j] as number) ** 2;
        nq += (q[j] as number) ** 2;
      }
      worst = Math.max(worst, Math.abs(dot / Math.sqrt(nr * nq) - exact));
    }
    expect(worst).toBeLessThan(2e-3);
    expect(worstCast).toBeGreaterThan(3 * worst);
    expect(quantiseRows(new Float32Array(4), 4)).toEqual(new Int8Array(4));
  });

  it("re-scored from the exact index, the graph's candidates carry exact similarities", () => {
    const dim = 512;
    const next = rng(10);
    const entries: IndexEntry[] = Array.from({ length: 600 }, (_, i) => ({
      templateId: `t${i}`,
      subjectId: `s${Math.floor(i / 3)}`,
      variant: 'original',
      vector: randomUnit(dim, next),
    }));
    const exact = new VectorIndex({ modelId: 'm', dim });
    exact.add(entries);
    const approx = new ApproximateIndex({
      modelId: 'm',
      dim,
      graph: new UsearchGraph(dim, { quantization: 'i8' }),
    });
    approx.add(entries);
    let rawWorst = 0;
    for (let i = 0; i < 20; i++) {
      const query = probeNear512((entries[i * 30] as IndexEntry).vector, 200 + i);
      const want = exact.search(query, { k: 5 });
      const raw = approx.search(query, { k: 5 });
      const got = approx.search(query, { k: 5 }, (q, ids) => exact.similaritiesOf(q, ids));
      expect(got.map((c) => c.subjectId)).toEqual(want.map((c) => c.subjectId));
      for (const [n, c] of got.entries())
        expect(Math.abs(c.similarity - (want[n]?.similarity ?? 0))).toBeLessThan(1e-5);
      rawWorst = Math.max(rawWorst, Math.abs((raw[0]?.similarity ?? 0) - (want[0]?.similarity ?? 0)));
    }
    // Without it, usearch's int8 cosine is off by up to ~1e-2: enough to cross a decision threshold.
    expect(rawWorst).toBeGreaterThan(1e-4);
    // An id the exact index does not hold is dropped, not scored.
    expect(exact.similaritiesOf((entries[0] as IndexEntry).vector, ['t0', 'missing'])[1]).toBeNaN();
  });
});

/** A unit vector near `vector` (cosine ~0.8). */
function probeNear512(vector: Float32Array, seed: number): Float32Array {
  const noise = randomUnit(vector.length, rng(seed));
  const v = vector.map((x, i) => x + 0.7 * (noise[i] as number));
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

describe('ApproximateIndex contract', () => {
  it('refuses bad input with INVALID_ARGUMENT and adds nothing', () => {
    const approx = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: new UsearchGraph(DIM) });
    const good = gallery(1, 3);
    expectFaceprintError(() => approx.add([...good, { ...(good[0] as IndexEntry) }]), 'INVALID_ARGUMENT');
    expectFaceprintError(
      () => approx.add([{ ...(good[0] as IndexEntry), vector: new Float32Array(DIM) }]),
      'INVALID_ARGUMENT',
    );
    expect(approx.size).toBe(0);
    expectFaceprintError(() => approx.search(new Float32Array(3), { k: 1 }), 'INVALID_ARGUMENT');
    expectFaceprintError(() => approx.search(randomUnit(DIM, rng(1)), { k: 0 }), 'INVALID_ARGUMENT');
  });
});

/** `vector` moved to cosine ~`cos` of itself, in a random direction. */
function towards(vector: Float32Array, cos: number, seed: number): Float32Array {
  const noise = randomUnit(vector.length, rng(seed));
  let along = 0;
  for (let j = 0; j < vector.length; j++) along += (noise[j] as number) * (vector[j] as number);
  const orth = noise.map((x, j) => x - along * (vector[j] as number));
  const norm = Math.hypot(...orth);
  const sin = Math.sqrt(1 - cos * cos);
  return vector.map((x, j) => cos * x + (sin * (orth[j] as number)) / norm);
}

describe('ApproximateIndex grouping: one graph node per group of close templates', () => {
  const photo = (subject: string, seed: number, far = 0.5): IndexEntry[] => {
    const original = randomUnit(DIM, rng(seed));
    return [
      { templateId: `${subject}-o`, subjectId: subject, variant: 'original', vector: original },
      {
        templateId: `${subject}-m`,
        subjectId: subject,
        variant: 'mirror',
        vector: towards(original, 0.97, seed + 1),
      },
      {
        templateId: `${subject}-d`,
        subjectId: subject,
        variant: 'dark',
        vector: towards(original, 0.95, seed + 2),
      },
      // Like a real lowres variant: far from its photo, so it gets a node of its own.
      {
        templateId: `${subject}-l`,
        subjectId: subject,
        variant: 'lowres',
        vector: towards(original, far, seed + 3),
      },
    ];
  };

  it("groups a subject's close templates added together; far ones, later ones and other subjects apart", () => {
    const approx = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: new UsearchGraph(DIM) });
    approx.add([...photo('a', 1), ...photo('b', 10)]);
    expect(approx.size).toBe(8);
    expect(approx.nodeCount).toBe(4);
    const manifest = approx.manifest();
    const keyOf = (id: string) => manifest.keys[manifest.templateIds.indexOf(id)];
    expect(keyOf('a-m')).toBe(keyOf('a-o'));
    expect(keyOf('a-d')).toBe(keyOf('a-o'));
    expect(keyOf('a-l')).not.toBe(keyOf('a-o'));
    expect(keyOf('b-o')).not.toBe(keyOf('a-o'));
    // A later template of the same subject, however close, gets its own node (the earlier vectors are not kept).
    approx.add([{ ...(photo('a', 1)[1] as IndexEntry), templateId: 'a-m2' }]);
    expect(approx.nodeCount).toBe(5);
    expect(approx.removeSubject('a')).toBe(5);
    expect(approx.nodeCount).toBe(2);
    expect(approx.graph.size).toBe(2);
  });

  it(`caps a node at ${MAX_GROUP_SIZE} templates, turns off, and refuses a grouping that is not a cosine`, () => {
    const original = randomUnit(DIM, rng(3));
    const many: IndexEntry[] = Array.from({ length: 20 }, (_, i) => ({
      templateId: `t${i}`,
      subjectId: 's',
      variant: 'original',
      vector: towards(original, 0.99, 100 + i),
    }));
    const capped = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: new UsearchGraph(DIM) });
    capped.add(many);
    expect(capped.nodeCount).toBe(Math.ceil(20 / MAX_GROUP_SIZE));
    const off = new ApproximateIndex({
      modelId: 'm',
      dim: DIM,
      graph: new UsearchGraph(DIM),
      grouping: 'off',
    });
    off.add(many);
    expect(off.nodeCount).toBe(20);
    for (const grouping of [0, -0.5, 1.5, Number.NaN]) {
      expectFaceprintError(
        () => new ApproximateIndex({ modelId: 'm', dim: DIM, graph: new UsearchGraph(DIM), grouping }),
        'INVALID_ARGUMENT',
      );
    }
    expect(DEFAULT_GROUP_SIMILARITY).toBe(0.9);
  });

  it('answers exactly when the best template is a grouped member or the far one, once re-scored', () => {
    const entries = Array.from({ length: 300 }, (_, s) => photo(`s${s}`, 1000 + 10 * s, 0.4)).flat();
    const exact = new VectorIndex({ modelId: 'm', dim: DIM });
    exact.add(entries);
    const approx = new ApproximateIndex({
      modelId: 'm',
      dim: DIM,
      graph: new UsearchGraph(DIM, { quantization: 'f32' }),
    });
    approx.add(entries);
    expect(approx.nodeCount).toBe(600);
    const rescore = (q: Float32Array, ids: readonly string[]) => exact.similaritiesOf(q, ids);
    for (let i = 0; i < 40; i++) {
      const target = entries[(i * 37) % entries.length] as IndexEntry;
      const query = towards(target.vector, 0.8, 5000 + i);
      const want = exact.search(query, { k: 3 });
      const got = approx.search(query, { k: 3 }, rescore);
      expect(got).toHaveLength(3);
      for (const [n, c] of got.entries()) {
        expect(c.subjectId).toBe(want[n]?.subjectId);
        expect(c.templateId).toBe(want[n]?.templateId);
        expect(Math.abs(c.similarity - (want[n]?.similarity ?? 0))).toBeLessThan(1e-5);
      }
    }
  });

  it('saves and reloads its nodes; a graph saved with one node per template (older releases) is rebuilt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faceprint-ann-'));
    dirs.push(dir);
    const approx = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: new UsearchGraph(DIM) });
    approx.add([...photo('a', 1), ...photo('b', 10)]);
    await saveAnn(dir, approx);
    const reloaded = loadAnn(dir);
    expect(reloaded?.size).toBe(8);
    expect(reloaded?.nodeCount).toBe(4);
    expect(reloaded?.grouping).toBe(DEFAULT_GROUP_SIMILARITY);
    expect(reloaded?.manifest()).toEqual(approx.manifest());
    const old = new ApproximateIndex({
      modelId: 'm',
      dim: DIM,
      graph: new UsearchGraph(DIM),
      grouping: 'off',
    });
    old.add(photo('a', 1));
    await saveAnn(dir, old);
    const manifest = JSON.parse(readFileSync(join(dir, 'ann.json'), 'utf8')) as Record<string, unknown>;
    delete manifest.grouping;
    writeFileSync(join(dir, 'ann.json'), JSON.stringify(manifest));
    // Rebuilt by every reader, including one that groups nothing: the manifest does not say how it was built.
    expect(loadAnn(dir)).toBeUndefined();
    expect(loadAnn(dir, {}, false, 'off')).toBeUndefined();
    // Restored directly, such a manifest keeps one node per template.
    const graph = new UsearchGraph(DIM);
    graph.load(join(dir, 'ann.usearch'), 4);
    const restored = ApproximateIndex.restore(graph, manifest as unknown as AnnManifest);
    expect(restored.grouping).toBe('off');
    expect(restored.nodeCount).toBe(4);
  });
});

describe('TieredIndex', () => {
  it('answers exactly below the crossover and from the graph above it, building in the background', async () => {
    const entries = gallery(400, 4);
    const tiered = new TieredIndex(new VectorIndex({ modelId: 'm', dim: DIM }), {
      graphs: usearchGraphFactory({ quantization: 'f32' }),
      crossover: 900,
      chunk: 100,
    });
    tiered.add(entries.slice(0, 600));
    expect(tiered.kernel).not.toMatch(/usearch/);
    tiered.add(entries.slice(600));
    // The build has started but yields: a search now is answered by the exact index, not blocked.
    expect(tiered.kernel).not.toMatch(/usearch/);
    const query = probeNear((entries[5] as IndexEntry).vector, 9);
    expect(tiered.search(query, { k: 3 })[0]?.subjectId).toBe('s1');
    // A delete during the build is reconciled when it ends.
    tiered.removeSubject('s399');
    await tiered.ensureBuilt();
    expect(tiered.kernel).toMatch(/usearch/);
    expect(tiered.search(query, { k: 3 })[0]?.subjectId).toBe('s1');
    expect(tiered.approximate?.size).toBe(1197);
    expect(
      tiered.search((entries[1197] as IndexEntry).vector, { k: 400 }).map((c) => c.subjectId),
    ).not.toContain('s399');
  });

  it('reload after a crash keeps every acknowledged insert and no erased vector', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faceprint-ann-'));
    dirs.push(dir);
    const entries = gallery(500, 5);
    const graphs = usearchGraphFactory({ quantization: 'i8' });
    const first = new TieredIndex(new VectorIndex({ modelId: 'm', dim: DIM }), { graphs, crossover: 300 });
    first.add(entries.slice(0, 1200));
    await first.ensureBuilt();
    await saveAnn(dir, first.approximate as ApproximateIndex);
    // Acknowledged after the graph was saved: in the snapshot (and store), not in the saved graph.
    first.add(entries.slice(1200));
    first.removeSubject('s3');
    const snapshot = encodeSnapshot(first.exact);
    // Crash: the process dies here; nothing else is written. Reload from the snapshot and the stale graph.
    const reloaded = loadAnn(dir, { quantization: 'i8' });
    expect(reloaded?.size).toBe(1200);
    const second = new TieredIndex(decodeSnapshot(snapshot), { graphs, crossover: 300 }, reloaded);
    expect(second.kernel).toMatch(/usearch/);
    expect(second.approximate?.size).toBe(1497);
    for (const e of entries.slice(1200)) {
      expect(second.search(probeNear(e.vector, 7), { k: 1 })[0]?.subjectId).toBe(e.subjectId);
    }
    expect(
      second.search((entries[9] as IndexEntry).vector, { k: 500 }).map((c) => c.subjectId),
    ).not.toContain('s3');
  });

  it('rejects a graph whose manifest disagrees with it (a crash mid-save) so it is rebuilt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faceprint-ann-'));
    dirs.push(dir);
    const approx = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: new UsearchGraph(DIM) });
    approx.add(gallery(20, 6));
    await saveAnn(dir, approx);
    expect(loadAnn(dir)?.size).toBe(60);
    approx.add(gallery(21, 6).slice(60));
    const manifest = readFileSync(join(dir, 'ann.json'), 'utf8');
    await saveAnn(dir, approx);
    // Graph replaced, manifest of the old one put back: the pair no longer adds up.
    writeFileSync(join(dir, 'ann.json'), manifest);
    expect(loadAnn(dir)).toBeUndefined();
    await dropAnn(dir);
    expect(loadAnn(dir)).toBeUndefined();
  });
});

describe('usearch settings by gallery size', () => {
  it('searches wider as the gallery grows: 128 up to 200k, 640 at 1M', () => {
    expect(searchBreadthFor(0)).toBe(128);
    expect(searchBreadthFor(200_000)).toBe(128);
    expect(searchBreadthFor(500_000)).toBe(320);
    expect(searchBreadthFor(1_000_000)).toBe(640);
    // The ef follows the graph's live size, not a size guessed when it was made.
    const graph = new UsearchGraph(DIM);
    expect(graph.engine).toBe('usearch-hnsw-i8-m16-ef128');
    expect(new UsearchGraph(DIM, { expansionSearch: 64 }).engine).toMatch(/-ef64$/);
  });

  it('searches at the set ef even when asked for fewer results (usearch explores max(ef, count))', () => {
    const next = rng(12);
    const entries = Array.from({ length: 3000 }, (_, i) => ({ key: i, vector: randomUnit(DIM, next) }));
    const flat = new Float32Array(entries.length * DIM);
    for (const e of entries) flat.set(e.vector, e.key * DIM);
    const narrow = new UsearchGraph(DIM, {
      quantization: 'f32',
      connectivity: 4,
      expansionAdd: 8,
      expansionSearch: 1,
    });
    const wide = new UsearchGraph(DIM, {
      quantization: 'f32',
      connectivity: 4,
      expansionAdd: 8,
      expansionSearch: 400,
    });
    for (const g of [narrow, wide])
      g.add(
        entries.map((e) => e.key),
        flat,
      );
    let narrowHits = 0;
    let wideHits = 0;
    for (let q = 0; q < 100; q++) {
      const query = randomUnit(DIM, next);
      let best = -1;
      let bestKey = -1;
      for (const e of entries) {
        let dot = 0;
        for (let j = 0; j < DIM; j++) dot += (e.vector[j] as number) * (query[j] as number);
        if (dot > best) [best, bestKey] = [dot, e.key];
      }
      const n = narrow.search(query, 1);
      const w = wide.search(query, 1);
      expect(w.keys).toHaveLength(1);
      if (n.keys[0] === bestKey) narrowHits++;
      if (w.keys[0] === bestKey) wideHits++;
    }
    // Uniform random vectors, a sparse graph (M 4, build ef 8): at ef 1 the search finds 18 of 100 nearest
    // neighbours, at ef 400 82 (measured), asked for one result each time.
    expect(wideHits).toBeGreaterThanOrEqual(70);
    expect(narrowHits).toBeLessThan(wideHits - 40);
  });

  it('reloads a graph whose search ef differs (the gallery grew), not one built with other settings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faceprint-ann-'));
    dirs.push(dir);
    const approx = new ApproximateIndex({
      modelId: 'm',
      dim: DIM,
      graph: new UsearchGraph(DIM, { expansionSearch: 32 }),
    });
    approx.add(gallery(20, 8));
    await saveAnn(dir, approx);
    const reloaded = loadAnn(dir);
    expect(reloaded?.size).toBe(60);
    expect(reloaded?.kernel).toMatch(/-ef128$/);
    expect(loadAnn(dir, { connectivity: 8 })).toBeUndefined();
    // A manifest from a release that did not record the build settings: rebuilt, not guessed.
    const manifest = JSON.parse(readFileSync(join(dir, 'ann.json'), 'utf8')) as Record<string, unknown>;
    delete manifest.build;
    writeFileSync(join(dir, 'ann.json'), JSON.stringify(manifest));
    expect(loadAnn(dir)).toBeUndefined();
  });
});

describe('FACEPRINT_ANN_CROSSOVER', () => {
  it('defaults, turns off, and fails closed on nonsense', () => {
    expect(parseCrossover(undefined)).toBe(DEFAULT_CROSSOVER);
    expect(parseCrossover(' off ')).toBe('off');
    expect(parseCrossover('200_000')).toBe(200_000);
    for (const bad of ['0', '-5', '12.5', 'lots', '999']) {
      expectFaceprintError(() => parseCrossover(bad), 'INVALID_ARGUMENT');
    }
  });
});
