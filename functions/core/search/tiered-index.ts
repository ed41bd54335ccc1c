/**
 * Exact below a crossover, approximate above it: the index local mode uses at scale.
 *
 * The exact {@link VectorIndex} stays the source of truth (it is what the snapshot codec writes, and what
 * answers while the approximate graph is being built). Once the gallery reaches `crossover` templates an
 * {@link ApproximateIndex} is built in the background, in chunks with a yield to the event loop between them,
 * so identify keeps answering (exactly) meanwhile; writes made during the build are reconciled at its end.
 * Inserts and deletes then go to both: a deleted subject's vectors are removed from the graph for real, and
 * the snapshot compacts them out of the exact rows.
 *
 * The crossover default comes from `npm run bench:scale` (docs/deploy.md, "Millions of people").
 */

import { type Candidate, TEMPLATE_VARIANTS } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import { type AnnGraph, type AnnGraphFactory, type AnnManifest, ApproximateIndex } from './ann-index.ts';
import type { IndexEntry, SearchOptions, VectorIndex } from './vector-index.ts';

/** Below this many templates exact search wins (measured, docs/deploy.md). */
export const DEFAULT_CROSSOVER = 50_000;

/**
 * Port: an approximate graph for a gallery index, with where it is saved (local mode: files beside the snapshot,
 * `adapters/local/ann-file-store.ts`). The gallery index wraps its exact index in a {@link TieredIndex} with it.
 */
export interface ApproximateIndexing {
  graphs: AnnGraphFactory;
  /** Templates from which the graph answers (default {@link DEFAULT_CROSSOVER}). */
  crossover?: number | undefined;
  /** The saved graph of `modelId`, if any and whole (reconciled with the exact index when loaded). */
  load(modelId: string): ApproximateIndex | undefined;
  /** Saves a built graph. */
  save(index: ApproximateIndex): Promise<void>;
  /** Removes the saved graph (after an erasure: no file keeps a deleted vector until the next clean save). */
  drop(): Promise<void>;
}

/**
 * Reads the crossover setting (`FACEPRINT_ANN_CROSSOVER`): unset → the default, `off` → exact search only, else a
 * whole number of templates ≥ 1,000 (below that a graph never pays for itself). Anything else fails closed.
 */
export function parseCrossover(raw: string | undefined): number | 'off' {
  const value = raw?.trim();
  if (value === undefined || value === '') return DEFAULT_CROSSOVER;
  if (value.toLowerCase() === 'off') return 'off';
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isInteger(n) || n < 1_000) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `FACEPRINT_ANN_CROSSOVER must be "off" or a whole number of templates of at least 1000, not "${value}".`,
    );
  }
  return n;
}

/** Options of {@link TieredIndex}. */
export interface TieredIndexOptions {
  graphs: AnnGraphFactory;
  /** Templates from which the approximate graph is used (default {@link DEFAULT_CROSSOVER}). */
  crossover?: number | undefined;
  /** Templates added to the graph between two yields of a background build (default 2,000). */
  chunk?: number | undefined;
  oversample?: number | undefined;
}

/**
 * Exact index plus, above the crossover, an approximate graph kept in step with it. Searches use the graph when
 * it is ready and the gallery is past the crossover, the exact index otherwise.
 */
export class TieredIndex {
  readonly exact: VectorIndex;
  readonly crossover: number;
  readonly #graphs: AnnGraphFactory;
  readonly #chunk: number;
  readonly #oversample: number | undefined;
  #approx: ApproximateIndex | undefined;
  #building: Promise<void> | undefined;

  /** Wraps an exact index (fresh or decoded from a snapshot), optionally with a graph reloaded beside it. */
  constructor(exact: VectorIndex, options: TieredIndexOptions, reloaded?: ApproximateIndex) {
    this.exact = exact;
    this.crossover = options.crossover ?? DEFAULT_CROSSOVER;
    this.#graphs = options.graphs;
    this.#chunk = options.chunk ?? 2_000;
    this.#oversample = options.oversample;
    if (reloaded) {
      this.#approx = reloaded;
      this.#reconcile(reloaded);
    }
  }

  /** Number of templates. */
  get size(): number {
    return this.exact.size;
  }

  /** Number of subjects. */
  get subjectCount(): number {
    return this.exact.subjectCount;
  }

  /** Which search answers now: the exact kernel or the graph engine. */
  get kernel(): string {
    return this.#useApprox() ? (this.#approx as ApproximateIndex).kernel : this.exact.kernel;
  }

  /** The approximate index when one is built (for saving it). */
  get approximate(): ApproximateIndex | undefined {
    return this.#building ? undefined : this.#approx;
  }

  /** True when a template is in the index. */
  has(templateId: string): boolean {
    return this.exact.has(templateId);
  }

  /** Adds templates to the exact index and, when built, to the graph; starts a build past the crossover. */
  add(entries: readonly IndexEntry[]): void {
    this.exact.add(entries);
    if (this.#approx && !this.#building) this.#approx.add(entries);
    void this.ensureBuilt();
  }

  /** Removes a subject from both indexes for real. Returns how many templates were removed. */
  removeSubject(subjectId: string): number {
    const removed = this.exact.removeSubject(subjectId);
    if (!this.#building) this.#approx?.removeSubject(subjectId);
    return removed;
  }

  /**
   * Top-k subjects: candidates from the graph when it is in use, their similarities re-scored from the exact index
   * held beside it (the graph's int8 distances are off by up to ~1e-2 of cosine, enough to swap near-ties and to
   * move a face across the decision threshold); exactly otherwise.
   */
  search(query: Float32Array, options: SearchOptions): Candidate[] {
    return this.#useApprox()
      ? (this.#approx as ApproximateIndex).search(query, options, this.#rescore)
      : this.exact.search(query, options);
  }

  readonly #rescore = (query: Float32Array, templateIds: readonly string[]) =>
    this.exact.similaritiesOf(query, templateIds);

  /**
   * Resolves when the graph is built (or when none is needed below the crossover). Starts the background build
   * once; identify keeps using the exact index until it finishes.
   */
  ensureBuilt(): Promise<void> {
    if (this.#building) return this.#building;
    if (this.#approx || this.exact.size < this.crossover) return Promise.resolve();
    this.#building = this.#build().finally(() => {
      this.#building = undefined;
    });
    return this.#building;
  }

  #useApprox(): boolean {
    return this.#approx !== undefined && !this.#building && this.exact.size >= this.crossover;
  }

  async #build(): Promise<void> {
    const graph: AnnGraph = this.#graphs(this.exact.dim, this.exact.size);
    const approx = new ApproximateIndex({
      modelId: this.exact.modelId,
      dim: this.exact.dim,
      graph,
      oversample: this.#oversample,
    });
    let batch: IndexEntry[] = [];
    let row = 0;
    // Rows are read by position; a delete during the build shifts them, which the reconciliation repairs.
    for (;;) {
      const columns = this.exact.columns();
      if (row >= columns.templateIds.length) break;
      const end = Math.min(row + this.#chunk, columns.templateIds.length);
      for (; row < end; row++) {
        const templateId = columns.templateIds[row] as string;
        if (approx.has(templateId)) continue;
        batch.push({
          templateId,
          subjectId: columns.subjectIds[columns.rowSubject[row] as number] as string,
          variant: TEMPLATE_VARIANTS[columns.rowVariant[row] as number] ?? 'original',
          vector: columns.vectors.slice(row * columns.dim, (row + 1) * columns.dim),
        });
      }
      approx.add(batch);
      batch = [];
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.#approx = approx;
    this.#reconcile(approx);
  }

  /** Makes the graph hold exactly the exact index's templates: adds what is missing, drops what is gone. */
  #reconcile(approx: ApproximateIndex): void {
    const stale = new Set<string>();
    for (const row of approx.rows()) if (!this.exact.has(row.templateId)) stale.add(row.subjectId);
    for (const subjectId of stale) approx.removeSubject(subjectId);
    const missing: IndexEntry[] = [];
    for (const entry of this.exact.entries()) if (!approx.has(entry.templateId)) missing.push(entry);
    approx.add(missing);
  }
}

export type { AnnManifest };
