/**
 * Unknown persons and the review queue in AWS, without an AWS account: the HTTP app the api Lambda serves and
 * the S3 ingest path, built by the AWS composition (`AwsRuntime`) on the real DynamoDB stores, against DynamoDB
 * Local and s3rver (snapshots, uploads). Two runtimes stand for two Lambda containers (api and ingest): their
 * services share nothing but the tables, so a race between them is a race between containers. The clock of
 * the api runtime's follow-up moves forward for the retention check; the gallery keeps the real clock.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsRuntime } from '../../functions/handlers/aws/composition.ts';
import type { createApp } from '../../functions/handlers/http/app.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';
import {
  createTables,
  type Emulator,
  emulatorEnv,
  type S3rverInstance,
  startDynamoLocal,
  startEventBusRecorder,
  startS3rver,
  type TableNames,
  TableStream,
} from '../support/emulators.ts';
import { ENROLLED, expectCode, LOOK_ALIKE, UNENROLLED } from '../support/unknowns.ts';

const BUCKET = 'faceprint-follow-up';

process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

// biome-ignore lint/suspicious/noExplicitAny: the tests read response bodies by their documented shapes
type Json = any;

describe.runIf(hasData(SEED))('unknown persons and the review queue on DynamoDB', () => {
  let dynamo: Emulator;
  let s3rver: Emulator & { server: S3rverInstance };
  let bus: Emulator;
  let tables: TableNames;
  let api: AwsRuntime;
  let ingest: AwsRuntime;
  let app: ReturnType<typeof createApp>;
  let s3: S3Client;
  let doc: DynamoDBDocumentClient;
  let clock = Date.now();
  let stream: TableStream;
  let indexer: AwsRuntime;
  let indexRecords: typeof import('../../functions/handlers/indexer.ts').indexRecords;

  /** The indexer function's turn: the templates stream into a published snapshot, as in AWS. */
  async function publishIndex(): Promise<void> {
    const result = await indexRecords(indexer, (await stream.next()).Records);
    expect(result.failedSequence).toBeUndefined();
  }
  const savedEnv = { ...process.env };

  /** One request to the app, after the index freshness step the api handler runs first. */
  async function call(path: string, init: RequestInit & { json?: unknown } = {}) {
    await api.freshGallery();
    const { json, ...rest } = init;
    const response = await app.request(path, {
      ...rest,
      ...(json !== undefined
        ? { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } }
        : {}),
    });
    return { status: response.status, body: (await response.json()) as Json };
  }

  async function identify(person: string, n: number) {
    const reply = await call('/identify?camera=door', {
      method: 'POST',
      body: read(seedPhoto(person, n)),
      headers: { 'content-type': 'image/jpeg', 'x-request-id': `${person}_${n}` },
    });
    expect(reply.status).toBe(200);
    return reply.body.faces[0] as Json;
  }

  async function items(prefix: string): Promise<Record<string, unknown>[]> {
    const all = (await doc.send(new ScanCommand({ TableName: tables.followUp }))).Items ?? [];
    return all.filter((i) => String(i.pk).startsWith(prefix));
  }

  beforeAll(async () => {
    [dynamo, s3rver, bus] = await Promise.all([
      startDynamoLocal(),
      startS3rver([BUCKET]),
      startEventBusRecorder(),
    ]);
    tables = await createTables(dynamo.endpoint);
    stream = await TableStream.open(dynamo.endpoint, tables.templates);
    delete process.env.AWS_PROFILE;
    delete process.env.AWS_SESSION_TOKEN;
    Object.assign(process.env, {
      ...emulatorEnv({
        s3: s3rver.endpoint,
        dynamo: dynamo.endpoint,
        events: bus.endpoint,
        bucket: BUCKET,
        tables,
      }),
      FACEPRINT_EVENT_BUS: 'faceprint-follow-up-bus',
      FACEPRINT_API_KEYS_REQUIRED: 'false',
    });
    const { AwsRuntime } = await import('../../functions/handlers/aws/composition.ts');
    const { readConfig } = await import('../../functions/handlers/aws/config.ts');
    const { createClients } = await import('../../functions/handlers/aws/clients.ts');
    const { createApp } = await import('../../functions/handlers/http/app.ts');
    const clients = createClients();
    s3 = clients.s3;
    doc = DynamoDBDocumentClient.from(clients.dynamo);
    const fresh = { snapshotCheckIntervalMs: 0 };
    api = new AwsRuntime(readConfig('api'), { clients, ...fresh, now: () => clock });
    ingest = new AwsRuntime(readConfig('ingest'), { clients, ...fresh });
    indexer = new AwsRuntime(readConfig('indexer'), { clients });
    ({ indexRecords } = await import('../../functions/handlers/indexer.ts'));
    app = createApp({ gallery: api.gallery, followUp: api.followUp, logger: { info() {}, error() {} } });
    for (const person of ENROLLED) {
      const reply = await call(`/subjects?name=${person}&id=${person}`, {
        method: 'POST',
        body: read(seedPhoto(person, 1)),
        headers: { 'content-type': 'image/jpeg' },
      });
      expect(reply.status).toBe(201);
    }
    await publishIndex();
  }, 180_000);

  afterAll(async () => {
    await Promise.all([api?.dispose(), ingest?.dispose()]);
    await Promise.all([s3rver?.stop(), bus?.stop(), dynamo?.stop()]);
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  let irene: string;
  it('three photos of an unenrolled person, over HTTP and S3 ingest, make one unknown person with three sightings', async () => {
    const first = await identify(UNENROLLED, 1);
    expect(first.decision.kind).toBe('unknown');
    expect(first.followUp?.sightingId).toBeDefined();
    expect(first.followUp?.unknownId).toBeUndefined();
    // The second photo arrives as a camera upload: the ingest function's path, in the other container.
    const key = `uploads/gate/${UNENROLLED}_2.jpg`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: read(seedPhoto(UNENROLLED, 2)) }));
    const outcome = await ingest.ingestObject({ bucket: BUCKET, key });
    expect(outcome.status).toBe('processed');
    const third = await identify(UNENROLLED, 3);
    irene = third.followUp?.unknownId as string;
    expect(irene).toBeDefined();
    const list = await call('/unknowns?sort=recent');
    expect(list.status).toBe(200);
    expect(list.body.items.map((u: Json) => u.id)).toEqual([irene]);
    const view = await call(`/unknowns/${irene}`);
    expect(view.body.sightingCount).toBe(3);
    expect(view.body.sightings.map((s: Json) => s.source).sort()).toEqual(
      ['http:irene_1', 'http:irene_3', key].sort(),
    );
    const crop = await app.request(`/unknowns/${irene}/sightings/${view.body.sightings[0].id}/crop`);
    expect(crop.status).toBe(200);
    expect([...new Uint8Array(await crop.arrayBuffer()).subarray(0, 2)]).toEqual([0xff, 0xd8]);
    // Crops live in their own items, beside the sightings: three of each.
    expect((await items('SIGHTING#')).filter((i) => i.sk === 'CROP')).toHaveLength(3);
  }, 180_000);

  it('a look-alike stranger does not join that person', async () => {
    const stranger = await identify(LOOK_ALIKE, 1);
    expect(stranger.decision.kind).toBe('unknown');
    expect(stranger.followUp?.unknownId).not.toBe(irene);
    expect((await call(`/unknowns/${irene}`)).body.sightingCount).toBe(3);
  }, 60_000);

  it('promote from two containers at once: exactly one wins, the next photo is a match, a third try is 409', async () => {
    const [viaApi, viaIngest] = await Promise.allSettled([
      call(`/unknowns/${irene}/promote`, { method: 'POST', json: { name: 'Irene', id: 'irene' } }),
      ingest.followUp.promote(irene, { name: 'Irene' }),
    ]);
    const apiWon = viaApi.status === 'fulfilled' && viaApi.value.status === 201;
    const ingestWon = viaIngest.status === 'fulfilled';
    expect(apiWon !== ingestWon).toBe(true);
    if (!apiWon) {
      expect(viaApi.status === 'fulfilled' && viaApi.value.status).toBe(409);
    } else {
      expect(viaIngest.status === 'rejected' && (viaIngest.reason as { code?: string }).code).toMatch(
        /^(UNKNOWN_PROMOTED|SUBJECT_EXISTS)$/,
      );
    }
    const irenes = ((await call('/subjects?limit=100')).body.items as Json[]).filter(
      (s) => s.name === 'Irene',
    );
    expect(irenes).toHaveLength(1);
    const again = await call(`/unknowns/${irene}/promote`, { method: 'POST', json: { name: 'Irene' } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('UNKNOWN_PROMOTED');
    // Its sightings (crops, embeddings) went with the promotion.
    expect(await items('SIGHTING#')).toHaveLength(2);
    await publishIndex();
    const next = await identify(UNENROLLED, 4);
    expect(next.decision).toMatchObject({ kind: 'match', subjectId: irenes[0].id });
  }, 180_000);

  it('two reviewers at once: exactly one verdict wins (409 for the other); a rejected match is not repeated', async () => {
    const face = await identify('joy', 2);
    expect(face.decision).toMatchObject({ kind: 'match', subjectId: 'joy' });
    const reviewId = face.followUp?.reviewId as string;
    expect((await call(`/reviews?status=pending`)).body.items.map((r: Json) => r.id)).toContain(reviewId);
    const [viaApi, viaIngest] = await Promise.allSettled([
      call(`/reviews/${reviewId}`, {
        method: 'POST',
        json: { verdict: 'reject', reviewer: 'alice', note: 'not her' },
      }),
      ingest.followUp.reviews.settle(reviewId, { verdict: 'confirm', reviewer: 'bob' }, api.pipeline.model),
    ]);
    const apiWon = viaApi.status === 'fulfilled' && viaApi.value.status === 200;
    const ingestWon = viaIngest.status === 'fulfilled';
    expect(apiWon !== ingestWon).toBe(true);
    const settled = (await call(`/reviews/${reviewId}`)).body;
    expect(settled.status).toBe(apiWon ? 'rejected' : 'confirmed');
    if (!apiWon) {
      expect(viaApi.status === 'fulfilled' && viaApi.value.body.error.code).toBe('REVIEW_NOT_PENDING');
      // Bob's confirmation won: reject the same face on a fresh decision instead, to test the negative.
      const retry = await identify('joy', 2);
      const rejected = await call(`/reviews/${retry.followUp.reviewId}`, {
        method: 'POST',
        json: { verdict: 'reject', reviewer: 'alice' },
      });
      expect(rejected.status).toBe(200);
    } else {
      expect(viaIngest.status === 'rejected' && (viaIngest.reason as { code?: string }).code).toBe(
        'REVIEW_NOT_PENDING',
      );
    }
    // Exactly one negative for joy, whichever reviewer won the race.
    expect(await api.followUp.reviews.store.listNegatives('joy')).toHaveLength(1);
    const twice = await call(`/reviews/${reviewId}`, { method: 'POST', json: { verdict: 'confirm' } });
    expect(twice.status).toBe(409);
    const again = await identify('joy', 2);
    expect(again.decision.kind === 'match' && again.decision.subjectId === 'joy').toBe(false);
    expect((await identify('seulgi', 2)).decision).toMatchObject({ kind: 'match', subjectId: 'seulgi' });
  }, 180_000);

  let yeri: string;
  it('merge, split and delete behave; bad input is a clear 4xx and changes nothing', async () => {
    const second = await identify(LOOK_ALIKE, 2);
    yeri = second.followUp?.unknownId as string;
    expect(yeri).toBeDefined();
    const before = (await call(`/unknowns/${yeri}`)).body;
    expect(before.sightingCount).toBe(2);
    const part = await call(`/unknowns/${yeri}/split`, {
      method: 'POST',
      json: { sightings: [before.sightings[0].id] },
    });
    expect(part.status).toBe(201);
    expect(part.body.sightingCount).toBe(1);
    const self = await call(`/unknowns/${yeri}/merge`, { method: 'POST', json: { into: yeri } });
    expect([self.status, self.body.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    const missing = await call(`/unknowns/${yeri}/merge`, {
      method: 'POST',
      json: { into: 'no-such-person' },
    });
    expect([missing.status, missing.body.error.code]).toEqual([404, 'UNKNOWN_NOT_FOUND']);
    expect((await call(`/unknowns/${yeri}`)).body.sightingCount).toBe(1);
    const merged = await call(`/unknowns/${part.body.id}/merge`, { method: 'POST', json: { into: yeri } });
    expect(merged.status).toBe(200);
    expect(merged.body.sightingCount).toBe(2);
    expect((await call(`/unknowns/${part.body.id}`)).status).toBe(404);
    const frequent = await call('/unknowns?sort=frequent');
    expect(frequent.body.items.map((u: Json) => u.id)).toEqual([yeri]);
    const sightings = merged.body.sightings.map((s: Json) => s.id) as string[];
    expect((await app.request(`/unknowns/${yeri}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call(`/unknowns/${yeri}`)).status).toBe(404);
    expect((await app.request(`/unknowns/${yeri}`, { method: 'DELETE' })).status).toBe(404);
    const left = (await items('SIGHTING#')).map((i) => String(i.pk));
    for (const id of sightings) expect(left).not.toContain(`SIGHTING#${id}`);
    expect((await call('/reviews/no-such-review')).status).toBe(404);
    await expectCode(api.followUp.unknowns.show('no-such-person'), 'UNKNOWN_NOT_FOUND');
  }, 180_000);

  it('retention expiry erases crops and embeddings of every unknown face, on time (not waiting for TTL)', async () => {
    const faces = await items('SIGHTING#');
    expect(faces.length).toBeGreaterThan(0);
    // TTL is set on every one of them as the backstop.
    for (const item of faces) expect(typeof item.expiresAt).toBe('number');
    clock += 31 * 86_400_000;
    const purged = await api.followUp.unknowns.purgeExpired();
    expect(purged.sightings).toBeGreaterThan(0);
    expect(await items('SIGHTING#')).toEqual([]);
    expect(await items('UNKNOWN#').then((u) => u.filter((i) => i.promotedTo === undefined))).toEqual([]);
    expect((await call('/unknowns')).body.items).toEqual([]);
  }, 60_000);

  it('deleting a subject erases its negatives and the faces of its reviews', async () => {
    expect((await app.request('/subjects/joy', { method: 'DELETE' })).status).toBe(204);
    expect(await api.followUp.reviews.store.listNegatives('joy')).toEqual([]);
    expect(await items('SUBJECT#joy')).toEqual([]);
    const reviews = (await call('/reviews?limit=100')).body.items as Json[];
    expect(reviews.filter((r) => r.decision.subjectId === 'joy')).toEqual([]);
    const erased = reviews.filter((r) => r.decision.subjectId === '[erased]');
    expect(erased.length).toBeGreaterThan(0);
    for (const r of erased) {
      expect(r.source).toBe('[erased]');
      expect((await app.request(`/reviews/${r.id}/crop`)).status).toBe(404);
    }
  }, 60_000);
});
