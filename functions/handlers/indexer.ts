/**
 * Lambda `indexer.handler`: the templates table's DynamoDB stream → the vector-index snapshot under `index/`.
 *
 * Per batch: load the shards of the published snapshot that hold the batch's subjects (a subject's templates
 * are all in shard `shardOf(subjectId, FACEPRINT_INDEX_SHARDS)`; when nothing usable is published, build the
 * index from the whole templates table), apply the changes in stream order, and publish those shards again with
 * a new manifest (`S3SnapshotStore.saveShards`): at a million templates a batch reads and writes a sixteenth of
 * the index, and a cold API container fetches the shards side by side. INSERT adds the
 * template from the record's NewImage (binary embedding); REMOVE, and a MODIFY of a template already indexed,
 * rebuild that subject's rows from the store (`VectorIndex` removes whole subjects only), which also covers a
 * deleted subject. Replays are harmless: a template already in the index is not added twice.
 *
 * The snapshot's `createdAt` is the stream time of the last change it contains, so readers catching up with
 * `templatesCreatedAfter(createdAt - 60 s)` also find templates whose stream records are still on their way.
 *
 * Failures: a record that cannot be read or applied is reported in `batchItemFailures` with its sequence
 * number; the snapshot published holds every change before it, and Lambda retries from that record (then
 * bisects, and finally sends the record's metadata to the indexer DLQ).
 *
 * Concurrency: this is a read-modify-write of the manifest, so exactly one invocation may run at a time. The
 * event source keeps the default parallelization factor of 1 (one batch per shard at a time), but a table
 * stream has one shard per partition, so the function also needs reserved concurrency 1 (not set by
 * `lib/constructs/compute.ts` today).
 *
 * @module
 */
import type { Context, DynamoDBBatchResponse } from 'aws-lambda';
import {
  changeOf,
  StreamEventSchema,
  sequenceOf,
  type TemplateChange,
} from '../adapters/aws/template-stream.ts';
import { loadModelPack } from '../core/models/pack.ts';
import { decodeUsableShards, decodeUsableSnapshot, entriesOf } from '../core/search/gallery-index.ts';
import type { RemoteVectorIndex } from '../core/search/remote-index.ts';
import { encodeShards, shardsOfSubjects } from '../core/search/shards.ts';
import { type IndexEntry, VectorIndex } from '../core/search/vector-index.ts';
import { AwsRuntime } from './aws/composition.ts';
import { readConfig } from './aws/config.ts';
import { count, invocation, logger, timed } from './aws/observability.ts';

const config = readConfig('indexer');
let runtime: AwsRuntime | undefined;

/** The selected pack's space (`FACEPRINT_MODEL_PACK`, else the shipped pack): only its manifest is read here. */
const PACK = loadModelPack();
const INDEX_MODEL = { id: PACK.id, dim: PACK.embeddingSize } as const;

/** The index as far as this batch needs it: the shards it touches, or the whole index. */
interface LoadedIndex {
  index: VectorIndex;
  /** The shards loaded (and so the only ones to publish); undefined: every shard (the whole index). */
  shards: number[] | undefined;
}

/**
 * The published index, or undefined when there is none or it cannot be used (then it is rebuilt). A set of
 * `indexShards` shards is loaded only where `subjects` live; anything else (another shard count, an older
 * release's single snapshot) is loaded whole, to be published again in `indexShards` shards.
 */
async function loadIndex(rt: AwsRuntime, subjects: Iterable<string>): Promise<LoadedIndex | undefined> {
  const count = rt.config.indexShards;
  // One manifest read: the batch's shards when the published set has this count, else every shard.
  const published = await timed('LoadIndex', () =>
    rt.snapshots.loadShards({ only: (n) => (n === count ? shardsOfSubjects(subjects, n) : undefined) }),
  );
  if (published) {
    const partial = published.count === count;
    if (partial && published.shards.size === 0) {
      return { index: new VectorIndex({ modelId: INDEX_MODEL.id, dim: INDEX_MODEL.dim }), shards: [] };
    }
    const usable = decodeUsableShards(published, INDEX_MODEL);
    if (usable) return { index: usable.index, shards: partial ? [...published.shards.keys()] : undefined };
    logger.warn('published index shards unusable; rebuilding from the templates table');
    return undefined;
  }
  const bytes = await timed('LoadIndex', () => rt.snapshots.load());
  const usable = decodeUsableSnapshot(bytes, INDEX_MODEL);
  if (bytes && !usable) logger.warn('published snapshot unusable; rebuilding from the templates table');
  return usable ? { index: usable.index, shards: undefined } : undefined;
}

export interface IndexerResult {
  /** Sequence number of the first record not (fully) applied. */
  failedSequence: string | undefined;
  applied: number;
  rebuilt: boolean;
  published: boolean;
}

/** The batch's changes up to the first record that cannot be read (whose sequence number is returned). */
function decodeChanges(records: readonly unknown[]): {
  changes: TemplateChange[];
  failedSequence: string | undefined;
} {
  const changes: TemplateChange[] = [];
  for (const raw of records) {
    try {
      changes.push(changeOf(raw));
    } catch (error) {
      const failedSequence = sequenceOf(raw);
      logger.error('stream record unreadable', { sequenceNumber: failedSequence, error });
      return { changes, failedSequence };
    }
  }
  return { changes, failedSequence: undefined };
}

/**
 * `index: 's3vectors'`: applies a batch of stream records to the remote index instead of a snapshot. Changes are
 * folded in stream order (a template put then removed in one batch is only removed), then the removals and the
 * puts are sent; a put replaces a template of the same id, so a replayed batch changes nothing.
 */
export async function indexRecordsRemote(
  index: RemoteVectorIndex,
  records: readonly unknown[],
): Promise<IndexerResult> {
  const { changes, failedSequence } = decodeChanges(records);
  const puts = new Map<string, IndexEntry>();
  const removals = new Set<string>();
  for (const change of changes) {
    if (change.kind === 'remove') {
      puts.delete(change.templateId);
      removals.add(change.templateId);
    } else if (change.modelId === INDEX_MODEL.id && change.entry.vector.length === INDEX_MODEL.dim) {
      removals.delete(change.entry.templateId);
      puts.set(change.entry.templateId, change.entry);
    }
  }
  await timed('DeleteVectors', () => index.removeTemplates([...removals]));
  await timed('PutVectors', () => index.upsert([...puts.values()]));
  count('TemplatesIndexed', puts.size + removals.size);
  logger.info('stream batch indexed (remote)', {
    records: records.length,
    put: puts.size,
    removed: removals.size,
  });
  const published = puts.size + removals.size > 0;
  return { failedSequence, applied: changes.length, rebuilt: false, published };
}

/** Applies a batch of stream records to the published index and publishes the result. */
export async function indexRecords(rt: AwsRuntime, records: readonly unknown[]): Promise<IndexerResult> {
  const { changes, failedSequence: unreadable } = decodeChanges(records);
  let failedSequence = unreadable;

  const subjects = changes.map((c) => (c.kind === 'remove' ? c.subjectId : c.entry.subjectId));
  const loaded = await loadIndex(rt, subjects);
  if (!loaded) {
    // The store is at least as new as every record of the batch: the rebuilt index already holds them.
    const startedAt = Date.now();
    const index = new VectorIndex({ modelId: INDEX_MODEL.id, dim: INDEX_MODEL.dim });
    index.add(entriesOf(await rt.store.listTemplates(), INDEX_MODEL));
    await publish(rt, { index, shards: undefined }, startedAt, { erasure: false });
    count('TemplatesIndexed', index.size);
    logger.info('index rebuilt from the templates table', {
      templates: index.size,
      subjects: index.subjectCount,
    });
    return { failedSequence: undefined, applied: changes.length, rebuilt: true, published: true };
  }

  const { index } = loaded;
  let changed = 0;
  let watermark: number | undefined;
  /** Subjects whose rows are rebuilt from the store, with the first record that asked for it. */
  const dirty = new Map<string, string>();
  /** Subjects left with no templates (deleted): older snapshots still hold them. */
  let erased = 0;
  for (const change of changes) {
    if (change.kind === 'remove') {
      if (index.has(change.templateId) && !dirty.has(change.subjectId))
        dirty.set(change.subjectId, change.seq);
    } else if (change.modelId !== INDEX_MODEL.id || dirty.has(change.entry.subjectId)) {
      // Another model's template is not searchable here; a dirty subject is rebuilt from the store anyway.
    } else if (index.has(change.entry.templateId)) {
      if (change.modify) dirty.set(change.entry.subjectId, change.seq);
    } else {
      index.add([change.entry]);
      changed += 1;
    }
    watermark = change.at ?? watermark;
  }
  for (const [subjectId, seq] of dirty) {
    try {
      const entries = entriesOf(await rt.store.listTemplates(subjectId), INDEX_MODEL);
      index.removeSubject(subjectId);
      index.add(entries);
      changed += entries.length + 1;
      if (entries.length === 0) erased += 1;
    } catch (error) {
      logger.error('subject rebuild failed', { subjectId, sequenceNumber: seq, error });
      if (failedSequence === undefined || BigInt(seq) < BigInt(failedSequence)) failedSequence = seq;
    }
  }
  if (changed > 0) {
    // Erasure (issue 13): the superseded snapshot versions held the deleted subjects' embeddings.
    const pruned = await publish(rt, loaded, Math.min(watermark ?? Date.now(), Date.now()), {
      erasure: erased > 0,
    });
    count('TemplatesIndexed', changed);
    if (erased > 0) count('SnapshotVersionsPruned', pruned);
  }
  logger.info('stream batch indexed', {
    records: records.length,
    changes: changes.length,
    rebuiltSubjects: dirty.size,
    shardsLoaded: loaded.shards?.length ?? rt.config.indexShards,
    templatesLoaded: index.size,
    subjectsLoaded: index.subjectCount,
    published: changed > 0,
  });
  return { failedSequence, applied: changes.length, rebuilt: false, published: changed > 0 };
}

/**
 * Publishes the loaded shards (all `indexShards` of them when the whole index was loaded) as of `createdAtMs`;
 * returns how many superseded object versions an erasure deleted.
 */
async function publish(
  rt: AwsRuntime,
  loaded: LoadedIndex,
  createdAtMs: number,
  options: { erasure: boolean },
): Promise<number> {
  const createdAt = new Date(createdAtMs).toISOString();
  const shardCount = rt.config.indexShards;
  const shards = encodeShards(loaded.index, {
    count: shardCount,
    createdAt,
    only: loaded.shards,
    dtype: rt.config.indexDtype,
  });
  const published = { count: shardCount, createdAt, shards };
  const pruned = await timed('SaveIndex', () => rt.snapshots.saveShards(published, options));
  count('SnapshotsPublished');
  return pruned;
}

export async function handler(event: unknown, context: Context): Promise<DynamoDBBatchResponse> {
  const { Records } = StreamEventSchema.parse(event);
  runtime ??= new AwsRuntime(config);
  const rt = runtime;
  return invocation(context, { requestId: context.awsRequestId }, async () => {
    if (Records.length === 0) return { batchItemFailures: [] };
    try {
      const remote = rt.vectorIndex;
      const { failedSequence } = remote
        ? await indexRecordsRemote(remote, Records)
        : await indexRecords(rt, Records);
      return { batchItemFailures: failedSequence ? [{ itemIdentifier: failedSequence }] : [] };
    } catch (error) {
      // Loading or publishing failed: nothing of this batch is durable, so it is retried from its start.
      count('ProcessingErrors');
      const first = sequenceOf(Records[0]);
      logger.error('stream batch failed', { sequenceNumber: first, error });
      if (!first) throw error;
      return { batchItemFailures: [{ itemIdentifier: first }] };
    }
  });
}
