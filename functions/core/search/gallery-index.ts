/**
 * The gallery's search index and how it stays true to the store of record — one module for the local gallery
 * service, the Lambda API and the indexer alike: load the newest snapshot, check it is for this model (else
 * rebuild), apply what the store's change feed says happened since the snapshot's cursor, and keep applying it at
 * a bounded interval (a writer at every check; a reader whenever a newer snapshot was published).
 *
 * The store is the one source of truth. The index is derived from it (`TemplateFeed`), never from what a process
 * remembers, so two processes writing one data directory (the CLI enrolling while the server runs) cannot lose
 * each other's templates; a snapshot only saves the work of replaying the whole feed and records the cursor it
 * reflects. In AWS the indexer is the one writer of snapshots: readers reload when a newer one is published and
 * catch up with templates created since.
 *
 * Past a crossover (`approximate`, local mode) the exact index is wrapped in a {@link TieredIndex}: an HNSW graph
 * built in the background answers while the exact index stays the snapshot's content. The graph is saved beside
 * the snapshot when it is built and after enough inserts; an erasure drops the saved graph at once (no file keeps a
 * deleted vector) and the graph is not saved again by this process, so the next start rebuilds it clean.
 */
import type { Candidate, FaceTemplate } from '../domain.ts';
import type { IndexSnapshotStore, PublishedShards, TemplateChanges, TemplateFeed } from '../gallery/ports.ts';
import type { ApproximateIndex } from './ann-index.ts';
import { decodeShards, ShardSetDecoder } from './shards.ts';
import { assertCompatible, decodeSnapshotWithInfo, encodeSnapshot } from './snapshot.ts';
import { type ApproximateIndexing, TieredIndex } from './tiered-index.ts';
import { type IndexEntry, type SearchOptions, VectorIndex } from './vector-index.ts';

/** Graph inserts after which a built graph is saved again: this many, or this share of the graph if larger. */
const GRAPH_RESAVE_INSERTS = 1_000;
const GRAPH_RESAVE_SHARE = 0.05;

/** The embedding space an index serves: templates of another model are never indexed. */
export interface IndexModel {
  id: string;
  dim: number;
}

export interface GalleryIndexOptions {
  snapshots: IndexSnapshotStore;
  feed: TemplateFeed;
  model: IndexModel;
  /**
   * Whether this process saves snapshots: local mode (every process may, the feed keeps them honest) and the
   * AWS indexer. The AWS API and ingest functions only read the indexer's.
   */
  writesSnapshots: boolean;
  /** How stale an answer may be: the feed and the snapshot's version are asked at most this often (default 0). */
  refreshIntervalMs?: number | undefined;
  /** A failed refresh of an index already loaded: it keeps serving, and this hears why. */
  onStale?: ((error: unknown) => void) | undefined;
  now?: (() => number) | undefined;
  /** An approximate graph past a crossover (local mode at scale); exact search only when omitted. */
  approximate?: ApproximateIndexing | undefined;
}

/** What loading or refreshing did. */
export interface IndexRefresh {
  templates: number;
  subjects: number;
  /** Whether the index was rebuilt from the whole store (no usable snapshot, or a cursor too old). */
  rebuilt: boolean;
  /** Templates added and subjects removed by this refresh. */
  applied: number;
}

/** Index entries of the templates of `model`. */
export function entriesOf(templates: readonly FaceTemplate[], model: IndexModel): IndexEntry[] {
  return templates
    .filter((t) => t.model.id === model.id && t.embedding.length === model.dim)
    .map((t) => ({ templateId: t.id, subjectId: t.subjectId, variant: t.variant, vector: t.embedding }));
}

/** Decodes a snapshot for `model`; undefined when there is none or it cannot be used (then it is rebuilt). */
export function decodeUsableSnapshot(
  bytes: Uint8Array | undefined,
  model: IndexModel,
): { index: VectorIndex; cursor: string | undefined; createdAt: string } | undefined {
  if (!bytes) return undefined;
  try {
    const { index, info } = decodeSnapshotWithInfo(bytes);
    assertCompatible(index, { modelId: model.id, dim: model.dim });
    return { index, cursor: info.cursor, createdAt: info.createdAt };
  } catch {
    return undefined;
  }
}

/** Decodes a published set of shards for `model`; undefined when there is none or it cannot be used. */
export function decodeUsableShards(
  published: PublishedShards | undefined,
  model: IndexModel,
): { index: VectorIndex; cursor: string | undefined; createdAt: string } | undefined {
  if (!published) return undefined;
  try {
    return { index: decodeShards(published, model), cursor: undefined, createdAt: published.createdAt };
  } catch {
    return undefined;
  }
}

/**
 * The newest published index for `model` from `snapshots`: its shards when the store publishes shards and has a
 * set, else its single snapshot; undefined when there is none or it cannot be used (then it is rebuilt).
 * `onManifest` hears a shard set's time before its shards are fetched (see `LoadShardsOptions`). Each shard is
 * checked and read as it arrives, so that only the merge is left when the last one does.
 */
export async function loadUsableSnapshot(
  snapshots: IndexSnapshotStore,
  model: IndexModel,
  onManifest?: (createdAt: string) => void,
): Promise<{ index: VectorIndex; cursor: string | undefined; createdAt: string } | undefined> {
  const arriving: { decoder?: ShardSetDecoder | undefined; failed: boolean } = { failed: false };
  const published = await snapshots.loadShards?.({
    onManifest: (manifest) => {
      arriving.failed = false;
      try {
        arriving.decoder = new ShardSetDecoder(manifest.count, model, manifest.rows);
      } catch {
        arriving.failed = true;
      }
      onManifest?.(manifest.createdAt);
    },
    onShard: (shard, bytes) => {
      if (arriving.failed) return;
      try {
        arriving.decoder?.add(shard, bytes);
      } catch {
        // The same bytes would fail the same way below: the set is unusable (then it is rebuilt).
        arriving.failed = true;
      }
    },
  });
  if (published) {
    if (arriving.failed) return undefined;
    const { decoder } = arriving;
    // A store that does not report shards as they arrive: decoded here instead.
    if (!decoder || decoder.size !== published.shards.size) return decodeUsableShards(published, model);
    try {
      return { index: decoder.finish(), cursor: undefined, createdAt: published.createdAt };
    } catch {
      return undefined;
    }
  }
  return decodeUsableSnapshot(await snapshots.load(), model);
}

/** The gallery's index, kept in step with the store's change feed. Not for concurrent writers of one instance. */
export class GalleryIndex {
  #index: VectorIndex;
  /** The exact index wrapped with its graph, when {@link GalleryIndexOptions.approximate} is set. */
  #tiered: TieredIndex | undefined;
  /** The graph last saved or loaded, inserts since, and whether an erasure touched it since it was built. */
  #savedGraph: ApproximateIndex | undefined;
  #graphInserts = 0;
  #graphErased = false;
  #pendingDrop: Promise<void> = Promise.resolve();
  #cursor: string | undefined;
  #snapshotVersion: string | undefined;
  #loaded = false;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #queue: Promise<unknown> = Promise.resolve();
  #pendingCheck: Promise<IndexRefresh | undefined> | undefined;
  /** The first load while it runs: callers that arrive meanwhile (a cold start's prefetch and its first request) share it. */
  #opening: Promise<IndexRefresh> | undefined;
  readonly #options: GalleryIndexOptions;
  readonly #now: () => number;

  constructor(options: GalleryIndexOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#index = this.#empty();
  }

  /** Makes `index` the one searched, keeping the graph built so far (reconciled) or the saved one. */
  #install(index: VectorIndex): void {
    this.#index = index;
    const approximate = this.#options.approximate;
    if (!approximate) return;
    const previous = this.#tiered?.approximate;
    const graph = previous ?? approximate.load(this.#options.model.id);
    // A wholesale change (local mode: a deletion somewhere) may remove vectors from the kept graph.
    if (previous) this.#erased();
    if (!previous) this.#savedGraph = graph;
    this.#tiered = new TieredIndex(
      index,
      { graphs: approximate.graphs, crossover: approximate.crossover },
      graph,
    );
    this.#watchBuild();
  }

  /** Saves the graph once a background build finishes (a writer). */
  #watchBuild(): void {
    const tiered = this.#tiered;
    if (!tiered || !this.#options.writesSnapshots) return;
    tiered
      .ensureBuilt()
      .then(() => {
        if (tiered === this.#tiered && tiered.approximate && tiered.approximate !== this.#savedGraph) {
          return this.#serial(() => this.#saveGraph());
        }
        return undefined;
      })
      .catch((error: unknown) => this.#options.onStale?.(error));
  }

  #erased(): void {
    if (!this.#options.approximate) return;
    this.#graphErased = true;
    this.#pendingDrop = this.#pendingDrop.then(() => this.#options.approximate?.drop());
  }

  async #saveGraph(): Promise<void> {
    await this.#pendingDrop;
    const approximate = this.#options.approximate;
    const graph = this.#tiered?.approximate;
    if (!approximate || !graph || this.#graphErased) return;
    const due = Math.max(GRAPH_RESAVE_INSERTS, graph.size * GRAPH_RESAVE_SHARE);
    if (graph === this.#savedGraph && this.#graphInserts < due) return;
    await approximate.save(graph);
    this.#savedGraph = graph;
    this.#graphInserts = 0;
  }

  /** Whether {@link open} (or a first refresh) has loaded the index. */
  get isLoaded(): boolean {
    return this.#loaded;
  }

  /** The feed cursor the index reflects. */
  get cursor(): string | undefined {
    return this.#cursor;
  }

  /**
   * Loads the newest snapshot (or nothing, when there is none or it is for another model) and applies the feed
   * since its cursor; a writer saves a new snapshot when it had to rebuild or apply anything.
   */
  async open(): Promise<IndexRefresh> {
    return this.#serial(async () => {
      const { snapshots, model, feed } = this.#options;
      const version = await snapshots.version?.();
      // A published shard set is caught up from its time: that catch-up (in DynamoDB, days × shards queries)
      // starts as soon as the manifest names the time, while the shards are fetched and decoded.
      let early: { from: string; changes: Promise<TemplateChanges> } | undefined;
      const loaded = await loadUsableSnapshot(snapshots, model, (createdAt) => {
        const changes = feed.changesSince(createdAt);
        // Awaited below when the set is used; a set that turns out unusable leaves it unread.
        changes.catch(() => undefined);
        early = { from: createdAt, changes };
      });
      this.#install(loaded?.index ?? this.#empty());
      // A snapshot without a cursor (published by the AWS indexer) is caught up from its time.
      this.#cursor = loaded ? (loaded.cursor ?? loaded.createdAt) : undefined;
      this.#snapshotVersion = version;
      const changes =
        early && loaded && early.from === this.#cursor
          ? await early.changes
          : await feed.changesSince(this.#cursor);
      const refresh = await this.#apply(changes);
      const rebuilt = !loaded || refresh.rebuilt;
      if (this.#options.writesSnapshots && (rebuilt || refresh.applied > 0)) await this.#save();
      this.#loaded = true;
      this.#checkedAt = this.#now();
      return { ...refresh, rebuilt };
    });
  }

  /**
   * Brings the index up to date at most once per `refreshIntervalMs` (concurrent callers share one check): a
   * reader reloads a newly published snapshot, then everyone applies the feed. The first call loads the index;
   * a failure after that is reported to `onStale` and the loaded index keeps serving.
   */
  async ensureFresh(): Promise<IndexRefresh | undefined> {
    if (!this.#loaded) {
      this.#opening ??= this.open().finally(() => {
        this.#opening = undefined;
      });
      return this.#opening;
    }
    if (this.#now() - this.#checkedAt < (this.#options.refreshIntervalMs ?? 0)) return undefined;
    this.#pendingCheck ??= this.refresh()
      .catch((error: unknown) => {
        this.#options.onStale?.(error);
        return undefined;
      })
      .finally(() => {
        this.#pendingCheck = undefined;
      });
    return this.#pendingCheck;
  }

  /** Applies what changed since the index's cursor now, whatever the interval (after this process's own write). */
  async refresh(): Promise<IndexRefresh> {
    if (!this.#loaded) return this.open();
    return this.#serial(async () => {
      const started = this.#now();
      let reloaded = false;
      if (!this.#options.writesSnapshots && this.#options.snapshots.version) {
        const version = await this.#options.snapshots.version();
        if (version !== this.#snapshotVersion) {
          const loaded = await loadUsableSnapshot(this.#options.snapshots, this.#options.model);
          if (loaded) {
            this.#install(loaded.index);
            this.#cursor = loaded.cursor ?? loaded.createdAt;
            reloaded = true;
          }
          this.#snapshotVersion = version;
        }
      }
      // A reader catches up with the feed when it loads a snapshot (in DynamoDB a catch-up is days × shards key
      // queries: not on every check); a writer's feed is cheap and the only truth, so it is applied every time.
      if (!this.#options.writesSnapshots && !reloaded) {
        this.#checkedAt = started;
        const { size, subjectCount } = this.#index;
        return { templates: size, subjects: subjectCount, rebuilt: false, applied: 0 };
      }
      const refresh = await this.#apply(await this.#options.feed.changesSince(this.#cursor));
      this.#checkedAt = started;
      return { ...refresh, rebuilt: refresh.rebuilt || reloaded };
    });
  }

  /** Saves a snapshot of the index at its cursor (a writer, after its own writes). */
  async save(): Promise<void> {
    if (!this.#options.writesSnapshots) return;
    await this.#save();
  }

  /** Top-k subjects for a query vector (see {@link VectorIndex.search}). */
  search(query: Float32Array, options: SearchOptions): Candidate[] {
    return this.#tiered ? this.#tiered.search(query, options) : this.#index.search(query, options);
  }

  /** Removes a subject from this process's index at once (the feed confirms it on the next refresh). */
  removeSubject(subjectId: string): void {
    this.#remove(subjectId);
  }

  /** Resolves when a background graph build (if any) has finished; for tests and the benchmark. */
  async settled(): Promise<void> {
    await this.#tiered?.ensureBuilt();
    await this.#serial(async () => undefined);
  }

  #remove(subjectId: string): number {
    if (!this.#tiered) return this.#index.removeSubject(subjectId);
    const removed = this.#tiered.removeSubject(subjectId);
    if (removed > 0) this.#erased();
    return removed;
  }

  has(templateId: string): boolean {
    return this.#index.has(templateId);
  }

  stats(): { templates: number; subjects: number; kernel: string } {
    const kernel = this.#tiered?.kernel ?? this.#index.kernel;
    return { templates: this.#index.size, subjects: this.#index.subjectCount, kernel };
  }

  /** The index itself, for encoding or inspection; replaced wholesale by a rebuild. */
  get vectors(): VectorIndex {
    return this.#index;
  }

  #empty(): VectorIndex {
    return new VectorIndex({ modelId: this.#options.model.id, dim: this.#options.model.dim });
  }

  async #apply(changes: TemplateChanges): Promise<IndexRefresh> {
    const { model } = this.#options;
    let applied = 0;
    if (changes.full) {
      const index = this.#empty();
      index.add(entriesOf(changes.added, model));
      this.#install(index);
      applied = index.size;
    } else {
      for (const subjectId of changes.removedSubjects) {
        applied += this.#remove(subjectId) > 0 ? 1 : 0;
      }
      // A template already indexed (a snapshot that overlapped the feed, a catch-up margin) is not added twice.
      const fresh = entriesOf(changes.added, model).filter((e) => !this.#index.has(e.templateId));
      if (this.#tiered) {
        this.#tiered.add(fresh);
        this.#graphInserts += fresh.length;
        this.#watchBuild();
      } else this.#index.add(fresh);
      applied += fresh.length;
    }
    this.#cursor = changes.cursor;
    return {
      templates: this.#index.size,
      subjects: this.#index.subjectCount,
      rebuilt: changes.full,
      applied,
    };
  }

  async #save(): Promise<void> {
    const bytes = encodeSnapshot(this.#index, {
      createdAt: new Date(this.#now()).toISOString(),
      ...(this.#cursor === undefined ? {} : { cursor: this.#cursor }),
    });
    await this.#options.snapshots.save(bytes);
    this.#snapshotVersion = await this.#options.snapshots.version?.();
    await this.#saveGraph();
  }

  /**
   * One load or refresh at a time, in call order: a refresh asked for after a write starts after it, so it sees
   * the write (sharing a refresh already running could miss it).
   */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
