/**
 * The approximate index (usearch HNSW behind the AnnGraph port) and the tiered index that switches to it past the
 * crossover: planted answers, real deletes, reload after a crash. Real native usearch, no mocks.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dropAnn, loadAnn, saveAnn } from '../../functions/adapters/local/ann-file-store.ts';
import { HnswlibGraph } from '../../functions/adapters/local/hnswlib-graph.ts';
import { UsearchGraph, usearchGraphFactory } from '../../functions/adapters/local/usearch-graph.ts';
import { ApproximateIndex } from '../../functions/core/search/ann-index.ts';
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
  ['usearch i8', () => new UsearchGraph(DIM, 1000, { quantization: 'i8' })],
  ['usearch f32', () => new UsearchGraph(DIM, 1000, { quantization: 'f32' })],
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
    for (let i = 0; i < 60; i++) {
      const planted = entries[i * 30] as IndexEntry;
      const query = probeNear(planted.vector, 100 + i);
      const want = exact.search(query, { k: 5 });
      const got = approx.search(query, { k: 5 });
      expect(got[0]?.subjectId).toBe(planted.subjectId);
      expect(got[0]?.templateId).toBe(want[0]?.templateId);
      // i8 storage costs about 1e-2 of cosine; the ranking of the planted subject is what must hold.
      expect(Math.abs((got[0]?.similarity ?? 0) - (want[0]?.similarity ?? 0))).toBeLessThan(0.02);
    }
  });

  it('deletes for real: no query finds an erased subject, even with its own vectors', () => {
    const entries = gallery(200, 2);
    const approx = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: makeGraph() });
    approx.add(entries);
    expect(approx.removeSubject('s7')).toBe(3);
    expect(approx.removeSubject('s7')).toBe(0);
    expect(approx.hasSubject('s7')).toBe(false);
    expect(approx.graph.size).toBe(597);
    for (const e of entries.filter((x) => x.subjectId === 's7')) {
      const found = approx.search(e.vector, { k: 200 });
      expect(found.map((c) => c.subjectId)).not.toContain('s7');
      expect(found).toHaveLength(199);
    }
  });
});

describe('ApproximateIndex contract', () => {
  it('refuses bad input with INVALID_ARGUMENT and adds nothing', () => {
    const approx = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: new UsearchGraph(DIM, 10) });
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
    const approx = new ApproximateIndex({ modelId: 'm', dim: DIM, graph: new UsearchGraph(DIM, 10) });
    approx.add(gallery(20, 6));
    await saveAnn(dir, approx);
    expect(loadAnn(dir)?.size).toBe(60);
    approx.add(gallery(21, 6).slice(60));
    const manifest = readFileSync(join(dir, 'ann.json'), 'utf8');
    await saveAnn(dir, approx);
    // Graph replaced, manifest of the old one put back: the pair no longer adds up.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'ann.json'), manifest);
    expect(loadAnn(dir)).toBeUndefined();
    await dropAnn(dir);
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
