/**
 * The upload folder end to end on real photos and models: a temporary data directory, five seed subjects enrolled
 * through the gallery service, ten files dropped into `uploads/` (nine photos, one truncated JPEG), then a restart
 * that must reprocess nothing already settled and must finish the file a "crash" left in `processing/`.
 */
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestEvent } from '../../functions/core/ingest/ingest.ts';
import { sha256Hex } from '../../functions/core/ingest/ingest.ts';
import { type LocalGallery, openLocalGallery } from '../../functions/local/composition.ts';
import { startUploadWatcher, type UploadWatcher } from '../../functions/local/upload-watcher.ts';
import { hasData, LFW, lfwSingletons, read, SEED, SEED_PEOPLE, seedPhoto } from '../support/data.ts';

const HAVE_DATA = hasData(SEED) && hasData(LFW);

let root = '';
let local: LocalGallery | undefined;
let watcher: UploadWatcher | undefined;
const events: IngestEvent[] = [];
const lines: string[] = [];

/** Seed photos named after their person, so a match can be checked against the file name. */
const SEED_PROBES = SEED_PEOPLE.map((person) => ({
  path: seedPhoto(person, 2),
  name: `${person}-2.jpg`,
  person,
}));
const CORRUPT = 'truncated.jpg';
/** Left in `processing/` with an open claim, as a crash mid-way would. */
const LEFTOVER = 'leftover-joy-4.jpg';

function start(gallery: LocalGallery): UploadWatcher {
  return startUploadWatcher(gallery, {
    pollIntervalMs: 50,
    concurrency: 2,
    onEvent: (event) => events.push(event),
    logger: {
      info: (line) => lines.push(line),
      warn: (line) => lines.push(`WARN ${line}`),
      error: (line) => lines.push(`ERROR ${line}`),
    },
  });
}

async function auditCount(gallery: LocalGallery): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await gallery.dataDir.faceStore.listAudit({ limit: 500, cursor });
    count += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return count;
}

/** Every file under results/ and failed/ with its modification time. */
async function settledFiles(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const sub of ['results', 'failed']) {
    for (const name of await readdir(join(dir, sub))) {
      out.set(`${sub}/${name}`, (await stat(join(dir, sub, name))).mtimeMs);
    }
  }
  return out;
}

beforeAll(async () => {
  if (!HAVE_DATA) return;
  root = await mkdtemp(join(tmpdir(), 'faceprint-uploads-'));
  local = await openLocalGallery({ dataDir: root, threads: 1 });
  for (const person of SEED_PEOPLE) {
    await local.gallery.createSubject(
      { id: person, name: person },
      // wendy's photo shows someone else in the background.
      { bytes: read(seedPhoto(person, 1)), source: `${person}/img_1.jpg`, takeLargest: true },
    );
  }
}, 180_000);

afterAll(async () => {
  await watcher?.stop();
  await local?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe.runIf(HAVE_DATA)('the upload folder', () => {
  const strangers = HAVE_DATA ? lfwSingletons(4) : [];

  it('processes nine photos into results/ and sets the truncated JPEG aside in failed/', async () => {
    const gallery = local!;
    const { uploads, results, failed, processing } = gallery.dataDir.paths;
    const auditBefore = await auditCount(gallery);
    watcher = start(gallery);
    for (const probe of SEED_PROBES) await copyFile(probe.path, join(uploads, probe.name));
    for (const path of strangers) await copyFile(path, join(uploads, basename(path)));
    const whole = read(seedPhoto('irene', 3));
    await writeFile(join(uploads, CORRUPT), whole.subarray(0, Math.floor(whole.length / 2)));
    // Never taken: a hidden file and a partial write.
    await writeFile(join(uploads, '.DS_Store'), 'x');
    await writeFile(join(uploads, 'incoming.jpg.part'), whole.subarray(0, 100));
    await watcher.drain();

    const names = [...SEED_PROBES.map((p) => p.name), ...strangers.map((p) => basename(p))];
    expect(names).toHaveLength(9);
    const resultFiles = (await readdir(results)).sort();
    expect(resultFiles.filter((f) => f.endsWith('.json')).sort()).toEqual(
      names.map((n) => `${n}.json`).sort(),
    );
    expect(resultFiles.filter((f) => f.endsWith('.annotated.jpg'))).toHaveLength(9);
    // The originals are kept, byte for byte.
    for (const name of names)
      expect(sha256Hex(await readFile(join(results, name)))).toBe(events.find((e) => e.key === name)?.sha256);
    expect(resultFiles).toHaveLength(27);
    expect((await readdir(failed)).sort()).toEqual([CORRUPT, `${CORRUPT}.reason.json`]);
    expect((await readdir(uploads)).sort()).toEqual(['.DS_Store', 'incoming.jpg.part']);
    expect(await readdir(processing)).toEqual(['.watcher.lock']);

    const reason = JSON.parse(await readFile(join(failed, `${CORRUPT}.reason.json`), 'utf8'));
    expect(reason).toMatchObject({
      code: 'INVALID_IMAGE',
      key: CORRUPT,
      sha256: sha256Hex(await readFile(join(failed, CORRUPT))),
    });
    expect(reason.message).toMatch(/\S/);
    expect(Number.isNaN(Date.parse(reason.at))).toBe(false);

    expect(events).toHaveLength(10);
    expect(events.filter((e) => e.status === 'failed').map((e) => e.key)).toEqual([CORRUPT]);
    for (const name of names) {
      const json = JSON.parse(await readFile(join(results, `${name}.json`), 'utf8')) as IngestEvent;
      expect(json).toMatchObject({ version: 1, key: name, status: 'processed' });
      expect(json.summary.faces).toBe(json.faces.length);
      expect(JSON.stringify(json)).not.toContain('embedding');
      const meta = await sharp(join(results, `${name}.annotated.jpg`)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', json.width, json.height]);
      expect((await gallery.dataDir.ledger.get(name, json.sha256))?.state).toBe('done');
    }
    expect((await gallery.dataDir.ledger.get(CORRUPT, reason.sha256))?.state).toBe('failed');

    // Every match is the right person; most seed photos are recognised; no stranger is taken for a member.
    const matched = events.flatMap((e) =>
      e.faces
        .filter((f) => f.decision.kind === 'match')
        .map((f) => ({ key: e.key, id: f.decision.subjectId })),
    );
    for (const m of matched) expect(m.key.startsWith(`${m.id}-`), `${m.key} matched ${m.id}`).toBe(true);
    const recognised = SEED_PROBES.filter((p) => matched.some((m) => m.key === p.name));
    expect(recognised.length).toBeGreaterThanOrEqual(4);

    // One log line per file, and one audit entry per face found.
    for (const name of [...names, CORRUPT]) {
      expect(lines.filter((l) => l.startsWith(`upload ${name}: `) && / \d+ ms → /.test(l))).toHaveLength(1);
    }
    const faces = events.reduce((n, e) => n + e.summary.faces, 0);
    expect(await auditCount(gallery)).toBe(auditBefore + faces);
  }, 240_000);

  it('after a restart reprocesses nothing settled, and finishes the file a crash left in processing/', async () => {
    let gallery = local!;
    await watcher!.stop();
    watcher = undefined;
    const before = await settledFiles(root);
    const auditBefore = await auditCount(gallery);
    const eventsBefore = events.length;
    await gallery.close();
    local = undefined;

    // A crash mid-way: the file is in processing/ and claimed in the ledger, but nothing was written.
    const { processing, uploads, results, failed } = gallery.dataDir.paths;
    const leftover = read(seedPhoto('joy', 4));
    await writeFile(join(processing, LEFTOVER), leftover);
    gallery = local = await openLocalGallery({ dataDir: root, threads: 1 });
    expect(await gallery.dataDir.ledger.claim(LEFTOVER, sha256Hex(leftover))).toMatchObject({
      acquired: true,
    });
    // The same names and bytes uploaded again: already settled, so moved beside their results, not processed.
    await copyFile(SEED_PROBES[0]!.path, join(uploads, SEED_PROBES[0]!.name));
    await copyFile(join(failed, CORRUPT), join(uploads, CORRUPT));

    watcher = start(gallery);
    await watcher.drain();

    const after = await settledFiles(root);
    for (const [file, mtime] of before) expect(after.get(file), file).toBe(mtime);
    const added = [...after.keys()].filter((f) => !before.has(f)).sort();
    expect(added).toEqual(
      [
        `results/${LEFTOVER}`,
        `results/${LEFTOVER}.json`,
        `results/${LEFTOVER}.annotated.jpg`,
        `results/${SEED_PROBES[0]!.name.replace('.jpg', '-1.jpg')}`,
        `failed/truncated-1.jpg`,
        `failed/truncated-1.jpg.reason.json`,
      ].sort(),
    );
    expect(JSON.parse(await readFile(join(failed, 'truncated-1.jpg.reason.json'), 'utf8'))).toMatchObject({
      code: 'INVALID_IMAGE',
      key: CORRUPT,
    });

    // Only the leftover was processed: one new event, its faces alone in the audit log, and its claim taken over.
    expect(events.slice(eventsBefore).map((e) => e.key)).toEqual([LEFTOVER]);
    const event = events.at(-1)!;
    expect(event.status).toBe('processed');
    expect(event.summary.faces).toBeGreaterThan(0);
    expect(await auditCount(gallery)).toBe(auditBefore + event.summary.faces);
    expect(await gallery.dataDir.ledger.get(LEFTOVER, event.sha256)).toMatchObject({
      state: 'done',
      attempts: 2,
      resultRef: `results/${LEFTOVER}.json`,
    });
    expect(JSON.parse(await readFile(join(results, `${LEFTOVER}.json`), 'utf8'))).toMatchObject({
      key: LEFTOVER,
      sha256: event.sha256,
    });
    expect(lines.filter((l) => /already (done|failed)/.test(l))).toHaveLength(2);
    expect(await readdir(processing)).toEqual(['.watcher.lock']);
    expect(lines.filter((l) => l.startsWith('ERROR'))).toEqual([]);
  }, 240_000);
});

describe('the upload folder without models', () => {
  it('refuses a second watcher on one folder, and sets a file over the size limit aside unread', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'faceprint-uploads-small-'));
    const gallery = await openLocalGallery({ dataDir, threads: 1 });
    const seenEvents: IngestEvent[] = [];
    const log: string[] = [];
    // A tiny limit: the file is refused before any model is loaded.
    gallery.gallery.config.analyze.limits = { maxBytes: 1000 };
    const first = startUploadWatcher(gallery, {
      pollIntervalMs: 20,
      onEvent: (e) => seenEvents.push(e),
      logger: { info: (l) => log.push(l), warn: (l) => log.push(l), error: (l) => log.push(l) },
    });
    try {
      expect(() => startUploadWatcher(gallery)).toThrow(/already being watched/);
      const { uploads, failed, processing } = gallery.dataDir.paths;
      const big = Buffer.alloc(5000, 7);
      await writeFile(join(uploads, 'big.jpg'), big);
      await first.drain();
      expect((await readdir(failed)).sort()).toEqual(['big.jpg', 'big.jpg.reason.json']);
      const reason = JSON.parse(await readFile(join(failed, 'big.jpg.reason.json'), 'utf8'));
      expect(reason).toMatchObject({ code: 'IMAGE_TOO_LARGE', key: 'big.jpg', sha256: sha256Hex(big) });
      expect((await gallery.dataDir.ledger.get('big.jpg', sha256Hex(big)))?.state).toBe('failed');
      expect(seenEvents.map((e) => [e.key, e.status, e.error?.code])).toEqual([
        ['big.jpg', 'failed', 'IMAGE_TOO_LARGE'],
      ]);
      expect(await readdir(processing)).toEqual(['.watcher.lock']);
      // Stopping releases the folder: another watcher may start.
      await first.stop();
      expect(await readdir(processing)).toEqual([]);
      await startUploadWatcher(gallery, { logger: { info() {}, warn() {}, error() {} } }).stop();
    } finally {
      await first.stop();
      await gallery.close();
      await rm(dataDir, { recursive: true, force: true });
    }
    expect(log.some((l) => l.startsWith('upload big.jpg: failed IMAGE_TOO_LARGE'))).toBe(true);
  });
});
