/**
 * The gallery index (`core/search/gallery-index.ts`) over an in-memory snapshot store and change feed: how a
 * reader (an AWS function) follows the indexer's snapshots at a bounded interval, and how a writer (local mode)
 * derives its index from the feed whatever it loaded; past a crossover, the HNSW graph (real usearch, files in a
 * temporary folder) built, saved, reloaded and dropped on erasure.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { fileApproximateIndexing } from '../../functions/adapters/local/ann-file-store.ts';
import type { FaceTemplate } from '../../functions/core/domain.ts';
import type {
  IndexSnapshotStore,
  LoadShardsOptions,
  PublishedShards,
  TemplateChanges,
  TemplateFeed,
} from '../../functions/core/gallery/ports.ts';
import { GalleryIndex } from '../../functions/core/search/gallery-index.ts';
import { encodeShards } from '../../functions/core/search/shards.ts';
import { encodeSnapshot, inspectSnapshot } from '../../functions/core/search/snapshot.ts';
import { VectorIndex } from '../../functions/core/search/vector-index.ts';

const MODEL = { id: 'm', dim: 16 };

function vector(seed: number): Float32Array {
  return Float32Array.from({ length: MODEL.dim }, (_, i) => Math.sin(seed * 7.1 + i));
}

function template(id: string, subjectId: string, seed: number): FaceTemplate {
  return {
    id,
    subjectId,
    source: 'test',
    box: { x: 0, y: 0, width: 1, height: 1 },
    quality: {
      score: 1,
      reasons: [],
      brightness: 0,
      contrast: 0,
      sharpness: 0,
      interOcularPx: 0,
      detectionScore: 1,
      yaw: 0,
      pitch: 0,
      roll: 0,
    },
    embedding: vector(seed),
    variant: 'original',
    model: { id: MODEL.id, version: '1' },
    createdAt: new Date(seed * 1000).toISOString(),
  };
}

/** An exact index of these templates. */
function indexOf(templates: readonly FaceTemplate[]): VectorIndex {
  const index = new VectorIndex({ modelId: MODEL.id, dim: MODEL.dim });
  index.add(
    templates.map((t) => ({
      templateId: t.id,
      subjectId: t.subjectId,
      variant: t.variant,
      vector: t.embedding,
    })),
  );
  return index;
}

class MemorySnapshots implements IndexSnapshotStore {
  bytes: Uint8Array | undefined;
  versionCalls = 0;
  fail = false;
  private counter = 0;
  async load() {
    return this.bytes;
  }
  async save(bytes: Uint8Array) {
    this.bytes = bytes;
    this.counter += 1;
  }
  async version() {
    this.versionCalls += 1;
    if (this.fail) throw new Error('S3 is down');
    return this.bytes ? `v${this.counter}` : undefined;
  }
  publish(templates: FaceTemplate[]) {
    return this.save(encodeSnapshot(indexOf(templates), { createdAt: new Date().toISOString() }));
  }
}

/** A feed like the SQLite store's: a log of adds and removals, the cursor its length. */
class MemoryFeed implements TemplateFeed {
  readonly log: ({ add: FaceTemplate } | { remove: string })[] = [];
  calls = 0;
  async changesSince(cursor: string | undefined): Promise<TemplateChanges> {
    this.calls += 1;
    const from = cursor === undefined ? Number.NaN : Number(cursor);
    const live = () => {
      const removedAt = new Map<string, number>();
      this.log.forEach((e, i) => {
        if ('remove' in e) removedAt.set(e.remove, i);
      });
      return this.log.flatMap((e, i) =>
        'add' in e && (removedAt.get(e.add.subjectId) ?? -1) < i ? [e.add] : [],
      );
    };
    if (Number.isNaN(from))
      return { cursor: String(this.log.length), full: true, added: live(), removedSubjects: [] };
    const tail = this.log.slice(from);
    const current = new Set(live().map((t) => t.id));
    return {
      cursor: String(this.log.length),
      full: false,
      added: tail.flatMap((e) => ('add' in e && current.has(e.add.id) ? [e.add] : [])),
      removedSubjects: tail.flatMap((e) => ('remove' in e ? [e.remove] : [])),
    };
  }
}

describe('GalleryIndex as a writer (local mode)', () => {
  it('derives the index from the feed, saves it with its cursor, and a second writer loses nothing', async () => {
    const snapshots = new MemorySnapshots();
    const feed = new MemoryFeed();
    const a = new GalleryIndex({ snapshots, feed, model: MODEL, writesSnapshots: true });
    const b = new GalleryIndex({ snapshots, feed, model: MODEL, writesSnapshots: true });
    expect(await a.open()).toMatchObject({ templates: 0, rebuilt: true });
    await b.open();
    // A writes, saves; then B writes and saves its own index over A's snapshot.
    feed.log.push({ add: template('t1', 'alice', 1) });
    await a.refresh();
    await a.save();
    feed.log.push({ add: template('t2', 'bob', 2) });
    await b.refresh();
    await b.save();
    // A sees B's subject, B sees A's: both follow the feed, not the snapshot file.
    await a.ensureFresh();
    expect(a.stats()).toMatchObject({ templates: 2, subjects: 2 });
    expect(b.stats()).toMatchObject({ templates: 2, subjects: 2 });
    // A deletion travels the same way, and a fresh process starts from the snapshot plus the feed since.
    feed.log.push({ remove: 'alice' });
    await b.refresh();
    expect(b.has('t1')).toBe(false);
    const c = new GalleryIndex({ snapshots, feed, model: MODEL, writesSnapshots: true });
    expect(await c.open()).toMatchObject({ templates: 1, subjects: 1, rebuilt: false, applied: 1 });
    expect(c.search(vector(2), { k: 1 })[0]?.subjectId).toBe('bob');
  });

  it('rebuilds from the whole store when the snapshot is for another model or unreadable', async () => {
    const snapshots = new MemorySnapshots();
    snapshots.bytes = new TextEncoder().encode('not a snapshot');
    const feed = new MemoryFeed();
    feed.log.push({ add: template('t1', 'alice', 1) });
    const index = new GalleryIndex({ snapshots, feed, model: MODEL, writesSnapshots: true });
    expect(await index.open()).toMatchObject({ templates: 1, rebuilt: true });
    const other = new GalleryIndex({
      snapshots,
      feed,
      model: { id: 'other', dim: MODEL.dim },
      writesSnapshots: true,
    });
    expect(await other.open()).toMatchObject({ templates: 0, rebuilt: true });
  });
});

/** A feed like DynamoDB's when nothing was created since the snapshot: the cursor is a time, no changes. */
class QuietFeed implements TemplateFeed {
  calls = 0;
  async changesSince(cursor: string | undefined): Promise<TemplateChanges> {
    this.calls += 1;
    return {
      cursor: cursor ?? new Date(0).toISOString(),
      full: cursor === undefined,
      added: [],
      removedSubjects: [],
    };
  }
}

describe('GalleryIndex as a reader (AWS functions)', () => {
  function reader(snapshots: MemorySnapshots, feed: TemplateFeed, now: { t: number }) {
    return new GalleryIndex({
      snapshots,
      feed,
      model: MODEL,
      writesSnapshots: false,
      refreshIntervalMs: 10_000,
      now: () => now.t,
      onStale: () => undefined,
    });
  }

  it('loads at cold start, then reloads only a newer snapshot, checking at most every interval', async () => {
    const snapshots = new MemorySnapshots();
    const feed = new QuietFeed();
    await snapshots.publish([template('t1', 'alice', 1)]);
    const now = { t: 0 };
    const index = reader(snapshots, feed, now);
    await index.ensureFresh();
    expect(index.stats().templates).toBe(1);
    const checks = snapshots.versionCalls;
    await snapshots.publish([template('t1', 'alice', 1), template('t2', 'bob', 2)]);
    now.t = 9_999;
    await index.ensureFresh();
    expect([snapshots.versionCalls, index.stats().templates]).toEqual([checks, 1]);
    now.t = 10_000;
    await index.ensureFresh();
    expect([snapshots.versionCalls, index.stats().templates]).toEqual([checks + 1, 2]);
    // Catching up after the reload: the feed was asked since the new snapshot.
    expect(feed.calls).toBe(2);
    // Nothing new: the version is asked, the feed (a table scan in DynamoDB) is not.
    const feedCalls = feed.calls;
    now.t = 20_000;
    await index.ensureFresh();
    expect(feed.calls).toBe(feedCalls);
  });

  it('keeps serving the loaded index when a check fails, but fails a cold start', async () => {
    const snapshots = new MemorySnapshots();
    await snapshots.publish([template('t1', 'alice', 1)]);
    snapshots.fail = true;
    const now = { t: 0 };
    await expect(reader(snapshots, new QuietFeed(), now).ensureFresh()).rejects.toThrow('S3 is down');
    snapshots.fail = false;
    const warm = reader(snapshots, new QuietFeed(), now);
    await warm.ensureFresh();
    snapshots.fail = true;
    now.t = 10_000;
    await expect(warm.ensureFresh()).resolves.toBeUndefined();
    expect(warm.stats().templates).toBe(1);
  });
});

/**
 * A store that publishes shards, as S3 does: the manifest is read first, and its shards arrive (reported one by one,
 * last shard first) only when the test releases them, so the test can see what the reader does in between.
 */
class ShardedSnapshots implements IndexSnapshotStore {
  published: PublishedShards | undefined;
  release: () => void = () => undefined;
  async load() {
    return undefined;
  }
  async save() {
    throw new Error('a reader never saves');
  }
  async loadShards(options: LoadShardsOptions = {}) {
    const published = this.published;
    if (!published) return undefined;
    // Row counts as the S3 manifest records them (none when a shard cannot be read: an older manifest).
    let rows: Map<number, number> | undefined;
    try {
      rows = new Map([...published.shards].map(([shard, bytes]) => [shard, inspectSnapshot(bytes).count]));
    } catch {
      rows = undefined;
    }
    options.onManifest?.({ createdAt: published.createdAt, count: published.count, rows });
    await new Promise<void>((resolve) => {
      this.release = resolve;
    });
    for (const [shard, bytes] of [...published.shards].reverse()) options.onShard?.(shard, bytes);
    return published;
  }
}

/** A time-cursor feed (as DynamoDB's) that answers with `added` and records the cursors it was asked for. */
class RecordingFeed implements TemplateFeed {
  readonly asked: (string | undefined)[] = [];
  constructor(readonly added: FaceTemplate[]) {}
  async changesSince(cursor: string | undefined): Promise<TemplateChanges> {
    this.asked.push(cursor);
    return { cursor: cursor ?? '', full: cursor === undefined, added: this.added, removedSubjects: [] };
  }
}

describe('GalleryIndex reading published shards', () => {
  const createdAt = '2026-12-01T10:00:00.000Z';
  function publish(templates: FaceTemplate[]): PublishedShards {
    const index = indexOf(templates);
    return { count: 4, createdAt, shards: encodeShards(index, { count: 4, createdAt }) };
  }

  it("starts the catch-up from the manifest's time before the shards arrive, and applies it once they do", async () => {
    const snapshots = new ShardedSnapshots();
    snapshots.published = publish([template('t1', 'alice', 1), template('t2', 'bob', 2)]);
    const feed = new RecordingFeed([template('t3', 'carol', 3)]);
    const index = new GalleryIndex({ snapshots, feed, model: MODEL, writesSnapshots: false });
    const opening = index.open();
    await vi.waitFor(() => expect(feed.asked).toEqual([createdAt]));
    expect(index.isLoaded).toBe(false);
    snapshots.release();
    expect(await opening).toMatchObject({ templates: 3, subjects: 3, rebuilt: false, applied: 1 });
    // One catch-up: the early one was used, not asked again.
    expect(feed.asked).toEqual([createdAt]);
    expect(index.search(vector(3), { k: 1 })[0]?.subjectId).toBe('carol');
  });

  it('drops the early catch-up when the shards turn out unusable, and rebuilds from the whole store', async () => {
    const snapshots = new ShardedSnapshots();
    const published = publish([template('t1', 'alice', 1)]);
    published.shards.set(0, new TextEncoder().encode('not a shard'));
    snapshots.published = published;
    const feed = new RecordingFeed([template('t1', 'alice', 1), template('t2', 'bob', 2)]);
    const index = new GalleryIndex({ snapshots, feed, model: MODEL, writesSnapshots: false });
    const opening = index.open();
    await vi.waitFor(() => expect(feed.asked).toHaveLength(1));
    snapshots.release();
    expect(await opening).toMatchObject({ templates: 2, rebuilt: true });
    expect(feed.asked).toEqual([createdAt, undefined]);
  });
});

describe('GalleryIndex past the crossover (local mode at scale)', () => {
  it('builds the graph in the background, saves and reloads it, and drops it on erasure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-tiered-'));
    try {
      const approximate = fileApproximateIndexing(dir, 40);
      const snapshots = new MemorySnapshots();
      const feed = new MemoryFeed();
      for (let i = 0; i < 60; i++) feed.log.push({ add: template(`t${i}`, `s${i}`, i + 1) });
      const options = { snapshots, feed, model: MODEL, writesSnapshots: true, approximate };
      const a = new GalleryIndex(options);
      await a.open();
      await a.settled();
      // Past 40 templates the graph answers, and it was saved beside the snapshot.
      expect(a.stats().kernel).toMatch(/^usearch/);
      expect(existsSync(join(dir, 'ann.usearch'))).toBe(true);
      expect(a.search(vector(8), { k: 1 })[0]?.subjectId).toBe('s7');
      // An insert after the build is searchable at once (the graph takes it too).
      feed.log.push({ add: template('late', 'newcomer', 500) });
      await a.refresh();
      expect(a.search(vector(500), { k: 1 })[0]?.subjectId).toBe('newcomer');
      // Another process reloads the saved graph (no rebuild) and reconciles the insert the file lacks.
      const b = new GalleryIndex(options);
      await b.open();
      expect(b.stats().kernel).toMatch(/^usearch/);
      expect(b.search(vector(500), { k: 1 })[0]?.subjectId).toBe('newcomer');
      // Erasure: the subject is gone from every answer and the saved graph file is removed.
      feed.log.push({ remove: 's7' });
      await b.refresh();
      await b.save();
      await b.settled();
      expect(b.search(vector(8), { k: 5 }).map((c) => c.subjectId)).not.toContain('s7');
      expect(existsSync(join(dir, 'ann.usearch'))).toBe(false);
      // The next start has no graph file: it answers exactly while it builds a clean graph, then saves it.
      const c = new GalleryIndex(options);
      await c.open();
      await c.settled();
      expect(c.stats().kernel).toMatch(/^usearch/);
      expect(existsSync(join(dir, 'ann.usearch'))).toBe(true);
      expect(c.search(vector(8), { k: 5 }).map((x) => x.subjectId)).not.toContain('s7');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
