import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBEDDING_MODEL } from '../../functions/core/pipeline/pipeline.ts';
import type { FaceQuality } from '../../functions/core/types.ts';
import { createApp } from '../../functions/handlers/http/app.ts';
import { type LocalGallery, openLocalGallery } from '../../functions/local/composition.ts';

// The routes over the real local stores; faces are recorded through the core with seeded unit vectors (the
// model's part is covered by unknowns-review.test.ts), so each status and code here is the HTTP contract.
const KEY = 'test-key';
const quality: FaceQuality = {
  score: 0.9,
  reasons: [],
  brightness: 120,
  contrast: 40,
  sharpness: 300,
  interOcularPx: 60,
  detectionScore: 0.99,
  yaw: 0,
  pitch: 0,
  roll: 0,
};

function unit(seed: number, near?: Float32Array): Float32Array {
  const v = new Float32Array(512);
  let x = seed;
  for (let i = 0; i < v.length; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    v[i] = (near ? (near[i] as number) * 12 : 0) + (x / 2147483648 - 0.5);
  }
  const n = Math.hypot(...v);
  return v.map((a) => a / n);
}

// biome-ignore lint/suspicious/noExplicitAny: the tests read response bodies by their documented shapes
const body = async (res: Response | Promise<Response>): Promise<any> => (await res).json();

describe('unknown and review routes', () => {
  let root: string;
  let local: LocalGallery;
  let app: ReturnType<typeof createApp>;
  let person: string;
  let reviewId: string;
  const call = (path: string, init: RequestInit = {}, key: string | null = KEY) =>
    app.request(path, {
      ...init,
      headers: {
        ...(key ? { 'x-api-key': key } : {}),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
    });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'faceprint-routes-'));
    local = await openLocalGallery({ dataDir: root });
    app = createApp({
      gallery: local.gallery,
      apiKeys: [KEY],
      followUp: local.followUp,
      logger: { info() {}, error() {} },
    });
    const crop = new Uint8Array(
      await sharp({ create: { width: 112, height: 112, channels: 3, background: '#886655' } })
        .jpeg()
        .toBuffer(),
    );
    const base = unit(1);
    const context = {
      at: '2026-11-01T10:00:00.000Z',
      source: 'cam-1/a.jpg',
      operation: 'identify',
      model: EMBEDDING_MODEL,
    };
    for (let i = 0; i < 3; i++) {
      const r = await local.followUp.unknowns.recordFace(
        {
          embedding: unit(100 + i, base),
          crop,
          box: { x: 1, y: 2, width: 50, height: 60 },
          quality,
          faceIndex: 0,
          auditId: `a${i}`,
        },
        { ...context, at: `2026-11-01T1${i}:00:00.000Z` },
      );
      if (r?.unknownId) person = r.unknownId;
    }
    reviewId = (await local.followUp.reviews.enqueue(
      {
        auditId: 'a9',
        faceIndex: 0,
        box: { x: 1, y: 2, width: 50, height: 60 },
        quality,
        embedding: unit(7),
        crop,
        decision: {
          kind: 'match',
          subjectId: 'jane',
          subjectName: 'Jane',
          similarity: 0.61,
          threshold: 0.5,
          margin: 0.2,
          confidence: 0.9,
          candidates: [],
        },
      },
      context,
    )) as string;
  }, 60_000);
  afterAll(async () => {
    await local?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('need the API key like every route', async () => {
    for (const path of ['/unknowns', `/unknowns/${person}`, '/reviews', `/reviews/${reviewId}/crop`]) {
      const res = await call(path, {}, null);
      expect(res.status).toBe(401);
      expect((await body(res)).error.code).toBe('UNAUTHORIZED');
    }
  });

  it('list, show and serve crops in the documented shapes', async () => {
    const list = await body(call('/unknowns?sort=frequent'));
    expect(list.items).toEqual([expect.objectContaining({ id: person, sightingCount: 3 })]);
    expect(list.nextCursor).toBeNull();
    const view = await body(call(`/unknowns/${person}`));
    expect(view.sightings).toHaveLength(3);
    expect(view.sightings[0]).toMatchObject({
      at: '2026-11-01T12:00:00.000Z',
      source: 'cam-1/a.jpg',
      quality: { score: 0.9 },
    });
    const crop = await call(`/unknowns/${person}/sightings/${view.sightings[0].id}/crop`);
    expect(crop.status).toBe(200);
    expect(crop.headers.get('content-type')).toBe('image/jpeg');
    const reviews = await body(call('/reviews?status=pending'));
    expect(reviews.items[0]).toMatchObject({
      id: reviewId,
      status: 'pending',
      decision: { kind: 'match', subjectId: 'jane', subjectName: 'Jane', similarity: 0.61, threshold: 0.5 },
      quality: { score: 0.9, reasons: [] },
    });
    expect((await call(`/reviews/${reviewId}/crop`)).headers.get('content-type')).toBe('image/jpeg');
  });

  it('refuses bad input with a code and loses nothing', async () => {
    const expectError = async (res: Response, status: number, code: string) => {
      expect(res.status).toBe(status);
      expect((await body(res)).error.code).toBe(code);
    };
    await expectError(await call('/unknowns/nobody'), 404, 'UNKNOWN_NOT_FOUND');
    await expectError(await call('/unknowns?sort=oldest'), 400, 'VALIDATION_ERROR');
    await expectError(await call('/reviews?status=maybe'), 400, 'VALIDATION_ERROR');
    await expectError(
      await call(`/unknowns/${person}/merge`, { method: 'POST', body: JSON.stringify({ into: person }) }),
      400,
      'INVALID_ARGUMENT',
    );
    await expectError(
      await call(`/unknowns/${person}/merge`, { method: 'POST', body: JSON.stringify({ into: 'nobody' }) }),
      404,
      'UNKNOWN_NOT_FOUND',
    );
    await expectError(await call(`/unknowns/${person}/sightings/nope/crop`), 404, 'SIGHTING_NOT_FOUND');
    await expectError(
      await call('/reviews/nope', { method: 'POST', body: JSON.stringify({ verdict: 'confirm' }) }),
      404,
      'REVIEW_NOT_FOUND',
    );
    await expectError(
      await call(`/reviews/${reviewId}`, { method: 'POST', body: JSON.stringify({ verdict: 'maybe' }) }),
      400,
      'VALIDATION_ERROR',
    );
    expect((await body(call(`/unknowns/${person}`))).sightingCount).toBe(3);
  });

  it('settles a review once: concurrent verdicts give one 200 and one 409', async () => {
    const verdict = (v: string) =>
      call(`/reviews/${reviewId}`, {
        method: 'POST',
        body: JSON.stringify({ verdict: v, reviewer: 'ann', note: 'checked' }),
      });
    const results = await Promise.all([verdict('reject'), verdict('confirm')]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const settled = await body(call(`/reviews/${reviewId}`));
    expect(settled).toMatchObject({ reviewer: 'ann', note: 'checked' });
    expect(settled.reviewedAt).toBeDefined();
  });

  it('deletes a person: 204, then 404', async () => {
    expect((await call(`/unknowns/${person}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call(`/unknowns/${person}`)).status).toBe(404);
    expect((await call(`/unknowns/${person}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('are in the OpenAPI document', async () => {
    const doc = await body(call('/openapi.json', {}, null));
    for (const path of [
      '/unknowns',
      '/unknowns/{id}',
      '/unknowns/{id}/promote',
      '/unknowns/{id}/merge',
      '/reviews',
      '/reviews/{id}',
    ]) {
      expect(doc.paths[path]).toBeDefined();
    }
    expect(doc.paths['/reviews/{id}'].post.security).toEqual([{ ApiKey: [] }]);
  });
});
