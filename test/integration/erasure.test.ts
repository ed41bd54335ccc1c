/**
 * Issue 13, finding 2: after a subject is deleted, its face must be gone from the data directory, byte for
 * byte. Two seed people are enrolled, an upload of the deleted one is identified through the uploads folder
 * and a probe through the gallery (audit rows), then one is deleted and every file under the data directory is
 * scanned for the deleted embeddings (as stored: 2,048 bytes of float32) and the photo names. The other
 * person's embeddings must still be found, which shows the scan would see them.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERASED } from '../../functions/core/gallery/erasure.ts';
import { openLocalGallery } from '../../functions/local/composition.ts';
import { startUploadWatcher } from '../../functions/local/upload-watcher.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The files of `root` that contain `needle`. */
function containing(root: string, needle: Buffer): string[] {
  return filesUnder(root).filter((f) => readFileSync(f).includes(needle));
}

describe.skipIf(!hasData(SEED))('erasure of a subject', () => {
  let root = '';
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'faceprint-erasure-'));
  });
  afterAll(() => (process.env.KEEP_ERASURE ? undefined : rm(root, { recursive: true, force: true })));

  it('leaves no embedding, photo name or decision naming the subject in the data directory', async () => {
    const local = await openLocalGallery({ dataDir: root });
    let wendy: Buffer[] = [];
    let joy: Buffer[] = [];
    try {
      for (const person of ['wendy', 'joy']) {
        await local.gallery.createSubject(
          { id: person, name: person },
          { bytes: read(seedPhoto(person, 1)), source: `${person}-enrolment-photo.jpg` },
        );
      }
      const embeddings = async (id: string) =>
        (await local.dataDir.faceStore.listTemplates(id)).map((t) =>
          Buffer.from(t.embedding.buffer, t.embedding.byteOffset, t.embedding.byteLength),
        );
      wendy = await embeddings('wendy');
      joy = await embeddings('joy');
      expect(wendy.length).toBeGreaterThanOrEqual(5);

      // One upload of each person through the folder, one probe of wendy through identify.
      const watcher = startUploadWatcher(local, {
        pollIntervalMs: 50,
        settleMs: 100,
        logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      });
      await copyFile(seedPhoto('wendy', 2), join(local.dataDir.paths.uploads, 'cam7-wendy-upload.jpg'));
      await copyFile(seedPhoto('joy', 2), join(local.dataDir.paths.uploads, 'cam7-joy-upload.jpg'));
      await watcher.drain();
      await watcher.stop();
      const probe = await local.gallery.identify(read(seedPhoto('wendy', 3)), {
        source: 'probe-wendy-3.jpg',
      });
      expect(probe.faces[0]?.decision.subjectId).toBe('wendy');
      expect(containing(root, wendy[0]!).length).toBeGreaterThan(0);

      const report = await local.gallery.deleteSubject('wendy');
      expect(report.templates).toBe(wendy.length);
      expect(report.auditRowsRedacted).toBeGreaterThanOrEqual(2);
      expect(report.filesRemoved.sort()).toEqual([
        'results/cam7-wendy-upload.jpg',
        'results/cam7-wendy-upload.jpg.annotated.jpg',
        'results/cam7-wendy-upload.jpg.json',
      ]);
      expect(report.ledgerRows).toBe(1);
      expect(report.storageCompacted).toBe(true);

      // The decisions stay, without the face: kind, similarity and threshold kept.
      const audit = await local.dataDir.faceStore.listAudit({ limit: 100 });
      const own = audit.items.filter((e) => e.decision.subjectId === ERASED);
      expect(own.length).toBeGreaterThanOrEqual(2);
      for (const entry of own) {
        expect(entry.source).toBe(ERASED);
        expect(entry.decision.kind).toBe('match');
        expect(entry.decision.similarity).toBeGreaterThan(entry.decision.threshold);
      }
      expect(audit.items.some((e) => e.source === 'cam7-joy-upload.jpg')).toBe(true);
    } finally {
      await local.close();
    }

    // After a clean stop: not one deleted embedding, photo name or mention of the subject is left anywhere.
    for (const embedding of wendy) expect(containing(root, embedding)).toEqual([]);
    for (const name of [
      'wendy-enrolment-photo.jpg',
      'cam7-wendy-upload.jpg',
      'probe-wendy-3.jpg',
      '"wendy"',
    ]) {
      expect(containing(root, Buffer.from(name))).toEqual([]);
    }
    // …while the other subject's face is still there, so the scan does see stored embeddings.
    expect(joy.some((e) => containing(root, e).length > 0)).toBe(true);
    const joyResult = JSON.parse(await readFile(join(root, 'results', 'cam7-joy-upload.jpg.json'), 'utf8'));
    expect(joyResult.faces[0].decision.subjectId).toBe('joy');
    expect(await readdir(join(root, 'results'))).not.toContain('cam7-wendy-upload.jpg');
  }, 120_000);
});
