import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataDir } from '../../functions/adapters/local/data-dir.ts';
import { defaultGalleryConfig, loadCalibration } from '../../functions/core/gallery/config.ts';
import { GalleryService } from '../../functions/core/gallery/service.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { hasData, LFW, lfwPhoto, read, SEED, seedPhoto } from '../support/data.ts';
import { twoPeoplePhoto } from '../support/images.ts';

const pipeline = new FacePipeline();
const dirs: string[] = [];
afterAll(async () => {
  await pipeline.dispose();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function openGallery(root: string, overrides: Partial<ReturnType<typeof defaultGalleryConfig>> = {}) {
  const dataDir = openDataDir(root);
  const gallery = new GalleryService({
    pipeline,
    store: dataDir.faceStore,
    feed: dataDir.faceStore,
    snapshots: dataDir.snapshots,
    config: { ...defaultGalleryConfig(loadCalibration()), ...overrides },
  });
  return { dataDir, gallery };
}

describe.runIf(hasData(SEED) && hasData(LFW))('gallery service on the local stores', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'faceprint-gallery-'));
    dirs.push(root);
  });

  it('stores the original template plus every configured variant, and identifies the person', async () => {
    const { dataDir, gallery } = openGallery(root);
    await gallery.open();
    const subject = await gallery.createSubject(
      { id: 'irene', name: 'Irene' },
      { bytes: read(seedPhoto('irene', 1)), source: 'img_1.jpg' },
    );
    expect(subject.templates.map((t) => t.variant).sort()).toEqual([
      'blur',
      'dark',
      'lowres',
      'mirror',
      'original',
    ]);
    expect(gallery.stats()).toMatchObject({ templates: 5, subjects: 1 });
    const result = await gallery.identify(read(seedPhoto('irene', 3)), { source: 'test', camera: 'lobby-1' });
    expect(result.camera).toBe('lobby-1');
    const face = result.faces.reduce((a, b) =>
      b.box.width * b.box.height > a.box.width * a.box.height ? b : a,
    );
    expect(face.decision.kind).toBe('match');
    expect(face.decision.subjectId).toBe('irene');
    expect(face.decision.subjectName).toBe('Irene');
    expect(face.decision.threshold).toBe(gallery.config.calibration.threshold);
    // A clean face is in the good band: decided as before, never insufficient_quality.
    expect(face.decision.qualityBand).toBe('good');
    // The decision is in the audit log with its evidence.
    const audit = await dataDir.faceStore.listAudit({ limit: 10 });
    expect(audit.items).toHaveLength(result.faces.length);
    const first = audit.items.find((entry) => entry.faceIndex === 0)!;
    expect(first.decision.similarity).toBeCloseTo(result.faces[0]!.decision.similarity, 6);
    expect(first.decision.threshold).toBe(result.faces[0]!.decision.threshold);
    expect(first.quality.score).toBe(result.faces[0]!.quality.score);
    expect(first.calibration).toBe(gallery.config.calibration.id);
    expect(first.camera).toBe('lobby-1');
    expect(first.qualityBand).toBe(result.faces[0]!.decision.qualityBand);
    dataDir.close();
  });

  it('refuses photos without a face, with several faces, or below the enrolment quality, writing nothing', async () => {
    const { dataDir, gallery } = openGallery(root, { minEnrolQuality: 0.999 });
    await gallery.open();
    const before = (await dataDir.faceStore.listTemplates()).length;
    const blank = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#777' } })
      .png()
      .toBuffer();
    await expect(
      gallery.createSubject({ name: 'Nobody' }, { bytes: blank, source: 'blank.png' }),
    ).rejects.toMatchObject({ code: 'NO_FACE' });
    // irene/img_1 is a small, slightly turned face: quality below 0.999.
    await expect(
      gallery.createSubject({ name: 'Low' }, { bytes: read(seedPhoto('irene', 1)), source: 'img_1.jpg' }),
    ).rejects.toMatchObject({ code: 'LOW_QUALITY' });
    const two = await twoPeoplePhoto(read(seedPhoto('irene', 4)), read(seedPhoto('yeri', 1)));
    await expect(
      gallery.createSubject({ name: 'Two' }, { bytes: two, source: 'two.jpg' }),
    ).rejects.toMatchObject({
      code: 'MULTIPLE_FACES',
    });
    expect((await dataDir.faceStore.listTemplates()).length).toBe(before);
    expect((await dataDir.faceStore.listSubjects({ limit: 100 })).items.map((s) => s.id)).toEqual(['irene']);
    dataDir.close();
  });

  it('rebuilds an index snapshot that is out of step with the store (a crash between the two writes)', async () => {
    const { dataDir, gallery } = openGallery(root);
    await gallery.open();
    await gallery.createSubject(
      { id: 'wendy', name: 'Wendy' },
      {
        bytes: read(seedPhoto('wendy', 1)),
        source: 'img_1.jpg',
        // wendy/img_1 also shows a small face in the background.
        takeLargest: true,
      },
    );
    // Simulate the crash: the snapshot file goes back to garbage.
    writeFileSync(dataDir.paths.indexSnapshot, Buffer.from('not a snapshot'));
    dataDir.close();
    const reopened = openGallery(root);
    const opened = await reopened.gallery.open();
    expect(opened.rebuilt).toBe(true);
    expect(opened.subjects).toBe(2);
    const again = await reopened.gallery.open();
    expect(again.rebuilt).toBe(false);
    reopened.dataDir.close();
  });

  it('a second process on the same data directory sees what the first one enrolled', async () => {
    const server = openGallery(root);
    await server.gallery.open();
    expect(await server.gallery.ensureFresh()).toBe(false);
    const cli = openGallery(root);
    await cli.gallery.open();
    await cli.gallery.createSubject(
      { id: 'seulgi', name: 'Seulgi' },
      { bytes: read(seedPhoto('seulgi', 1)), source: 'img_1.jpg', takeLargest: true },
    );
    cli.dataDir.close();
    expect(await server.gallery.ensureFresh()).toBe(true);
    const result = await server.gallery.identify(read(seedPhoto('seulgi', 3)), { source: 'test' });
    expect(result.faces[0]!.decision).toMatchObject({ kind: 'match', subjectId: 'seulgi' });
    expect(await server.gallery.ensureFresh()).toBe(false);
    server.dataDir.close();
  });

  it('deletes a subject from store and index: never returned again', async () => {
    const { dataDir, gallery } = openGallery(root);
    await gallery.open();
    await gallery.deleteSubject('wendy');
    await expect(gallery.getSubject('wendy')).rejects.toMatchObject({ code: 'SUBJECT_NOT_FOUND' });
    await expect(gallery.deleteSubject('wendy')).rejects.toMatchObject({ code: 'SUBJECT_NOT_FOUND' });
    const result = await gallery.identify(read(seedPhoto('wendy', 4)), { source: 'test' });
    for (const face of result.faces) expect(face.candidates.map((c) => c.subjectId)).not.toContain('wendy');
    dataDir.close();
  });

  it('with two-view agreement, a match needs the mirrored probe to name the same subject', async () => {
    const { dataDir, gallery } = openGallery(root, { agreement: 'mirror' });
    await gallery.open();
    const result = await gallery.identify(read(seedPhoto('irene', 3)), { source: 'test' });
    const face = result.faces[0]!;
    expect(face.agreement).toMatchObject({ view: 'mirror', subjectId: 'irene', agreed: true });
    expect(face.agreement!.similarity).toBeGreaterThanOrEqual(face.decision.threshold);
    expect(face.decision.kind).toBe('match');
    // Without the option there is no second view.
    const plain = openGallery(root);
    await plain.gallery.open();
    expect(
      (await plain.gallery.identify(read(seedPhoto('irene', 3)), { source: 'test' })).faces[0]!.agreement,
    ).toBeUndefined();
    plain.dataDir.close();
    dataDir.close();
  });

  it('verifies 1:1 against an image and against an enrolled subject', async () => {
    const { dataDir, gallery } = openGallery(root);
    await gallery.open();
    const same = await gallery.verify(read(seedPhoto('irene', 2)), { subjectId: 'irene' }, 'test');
    expect(same.match).toBe(true);
    expect(same.similarity).toBeGreaterThanOrEqual(same.threshold);
    const different = await gallery.verify(
      read(seedPhoto('irene', 2)),
      { image: read(lfwPhoto('Al_Gore', 1)) },
      'test',
    );
    expect(different.match).toBe(false);
    expect(different.faces).toHaveLength(2);
    dataDir.close();
  });
});
