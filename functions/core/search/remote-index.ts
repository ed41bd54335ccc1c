/**
 * The vector-index port for a remote engine (Amazon S3 Vectors in AWS, `index: 's3vectors'`): the same contract
 * as the local indexes — templates in, per-subject candidates out, deletes for real — but asynchronous, and
 * written by one process (the AWS indexer, from the templates stream) while every other process only searches and
 * erases. The gallery service searches it instead of loading a snapshot when one is configured.
 */
import type { Candidate } from '../domain.ts';
import type { FusionConfig, IndexEntry } from './vector-index.ts';

/** A template to index, optionally on watch lists (filterable). */
export interface RemoteEntry extends IndexEntry {
  lists?: readonly string[] | undefined;
}

/** Options of {@link RemoteVectorIndex.search}. */
export interface RemoteSearchOptions {
  k: number;
  fusion?: FusionConfig | undefined;
  /** Only subjects on this watch list. */
  list?: string | undefined;
}

/** A remote vector index of face templates. */
export interface RemoteVectorIndex {
  /** Engine name for `/health` and logs (e.g. `s3vectors`). */
  readonly engine: string;
  /** Adds or replaces templates (by template id). */
  upsert(entries: readonly RemoteEntry[]): Promise<void>;
  /** Deletes templates for real: no later search returns them. Unknown ids are ignored. */
  removeTemplates(templateIds: readonly string[]): Promise<void>;
  /** Top-k subjects, fused per subject over the nearest templates. */
  search(query: Float32Array, options: RemoteSearchOptions): Promise<Candidate[]>;
}
