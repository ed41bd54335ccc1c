/**
 * `npm run bench:scale -- --rows N [--queries Q] [--engines a,b] [--seed S] [--ef-search EF[,EF…]]
 * [--connectivity M] [--expansion-add EF] [--graph FILE] [--variants-from DATA_DIR] [--grouping off|COS]`: exact and
 * approximate search at
 * gallery scale on realistic vectors (bench/scale-data.ts). Prints one JSON object (stdout, first) and a Markdown
 * table. Each engine runs in its own child process, so one engine's memory is not charged to the next; the exact
 * float32 run writes the ground truth (top 10 subjects per query) that the others' recall is measured against.
 *
 * Engines: `exact-f32` (today's WASM kernel), `exact-int8` (int8 snapshot, decoded to the same kernel),
 * `usearch-i8`, `usearch-f16` (HNSW, M 16, build ef 256, search ef `--ef-search`), `hnswlib-f32` (HNSW, M 16).
 * Latency is one `search` call, k = 10 subjects with max fusion over the 5 templates per subject. Each graph engine
 * also prints a `+rescore` row: the same graph's candidates re-scored from the exact index, as local mode answers
 * past the crossover (`TieredIndex`).
 *
 * `--variants-from DATA_DIR` draws the enrolment variants from real ones (bench/scale-data.ts; enrol first:
 * `npm run faceprint -- enroll <lfw-dev subset> --first-only --data-dir DATA_DIR`); `--grouping` is the graph
 * node grouping (`ApproximateIndex`, default the shipped {@link DEFAULT_GROUP_SIMILARITY}; `off`: a node per
 * template).
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HnswlibGraph } from '../functions/adapters/local/hnswlib-graph.ts';
import { UsearchGraph } from '../functions/adapters/local/usearch-graph.ts';
import type { Candidate } from '../functions/core/domain.ts';
import {
  type AnnGraph,
  ApproximateIndex,
  DEFAULT_GROUP_SIMILARITY,
} from '../functions/core/search/ann-index.ts';
import { decodeSnapshot, encodeSnapshot } from '../functions/core/search/snapshot.ts';
import { type IndexEntry, VectorIndex } from '../functions/core/search/vector-index.ts';
import { markdownTable } from './pipeline.bench.ts';
import {
  DIM,
  Gallery,
  loadRealEnrolments,
  loadRealPeople,
  measureSpread,
  type Spread,
  spreadSummary,
} from './scale-data.ts';

const K = 10;
const ENGINES = ['exact-f32', 'exact-int8', 'usearch-i8', 'usearch-f16', 'hnswlib-f32'] as const;
type Engine = (typeof ENGINES)[number];

interface Result {
  engine: string;
  rows: number;
  subjects: number;
  p50Ms: number;
  p99Ms: number;
  recallAt1: number;
  recallAt10: number;
  /** recall@1 over the mated probes only (4 queries in 5), and over the strangers only. */
  recallAt1Mated: number;
  recallAt1Strangers: number;
  buildS: number;
  memoryMiB: number;
  diskMiB: number;
  loadMs: number;
  note: string;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const mib = (bytes: number) => round(bytes / 2 ** 20, 1);
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;

function rss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}

function timeQueries(
  queries: Float32Array[],
  search: (q: Float32Array) => Candidate[],
): { p50: number; p99: number; results: string[][] } {
  // What the setup left behind (a replaced graph's id tables, a build's buffers) is collected before timing, so a
  // major collection of it does not land in this engine's tail.
  (globalThis as { gc?: () => void }).gc?.();
  for (let i = 0; i < Math.min(20, queries.length); i++) search(queries[i] as Float32Array);
  const samples: number[] = [];
  const results: string[][] = [];
  for (const q of queries) {
    const t = performance.now();
    const found = search(q);
    samples.push(performance.now() - t);
    results.push(found.map((c) => c.subjectId));
  }
  samples.sort((a, b) => a - b);
  return { p50: round(pct(samples, 0.5)), p99: round(pct(samples, 0.99)), results };
}

/**
 * Recall against the exact run, over every query, and recall@1 split by query kind: a mated probe's exact top-1
 * is its own subject, far above the rest; a stranger's is whichever of many near-tied strangers scores highest
 * (cosines around 0.2, below any threshold), which an approximate search may rank differently without changing
 * the decision.
 */
function recall(
  truth: string[][],
  got: string[][],
): { at1: number; at10: number; at1Mated: number; at1Strangers: number } {
  let at1 = 0;
  let at10 = 0;
  const byKind = { mated: [0, 0], strangers: [0, 0] };
  for (const [i, t] of truth.entries()) {
    const g = got[i] ?? [];
    const hit = g[0] === t[0];
    if (hit) at1++;
    const kind = byKind[Gallery.isStranger(i) ? 'strangers' : 'mated'];
    kind[0] = (kind[0] as number) + (hit ? 1 : 0);
    kind[1] = (kind[1] as number) + 1;
    const set = new Set(g);
    at10 += t.filter((s) => set.has(s)).length / Math.max(1, t.length);
  }
  const share = ([hits, total]: number[]) => round((hits as number) / Math.max(1, total as number), 4);
  return {
    at1: round(at1 / truth.length, 4),
    at10: round(at10 / truth.length, 4),
    at1Mated: share(byKind.mated),
    at1Strangers: share(byKind.strangers),
  };
}

/** The usearch graph settings of an engine (quantisation from its name, every core for the build). */
function usearchSettings(engine: Engine, expansionSearch: number | undefined = EF_SEARCHES[0]) {
  return {
    quantization: engine === 'usearch-i8' ? 'i8' : 'f16',
    addThreads: 0,
    expansionSearch,
    connectivity: CONNECTIVITY,
    expansionAdd: EXPANSION_ADD,
  } as const;
}

/** One engine's row: its timings, and its recall against the exact float32 run's ground truth. */
function result(
  engine: string,
  rows: number,
  subjects: number,
  timed: { p50: number; p99: number; results: string[][] },
  truthFile: string,
  cost: { buildS: number; memory: number; diskBytes: number; loadMs: number; note: string },
): Result {
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as string[][];
  const r = recall(truth, timed.results);
  return {
    engine,
    rows,
    subjects,
    p50Ms: timed.p50,
    p99Ms: timed.p99,
    recallAt1: r.at1,
    recallAt10: r.at10,
    recallAt1Mated: r.at1Mated,
    recallAt1Strangers: r.at1Strangers,
    buildS: round(cost.buildS, 1),
    memoryMiB: mib(cost.memory),
    diskMiB: mib(cost.diskBytes),
    loadMs: round(cost.loadMs, 0),
    note: cost.note,
  };
}

/** Adds the first `rows` templates of the synthetic gallery to an index, batch by batch. */
function addGallery(index: { add(entries: IndexEntry[]): void }, gallery: Gallery, rows: number): void {
  for (const b of gallery.batches(rows)) {
    index.add(
      b.templateIds.map((templateId, i) => ({
        templateId,
        subjectId: b.subjectIds[i] as string,
        variant: b.variants[i] ?? 'original',
        vector: b.vectors.subarray(i * DIM, (i + 1) * DIM),
      })),
    );
  }
}

/** An {@link AnnGraph} that keeps nothing: it lets the id tables of a saved graph be replayed from the gallery. */
function idsOnlyGraph(): AnnGraph {
  return {
    engine: 'ids-only',
    size: 0,
    add() {},
    remove() {},
    search: () => ({ keys: [], similarities: [] }),
  };
}

/** The measured spread of the real faces, with the real enrolments of `--variants-from` when given. */
function loadSpread(): Spread {
  const spread = measureSpread(
    loadRealPeople(
      fileURLToPath(new URL('../../shared/data', import.meta.url)),
      fileURLToPath(new URL('../.eval-cache', import.meta.url)),
    ),
  );
  return VARIANTS_FROM ? { ...spread, enrolled: loadRealEnrolments(VARIANTS_FROM) } : spread;
}

/** One engine, in this process (a graph engine also answers re-scored from an exact index: a second row). */
function runEngine(
  engine: Engine,
  rows: number,
  queryCount: number,
  seed: number,
  truthFile: string,
  work: string,
): Result[] {
  const gallery = new Gallery(loadSpread(), rows, seed);
  const queries = gallery.queries(queryCount);
  const before = rss();
  const started = performance.now();
  let search: (q: Float32Array) => Candidate[];
  let diskBytes = 0;
  let loadMs = 0;
  let note = '';
  let subjects = 0;
  if (engine === 'exact-f32' || engine === 'exact-int8') {
    const index = new VectorIndex({ modelId: 'bench', dim: DIM, initialCapacity: rows });
    addGallery(index, gallery, rows);
    const buildS = (performance.now() - started) / 1000;
    const bytes = encodeSnapshot(index, { dtype: engine === 'exact-int8' ? 'int8' : 'float32' });
    diskBytes = bytes.length;
    let loaded = index;
    if (engine === 'exact-int8') {
      const t = performance.now();
      loaded = decodeSnapshot(bytes);
      loadMs = performance.now() - t;
      note = 'int8 on disk, decoded to float32 for the same kernel';
    } else {
      const t = performance.now();
      decodeSnapshot(bytes);
      loadMs = performance.now() - t;
      note = `${index.kernel}, exhaustive`;
    }
    subjects = loaded.subjectCount;
    const memory = rss() - before;
    search = (q) => loaded.search(q, { k: K });
    const timed = timeQueries(queries, search);
    if (engine === 'exact-f32') writeFileSync(truthFile, JSON.stringify(timed.results));
    return [result(engine, rows, subjects, timed, truthFile, { buildS, memory, diskBytes, loadMs, note })];
  }
  const saved = GRAPH_FILE !== '' && engine.startsWith('usearch') ? GRAPH_FILE : '';
  const reuse = saved !== '' && existsSync(saved);
  let graph: AnnGraph;
  let index: ApproximateIndex;
  let buildS: number;
  let memory: number;
  if (reuse) {
    // A graph saved by an earlier run of the same gallery (--graph): its id tables are replayed from the
    // gallery, which the seed makes deterministic, into a graph that keeps nothing.
    const ids = new ApproximateIndex({
      modelId: 'bench',
      dim: DIM,
      graph: idsOnlyGraph(),
      grouping: GROUPING,
    });
    addGallery(ids, gallery, rows);
    const loaded = new UsearchGraph(DIM, usearchSettings(engine));
    const t = performance.now();
    loaded.load(saved, ids.nodeCount);
    loadMs = performance.now() - t;
    index = ApproximateIndex.restore(loaded, ids.manifest());
    graph = loaded;
    buildS = Number.NaN;
    memory = statSync(saved).size;
    diskBytes = memory;
    subjects = index.subjectCount;
    note = `${loaded.engine}; reused ${saved} (built at ef ${EXPANSION_ADD}, M ${CONNECTIVITY}), loaded`;
  } else {
    graph =
      engine === 'hnswlib-f32' ? new HnswlibGraph(DIM, rows) : new UsearchGraph(DIM, usearchSettings(engine));
    index = new ApproximateIndex({ modelId: 'bench', dim: DIM, graph, grouping: GROUPING });
    addGallery(index, gallery, rows);
    buildS = (performance.now() - started) / 1000;
    memory = rss() - before;
    subjects = index.subjectCount;
  }
  note = `${note}${note ? '; ' : ''}${index.nodeCount.toLocaleString('en')} nodes (grouping ${GROUPING})`;
  search = (q) => index.search(q, { k: K });
  const timed = timeQueries(queries, search);
  const file = saved || join(work, `${engine}.bin`);
  // A reused graph is neither saved nor reloaded here: its load time was measured above.
  if (!reuse && graph instanceof UsearchGraph) {
    graph.save(file);
    diskBytes = statSync(file).size;
    const fresh = new UsearchGraph(DIM, usearchSettings(engine));
    let t = performance.now();
    fresh.load(file, graph.size);
    loadMs = performance.now() - t;
    const viewed = new UsearchGraph(DIM, usearchSettings(engine));
    t = performance.now();
    viewed.view(file, graph.size);
    note = `${graph.engine} (build ef ${EXPANSION_ADD}); ${note}; memory-mapped open ${round(performance.now() - t, 1)} ms`;
  } else if (graph instanceof HnswlibGraph) {
    graph.save(file);
    diskBytes = statSync(file).size;
    const t = performance.now();
    HnswlibGraph.load(file, DIM);
    loadMs = performance.now() - t;
    note = `${graph.engine}; ${note}`;
  }
  const cost = { buildS, memory, diskBytes, loadMs };
  const plain = result(engine, rows, subjects, timed, truthFile, {
    ...cost,
    note: `${note}; memory = ${reuse ? 'the saved graph' : 'RSS growth incl. id tables'}`,
  });
  // As local mode answers past the crossover (TieredIndex): the graph's candidates re-scored from the exact
  // float32 index that local mode holds beside the graph at any size (so not counted in the graph's memory).
  const beforeExact = rss();
  const exact = new VectorIndex({ modelId: 'bench', dim: DIM, initialCapacity: rows });
  addGallery(exact, gallery, rows);
  const exactMemory = rss() - beforeExact;
  const rescore = (q: Float32Array, ids: readonly string[]) => exact.similaritiesOf(q, ids);
  const rescoreNote = `re-scored from the exact float32 index held beside the graph (${mib(exactMemory)} MiB, not in the memory column)`;
  /** One search ef re-scored: the graph's k × 10 best with their exact similarities. */
  const rescoredRow = (searched: ApproximateIndex, engineName: string, where: string): Result =>
    result(
      `${engine}+rescore`,
      rows,
      subjects,
      timeQueries(queries, (q) => searched.search(q, { k: K }, rescore)),
      truthFile,
      { ...cost, note: `${engineName}${where}; ${rescoreNote}` },
    );
  const out = [plain, rescoredRow(index, graph.engine, '')];
  // The same build searched at each further ef: the saved graph loaded again (into memory, as local mode loads
  // it) with that ef.
  if (graph instanceof UsearchGraph) {
    const manifest = index.manifest();
    for (const ef of EF_SEARCHES.slice(1)) {
      const loaded = new UsearchGraph(DIM, usearchSettings(engine, ef));
      loaded.load(file, graph.size);
      const again = ApproximateIndex.restore(loaded, manifest);
      out.push(
        result(
          engine,
          rows,
          subjects,
          timeQueries(queries, (q) => again.search(q, { k: K })),
          truthFile,
          { ...cost, note: `${loaded.engine}; the same build, loaded again` },
        ),
        rescoredRow(again, loaded.engine, '; the same build, loaded again'),
      );
    }
  }
  return out;
}

const rows = Number(arg('rows', '100000'));
const queryCount = Number(arg('queries', '1000'));
const seed = Number(arg('seed', '14'));
/**
 * usearch's search ef (`--ef-search`, default `auto`: the shipped `searchBreadthFor` of the graph's node count, 128 to
 * 200k nodes, 640 at 1M; a list such as `auto,320,512` searches one build at each, the saved graph loaded again with
 * that ef): recall against speed at large galleries.
 */
const EF_SEARCH_ARG = arg('ef-search', 'auto');
/** usearch's graph degree M and build ef (`--connectivity`, `--expansion-add`; defaults the shipped 16 and 256). */
const CONNECTIVITY = Number(arg('connectivity', '16'));
const EXPANSION_ADD = Number(arg('expansion-add', '256'));
if (![CONNECTIVITY, EXPANSION_ADD].every((n) => Number.isInteger(n) && n >= 2))
  throw new Error('--connectivity and --expansion-add must be whole numbers ≥ 2');
const EF_SEARCHES = EF_SEARCH_ARG.split(',').map((ef) => (ef === 'auto' ? undefined : Number(ef)));
if (EF_SEARCHES.some((ef) => ef !== undefined && (!Number.isInteger(ef) || ef < 1)))
  throw new Error('--ef-search must be `auto` or positive integers, comma-separated');
/**
 * `--graph FILE`: the usearch graph is saved there, and a later run of the same gallery (rows, seed, M, build ef)
 * loads it instead of building it again (a 1M build takes 8–21 minutes here); the exact run's ground truth is
 * kept beside it.
 */
const GRAPH_FILE = arg('graph', '');
/** `--variants-from DATA_DIR`: enrolment variants drawn from real ones (see the header). */
const VARIANTS_FROM = arg('variants-from', '');
/** `--grouping off|COS`: the graph's node grouping (default the shipped one). */
const GROUPING_ARG = arg('grouping', String(DEFAULT_GROUP_SIMILARITY));
const GROUPING: number | 'off' = GROUPING_ARG === 'off' ? 'off' : Number(GROUPING_ARG);
const child = arg('child', '');
const work = arg('work', '');
if (!Number.isInteger(rows) || rows < 10) throw new Error('--rows must be an integer ≥ 10');

if (child) {
  const rowsOut = runEngine(child as Engine, rows, queryCount, seed, join(work, 'truth.json'), work);
  process.stdout.write(`${JSON.stringify(rowsOut)}\n`);
} else {
  const engines = arg('engines', ENGINES.join(',')).split(',') as Engine[];
  for (const e of engines)
    if (!ENGINES.includes(e)) throw new Error(`unknown engine ${e}; one of ${ENGINES.join(', ')}`);
  if (!VARIANTS_FROM)
    process.stderr.write(
      'note: synthetic enrolment variants (all ~0.95 from their photo; real lowres ones are ~0.75): grouped graphs look better than they are; pass --variants-from DATA_DIR\n',
    );
  if (GRAPH_FILE && engines.filter((e) => e.startsWith('usearch')).length > 1)
    throw new Error('--graph holds one saved graph: name one usearch engine in --engines');
  if (engines[0] !== 'exact-f32') engines.unshift('exact-f32');
  const dir = mkdtempSync(join(tmpdir(), 'faceprint-scale-'));
  const results: Result[] = [];
  try {
    // With --graph, the exact run's ground truth is kept beside the graph and reused by a later run of the same
    // gallery and queries (the exact run at 1M takes ~5 minutes); its row is then left out.
    const variantsTag = VARIANTS_FROM ? loadRealEnrolments(VARIANTS_FROM).digest : 'synthetic';
    const cachedTruth = GRAPH_FILE
      ? `${GRAPH_FILE}.truth-${rows}-${queryCount}-${seed}-${variantsTag}.json`
      : '';
    for (const engine of [...new Set(engines)]) {
      if (engine === 'exact-f32' && cachedTruth && existsSync(cachedTruth)) {
        copyFileSync(cachedTruth, join(dir, 'truth.json'));
        process.stderr.write(`exact-f32: ground truth reused from ${cachedTruth}\n`);
        continue;
      }
      process.stderr.write(`${engine} at ${rows.toLocaleString('en')} rows…\n`);
      const out = execFileSync(
        process.execPath,
        [
          '--expose-gc',
          '--max-old-space-size=3072',
          '--import',
          'tsx',
          fileURLToPath(import.meta.url),
          '--child',
          engine,
          '--rows',
          String(rows),
          '--queries',
          String(queryCount),
          '--seed',
          String(seed),
          '--ef-search',
          EF_SEARCH_ARG,
          '--connectivity',
          String(CONNECTIVITY),
          '--expansion-add',
          String(EXPANSION_ADD),
          '--work',
          dir,
          ...(GRAPH_FILE ? ['--graph', GRAPH_FILE] : []),
          ...(VARIANTS_FROM ? ['--variants-from', VARIANTS_FROM] : []),
          '--grouping',
          GROUPING_ARG,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
      );
      if (engine === 'exact-f32' && cachedTruth) copyFileSync(join(dir, 'truth.json'), cachedTruth);
      for (const row of JSON.parse(out.trim().split('\n').at(-1) as string) as Result[]) {
        results.push(row);
        process.stderr.write(`  ${JSON.stringify(row)}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = spreadSummary(new Gallery(loadSpread(), rows, seed));
  const settings = { grouping: GROUPING, variants: VARIANTS_FROM || 'synthetic' };
  console.log(
    JSON.stringify(
      { rows, queries: queryCount, k: K, seed, ...settings, vectors: summary, results },
      null,
      2,
    ),
  );
  console.log(
    `\n${markdownTable(
      [
        'engine',
        'rows',
        'subjects',
        'p50 ms',
        'p99 ms',
        'recall@1',
        'recall@1 mated',
        'recall@1 strangers',
        'recall@10',
        'build s',
        'memory MiB',
        'disk MiB',
        'load ms',
        'note',
      ],
      results.map((r) => [
        r.engine,
        r.rows.toLocaleString('en'),
        r.subjects.toLocaleString('en'),
        r.p50Ms,
        r.p99Ms,
        r.recallAt1,
        r.recallAt1Mated,
        r.recallAt1Strangers,
        r.recallAt10,
        r.buildS,
        r.memoryMiB,
        r.diskMiB,
        r.loadMs,
        r.note,
      ]),
    )}`,
  );
}
