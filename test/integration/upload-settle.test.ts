/**
 * Issue 13, finding 6: a photo written in two halves with a pause between them must not be taken half-written;
 * and a file that was taken too early (a settle period shorter than the writer's pause) and failed must be
 * tried again once the writer has finished it — the writer's open descriptor keeps writing into `failed/`.
 * Real models, a real seed photo, a temporary data directory.
 */
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestEvent } from '../../functions/core/ingest/ingest.ts';
import { type LocalGallery, openLocalGallery } from '../../functions/local/composition.ts';
import { SettleTracker } from '../../functions/local/settled-files.ts';
import { startUploadWatcher, type UploadWatcher } from '../../functions/local/upload-watcher.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('settle tracker', () => {
  it('settles only after two equal observations and the settle period', () => {
    const t = new SettleTracker(1000);
    const now = 1_000_000;
    expect(t.observe('a', 10, now - 50, now)).toBe(false); // first sight
    expect(t.observe('a', 10, now - 50, now + 500)).toBe(false); // unchanged, but written 550 ms ago
    expect(t.observe('a', 20, now + 600, now + 700)).toBe(false); // grew
    expect(t.observe('a', 20, now + 600, now + 1500)).toBe(false); // 900 ms since the last write
    expect(t.observe('a', 20, now + 600, now + 1700)).toBe(true);
    // A file whose mtime is long past (copied in with its times kept) settles at the second look.
    expect(t.observe('b', 5, now - 60_000, now)).toBe(false);
    expect(t.observe('b', 5, now - 60_000, now + 50)).toBe(true);
    // A clock skewed into the future: the tracker's own clock decides.
    expect(t.observe('c', 5, now + 3_600_000, now)).toBe(false);
    expect(t.observe('c', 5, now + 3_600_000, now + 1000)).toBe(true);
  });
});

describe.skipIf(!hasData(SEED))('uploads folder and slow writers', () => {
  let root = '';
  let local: LocalGallery;
  const events: IngestEvent[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'faceprint-settle-'));
    local = await openLocalGallery({ dataDir: root });
    await local.gallery.createSubject(
      { id: 'wendy', name: 'wendy' },
      {
        bytes: read(seedPhoto('wendy', 1)),
        source: 'wendy-1.jpg',
      },
    );
  }, 120_000);

  afterAll(async () => {
    await local?.close();
    await rm(root, { recursive: true, force: true });
  });

  function watch(settleMs: number): UploadWatcher {
    return startUploadWatcher(local, {
      pollIntervalMs: 50,
      settleMs,
      onEvent: (e) => events.push(e),
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
  }

  /** Writes a photo in two halves, `pauseMs` apart, through one descriptor (as a slow copy would). */
  async function writeInHalves(path: string, bytes: Buffer, pauseMs: number): Promise<void> {
    const handle = await open(path, 'w');
    try {
      const half = Math.floor(bytes.length / 2);
      await handle.write(bytes, 0, half, 0);
      await sleep(pauseMs);
      await handle.write(bytes, half, bytes.length - half, half);
    } finally {
      await handle.close();
    }
  }

  it('does not take a file whose writer pauses for less than the settle period', async () => {
    const watcher = watch(1500);
    try {
      events.length = 0;
      await writeInHalves(join(local.dataDir.paths.uploads, 'halves.jpg'), read(seedPhoto('wendy', 2)), 800);
      await watcher.drain();
      expect(events.map((e) => [e.key, e.status])).toEqual([['halves.jpg', 'processed']]);
      expect(events[0]!.summary.matches).toBe(1);
      expect(await readdir(local.dataDir.paths.failed)).toEqual([]);
    } finally {
      await watcher.stop();
    }
  }, 60_000);

  it('tries a failed file again when its writer finishes it afterwards', async () => {
    // A settle period shorter than the pause: the first half is taken and fails, as in the hostile test.
    const watcher = watch(100);
    try {
      events.length = 0;
      await writeInHalves(join(local.dataDir.paths.uploads, 'late.jpg'), read(seedPhoto('wendy', 3)), 1500);
      await expect.poll(() => events.length, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(2);
      await watcher.drain();
      expect(events.map((e) => [e.key, e.status])).toEqual([
        ['late.jpg', 'failed'],
        ['late.jpg', 'processed'],
      ]);
      expect(events[1]!.summary.matches).toBe(1);
      const failed = await readdir(local.dataDir.paths.failed);
      expect(failed).toContain('late.jpg.reason.superseded.json');
      expect(failed).not.toContain('late.jpg');
      const result = JSON.parse(await readFile(join(local.dataDir.paths.results, 'late.jpg.json'), 'utf8'));
      expect(result.status).toBe('processed');
    } finally {
      await watcher.stop();
    }
  }, 60_000);
});
