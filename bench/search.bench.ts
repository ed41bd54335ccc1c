/**
 * Search and snapshot benchmark: exact cosine search latency over random unit vectors (k = 5) at gallery
 * sizes from 1k to 100k templates, with both dot-product kernels, and snapshot encode/decode time and size.
 * Run with `npx tsx bench/search.bench.ts`.
 */
import { pathToFileURL } from 'node:url';
import { TEMPLATE_VARIANTS } from '../functions/core/domain.ts';
import { decodeSnapshot, encodeSnapshot } from '../functions/core/search/snapshot.ts';
import { type IndexEntry, VectorIndex } from '../functions/core/search/vector-index.ts';
import { rng } from '../test/support/random.ts';

/** One line of the benchmark table. */
export interface Row {
  benchmark: string;
  kernel: string;
  rows: number;
  subjects: number;
  medianMs: number;
  p95Ms: number;
  note: string;
}

const DIM = 512;
const TEMPLATES_PER_SUBJECT = 6;

/** A uniformly random direction: normalised Gaussian components (Box–Muller). */
function randomUnit(next: () => number): Float32Array {
  const v = new Float32Array(DIM);
  let norm = 0;
  for (let i = 0; i < DIM; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - next()));
    const theta = 2 * Math.PI * next();
    const a = r * Math.cos(theta);
    const b = r * Math.sin(theta);
    v[i] = a;
    v[i + 1] = b;
    norm += a * a + b * b;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < DIM; i++) v[i] = (v[i] as number) * scale;
  return v;
}

function buildIndex(rows: number, simd: boolean, seed: number): VectorIndex {
  const next = rng(seed);
  const index = new VectorIndex({ modelId: 'bench', dim: DIM, simd });
  const batch = 1_000;
  for (let start = 0; start < rows; start += batch) {
    const entries: IndexEntry[] = [];
    for (let row = start; row < Math.min(rows, start + batch); row++) {
      entries.push({
        templateId: `t${row}`,
        subjectId: `s${Math.floor(row / TEMPLATES_PER_SUBJECT)}`,
        variant: TEMPLATE_VARIANTS[row % TEMPLATES_PER_SUBJECT] ?? 'original',
        vector: randomUnit(next),
      });
    }
    index.add(entries);
  }
  return index;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function time(runs: number, warmup: number, fn: (i: number) => void): { medianMs: number; p95Ms: number } {
  for (let i = 0; i < warmup; i++) fn(i);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn(i);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return { medianMs: percentile(samples, 50), p95Ms: percentile(samples, 95) };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** Runs every case and returns the table rows (also used by the combined benchmark). */
export async function runSearchBench(): Promise<Row[]> {
  const table: Row[] = [];
  const cases: { name: string; rows: number; simd: boolean; runs: number }[] = [
    { name: 'search 1,284 subjects × 6', rows: 1_284 * 6, simd: true, runs: 200 },
    { name: 'search', rows: 1_000, simd: true, runs: 200 },
    { name: 'search', rows: 10_000, simd: true, runs: 100 },
    { name: 'search', rows: 100_000, simd: true, runs: 50 },
    { name: 'search 1,284 subjects × 6', rows: 1_284 * 6, simd: false, runs: 100 },
    { name: 'search', rows: 100_000, simd: false, runs: 20 },
  ];
  const queries = Array.from({ length: 32 }, (_, i) => randomUnit(rng(1_000 + i)));
  for (const c of cases) {
    const index = buildIndex(c.rows, c.simd, c.rows);
    const { medianMs, p95Ms } = time(c.runs, 10, (i) =>
      index.search(queries[i % queries.length] as Float32Array, { k: 5 }),
    );
    table.push({
      benchmark: c.name,
      kernel: index.kernel,
      rows: index.size,
      subjects: index.subjectCount,
      medianMs: round(medianMs),
      p95Ms: round(p95Ms),
      note: 'k = 5, max fusion',
    });
    // Let the previous index go before building the next (the 100k ones hold ~200 MB each).
    await new Promise((resolve) => setImmediate(resolve));
  }

  const index = buildIndex(10_000, true, 10_000);
  for (const dtype of ['float32', 'int8'] as const) {
    let bytes: Uint8Array = new Uint8Array(0);
    const encode = time(10, 2, () => {
      bytes = encodeSnapshot(index, { dtype, createdAt: '2025-01-01T00:00:00.000Z' });
    });
    const decode = time(10, 2, () => decodeSnapshot(bytes));
    const size = `${(bytes.length / 2 ** 20).toFixed(2)} MiB`;
    for (const [what, t] of [
      ['encode', encode],
      ['decode', decode],
    ] as const) {
      table.push({
        benchmark: `snapshot ${what} ${dtype}`,
        kernel: '-',
        rows: index.size,
        subjects: index.subjectCount,
        medianMs: round(t.medianMs),
        p95Ms: round(t.p95Ms),
        note: size,
      });
    }
  }
  return table;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runSearchBench();
  console.log(`Node ${process.version}, dim ${DIM}`);
  console.table(rows);
}
