/**
 * Camera-matched templates on the real local stores (SQLite, the photos folder) and the real pipeline: made at
 * enrolment for every configured camera and backfilled when a camera is added, searched by an identify call that
 * names the camera (with FACEPRINT_CAMERA_TEMPLATES=on) and not by one that does not, erased with the subject, and
 * an unknown camera is a 404 through the HTTP app.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestImage } from '../../functions/core/ingest/ingest.ts';
import { createApp } from '../../functions/handlers/http/app.ts';
import { type LocalGallery, openLocalGallery } from '../../functions/local/composition.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';

const KEY = 'k'.repeat(32);
const NIGHT = { faceBrightness: 30, noise: 4, blur: 1, jpegQuality: 25, interOcularPx: 20 };

describe.runIf(hasData(SEED))('camera-matched templates', () => {
  let root: string;
  let local: LocalGallery;
  const previous = process.env.FACEPRINT_CAMERA_TEMPLATES;

  beforeAll(async () => {
    process.env.FACEPRINT_CAMERA_TEMPLATES = 'on';
    root = mkdtempSync(join(tmpdir(), 'faceprint-cameras-'));
    local = await openLocalGallery({ dataDir: root });
  });
  afterAll(async () => {
    if (previous === undefined) delete process.env.FACEPRINT_CAMERA_TEMPLATES;
    else process.env.FACEPRINT_CAMERA_TEMPLATES = previous;
    await local?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('backfills a new camera from the kept photos (resumable), then makes its templates at each enrolment', async () => {
    const { gallery, cameras } = local;
    await gallery.createSubject(
      { id: 'irene', name: 'Irene' },
      { bytes: read(seedPhoto('irene', 1)), source: 'i1.jpg' },
    );
    await gallery.createSubject(
      { id: 'joy', name: 'Joy' },
      { bytes: read(seedPhoto('joy', 1)), source: 'j1.jpg' },
    );
    const ticks: [number, number][] = [];
    const { camera, backfill } = await cameras.add('door', NIGHT, { method: 'user' }, (d, t) =>
      ticks.push([d, t]),
    );
    expect(camera.settings).toEqual(NIGHT);
    expect(backfill).toMatchObject({ photos: 2, made: 2, skipped: 0, failed: [] });
    expect(ticks.at(-1)).toEqual([2, 2]);
    expect(await cameras.countTemplates('door')).toBe(2);
    // A second run finds nothing to do.
    expect(await cameras.backfill('door')).toMatchObject({ made: 0, skipped: 2 });

    // A new enrolment gets the camera's template at once; the gallery's own templates hold none.
    const seulgi = await gallery.createSubject(
      { id: 'seulgi', name: 'Seulgi' },
      { bytes: read(seedPhoto('seulgi', 1)), source: 's1.jpg' },
    );
    expect(seulgi.templates.map((t) => t.variant)).not.toContain('camera');
    expect(await cameras.countTemplates('door')).toBe(3);
    const stored = await local.dataDir.faceStore.listTemplates();
    expect(stored.some((t) => t.variant === 'camera')).toBe(false);
  });

  it('an identify naming the camera searches its templates; one without a camera does not', async () => {
    const probe = read(seedPhoto('irene', 3));
    const withCamera = await local.gallery.identify(probe, { source: 'probe.jpg', camera: 'door' });
    const face = withCamera.faces[0];
    expect(face?.decision.camera).toMatchObject({ id: 'door', searched: true, templates: 3 });
    expect(withCamera.camera).toBe('door');
    const plain = await local.gallery.identify(probe, { source: 'probe.jpg' });
    expect(plain.faces[0]?.decision.camera).toBeUndefined();
    expect(plain.faces[0]?.decision.subjectId).toBe(face?.decision.subjectId);
    // An upload's folder names its camera; a folder that is no configured camera is only the source.
    const uploaded = await ingestImage(local.gallery, { key: 'uploads/door/p.jpg', bytes: probe });
    expect(uploaded.status).toBe('processed');
    expect(uploaded.faces?.[0]?.decision.camera?.id).toBe('door');
    const elsewhere = await ingestImage(local.gallery, { key: 'uploads/garage/p.jpg', bytes: probe });
    expect(elsewhere.status).toBe('processed');
    expect(elsewhere.faces?.[0]?.decision.camera).toBeUndefined();
    // The decision, with the camera templates it used, is in the audit log.
    const audit = await local.dataDir.faceStore.listAudit({ limit: 10 });
    expect(audit.items.some((e) => e.camera === 'door' && e.decision.camera?.id === 'door')).toBe(true);
  });

  it('scores with the union of templates, and searches only the originals when the setting is off', async () => {
    const probe = read(seedPhoto('joy', 2));
    const own = (await local.gallery.identify(probe, { source: 'p.jpg' })).faces[0];
    const matched = (await local.gallery.identify(probe, { source: 'p.jpg', camera: 'door' })).faces[0];
    // Max fusion over more templates: a subject's similarity is never lower with the camera's templates.
    const best = (f: typeof own, id: string) =>
      f?.candidates.find((c) => c.subjectId === id)?.similarity ?? -1;
    expect(best(matched, 'joy')).toBeGreaterThanOrEqual(best(own, 'joy'));
    local.gallery.config.searchCameraTemplates = false;
    try {
      const off = (await local.gallery.identify(probe, { source: 'p.jpg', camera: 'door' })).faces[0];
      expect(off?.decision.camera).toEqual({
        id: 'door',
        searched: false,
        templates: 0,
        bestIsCameraTemplate: false,
      });
      expect(off?.candidates).toEqual(own?.candidates);
    } finally {
      local.gallery.config.searchCameraTemplates = true;
    }
  });

  it('deleting a subject deletes its camera templates; an unknown camera is CAMERA_NOT_FOUND', async () => {
    await local.gallery.deleteSubject('joy');
    const left = await local.cameras.countTemplates('door');
    expect(left).toBe(2);
    const row = local.dataDir.faceStore.db
      .prepare("SELECT count(*) AS n FROM camera_templates WHERE subject_id = 'joy'")
      .get() as { n: number };
    expect(row.n).toBe(0);
    await expect(
      local.gallery.identify(read(seedPhoto('irene', 3)), { source: 'x.jpg', camera: 'garage' }),
    ).rejects.toMatchObject({ code: 'CAMERA_NOT_FOUND' });
  });

  it('HTTP: PUT /cameras/{id} configures and backfills, ?camera= of an unknown camera is a 404, bad settings a 400', async () => {
    const app = createApp({
      gallery: local.gallery,
      apiKeys: [KEY],
      cameras: local.cameras,
      logger: { info() {}, error() {} },
    });
    const call = (path: string, init: RequestInit = {}) =>
      app.request(path, {
        ...init,
        headers: { 'x-api-key': KEY, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      });
    const put = await call('/cameras/lobby', { method: 'PUT', body: JSON.stringify({ jpegQuality: 40 }) });
    expect(put.status).toBe(200);
    const body = (await put.json()) as { camera: { templates: number }; backfill: { made: number } };
    expect(body.backfill.made).toBe(2);
    expect(body.camera.templates).toBe(2);
    const bad = await call('/cameras/lobby', { method: 'PUT', body: JSON.stringify({ noise: -3 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT');

    const image = read(seedPhoto('irene', 3)).toString('base64');
    const unknown = await call('/identify?camera=garage', {
      method: 'POST',
      body: JSON.stringify({ image }),
    });
    expect(unknown.status).toBe(404);
    const error = ((await unknown.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('CAMERA_NOT_FOUND');
    expect(error.message).toContain('garage');
    const known = await call('/identify?camera=lobby', { method: 'POST', body: JSON.stringify({ image }) });
    expect(known.status).toBe(200);

    const list = (await (await call('/cameras')).json()) as { items: { id: string }[] };
    expect(list.items.map((c) => c.id)).toEqual(['door', 'lobby']);
    expect((await call('/cameras/lobby', { method: 'DELETE' })).status).toBe(204);
    expect((await call('/cameras/lobby', { method: 'DELETE' })).status).toBe(404);
    const doc = (await (await call('/openapi.json')).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain('/cameras/{id}');
  });
});
