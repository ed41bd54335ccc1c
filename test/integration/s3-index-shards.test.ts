/**
 * The index snapshot published in shards (`S3SnapshotStore`), against s3rver: what a reader finds, what a
 * publication keeps and deletes, the older single-object layout read and then retired, and a reader whose shard
 * is deleted under it by an erasure.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3SnapshotStore } from '../../functions/adapters/aws/s3-snapshot-store.ts';
import { TEMPLATE_VARIANTS, type TemplateVariant } from '../../functions/core/domain.ts';
import type {
  ShardManifestFacts,
  TemplateChanges,
  TemplateFeed,
} from '../../functions/core/gallery/ports.ts';
import { GalleryIndex, loadUsableSnapshot } from '../../functions/core/search/gallery-index.ts';
import { decodeShards, encodeShards } from '../../functions/core/search/shards.ts';
import { encodeSnapshot, inspectSnapshot } from '../../functions/core/search/snapshot.ts';
import { VectorIndex } from '../../functions/core/search/vector-index.ts';
import { s3Client, startS3rver } from '../support/emulators.ts';
import { randomUnit, rng } from '../support/random.ts';

const BUCKET = 'faceprint-shards';
const MODEL = { id: 'arcface-r100@1', dim: 32 };
const T1 = '2026-12-01T10:00:00.000Z';
const T2 = '2026-12-01T11:00:00.000Z';
const T3 = '2026-12-01T12:00:00.000Z';

function gallery(subjects: number, prefix = 'subject'): VectorIndex {
  const next = rng(subjects + prefix.length);
  const index = new VectorIndex({ modelId: MODEL.id, dim: MODEL.dim });
  for (let s = 0; s < subjects; s++) {
    index.add(
      Array.from({ length: 2 }, (_, t) => ({
        templateId: `${prefix}-${s}-${t}`,
        subjectId: `${prefix}-${s}`,
        variant: TEMPLATE_VARIANTS[t] as TemplateVariant,
        vector: randomUnit(MODEL.dim, next),
      })),
    );
  }
  return index;
}

/** A feed with nothing new: the reader's index is the published one. */
const QUIET_FEED: TemplateFeed = {
  changesSince: async (cursor): Promise<TemplateChanges> => ({
    cursor: cursor ?? T1,
    full: false,
    added: [],
    removedSubjects: [],
  }),
};

describe('S3SnapshotStore: the index in shards', () => {
  let s3rver: Awaited<ReturnType<typeof startS3rver>>;
  let s3: S3Client;
  let prefix = 0;
  /** A fresh prefix per test: each starts with nothing published. */
  const store = () => new S3SnapshotStore(s3, BUCKET, `index-${++prefix}/`);
  const keys = async (under: string) =>
    ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: under }))).Contents ?? [])
      .map((o) => o.Key as string)
      .sort();
  const manifestKeys = async (snapshots: S3SnapshotStore) => {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: snapshots.manifestKey }));
    return (JSON.parse(await object.Body!.transformToString()) as { shards: { key: string }[] }).shards.map(
      (s) => s.key,
    );
  };

  beforeAll(async () => {
    s3rver = await startS3rver([BUCKET]);
    s3 = s3Client(s3rver.endpoint);
  }, 60_000);

  afterAll(async () => {
    s3.destroy();
    await s3rver?.stop();
  });

  it('nothing published: no version, no shards, no snapshot', async () => {
    const snapshots = store();
    expect(await snapshots.version()).toBeUndefined();
    expect(await snapshots.loadShards()).toBeUndefined();
    expect(await snapshots.load()).toBeUndefined();
  });

  it('reads an older release single snapshot, and the first sharded publication retires it', async () => {
    const snapshots = store();
    const index = gallery(12);
    await snapshots.save(encodeSnapshot(index, { createdAt: T1 }));
    const legacyVersion = await snapshots.version();
    const reader = new GalleryIndex({ snapshots, feed: QUIET_FEED, model: MODEL, writesSnapshots: false });
    expect((await reader.open()).templates).toBe(index.size);

    await snapshots.saveShards({
      count: 4,
      createdAt: T2,
      shards: encodeShards(index, { count: 4, createdAt: T2 }),
    });
    expect(await snapshots.version()).not.toBe(legacyVersion);
    expect(await snapshots.load()).toBeUndefined();
    // The manifest records each shard's rows, which a reader hears before any shard arrives.
    const heard: ShardManifestFacts[] = [];
    const arrived: number[] = [];
    const published = await snapshots.loadShards({
      onManifest: (facts) => heard.push(facts),
      onShard: (shard) => arrived.push(shard),
    });
    expect(published).toMatchObject({ count: 4, createdAt: T2 });
    expect(heard).toHaveLength(1);
    expect(heard[0]?.rows).toEqual(
      new Map([...published!.shards].map(([shard, bytes]) => [shard, inspectSnapshot(bytes).count])),
    );
    expect(arrived.sort()).toEqual([0, 1, 2, 3]);
    expect(decodeShards(published!, MODEL).subjectIds().sort()).toEqual(index.subjectIds().sort());
    // A reader notices the new publication and loads the shards.
    expect((await loadUsableSnapshot(snapshots, MODEL))?.createdAt).toBe(T2);
  });

  it('a partial publication rewrites only its shards; a superseded object goes one publication later', async () => {
    const snapshots = store();
    const index = gallery(16);
    await snapshots.saveShards({
      count: 4,
      createdAt: T1,
      shards: encodeShards(index, { count: 4, createdAt: T1 }),
    });
    const first = await manifestKeys(snapshots);

    await snapshots.saveShards({
      count: 4,
      createdAt: T2,
      shards: encodeShards(index, { count: 4, createdAt: T2, only: [2] }),
    });
    const second = await manifestKeys(snapshots);
    expect(second.filter((key, i) => key !== first[i])).toEqual([second[2]]);
    // The first publication's shard 2 is kept for a reader still holding the first manifest...
    expect(await keys(`index-${prefix}/shards/`)).toEqual([...first, second[2]].sort());

    await snapshots.saveShards({
      count: 4,
      createdAt: T3,
      shards: encodeShards(index, { count: 4, createdAt: T3, only: [2] }),
    });
    const third = await manifestKeys(snapshots);
    // ...and deleted once no manifest a reader can hold names it.
    expect(await keys(`index-${prefix}/shards/`)).toEqual([...new Set([...third, ...second])].sort());
    expect(await keys(`index-${prefix}/shards/`)).not.toContain(first[2]);
    const published = await snapshots.loadShards({ only: () => [2] });
    expect([...(published?.shards.keys() ?? [])]).toEqual([2]);
  });

  it('an erasure deletes every superseded shard object at once', async () => {
    const snapshots = store();
    const index = gallery(16);
    await snapshots.saveShards({
      count: 4,
      createdAt: T1,
      shards: encodeShards(index, { count: 4, createdAt: T1 }),
    });
    index.removeSubject('subject-5');
    await snapshots.saveShards(
      { count: 4, createdAt: T2, shards: encodeShards(index, { count: 4, createdAt: T2 }) },
      { erasure: true },
    );
    expect(await keys(`index-${prefix}/shards/`)).toEqual((await manifestKeys(snapshots)).sort());
    const loaded = decodeShards((await snapshots.loadShards())!, MODEL);
    expect(loaded.subjectIds()).not.toContain('subject-5');
  });

  it('refuses a publication that would leave a shard out, writing nothing', async () => {
    const snapshots = store();
    const index = gallery(8);
    await expect(
      snapshots.saveShards({
        count: 4,
        createdAt: T1,
        shards: encodeShards(index, { count: 4, createdAt: T1, only: [0, 1] }),
      }),
    ).rejects.toThrow(/without shard 2/);
    expect(await keys(`index-${prefix}/`)).toEqual([]);
  });

  it('a reader whose shard is deleted under it (an erasure) reads the manifest again', async () => {
    const writer = store();
    const index = gallery(16);
    await writer.saveShards({
      count: 4,
      createdAt: T1,
      shards: encodeShards(index, { count: 4, createdAt: T1 }),
    });
    // The reader's client publishes an erased set just before its first shard GET goes out.
    const racing = s3Client(s3rver.endpoint);
    let raced = false;
    racing.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key ?? '';
        if (context.commandName === 'GetObjectCommand' && key.includes('/shards/') && !raced) {
          raced = true;
          index.removeSubject('subject-1');
          await writer.saveShards(
            { count: 4, createdAt: T2, shards: encodeShards(index, { count: 4, createdAt: T2 }) },
            { erasure: true },
          );
        }
        return next(args);
      },
      { step: 'initialize', name: 'raceAnErasure' },
    );
    const reader = new S3SnapshotStore(racing, BUCKET, `index-${prefix}/`);
    const published = await reader.loadShards();
    expect(raced).toBe(true);
    expect(published?.createdAt).toBe(T2);
    expect(decodeShards(published!, MODEL).subjectIds()).not.toContain('subject-1');
    racing.destroy();
  });
});
