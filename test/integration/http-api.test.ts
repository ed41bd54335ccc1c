/**
 * The HTTP API as a client sees it: a real server on 127.0.0.1 (a free port, a temporary data directory), the
 * real models and the shipped calibration. One server is shared by the file and the five seed people are enrolled
 * once, in beforeAll, each through a different body form; later tests restart it on the same data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/handlers/http/app.ts';
import { type RunningServer, startServer } from '../../functions/local/server.ts';
import {
  hasData,
  LFW,
  lfwPhoto,
  lfwSingletons,
  read,
  SEED,
  SEED_PEOPLE,
  seedPhoto,
} from '../support/data.ts';

const HAVE_DATA = hasData(SEED) && hasData(LFW);

interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  body: any;
}

interface Face {
  box: { width: number; height: number };
  restoration: string;
  decision: { kind: string; subjectId?: string };
  candidates: { subjectId: string }[];
}

/** Errors the server logged: any entry is a 5xx that should not have happened. */
const serverErrors: unknown[] = [];
const logger = { info: () => undefined, error: (...args: unknown[]) => serverErrors.push(args) };

let dataDir: string;
let server: RunningServer;

function start(): Promise<RunningServer> {
  // The concurrency test sends 20 requests at once and expects every one served: a queue bounded by count
  // only (the default also refuses waits over 1 s, which a burst of 20 on two busy cores exceeds).
  const admission = { maxWaitMs: Number.POSITIVE_INFINITY };
  return startServer({ port: 0, host: '127.0.0.1', dataDir, apiKeys: [], logger, env: {}, admission });
}

async function api(path: string, init: RequestInit = {}, base = server.url): Promise<Reply> {
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: kept as text, and the assertions will say so
  }
  return { status: res.status, headers: res.headers, body };
}

const raw = (bytes: Uint8Array, type = 'image/jpeg'): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': type },
  body: bytes,
});

const jsonBody = (value: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(value),
});

function multipart(fields: Record<string, string | { bytes: Uint8Array; name: string }>): RequestInit {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.set(key, value);
    else form.set(key, new Blob([value.bytes], { type: 'image/jpeg' }), value.name);
  }
  return { method: 'POST', body: form };
}

function largest(faces: Face[]): Face | undefined {
  return faces.reduce<Face | undefined>(
    (a, b) => (!a || b.box.width * b.box.height > a.box.width * a.box.height ? b : a),
    undefined,
  );
}

/** Every subject, following the cursor. */
async function allSubjects(): Promise<{ id: string; name: string }[]> {
  const items: { id: string; name: string }[] = [];
  let cursor: string | null = null;
  do {
    const page: Reply = await api(
      `/subjects?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(page.status).toBe(200);
    items.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  return items;
}

/** What a refused request must leave untouched: the subjects and the index size. */
async function galleryState(): Promise<{ subjects: string[]; templates: number }> {
  const health = await api('/health');
  const page = await api('/subjects?limit=500');
  return {
    subjects: page.body.items.map((s: { id: string }) => s.id).sort(),
    templates: health.body.index.templates,
  };
}

function expectError(reply: Reply, status: number, code: string): void {
  expect({ status: reply.status, code: reply.body?.error?.code }).toEqual({ status, code });
  expect(Object.keys(reply.body)).toEqual(['error']);
  expect(Object.keys(reply.body.error).sort()).toEqual(['code', 'message']);
  expect(reply.body.error.message).toMatch(/^\S.*\.$/);
  expect(reply.body.error.message).not.toMatch(/\n|at .*\.ts:\d+/);
  expect(reply.headers.get('x-request-id')).toBeTruthy();
}

async function identifyLargest(bytes: Uint8Array): Promise<Face | undefined> {
  const reply = await api('/identify', raw(bytes));
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return largest(reply.body.faces);
}

describe.runIf(HAVE_DATA)('HTTP API on a real server', () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'faceprint-http-'));
    server = await start();
    const [irene, joy, seulgi, wendy, yeri] = SEED_PEOPLE;
    const photo = (person: string) => read(seedPhoto(person, 1));
    // One person per body form, so enrolment through each of them is exercised on a real photo. Some of these
    // photos show a second person in the background: takeLargest, in each form's own spelling.
    const enrolments = [
      api(`/subjects?name=Irene&id=${irene}&takeLargest=true`, raw(photo(irene))),
      api(
        '/subjects',
        jsonBody({ id: joy, name: 'Joy', image: photo(joy).toString('base64'), takeLargest: true }),
      ),
      api(
        '/subjects',
        multipart({
          id: seulgi,
          name: 'Seulgi',
          metadata: '{"group":"red velvet"}',
          takeLargest: 'true',
          image: { bytes: photo(seulgi), name: 'seulgi.jpg' },
        }),
      ),
      api(`/subjects?name=Wendy&id=${wendy}&takeLargest=true`, raw(photo(wendy))),
      api('/subjects', jsonBody({ id: yeri, name: 'Yeri', metadata: { group: 'red velvet' } })),
    ];
    const replies = await Promise.all(enrolments);
    for (const reply of replies) expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    // Yeri was created without a photo: her face comes through POST /subjects/{id}/faces.
    const added = await api(
      `/subjects/${yeri}/faces`,
      multipart({ image: { bytes: photo(yeri!), name: 'y.jpg' }, takeLargest: 'true' }),
    );
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body.templates.length).toBeGreaterThan(0);
  });

  afterAll(async () => {
    await server?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('enrolled each person with templates, metadata and a Location header', async () => {
    const seulgi = await api('/subjects/seulgi');
    expect(seulgi.status).toBe(200);
    expect(seulgi.body).toMatchObject({ id: 'seulgi', name: 'Seulgi', metadata: { group: 'red velvet' } });
    expect(seulgi.body.templates.map((t: { variant: string }) => t.variant)).toContain('original');
    expect(seulgi.body.templates[0].source).toMatch(/^http:[\w-]+\/seulgi\.jpg$/);
    expect(seulgi.body.templates[0]).not.toHaveProperty('embedding');
    const again = await api('/subjects?name=Again&id=again-1', raw(read(seedPhoto('irene', 1))));
    expect(again.status).toBe(201);
    expect(again.headers.get('location')).toBe('/subjects/again-1');
    expect((await api('/subjects/again-1', { method: 'DELETE' })).status).toBe(204);
  });

  it('identifies the other 20 photos of the five enrolled people', async () => {
    const wrong: string[] = [];
    for (const person of SEED_PEOPLE) {
      for (let n = 2; n <= 5; n++) {
        const face = await identifyLargest(read(seedPhoto(person, n)));
        if (face?.decision.kind !== 'match' || face.decision.subjectId !== person) {
          wrong.push(
            `${person}/img_${n}: ${face ? `${face.decision.kind} ${face.decision.subjectId}` : 'no face'}`,
          );
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('says what was done to each face before matching: nothing for a sharp photo, deblurred when heavily blurred', async () => {
    const photo = read(lfwPhoto('Aaron_Eckhart', 1));
    expect((await identifyLargest(photo))?.restoration).toBe('none');
    const blurred = await sharp(photo).blur(4).jpeg({ quality: 95 }).toBuffer();
    const reply = await api('/identify', {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg', 'x-request-id': 'blurred-probe' },
      body: blurred,
    });
    expect(largest(reply.body.faces)?.restoration).toBe('deblurred');
    // The audit log keeps it beside the decision.
    const audit = await server.local.dataDir.faceStore.listAudit({ limit: 50 });
    const entry = audit.items.find((e) => e.source === 'http:blurred-probe');
    expect(entry?.restoration).toBe('deblurred');
  });

  it('answers "unknown" for 20 strangers (at most one false match)', async () => {
    const matched: string[] = [];
    let withFace = 0;
    for (const path of lfwSingletons(20)) {
      const face = await identifyLargest(read(path));
      if (face) withFace++;
      if (face?.decision.kind === 'match') matched.push(`${path} → ${face.decision.subjectId}`);
    }
    expect(withFace).toBeGreaterThanOrEqual(18);
    expect(matched.length, matched.join('; ')).toBeLessThanOrEqual(1);
  });

  it('serves 20 concurrent identify requests, all correct', async () => {
    // Downscaled to 800 px: the same people at another resolution, and a quicker test on two cores.
    const probes = await Promise.all(
      SEED_PEOPLE.flatMap((person) =>
        [2, 3, 4, 5].map(async (n) => ({
          person,
          bytes: await sharp(read(seedPhoto(person, n)))
            .resize(800, 800, { fit: 'inside' })
            .jpeg()
            .toBuffer(),
        })),
      ),
    );
    expect(probes).toHaveLength(20);
    const replies = await Promise.all(probes.map((p) => api('/identify?topK=3', raw(p.bytes))));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
    const subjects = replies.map((r) => largest(r.body.faces)?.decision.subjectId);
    expect(subjects).toEqual(probes.map((p) => p.person));
    for (const reply of replies) {
      for (const face of reply.body.faces) expect(face.candidates.length).toBeLessThanOrEqual(3);
    }
  });

  it('echoes the request id and records it as the audit source', async () => {
    const reply = await api('/identify', {
      ...raw(read(seedPhoto('joy', 2))),
      headers: { 'content-type': 'image/jpeg', 'x-request-id': 'audit-check-42' },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-request-id')).toBe('audit-check-42');
    const audit = await server.local.dataDir.faceStore.listAudit({ limit: 20 });
    expect(audit.items.map((e) => e.source)).toContain('http:audit-check-42');
    const generated = await api('/health', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('verifies 1:1 against a subject and against a second image', async () => {
    const probe = read(seedPhoto('wendy', 3));
    const same = await api('/verify', jsonBody({ image: probe.toString('base64'), subjectId: 'wendy' }));
    expect(same.status, JSON.stringify(same.body)).toBe(200);
    expect(same.body).toMatchObject({ match: true, subjectId: 'wendy' });
    const other = await api(
      '/verify',
      multipart({
        image: { bytes: probe, name: 'a.jpg' },
        otherImage: { bytes: read(seedPhoto('joy', 1)), name: 'b.jpg' },
      }),
    );
    expect(other.status, JSON.stringify(other.body)).toBe(200);
    expect(other.body.match).toBe(false);
    expect(other.body.faces).toHaveLength(2);
  });

  it('detects faces without embeddings', async () => {
    const reply = await api('/detect', jsonBody({ image: read(seedPhoto('irene', 2)).toString('base64') }));
    expect(reply.status).toBe(200);
    expect(reply.body.faces.length).toBeGreaterThan(0);
    expect(Object.keys(reply.body.faces[0]).sort()).toEqual([
      'box',
      'detector',
      'landmarks',
      'pose',
      'quality',
      'score',
    ]);
  });

  it('lists subjects page by page', async () => {
    const first = await api('/subjects?limit=2');
    expect(first.body.items).toHaveLength(2);
    expect(typeof first.body.nextCursor).toBe('string');
    expect((await allSubjects()).map((s) => s.id).sort()).toEqual([...SEED_PEOPLE].sort());
  });

  it('deletes a subject: never returned again', async () => {
    // An LFW person with a second photo, so there is something to be (and then no longer be) matched.
    const person = 'Aaron_Peirsol';
    const enrol = await api('/subjects?name=Aaron&id=to-delete', raw(read(lfwPhoto(person, 1))));
    expect(enrol.status, JSON.stringify(enrol.body)).toBe(201);
    const probe = read(lfwPhoto(person, 2));
    expect((await identifyLargest(probe))?.decision.subjectId).toBe('to-delete');

    const deleted = await api('/subjects/to-delete', { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeUndefined();
    const after = await identifyLargest(probe);
    expect(after?.decision.subjectId).toBeUndefined();
    expect(after?.candidates.map((c) => c.subjectId)).not.toContain('to-delete');
    expectError(await api('/subjects/to-delete'), 404, 'SUBJECT_NOT_FOUND');
    expectError(await api('/subjects/to-delete', { method: 'DELETE' }), 404, 'SUBJECT_NOT_FOUND');
  });

  it('keeps every subject and template across a restart, and deleted subjects stay deleted', async () => {
    const views = async () => {
      const list = await allSubjects();
      return Promise.all(list.map(async (s) => (await api(`/subjects/${s.id}`)).body));
    };
    const before = await views();
    const templatesBefore = (await api('/health')).body.index.templates;
    await server.close();
    server = await start();
    expect(await views()).toEqual(before);
    expect((await api('/health')).body.index.templates).toBe(templatesBefore);
    expect(before.map((s) => s.id)).not.toContain('to-delete');
    expectError(await api('/subjects/to-delete'), 404, 'SUBJECT_NOT_FOUND');
    const probe = await identifyLargest(read(lfwPhoto('Aaron_Peirsol', 2)));
    expect(probe?.candidates.map((c) => c.subjectId)).not.toContain('to-delete');
    // And the index still answers after the restart.
    expect((await identifyLargest(read(seedPhoto('seulgi', 2))))?.decision.subjectId).toBe('seulgi');
  });

  describe('bad input: a 4xx with { error: { code, message } }, and nothing written', () => {
    let state: { subjects: string[]; templates: number };
    beforeAll(async () => {
      state = await galleryState();
    });
    const unchanged = async () => expect(await galleryState()).toEqual(state);

    it('wrong content type', async () => {
      expectError(
        await api('/identify', raw(Buffer.from('hello'), 'text/plain')),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      expectError(
        await api('/subjects?name=X', raw(Buffer.from('hello'), 'text/plain')),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      await unchanged();
    });

    it('empty body', async () => {
      expectError(
        await api('/subjects', { method: 'POST', headers: { 'content-type': 'application/json' } }),
        400,
        'VALIDATION_ERROR',
      );
      expectError(await api('/identify', raw(new Uint8Array(0))), 400, 'VALIDATION_ERROR');
      expectError(await api('/subjects/joy/faces', { method: 'POST' }), 400, 'VALIDATION_ERROR');
      await unchanged();
    });

    it('bytes that are not an image', async () => {
      const junk = Buffer.from('this is not an image, just some text pretending to be one');
      expectError(await api('/subjects?name=Junk&id=junk', raw(junk)), 400, 'INVALID_IMAGE');
      expectError(await api('/identify', raw(junk)), 400, 'INVALID_IMAGE');
      expectError(
        await api('/subjects', jsonBody({ name: 'Junk', image: 'not base64!' })),
        400,
        'VALIDATION_ERROR',
      );
      await unchanged();
    });

    it('a body over the limit, with and without Content-Length', async () => {
      const huge = new Uint8Array(20 * 1024 * 1024 + 1);
      expectError(await api('/identify', raw(huge)), 413, 'PAYLOAD_TOO_LARGE');
      // Chunked: no Content-Length, so the limit is enforced while reading.
      const chunk = new Uint8Array(1024 * 1024);
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 21) controller.close();
          else {
            sent++;
            controller.enqueue(chunk);
          }
        },
      });
      const chunked = await api('/subjects?name=Big', {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      expectError(chunked, 413, 'PAYLOAD_TOO_LARGE');
      await unchanged();
    });

    it('an image without faces: identify finds none, enrolment is refused', async () => {
      const blank = await sharp({
        create: { width: 320, height: 240, channels: 3, background: { r: 128, g: 128, b: 128 } },
      })
        .png()
        .toBuffer();
      const identified = await api('/identify', raw(blank, 'image/png'));
      expect(identified.status).toBe(200);
      expect(identified.body.faces).toEqual([]);
      expectError(await api('/subjects?name=Nobody&id=nobody', raw(blank, 'image/png')), 422, 'NO_FACE');
      expectError(await api('/subjects/joy/faces', raw(blank, 'image/png')), 422, 'NO_FACE');
      await unchanged();
    });

    it('an unknown subject id', async () => {
      expectError(await api('/subjects/nobody-here'), 404, 'SUBJECT_NOT_FOUND');
      expectError(await api('/subjects/nobody-here', { method: 'DELETE' }), 404, 'SUBJECT_NOT_FOUND');
      expectError(
        await api('/subjects/nobody-here/faces', raw(read(seedPhoto('joy', 2)))),
        404,
        'SUBJECT_NOT_FOUND',
      );
      expectError(
        await api(
          '/verify',
          jsonBody({ image: read(seedPhoto('joy', 2)).toString('base64'), subjectId: 'nobody-here' }),
        ),
        404,
        'SUBJECT_NOT_FOUND',
      );
      await unchanged();
    });

    it('malformed JSON', async () => {
      const reply = await api('/subjects', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name": "Broken',
      });
      expectError(reply, 400, 'MALFORMED_JSON');
      await unchanged();
    });

    it('subject ids with "../" or control characters', async () => {
      for (const id of ['../etc', '..', 'a/../b', 'a\u0000b', 'tab\there', 'x\u001b[31m']) {
        expectError(await api('/subjects', jsonBody({ id, name: 'Sneaky' })), 400, 'VALIDATION_ERROR');
      }
      expectError(await api('/subjects/..%2Fetc'), 400, 'VALIDATION_ERROR');
      expectError(await api('/subjects/a%00b', { method: 'DELETE' }), 400, 'VALIDATION_ERROR');
      expectError(
        await api('/subjects/a%0Ab/faces', raw(read(seedPhoto('joy', 2)))),
        400,
        'VALIDATION_ERROR',
      );
      expectError(
        await api(`/subjects?name=X&id=${encodeURIComponent('../x')}`, raw(read(seedPhoto('joy', 2)))),
        400,
        'VALIDATION_ERROR',
      );
      await unchanged();
    });

    it('a 10,000-character name', async () => {
      const name = 'n'.repeat(10_000);
      expectError(await api('/subjects', jsonBody({ name })), 400, 'VALIDATION_ERROR');
      expectError(await api('/subjects', multipart({ name })), 400, 'VALIDATION_ERROR');
      await unchanged();
    });

    it('other malformed fields: metadata, topK, limit, cursor, verify targets', async () => {
      const tooMany = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
      expectError(
        await api('/subjects', jsonBody({ name: 'M', metadata: tooMany })),
        400,
        'VALIDATION_ERROR',
      );
      expectError(
        await api('/subjects', jsonBody({ name: 'M', metadata: { a: 1 } })),
        400,
        'VALIDATION_ERROR',
      );
      expectError(
        await api('/subjects', multipart({ name: 'M', metadata: '{not json' })),
        400,
        'VALIDATION_ERROR',
      );
      expectError(await api('/identify?topK=0', raw(read(seedPhoto('joy', 2)))), 400, 'VALIDATION_ERROR');
      expectError(await api('/subjects?limit=abc'), 400, 'VALIDATION_ERROR');
      expectError(await api('/subjects?cursor=!!!'), 400, 'INVALID_ARGUMENT');
      expectError(await api('/verify', jsonBody({ image: 'AAAA' })), 400, 'VALIDATION_ERROR');
      expectError(await api('/subjects', jsonBody({ name: 'Dup', id: 'joy' })), 409, 'SUBJECT_EXISTS');
      await unchanged();
    });

    it('unknown routes and methods', async () => {
      expectError(await api('/nothing-here'), 404, 'NOT_FOUND');
      const put = await api('/identify', { method: 'PUT' });
      expectError(put, 405, 'METHOD_NOT_ALLOWED');
      expect(put.headers.get('allow')).toBe('POST');
      await unchanged();
    });
  });

  describe('API keys, /health and /openapi.json', () => {
    let keyed: Server;
    let base: string;
    beforeAll(async () => {
      // The same gallery behind a second app that requires a key: no second model load.
      const app = createApp({ gallery: server.local.gallery, apiKeys: ['k-one', 'k-two'], logger });
      keyed = await new Promise<Server>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
          resolve(s as Server),
        ) as Server;
      });
      base = `http://127.0.0.1:${(keyed.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => keyed?.close(resolve));
    });

    it('refuses requests without a valid key (401) and serves them with one', async () => {
      expectError(await api('/subjects', {}, base), 401, 'UNAUTHORIZED');
      expectError(await api('/subjects', { headers: { 'x-api-key': 'k-wrong' } }, base), 401, 'UNAUTHORIZED');
      expectError(await api('/identify', raw(read(seedPhoto('joy', 2))), base), 401, 'UNAUTHORIZED');
      expect((await api('/subjects', { headers: { 'x-api-key': 'k-one' } }, base)).status).toBe(200);
      expect((await api('/subjects/joy', { headers: { 'x-api-key': 'k-two' } }, base)).status).toBe(200);
      // The console's data routes are guarded like the rest; only its static shell is open.
      expectError(await api('/decisions', {}, base), 401, 'UNAUTHORIZED');
      expectError(await api('/settings', {}, base), 401, 'UNAUTHORIZED');
      expectError(await api('/subjects/joy/thumbnail', {}, base), 401, 'UNAUTHORIZED');
      const thumbnail = await fetch(`${base}/subjects/joy/thumbnail`, { headers: { 'x-api-key': 'k-one' } });
      expect(thumbnail.headers.get('content-type')).toBe('image/jpeg');
      expect(thumbnail.headers.get('cache-control')).toBe('private, no-store');
      const jpeg = new Uint8Array(await thumbnail.arrayBuffer());
      expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
      const decisions = await api(
        '/decisions?decision=match&limit=3',
        { headers: { 'x-api-key': 'k-one' } },
        base,
      );
      expect(decisions.status).toBe(200);
      expect(decisions.body.items.length).toBeGreaterThan(0);
      for (const e of decisions.body.items) expect(e.decision.kind).toBe('match');
      expectError(
        await api('/decisions?decision=maybe', { headers: { 'x-api-key': 'k-one' } }, base),
        400,
        'VALIDATION_ERROR',
      );
    });

    it('leaves /health and /openapi.json open', async () => {
      const health = await api('/health', {}, base);
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({
        status: 'ok',
        model: { id: expect.any(String) },
        calibration: expect.stringMatching(/^cal-/),
      });
      expect(health.body.index.subjects).toBe(SEED_PEOPLE.length);
      expect((await api('/openapi.json', {}, base)).status).toBe(200);
      expect((await fetch(`${base}/`)).headers.get('content-type')).toBe('text/html; charset=utf-8');
    });

    it('publishes a valid OpenAPI 3.1 document of every route', async () => {
      const { status, body: doc } = await api('/openapi.json');
      expect(status).toBe(200);
      expect(doc.openapi).toMatch(/^3\.1\./);
      expect(doc.info.title).toBe('Faceprint');
      expect(Object.keys(doc.paths).sort()).toEqual(
        [
          '/cameras',
          '/cameras/{id}',
          '/decisions',
          '/detect',
          '/health',
          '/settings',
          '/subjects/{id}/thumbnail',
          '/subjects/{id}/templates/{templateId}/thumbnail',
          '/identify',
          '/reviews',
          '/reviews/{id}',
          '/reviews/{id}/crop',
          '/subjects',
          '/subjects/{id}',
          '/subjects/{id}/faces',
          '/unknowns',
          '/unknowns/{id}',
          '/unknowns/{id}/merge',
          '/unknowns/{id}/promote',
          '/unknowns/{id}/sightings/{sightingId}/crop',
          '/unknowns/{id}/split',
          '/verify',
          '/videos',
          '/videos/{id}',
          '/videos/{id}/{file}',
        ].sort(),
      );
      expect(Object.keys(doc.paths['/identify'].post.requestBody.content)).toEqual(
        expect.arrayContaining(['application/json', 'multipart/form-data', 'image/*']),
      );
      expect(doc.paths['/identify'].post.requestBody.required).toBe(true);
      expect(doc.components.securitySchemes.ApiKey).toEqual({
        type: 'apiKey',
        in: 'header',
        name: 'x-api-key',
      });
      // Every $ref resolves.
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
        (m) => m[1]!,
      );
      expect(refs.length).toBeGreaterThan(0);
      for (const ref of refs) expect(doc.components.schemas).toHaveProperty(ref);
    });
  });

  it('logged no internal error for anything above', () => {
    expect(serverErrors).toEqual([]);
  });
});
