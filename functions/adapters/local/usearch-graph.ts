/**
 * {@link AnnGraph} on usearch (HNSW; prebuilt binaries ship inside the npm package, so installing runs no build
 * and downloads nothing). Vectors are stored quantised (`i8` by default: a quarter of float32's memory, see
 * docs/deploy.md), cosine metric.
 *
 * For `i8` the vectors are quantised here, not by usearch: usearch scales a float vector to unit length, then by 127,
 * and truncates, so a 512-dimensional face embedding (components ~±0.04) uses ~±5 of the ±127 codes and loses
 * ~10% of each component. Scaled by its largest component instead and rounded, a row uses the whole range (the
 * snapshot's int8 codec does the same). Cosine is per-vector scale invariant, so rows quantised either way (a graph
 * saved by an older release) compare correctly with each other.
 */
import { Index, MetricKind, ScalarKind } from 'usearch';
import type { AnnGraph, AnnGraphFactory } from '../../core/search/ann-index.ts';

/** HNSW settings; the defaults are the ones benchmarked and chosen (docs/deploy.md, "Millions of people"). */
export interface UsearchSettings {
  quantization?: 'f32' | 'f16' | 'i8' | undefined;
  /** Graph degree M (default 16). */
  connectivity?: number | undefined;
  /** ef at build time (default 256). */
  expansionAdd?: number | undefined;
  /**
   * ef at search time (default {@link searchBreadthFor} the graph's live size, so it follows the gallery as it
   * grows); raised to the requested count when that is larger.
   */
  expansionSearch?: number | undefined;
  /**
   * Threads a batch insert may use (default 1: a background build in the server leaves the other cores to
   * identify; 0 = every core, for an offline build).
   */
  addThreads?: number | undefined;
}

const SCALAR: Record<'f32' | 'f16' | 'i8', ScalarKind> = {
  f32: ScalarKind.F32,
  f16: ScalarKind.F16,
  i8: ScalarKind.I8,
};

/**
 * The search ef for a graph of `nodes` vectors: 128 up to 200,000, then in proportion to the graph (640 at 1M).
 * Measured with `npm run bench:scale` (README, "Session 22" and "Session 23"; M 16, build ef 256, re-scored): with
 * a node per template, recall@1 against exact 1.000 at 100k (ef 128), 0.996 at 1M (ef 640); with grouped nodes,
 * 1.000 at 1M templates, which make 401k nodes (ef 257). Past 1M nodes the proportion is extrapolated.
 */
export function searchBreadthFor(nodes: number): number {
  return Math.max(128, Math.ceil((640 * nodes) / 1_000_000));
}

/**
 * A usearch HNSW graph, one search thread (identify already runs one face at a time per request).
 *
 * The search ef is set per search: usearch's JavaScript binding has no setter for it, but its search explores
 * max(ef, count) candidates, so asking for ef results (and keeping the best `count`) searches at that ef. The
 * graph is therefore made with a low floor ef and searched at {@link searchBreadthFor} its live size.
 */
export class UsearchGraph implements AnnGraph {
  /**
   * What the graph's structure depends on (quantisation, M, build ef), without the search ef: a saved graph is
   * reusable by a reader whose search ef differs (it follows the gallery's size), not by one whose build settings do.
   */
  readonly build: string;
  /** Engine, quantisation and M: the part of {@link build} and {@link engine} they share. */
  readonly #kind: string;
  readonly #index: Index;
  readonly #addThreads: number;
  readonly #dim: number;
  /** Whether rows are quantised here (int8 storage) before usearch sees them. */
  readonly #int8: boolean;
  readonly #expansionSearch: number | undefined;
  #size = 0;

  constructor(dim: number, settings: UsearchSettings = {}) {
    const quantization = settings.quantization ?? 'i8';
    const connectivity = settings.connectivity ?? 16;
    const expansionAdd = settings.expansionAdd ?? 256;
    this.#kind = `usearch-hnsw-${quantization}-m${connectivity}`;
    this.build = `${this.#kind}-ea${expansionAdd}`;
    this.#index = new Index({
      dimensions: dim,
      metric: MetricKind.Cos,
      quantization: SCALAR[quantization],
      connectivity,
      expansion_add: expansionAdd,
      expansion_search: 16,
      multi: false,
    });
    this.#addThreads = settings.addThreads ?? 1;
    this.#dim = dim;
    this.#int8 = quantization === 'i8';
    this.#expansionSearch = settings.expansionSearch;
  }

  /** The search ef now: the configured one, else {@link searchBreadthFor} the live size. */
  get expansionSearch(): number {
    return this.#expansionSearch ?? searchBreadthFor(this.#size);
  }

  /** Engine and settings, e.g. `usearch-hnsw-i8-m16-ef640` (the ef follows the size). */
  get engine(): string {
    return `${this.#kind}-ef${this.expansionSearch}`;
  }

  get size(): number {
    return this.#size;
  }

  add(keys: readonly number[], vectors: Float32Array): void {
    if (keys.length === 0) return;
    const rows = this.#int8 ? quantiseRows(vectors, this.#dim) : vectors;
    this.#index.add(BigUint64Array.from(keys, BigInt), rows, this.#addThreads);
    this.#size += keys.length;
  }

  remove(keys: readonly number[]): void {
    if (keys.length === 0) return;
    const removed = this.#index.remove(BigUint64Array.from(keys, BigInt));
    const count = Array.isArray(removed) ? removed.reduce((a, b) => a + b, 0) : removed;
    this.#size -= count;
  }

  search(query: Float32Array, count: number): { keys: number[]; similarities: Float32Array } {
    const wanted = Math.max(count, this.expansionSearch);
    const found = this.#index.search(this.#int8 ? quantiseRows(query, this.#dim) : query, wanted, 1);
    const kept = Math.min(count, found.keys.length);
    const keys = Array.from(found.keys.subarray(0, kept), Number);
    const similarities = new Float32Array(kept);
    for (let i = 0; i < kept; i++) similarities[i] = 1 - (found.distances[i] as number);
    // usearch pads missing results with the max key; keep only real ones.
    const real = keys.findIndex((k) => !Number.isSafeInteger(k));
    return real < 0
      ? { keys, similarities }
      : { keys: keys.slice(0, real), similarities: similarities.subarray(0, real) };
  }

  /** Writes the graph to a file (usearch's own format). */
  save(path: string): void {
    this.#index.save(path);
  }

  /** Replaces this graph with one saved by {@link UsearchGraph.save}; `size` is the number of live vectors. */
  load(path: string, size: number): void {
    this.#index.load(path);
    this.#size = size;
  }

  /** Memory-maps a saved graph read-only instead of reading it (cold starts at scale). */
  view(path: string, size: number): void {
    this.#index.view(path);
    this.#size = size;
  }
}

/**
 * Each `dim`-component row as int8 codes: the row over its largest magnitude, times 127, rounded. An all-zero row
 * stays zero.
 */
export function quantiseRows(vectors: Float32Array, dim: number): Int8Array {
  const out = new Int8Array(vectors.length);
  for (let base = 0; base < vectors.length; base += dim) {
    let peak = 0;
    for (let j = base; j < base + dim; j++) peak = Math.max(peak, Math.abs(vectors[j] as number));
    if (!(peak > 0)) continue;
    const scale = 127 / peak;
    for (let j = base; j < base + dim; j++) out[j] = Math.round((vectors[j] as number) * scale);
  }
  return out;
}

/** A factory for {@link ApproximateIndex} with the given settings. */
export function usearchGraphFactory(settings: UsearchSettings = {}): AnnGraphFactory {
  return (dim) => new UsearchGraph(dim, settings);
}
