import type { DecisionAuditEntry, FaceTemplate, Subject } from '../domain.ts';

export interface Page<T> {
  items: T[];
  /** Opaque; pass back to get the next page. Absent on the last page. */
  nextCursor?: string | undefined;
}

/**
 * The system of record for subjects, their face templates and the decision audit log.
 * Implemented by the local embedded database and by DynamoDB. Every method is atomic: a failure leaves
 * nothing half-written.
 */
export interface FaceStore {
  /** Creates a subject together with its first templates. Throws `SUBJECT_EXISTS` if the id is taken. */
  createSubject(subject: Subject, templates: FaceTemplate[]): Promise<void>;
  /** Adds templates to an existing subject. Throws `SUBJECT_NOT_FOUND`. */
  addTemplates(subjectId: string, templates: FaceTemplate[]): Promise<void>;
  getSubject(id: string): Promise<Subject | undefined>;
  listSubjects(options: { limit: number; cursor?: string | undefined }): Promise<Page<Subject>>;
  /** Deletes a subject and all of its templates. Returns false when there was no such subject. */
  deleteSubject(id: string): Promise<boolean>;
  /** Templates of one subject, or of every subject when `subjectId` is omitted, in insertion order. */
  listTemplates(subjectId?: string): Promise<FaceTemplate[]>;
  /** Display names of the given subjects, in one round trip where the store can (absent ids are left out). */
  subjectNames(ids: readonly string[]): Promise<Map<string, string>>;
  /** Number of templates per subject id (for subject listings). */
  countTemplates(subjectId: string): Promise<number>;
  /**
   * The enrolment thumbnail (JPEG) of one template of a subject, or, without `templateId`, of the subject's
   * first enrolment photo that has one. Undefined when there is none (or no such subject or template).
   */
  getThumbnail(subjectId: string, templateId?: string): Promise<Uint8Array | undefined>;
  appendAudit(entries: DecisionAuditEntry[]): Promise<void>;
  listAudit(options: { limit: number; cursor?: string | undefined }): Promise<Page<DecisionAuditEntry>>;
}

/** Where the serialised vector index lives: a file in local mode, S3 objects in AWS. */
export interface IndexSnapshotStore {
  /** The newest snapshot's bytes, or undefined when none has been written yet. */
  load(): Promise<Uint8Array | undefined>;
  /** Replaces the snapshot atomically (readers see the old bytes or the new ones, never a mix). */
  save(bytes: Uint8Array): Promise<void>;
  /**
   * A token that changes whenever the snapshot is replaced (file mtime, object ETag), when the store can tell
   * cheaply; lets a long-running process notice writes made by another one.
   */
  version?(): Promise<string | undefined>;
  /**
   * A store that publishes the index in shards (AWS): the published set, every shard fetched side by side, or
   * undefined when none is published (then {@link load} is asked for a single snapshot). A reader prefers it.
   */
  loadShards?(options?: LoadShardsOptions): Promise<PublishedShards | undefined>;
}

/**
 * What {@link IndexSnapshotStore.loadShards} fetches, and who hears of the set while it arrives: a cold reader starts
 * its catch-up from the manifest's time and decodes each shard as it lands, while the rest are still fetched.
 */
export interface LoadShardsOptions {
  /** The shards to fetch given the published count (undefined from it, or no function: every shard). */
  only?: ((count: number) => readonly number[] | undefined) | undefined;
  /**
   * Called as soon as the manifest is read, before its shards are fetched; again if the store reads the manifest
   * again (a shard went missing), and then the shards heard of before are to be forgotten. It may hear of a set
   * whose shards then turn out missing (the method then answers undefined).
   */
  onManifest?: ((manifest: ShardManifestFacts) => void) | undefined;
  /** Called with each shard's bytes as they arrive (then also in the answer), in any order. */
  onShard?: ((shard: number, bytes: Uint8Array) => void) | undefined;
}

/** What a shard manifest says before any shard is fetched (see {@link LoadShardsOptions.onManifest}). */
export interface ShardManifestFacts {
  createdAt: string;
  count: number;
  /** The row count of each shard about to be fetched, when the manifest records every one of them. */
  rows?: ReadonlyMap<number, number> | undefined;
}

/** An index published as shards (`core/search/shards.ts`): shard `i` holds the subjects `shardOf(id, count) = i`. */
export interface PublishedShards {
  count: number;
  /** The change-feed time every shard reflects: a reader catches up from here. */
  createdAt: string;
  /** The bytes (snapshot format) of each shard fetched, by shard number. */
  shards: Map<number, Uint8Array>;
}

/** What changed in the store of record since a cursor: what an index applies to catch up. */
export interface TemplateChanges {
  /** Opaque; pass it back to get what changes after this answer. */
  cursor: string;
  /**
   * True when `added` holds every template and the index must be replaced by them (the cursor was undefined,
   * unknown, or older than the store can still answer from).
   */
  full: boolean;
  /** Templates added since the cursor (or all of them, when `full`), in insertion order. */
  added: FaceTemplate[];
  /** Subjects deleted since the cursor, applied before `added` (a subject deleted and enrolled again). */
  removedSubjects: string[];
}

/**
 * The store of record's change feed, from which every process derives its index: the one source of truth, so
 * that no process can lose a template another one wrote (the SQLite store's change sequence in local mode; in
 * AWS, templates created after a time, deletions arriving with the indexer's next snapshot).
 */
export interface TemplateFeed {
  changesSince(cursor: string | undefined): Promise<TemplateChanges>;
}
