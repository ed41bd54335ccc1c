/**
 * A published index in shards: the gallery's snapshot split by subject (`shardOf(subjectId, count)`, so a
 * subject's templates are all in one shard), so that the AWS indexer rewrites only the shards a stream batch
 * touched and a cold API container fetches every shard side by side instead of one large object.
 *
 * The codec of each shard is the snapshot format (`snapshot.ts`, whose header names its shard); this module
 * encodes a set of shards from one index and decodes a published set back into one, checking that the set adds
 * up (one of each shard, one model, no template twice). Where the shards are kept is an adapter's business
 * (`IndexSnapshotStore.loadShards`).
 */

import { FaceprintError } from '../errors.ts';
import type { PublishedShards } from '../gallery/ports.ts';
import {
  assertCompatible,
  buildPrepared,
  completePrepared,
  encodeSnapshot,
  type PreparedSnapshot,
  prepareSnapshot,
  type SnapshotDtype,
  shardOf,
  writePreparedVectors,
} from './snapshot.ts';
import { type PendingIndex, VectorIndex } from './vector-index.ts';

/** The most shards a published index may have (each is one object to fetch at a cold start). */
export const MAX_INDEX_SHARDS = 256;

/**
 * Shards by default: at 100k templates (~200 MB of float32) each is ~12 MB, which one S3 connection fetches in
 * well under a second, and a stream batch touching a few subjects rewrites a sixteenth of the index or less.
 */
export const DEFAULT_INDEX_SHARDS = 16;

/** The embedding space a published set must be in. */
export interface ShardModel {
  id: string;
  dim: number;
}

function corrupt(message: string): FaceprintError {
  return new FaceprintError('INDEX_CORRUPT', `published index shards: ${message}`);
}

/**
 * Throws `INVALID_ARGUMENT` unless `count` is a whole number of shards from 1 to {@link MAX_INDEX_SHARDS}.
 */
export function checkShardCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_INDEX_SHARDS) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `the index shard count must be a whole number from 1 to ${MAX_INDEX_SHARDS}, got ${count}`,
    );
  }
}

/** The shards that hold `subjectIds` (sorted, each once). */
export function shardsOfSubjects(subjectIds: Iterable<string>, count: number): number[] {
  checkShardCount(count);
  const shards = new Set<number>();
  for (const subjectId of subjectIds) shards.add(shardOf(subjectId, count));
  return [...shards].sort((a, b) => a - b);
}

/**
 * Encodes the shards `only` (default: all `count` of them) of `index`. An index loaded from some shards only
 * encodes those correctly: the others would come out empty.
 */
export function encodeShards(
  index: VectorIndex,
  options: { count: number; createdAt: string; only?: Iterable<number> | undefined; dtype?: SnapshotDtype },
): Map<number, Uint8Array> {
  checkShardCount(options.count);
  const which = options.only
    ? [...new Set(options.only)]
    : Array.from({ length: options.count }, (_, i) => i);
  const out = new Map<number, Uint8Array>();
  for (const shard of which.sort((a, b) => a - b)) {
    out.set(
      shard,
      encodeSnapshot(index, {
        createdAt: options.createdAt,
        shard: { index: shard, count: options.count },
        ...(options.dtype ? { dtype: options.dtype } : {}),
      }),
    );
  }
  return out;
}

/**
 * Decodes a published set (all of its shards, or the ones asked for) into one index, checking that each shard's
 * header names the shard it was published as and the set's count, and that every shard is of `model`.
 *
 * @throws FaceprintError `INDEX_CORRUPT` for a shard under the wrong number or count, or overlapping shards;
 *   `INDEX_INCOMPATIBLE` for a shard of another model or dimension.
 */
export function decodeShards(published: PublishedShards, model: ShardModel): VectorIndex {
  const decoder = new ShardSetDecoder(published.count, model);
  for (const [number, bytes] of published.shards) decoder.add(number, bytes);
  return decoder.finish();
}

/**
 * {@link decodeShards} one shard at a time, in any order: a cold start checks and reads each shard as its bytes
 * arrive (checksum, header, id columns), while the others are still being fetched, and only the merge into one
 * index (rows in shard order) is left for {@link finish}. Given the row count of every shard to come (a manifest
 * that records them), the index's storage is reserved at once and each shard's vectors are written into their
 * final rows as it arrives too, so that only the id tables are left for the end.
 */
export class ShardSetDecoder {
  readonly #count: number;
  readonly #model: ShardModel;
  readonly #prepared = new Map<number, PreparedSnapshot>();
  /** With known row counts: the first row of each shard to come, and the reserved storage. */
  readonly #placed:
    | { firstRow: Map<number, number>; rows: ReadonlyMap<number, number>; pending: PendingIndex }
    | undefined;

  /**
   * `rows`: the row count of each shard that will be added, when known. Throws `INVALID_ARGUMENT` for a bad shard
   * count or a negative row count.
   */
  constructor(count: number, model: ShardModel, rows?: ReadonlyMap<number, number>) {
    checkShardCount(count);
    this.#count = count;
    this.#model = model;
    if (rows && rows.size > 0) {
      const firstRow = new Map<number, number>();
      let total = 0;
      for (const [shard, n] of [...rows].sort(([a], [b]) => a - b)) {
        if (!Number.isInteger(n) || n < 0)
          throw new FaceprintError('INVALID_ARGUMENT', `shard ${shard} cannot hold ${n} rows`);
        firstRow.set(shard, total);
        total += n;
      }
      const pending = VectorIndex.reserve({ modelId: model.id, dim: model.dim, count: total });
      this.#placed = { firstRow, rows, pending };
    }
  }

  /** Shards added so far. */
  get size(): number {
    return this.#prepared.size;
  }

  /**
   * Checks and reads shard `number`. Throws like {@link decodeShards}; `INDEX_CORRUPT` for a shard given twice.
   */
  add(number: number, bytes: Uint8Array): void {
    if (this.#prepared.has(number)) throw corrupt(`shard ${number} was given twice`);
    const prepared = prepareSnapshot(bytes);
    const { shard } = prepared.info;
    if (!shard || shard.index !== number || shard.count !== this.#count) {
      const found = shard ? `${shard.index} of ${shard.count}` : 'an unsharded snapshot';
      throw corrupt(`shard ${number} of ${this.#count} holds ${found}`);
    }
    const placed = this.#placed;
    if (placed) {
      const firstRow = placed.firstRow.get(number);
      if (firstRow === undefined) throw corrupt(`shard ${number} was not expected`);
      if (prepared.info.count !== placed.rows.get(number))
        throw corrupt(`shard ${number} holds ${prepared.info.count} rows, not ${placed.rows.get(number)}`);
      assertCompatible(prepared.decoded.columns, { modelId: this.#model.id, dim: this.#model.dim });
      writePreparedVectors(prepared, placed.pending, firstRow);
    }
    this.#prepared.set(number, prepared);
  }

  /** Merges the shards added into one index of the decoder's model. Throws like {@link decodeShards}. */
  finish(): VectorIndex {
    if (this.#prepared.size === 0) throw corrupt('no shard to decode');
    const numbered = [...this.#prepared].sort(([a], [b]) => a - b);
    const placed = this.#placed;
    if (placed) {
      const missing = [...placed.rows.keys()].find((shard) => !this.#prepared.has(shard));
      if (missing !== undefined) throw corrupt(`shard ${missing} never arrived`);
      return completePrepared(
        placed.pending,
        numbered.map(([, prepared]) => prepared),
      );
    }
    const index = buildPrepared(numbered.map(([, prepared]) => prepared));
    assertCompatible(index, { modelId: this.#model.id, dim: this.#model.dim });
    return index;
  }
}
