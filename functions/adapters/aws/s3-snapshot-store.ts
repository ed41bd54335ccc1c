import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { IndexSnapshotStore, LoadShardsOptions, PublishedShards } from '../../core/gallery/ports.ts';
import { checkShardCount } from '../../core/search/shards.ts';
import { inspectSnapshot } from '../../core/search/snapshot.ts';
import { deleteAllVersions, pruneSupersededSnapshots } from './s3-versions.ts';

function isMissing(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

/** How many shard objects are fetched or written at once. */
const SHARD_CONCURRENCY = 16;

const ManifestSchema = z.object({
  format: z.literal('faceprint-index-shards'),
  version: z.literal(1),
  createdAt: z.string().min(1),
  count: z.number().int().positive(),
  shards: z.array(
    z.object({
      index: z.number().int().nonnegative(),
      key: z.string().min(1),
      bytes: z.number().int(),
      // Rows in the shard (published since the manifest recorded them): a reader reserves the index at once.
      rows: z.number().int().nonnegative().optional(),
    }),
  ),
});
type Manifest = z.infer<typeof ManifestSchema>;

/** Runs `task` over `items` with at most `limit` running at once, keeping the input order in the result. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      out[at] = await task(items[at] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * The index snapshot in S3, in one of two layouts under one prefix:
 *
 * - **shards** (what the indexer publishes): `<prefix>shards/<count>/<n>/<stamp>.fpidx`, one object per shard
 *   (a subject's templates are all in shard `shardOf(subjectId, count)`), and `<prefix>gallery.manifest.json`
 *   naming the current object of every shard. A batch rewrites only the shards it touched under new keys, then
 *   the manifest (one PUT, atomic): a reader that has read a manifest finds every shard it names, because a
 *   superseded shard object is deleted only after one more publication (or at once by an erasure, when a reader
 *   that loses the race reads the manifest again). A cold container fetches the shards side by side.
 * - **single** (`<prefix>gallery.fpidx`: the same bytes as the local snapshot file), overwritten on every
 *   {@link save}: the re-embedding job's copy of a new index, and what an older release published. Readers fall
 *   back to it when no manifest exists; the first sharded publication deletes it.
 *
 * The bucket is versioned: {@link pruneSuperseded} deletes every version no reader needs any more.
 */
export class S3SnapshotStore implements IndexSnapshotStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = 'index/',
  ) {}

  /** The single snapshot's object key. */
  get key(): string {
    return `${this.prefix}gallery.fpidx`;
  }

  /** The shard manifest's object key. */
  get manifestKey(): string {
    return `${this.prefix}gallery.manifest.json`;
  }

  private get shardsPrefix(): string {
    return `${this.prefix}shards/`;
  }

  private async head(key: string): Promise<string | undefined> {
    try {
      return (await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))).ETag;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  private async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await object.Body!.transformToByteArray();
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  private async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
    );
  }

  /**
   * A token that changes whenever a new index is published (the manifest's ETag, else the single snapshot's):
   * a cheap "is there a newer one?". Undefined when nothing has been published.
   */
  async version(): Promise<string | undefined> {
    const manifest = await this.head(this.manifestKey);
    if (manifest) return `shards:${manifest}`;
    return this.head(this.key);
  }

  /** The single snapshot's bytes (see the class notes), or undefined. */
  load(): Promise<Uint8Array | undefined> {
    return this.get(this.key);
  }

  /** Replaces the single snapshot (one PUT: readers see the old bytes or the new ones). */
  save(bytes: Uint8Array): Promise<void> {
    return this.put(this.key, bytes, 'application/octet-stream');
  }

  private async manifest(): Promise<Manifest | undefined> {
    const bytes = await this.get(this.manifestKey);
    if (!bytes) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new Error(`s3://${this.bucket}/${this.manifestKey} is not JSON`);
    }
    const parsed = ManifestSchema.safeParse(json);
    if (!parsed.success) throw new Error(`s3://${this.bucket}/${this.manifestKey} is not a shard manifest`);
    return parsed.data;
  }

  /**
   * The published shards, fetched side by side: all of them, or those `only` names given the published shard
   * count (undefined from it: all), so a caller learns the count and fetches in one manifest read; `onManifest`
   * hears of the set before the fetches start and `onShard` of each shard as it arrives. Undefined when no
   * manifest has been published, or when a shard it names is missing even after reading the manifest again (a
   * shard deleted under a reader by an erasure's prune is found that way).
   */
  async loadShards(options: LoadShardsOptions = {}): Promise<PublishedShards | undefined> {
    const { only, onManifest, onShard } = options;
    for (let attempt = 0; ; attempt++) {
      const manifest = await this.manifest();
      if (!manifest) return undefined;
      const selected = only?.(manifest.count);
      const wanted = manifest.shards.filter((s) => !selected || selected.includes(s.index));
      const rows = wanted.every((s) => s.rows !== undefined)
        ? new Map(wanted.map((s) => [s.index, s.rows as number]))
        : undefined;
      onManifest?.({ createdAt: manifest.createdAt, count: manifest.count, rows });
      const bodies = await mapLimit(wanted, SHARD_CONCURRENCY, async (s) => {
        const body = await this.get(s.key);
        if (body) onShard?.(s.index, body);
        return body;
      });
      if (bodies.every((b) => b !== undefined)) {
        const shards = new Map<number, Uint8Array>();
        for (const [i, shard] of wanted.entries()) shards.set(shard.index, bodies[i] as Uint8Array);
        return { count: manifest.count, createdAt: manifest.createdAt, shards };
      }
      // Still missing on a second manifest (deleted by hand?): as if nothing were published, so a reader
      // rebuilds from the store of record and the indexer publishes every shard again.
      if (attempt > 0) return undefined;
    }
  }

  /**
   * Publishes `published.shards` as the new objects of those shards and the manifest naming them (and the
   * current objects of the shards not given, which must then be of the same count). Deletes what no reader
   * needs: shard objects named by neither this manifest nor the previous one, and the single snapshot.
   * `erasure`: a subject was deleted, so the previous set goes too, with every superseded version. Returns how
   * many object versions were deleted.
   */
  async saveShards(published: PublishedShards, options: { erasure?: boolean } = {}): Promise<number> {
    const { count } = published;
    checkShardCount(count);
    const previous = await this.manifest();
    const kept = new Map<number, Manifest['shards'][number]>();
    if (previous && previous.count === count) for (const s of previous.shards) kept.set(s.index, s);
    for (const index of published.shards.keys()) {
      if (!Number.isInteger(index) || index < 0 || index >= count)
        throw new Error(`shard ${index} is outside 0..${count - 1}`);
    }
    const missing = Array.from({ length: count }, (_, i) => i).find(
      (i) => !published.shards.has(i) && !kept.has(i),
    );
    // Checked before anything is written: a refused publication leaves no object behind.
    if (missing !== undefined) throw new Error(`cannot publish ${count} shards without shard ${missing}`);
    const stamp = `${published.createdAt.replace(/[^0-9]/g, '')}-${crypto.randomUUID().slice(0, 8)}`;
    const written = await mapLimit([...published.shards], SHARD_CONCURRENCY, async ([index, bytes]) => {
      const key = `${this.shardsPrefix}${count}/${index}/${stamp}.fpidx`;
      await this.put(key, bytes, 'application/octet-stream');
      return { index, key, bytes: bytes.byteLength, rows: inspectSnapshot(bytes).count };
    });
    for (const entry of written) kept.set(entry.index, entry);
    const shards = Array.from({ length: count }, (_, index) => kept.get(index) as Manifest['shards'][number]);
    const manifest: Manifest = {
      format: 'faceprint-index-shards',
      version: 1,
      createdAt: published.createdAt,
      count,
      shards,
    };
    await this.put(this.manifestKey, new TextEncoder().encode(JSON.stringify(manifest)), 'application/json');
    const needed = new Set(manifest.shards.map((s) => s.key));
    if (previous && !options.erasure) for (const s of previous.shards) needed.add(s.key);
    let deleted = (
      await deleteAllVersions(this.s3, this.bucket, this.shardsPrefix, (v) => !needed.has(v.Key))
    ).versions;
    deleted += (await deleteAllVersions(this.s3, this.bucket, this.key, (v) => v.Key === this.key)).versions;
    if (options.erasure) deleted += await pruneSupersededSnapshots(this.s3, this.bucket, this.manifestKey);
    return deleted;
  }

  /**
   * Deletes every version no reader needs any more (the bucket is versioned): superseded versions of the
   * manifest and the single snapshot, and every shard object the current manifest does not name. Run after a
   * subject is deleted: older versions hold its embeddings. Returns how many versions were deleted.
   */
  async pruneSuperseded(): Promise<number> {
    const manifest = await this.manifest();
    let deleted = await pruneSupersededSnapshots(this.s3, this.bucket, this.key);
    if (manifest) {
      const needed = new Set(manifest.shards.map((s) => s.key));
      deleted += await pruneSupersededSnapshots(this.s3, this.bucket, this.manifestKey);
      deleted += (
        await deleteAllVersions(
          this.s3,
          this.bucket,
          this.shardsPrefix,
          (v) => !needed.has(v.Key) || v.IsLatest !== true,
        )
      ).versions;
    }
    return deleted;
  }
}
