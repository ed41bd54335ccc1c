import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EMBEDDING_MODEL } from '../../functions/core/pipeline/pipeline.ts';
import { type LocalGallery, openLocalGallery } from '../../functions/local/composition.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';
import { ENROLLED, expectCode } from '../support/unknowns.ts';

// Real models, real SQLite; the cast is in test/support/unknowns.ts (the DynamoDB test uses the same one).
describe.runIf(hasData(SEED))('unknown persons and the review queue (local mode)', () => {
  let root: string;
  let local: LocalGallery;
  let clock = Date.parse('2026-11-01T10:00:00Z');
  const tick = (ms = 3_600_000) => {
    clock += ms;
  };
  const identify = async (person: string, n: number) => {
    tick();
    const result = await local.gallery.identify(read(seedPhoto(person, n)), { source: `${person}_${n}.jpg` });
    expect(result.faces.length).toBeGreaterThan(0);
    return result.faces[0]!;
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'faceprint-unknowns-'));
    // With the server's worker pool (one thread): analysis and promotion run off the event loop.
    local = await openLocalGallery({ dataDir: root, now: () => new Date(clock), analysisWorkers: 1 });
    for (const person of ENROLLED) {
      await local.gallery.createSubject(
        { id: person, name: person },
        { bytes: read(seedPhoto(person, 1)), source: 'img_1' },
      );
    }
  }, 120_000);
  afterAll(async () => {
    await local?.close();
    rmSync(root, { recursive: true, force: true });
  });

  let irene: string;
  it('three photos of an unenrolled person at different times make one unknown person with three sightings', async () => {
    const first = await identify('irene', 1);
    expect(first.decision.kind).toBe('unknown');
    // One photo alone is held back: a single resemblance is not yet a person.
    expect(first.followUp?.sightingId).toBeDefined();
    expect(first.followUp?.unknownId).toBeUndefined();
    const second = await identify('irene', 2);
    const third = await identify('irene', 3);
    irene = second.followUp?.unknownId as string;
    expect(irene).toBeDefined();
    expect(third.followUp?.unknownId).toBe(irene);
    const view = await local.followUp.unknowns.show(irene);
    expect(view.sightingCount).toBe(3);
    expect(view.sightings.map((s) => s.source).sort()).toEqual(['irene_1.jpg', 'irene_2.jpg', 'irene_3.jpg']);
    const crop = await local.followUp.unknowns.crop(irene, view.sightings[0]!.id);
    expect([...crop.subarray(0, 2)]).toEqual([0xff, 0xd8]);
  }, 120_000);

  it('a look-alike stranger does not join that person', async () => {
    const stranger = await identify('yeri', 1);
    expect(stranger.decision.kind).toBe('unknown');
    expect(stranger.followUp?.unknownId).not.toBe(irene);
    expect((await local.followUp.unknowns.show(irene)).sightingCount).toBe(3);
  }, 60_000);

  it('promote: the person becomes a subject and the next photo of them is a match; twice is refused', async () => {
    const inProcess = vi.spyOn(local.pipeline, 'embedCrops');
    const pooled = vi.spyOn(local.analyser, 'embedCrops');
    const subject = await local.followUp.promote(irene, { name: 'Irene', id: 'irene' });
    expect(subject.templates.filter((t) => t.variant === 'original')).toHaveLength(3);
    // The variants were embedded in the worker pool, not on the event loop.
    expect(subject.templates.length).toBeGreaterThan(3);
    expect(pooled).toHaveBeenCalled();
    expect(inProcess).not.toHaveBeenCalled();
    inProcess.mockRestore();
    pooled.mockRestore();
    await expectCode(local.followUp.promote(irene, { name: 'Irene again' }), 'UNKNOWN_PROMOTED');
    const next = await identify('irene', 4);
    expect(next.decision).toMatchObject({ kind: 'match', subjectId: 'irene' });
  }, 120_000);

  it('a rejected match is not repeated for the same face, and both verdicts are audited', async () => {
    const face = await identify('joy', 2);
    expect(face.decision).toMatchObject({ kind: 'match', subjectId: 'joy' });
    const reviewId = face.followUp?.reviewId as string;
    expect((await local.followUp.reviews.get(reviewId)).status).toBe('pending');
    const rejected = await local.followUp.reviews.settle(
      reviewId,
      { verdict: 'reject', reviewer: 'alice', note: 'not her' },
      EMBEDDING_MODEL,
    );
    expect(rejected).toMatchObject({ status: 'rejected', reviewer: 'alice', note: 'not her' });
    // A second verdict on the same decision is refused and changes nothing.
    await expectCode(
      local.followUp.reviews.settle(reviewId, { verdict: 'confirm', reviewer: 'bob' }, EMBEDDING_MODEL),
      'REVIEW_NOT_PENDING',
    );
    expect((await local.followUp.reviews.get(reviewId)).status).toBe('rejected');
    const again = await identify('joy', 2);
    expect(again.decision.subjectId === 'joy' && again.decision.kind === 'match').toBe(false);
    // The negative is joy's alone: another subject's photo still matches them.
    expect((await identify('seulgi', 2)).decision).toMatchObject({ kind: 'match', subjectId: 'seulgi' });
    const audit = await local.dataDir.faceStore.listAudit({ limit: 100 });
    const verdict = audit.items.find((e) => e.operation === 'review.reject');
    expect(verdict?.source).toContain('reviewer:alice');
  }, 120_000);

  let yeri: string;
  it('merge and delete behave; bad input changes nothing', async () => {
    // yeri_1 was held back; yeri_2 agrees with it, and the two start a person.
    const second = await identify('yeri', 2);
    yeri = second.followUp?.unknownId as string;
    expect(yeri).toBeDefined();
    const before = await local.followUp.unknowns.show(yeri);
    expect(before.sightingCount).toBe(2);
    const part = await local.followUp.unknowns.split(yeri, [before.sightings[0]!.id]);
    expect(part.sightingCount).toBe(1);
    await expectCode(local.followUp.unknowns.merge(yeri, yeri), 'INVALID_ARGUMENT');
    await expectCode(local.followUp.unknowns.merge(yeri, 'no-such-person'), 'UNKNOWN_NOT_FOUND');
    const merged = await local.followUp.unknowns.merge(part.id, yeri);
    expect(merged.sightingCount).toBe(before.sightingCount);
    await expectCode(local.followUp.unknowns.show(part.id), 'UNKNOWN_NOT_FOUND');
    const sightingId = merged.sightings[0]!.id;
    await local.followUp.unknowns.delete(yeri);
    await expectCode(local.followUp.unknowns.show(yeri), 'UNKNOWN_NOT_FOUND');
    await expectCode(local.followUp.unknowns.delete(yeri), 'UNKNOWN_NOT_FOUND');
    const row = local.dataDir.db
      .prepare('SELECT count(*) FROM sightings WHERE id = ?')
      .pluck()
      .get(sightingId);
    expect(row).toBe(0);
  }, 120_000);

  it('retention expiry erases crops and embeddings of every unknown face', async () => {
    const count = () => local.dataDir.db.prepare('SELECT count(*) FROM sightings').pluck().get() as number;
    expect(count()).toBeGreaterThan(0);
    tick(31 * 86_400_000);
    const purged = await local.followUp.unknowns.purgeExpired();
    expect(purged.sightings).toBeGreaterThan(0);
    expect(count()).toBe(0);
    expect((await local.followUp.unknowns.list('recent', 10)).items).toEqual([]);
  });

  it('deleting a subject erases its negatives and the faces of its reviews', async () => {
    expect((await local.followUp.reviews.store.listNegatives('joy')).length).toBe(1);
    await local.gallery.deleteSubject('joy');
    expect(await local.followUp.reviews.store.listNegatives('joy')).toEqual([]);
    const page = await local.followUp.reviews.list(undefined, 50);
    // Her reviews stay as decisions, without her name, the probe's source or a face.
    expect(page.items.filter((r) => r.decision.subjectId === 'joy')).toEqual([]);
    const erased = page.items.filter((r) => r.decision.subjectId === '[erased]');
    expect(erased.length).toBeGreaterThan(0);
    for (const r of erased) {
      expect(r.source).toBe('[erased]');
      await expectCode(local.followUp.reviews.crop(r.id), 'REVIEW_NOT_FOUND');
    }
  });
});
