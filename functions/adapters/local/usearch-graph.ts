/**
 * {@link AnnGraph} on usearch (HNSW; prebuilt binaries ship inside the npm package, so installing runs no build
 * and downloads nothing). Vectors are stored quantised (`i8` by default: a quarter of float32's memory at a
 * measured recall@1 of 1.000 on realistic face embeddings, see docs/deploy.md), cosine metric.
 */
import { Index, MetricKind, ScalarKind } from 'usearch';
import type { AnnGraph, AnnGraphFactory } from '../../core/search/ann-index.ts';

/** HNSW settings; the defaults are the ones benchmarked and chosen (docs/deploy.md, "Millions of people"). */
export interface UsearchSettings {
  quantization?: 'f32' | 'f16' | 'i8' | undefined;
  /** Graph degree M (default 16). */
  connectivity?: number | undefined;
  /** ef at build time (default 128). */
  expansionAdd?: number | undefined;
  /** ef at search time (default 64); raised to the requested count when that is larger. */
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

/** A usearch HNSW graph, one search thread (identify already runs one face at a time per request). */
export class UsearchGraph implements AnnGraph {
  readonly engine: string;
  readonly #index: Index;
  readonly #addThreads: number;
  #size = 0;

  constructor(dim: number, capacity: number, settings: UsearchSettings = {}) {
    const quantization = settings.quantization ?? 'i8';
    const connectivity = settings.connectivity ?? 16;
    const expansionSearch = settings.expansionSearch ?? 128;
    this.engine = `usearch-hnsw-${quantization}-m${connectivity}-ef${expansionSearch}`;
    this.#index = new Index({
      dimensions: dim,
      metric: MetricKind.Cos,
      quantization: SCALAR[quantization],
      connectivity,
      expansion_add: settings.expansionAdd ?? 128,
      expansion_search: expansionSearch,
      multi: false,
    });
    this.#addThreads = settings.addThreads ?? 1;
    void capacity; // usearch grows on its own
  }

  get size(): number {
    return this.#size;
  }

  add(keys: readonly number[], vectors: Float32Array): void {
    if (keys.length === 0) return;
    this.#index.add(BigUint64Array.from(keys, BigInt), vectors, this.#addThreads);
    this.#size += keys.length;
  }

  remove(keys: readonly number[]): void {
    if (keys.length === 0) return;
    const removed = this.#index.remove(BigUint64Array.from(keys, BigInt));
    const count = Array.isArray(removed) ? removed.reduce((a, b) => a + b, 0) : removed;
    this.#size -= count;
  }

  search(query: Float32Array, count: number): { keys: number[]; similarities: Float32Array } {
    const found = this.#index.search(query, count, 1);
    const keys = Array.from(found.keys, Number);
    const similarities = new Float32Array(found.distances.length);
    for (let i = 0; i < similarities.length; i++) similarities[i] = 1 - (found.distances[i] as number);
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

/** A factory for {@link ApproximateIndex} with the given settings. */
export function usearchGraphFactory(settings: UsearchSettings = {}): AnnGraphFactory {
  return (dim, capacity) => new UsearchGraph(dim, capacity, settings);
}
