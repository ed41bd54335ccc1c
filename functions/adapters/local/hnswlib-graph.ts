/**
 * {@link AnnGraph} on hnswlib-node (the reference HNSW implementation; compiled by node-gyp at install, no
 * download). Benchmarked beside usearch in `bench/scale.bench.ts`; float32 storage only.
 */
import hnswlib from 'hnswlib-node';
import type { AnnGraph } from '../../core/search/ann-index.ts';

export interface HnswlibSettings {
  m?: number | undefined;
  efConstruction?: number | undefined;
  efSearch?: number | undefined;
}

/** An hnswlib HNSW graph (inner-product space on normalised vectors = cosine). */
export class HnswlibGraph implements AnnGraph {
  readonly engine: string;
  readonly #index: InstanceType<typeof hnswlib.HierarchicalNSW>;
  readonly #dim: number;
  readonly #efSearch: number;
  #capacity: number;
  #size = 0;

  constructor(dim: number, capacity: number, settings: HnswlibSettings = {}) {
    const m = settings.m ?? 16;
    this.#efSearch = settings.efSearch ?? 64;
    this.engine = `hnswlib-hnsw-f32-m${m}-ef${this.#efSearch}`;
    this.#dim = dim;
    this.#capacity = Math.max(16, capacity);
    this.#index = new hnswlib.HierarchicalNSW('ip', dim);
    this.#index.initIndex({ maxElements: this.#capacity, m, efConstruction: settings.efConstruction ?? 128 });
    this.#index.setEf(this.#efSearch);
  }

  get size(): number {
    return this.#size;
  }

  add(keys: readonly number[], vectors: Float32Array): void {
    if (this.#size + keys.length > this.#capacity) {
      while (this.#size + keys.length > this.#capacity) this.#capacity *= 2;
      this.#index.resizeIndex(this.#capacity);
    }
    for (const [i, key] of keys.entries()) {
      this.#index.addPoint(Array.from(vectors.subarray(i * this.#dim, (i + 1) * this.#dim)), key);
    }
    this.#size += keys.length;
  }

  remove(keys: readonly number[]): void {
    for (const key of keys) {
      try {
        this.#index.markDelete(key);
        this.#size -= 1;
      } catch {
        // unknown or already deleted
      }
    }
  }

  /** Writes the graph to a file (hnswlib's format). */
  save(path: string): void {
    this.#index.writeIndexSync(path);
  }

  /** Reads a graph written by {@link HnswlibGraph.save}. */
  static load(path: string, dim: number, settings: HnswlibSettings = {}): HnswlibGraph {
    const graph = new HnswlibGraph(dim, 16, settings);
    graph.#index.readIndexSync(path, false);
    graph.#capacity = graph.#index.getMaxElements();
    graph.#size = graph.#index.getCurrentCount();
    graph.#index.setEf(graph.#efSearch);
    return graph;
  }

  search(query: Float32Array, count: number): { keys: number[]; similarities: Float32Array } {
    this.#index.setEf(Math.max(this.#efSearch, count));
    const found = this.#index.searchKnn(Array.from(query), Math.min(count, this.#size));
    return {
      keys: found.neighbors,
      similarities: Float32Array.from(found.distances, (d) => 1 - d),
    };
  }
}
