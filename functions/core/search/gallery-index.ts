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
 */
import type { Candidate, FaceTemplate } from '../domain.ts';
import type { IndexSnapshotStore, TemplateChanges, TemplateFeed } from '../gallery/ports.ts';
import { assertCompatible, decodeSnapshot, encodeSnapshot, inspectSnapshot } from './snapshot.ts';
import { type IndexEntry, type SearchOptions, VectorIndex } from './vector-index.ts';

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
    const index = decodeSnapshot(bytes);
    assertCompatible(index, { modelId: model.id, dim: model.dim });
    const info = inspectSnapshot(bytes);
    return { index, cursor: info.cursor, createdAt: info.createdAt };
  } catch {
    return undefined;
  }
}

/** The gallery's index, kept in step with the store's change feed. Not for concurrent writers of one instance. */
export class GalleryIndex {
  #index: VectorIndex;
  #cursor: string | undefined;
  #snapshotVersion: string | undefined;
  #loaded = false;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #queue: Promise<unknown> = Promise.resolve();
  #pendingCheck: Promise<IndexRefresh | undefined> | undefined;
  readonly #options: GalleryIndexOptions;
  readonly #now: () => number;

  constructor(options: GalleryIndexOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#index = this.#empty();
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
      const version = await this.#options.snapshots.version?.();
      const loaded = decodeUsableSnapshot(await this.#options.snapshots.load(), this.#options.model);
      this.#index = loaded?.index ?? this.#empty();
      // A snapshot without a cursor (published by the AWS indexer) is caught up from its time.
      this.#cursor = loaded ? (loaded.cursor ?? loaded.createdAt) : undefined;
      this.#snapshotVersion = version;
      const refresh = await this.#apply(await this.#options.feed.changesSince(this.#cursor));
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
    if (!this.#loaded) return this.open();
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
          const loaded = decodeUsableSnapshot(await this.#options.snapshots.load(), this.#options.model);
          if (loaded) {
            this.#index = loaded.index;
            this.#cursor = loaded.cursor ?? loaded.createdAt;
            reloaded = true;
          }
          this.#snapshotVersion = version;
        }
      }
      // A reader catches up with the feed when it loads a snapshot (in DynamoDB the feed is a scan: not on every
      // check); a writer's feed is cheap and the only truth, so it is applied every time.
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
    return this.#index.search(query, options);
  }

  /** Removes a subject from this process's index at once (the feed confirms it on the next refresh). */
  removeSubject(subjectId: string): void {
    this.#index.removeSubject(subjectId);
  }

  has(templateId: string): boolean {
    return this.#index.has(templateId);
  }

  stats(): { templates: number; subjects: number; kernel: string } {
    return { templates: this.#index.size, subjects: this.#index.subjectCount, kernel: this.#index.kernel };
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
      this.#index = index;
      applied = index.size;
    } else {
      for (const subjectId of changes.removedSubjects) {
        applied += this.#index.removeSubject(subjectId) > 0 ? 1 : 0;
      }
      // A template already indexed (a snapshot that overlapped the feed, a catch-up margin) is not added twice.
      const fresh = entriesOf(changes.added, model).filter((e) => !this.#index.has(e.templateId));
      this.#index.add(fresh);
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
