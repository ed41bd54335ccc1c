import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { S3Event } from 'aws-lambda';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { IngestEvent } from '../../functions/core/ingest/ingest.ts';
import { hasData, LFW, lfwPhoto, read, SEED, SEED_PEOPLE, seedPhoto } from '../support/data.ts';
import {
  createTables,
  type Emulator,
  emulatorEnv,
  type RecordedEvent,
  type S3rverInstance,
  startDynamoLocal,
  startEventBusRecorder,
  startS3rver,
  type TableNames,
  TableStream,
} from '../support/emulators.ts';
import { asDelivered, lambdaContext, restEvent, sqsEvent } from '../support/lambda-events.ts';

type Handlers = {
  enrol: typeof import('../../functions/handlers/enrol.ts');
  ingest: typeof import('../../functions/handlers/ingest.ts');
  indexer: typeof import('../../functions/handlers/indexer.ts');
  api: typeof import('../../functions/handlers/api.ts');
};

const HAVE_DATA = hasData(SEED) && hasData(LFW);
const BUCKET = 'faceprint-e2e';
const BUS = 'faceprint-e2e-bus';
/** The upload whose key needs S3's URL encoding: a space, a `+` and a non-ASCII letter. */
const ODD_KEY = 'uploads/cam 1/frame+1é.jpg';
/** Enrolled after the snapshot: found through the catch-up, not the index. */
const LATE = { id: 'anders-fogh-rasmussen', enrol: lfwPhoto('Anders_Fogh_Rasmussen', 1) };
const LATE_PROBE = lfwPhoto('Anders_Fogh_Rasmussen', 3);

// Logging and metrics of the modules under test, set before any of them is imported. Two ERROR lines are
// expected in the output: the poison SQS message and the missing Batch manifest, both sent on purpose.
process.env.POWERTOOLS_SERVICE_NAME = 'faceprint-e2e';
process.env.POWERTOOLS_METRICS_NAMESPACE = 'Faceprint';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

describe.runIf(HAVE_DATA)('Faceprint on AWS, against local emulators', () => {
  let dynamo: Emulator;
  let s3rver: Emulator & { server: S3rverInstance };
  let bus: Emulator & { events: RecordedEvent[] };
  let tables: TableNames;
  let stream: TableStream;
  let s3: S3Client;
  let doc: DynamoDBDocumentClient;
  let handlers: Handlers;
  const s3Events: S3Event[] = [];
  const savedEnv = { ...process.env };

  /** Puts an object and returns its ObjectCreated notification as S3 would deliver it. */
  async function put(key: string, bytes: Buffer, metadata?: Record<string, string>): Promise<S3Event> {
    const before = s3Events.length;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes, Metadata: metadata }));
    const event = s3Events.slice(before).find((e) => e.Records[0]?.s3.object.key === key);
    if (!event) throw new Error(`s3rver emitted no event for ${key}`);
    return asDelivered(event);
  }

  async function detections(key: string): Promise<Record<string, unknown>[]> {
    const page = await doc.send(
      new QueryCommand({
        TableName: tables.detections,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `DETECTION#${key}` },
      }),
    );
    return page.Items ?? [];
  }

  async function ledgerRow(key: string): Promise<Record<string, unknown> | undefined> {
    const page = await doc.send(new ScanCommand({ TableName: tables.idempotency }));
    return (page.Items ?? []).find((item) => item.key === key);
  }

  async function subjects(): Promise<Record<string, unknown>[]> {
    return (await doc.send(new ScanCommand({ TableName: tables.subjects }))).Items ?? [];
  }

  async function manifestShardKeys(): Promise<string[]> {
    const object = await s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'index/gallery.manifest.json' }),
    );
    const manifest = JSON.parse(await object.Body!.transformToString()) as { shards: { key: string }[] };
    return manifest.shards.map((s) => s.key);
  }

  async function snapshotSubjects(): Promise<string[]> {
    const { S3SnapshotStore } = await import('../../functions/adapters/aws/s3-snapshot-store.ts');
    const { decodeShards } = await import('../../functions/core/search/shards.ts');
    const { EMBEDDING_MODEL, EMBEDDING_DIM } = await import('../../functions/core/pipeline/pipeline.ts');
    const published = await new S3SnapshotStore(s3, BUCKET, 'index/').loadShards();
    if (!published) throw new Error('no snapshot');
    return decodeShards(published, { id: EMBEDDING_MODEL.id, dim: EMBEDDING_DIM }).subjectIds().sort();
  }

  async function shardDtypes(): Promise<string[]> {
    const { S3SnapshotStore } = await import('../../functions/adapters/aws/s3-snapshot-store.ts');
    const { inspectSnapshot } = await import('../../functions/core/search/snapshot.ts');
    const published = await new S3SnapshotStore(s3, BUCKET, 'index/').loadShards();
    return [...(published?.shards.values() ?? [])].map((bytes) => inspectSnapshot(bytes).dtype);
  }

  async function identify(api: Handlers['api'], path: string) {
    const result = await api.handler(
      restEvent('POST', '/identify', { bytes: read(path), contentType: 'image/jpeg' }),
      lambdaContext('faceprint-api'),
    );
    return {
      status: result.statusCode,
      body: JSON.parse(result.body) as {
        faces: { decision: { kind: string; subjectId?: string; subjectName?: string } }[];
      },
    };
  }

  function eventsFor(key: string): IngestEvent[] {
    return bus.events
      .filter((e) => e.Source === 'faceprint.ingest' && e.DetailType === 'Faceprint Detection')
      .map((e) => JSON.parse(e.Detail) as IngestEvent)
      .filter((e) => e.key === key);
  }

  beforeAll(async () => {
    [dynamo, s3rver, bus] = await Promise.all([
      startDynamoLocal(),
      startS3rver([BUCKET]),
      startEventBusRecorder(),
    ]);
    s3rver.server.on('event', (event) => s3Events.push(event));
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
      FACEPRINT_EVENT_BUS: BUS,
      FACEPRINT_API_KEYS_REQUIRED: 'false',
      FACEPRINT_INDEX_SHARDS: '4',
    });
    // The handlers read their configuration when they are loaded: only now.
    handlers = {
      enrol: await import('../../functions/handlers/enrol.ts'),
      ingest: await import('../../functions/handlers/ingest.ts'),
      indexer: await import('../../functions/handlers/indexer.ts'),
      api: await import('../../functions/handlers/api.ts'),
    };
    const { createClients } = await import('../../functions/handlers/aws/clients.ts');
    const clients = createClients();
    s3 = clients.s3;
    doc = DynamoDBDocumentClient.from(clients.dynamo);
  });

  afterAll(async () => {
    await Promise.all([s3rver?.stop(), bus?.stop(), dynamo?.stop()]);
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  it('enrols gallery photos from S3 notifications: subjects created, faces added, refusals recorded', async () => {
    const blank = await sharp({ create: { width: 320, height: 320, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    const notifications: S3Event[] = [];
    for (const person of SEED_PEOPLE) {
      // Wendy's first photo shows a second, tiny face in the background: enrol the largest, and name her.
      const metadata = person === 'wendy' ? { name: 'Wendy Son', 'take-largest': 'true' } : undefined;
      notifications.push(await put(`gallery/${person}/img_1.jpg`, read(seedPhoto(person, 1)), metadata));
    }
    notifications.push(await put('gallery/irene/img_2.jpg', read(seedPhoto('irene', 2))));
    notifications.push(await put('gallery/ghost/blank.jpg', blank));
    notifications.push(await put('gallery/a..b/escape.jpg', read(seedPhoto('joy', 2))));

    const response = await handlers.enrol.handler(
      sqsEvent(...notifications),
      lambdaContext('faceprint-enrol'),
    );

    expect(response.batchItemFailures).toEqual([]);
    const stored = await subjects();
    expect(stored.map((s) => s.pk).sort()).toEqual([...SEED_PEOPLE].sort());
    expect(stored.find((s) => s.pk === 'wendy')?.name).toBe('Wendy Son');
    expect(stored.find((s) => s.pk === 'joy')?.name).toBe('joy');
    const templates = (await doc.send(new ScanCommand({ TableName: tables.templates }))).Items ?? [];
    const perSubject = (id: string) => templates.filter((t) => t.pk === id).length;
    // Two photos of Irene, one of the others: an original plus the same variants per photo.
    expect(perSubject('irene')).toBe(2 * perSubject('joy'));
    expect(perSubject('joy')).toBeGreaterThan(0);
    expect(JSON.stringify(templates.filter((t) => t.pk === 'irene').map((t) => t.source))).toContain(
      'img_2.jpg',
    );
    expect(await ledgerRow('gallery/irene/img_2.jpg')).toMatchObject({ state: 'done' });
    const ghost = await ledgerRow('gallery/ghost/blank.jpg');
    expect(ghost).toMatchObject({ state: 'failed' });
    expect(String(ghost?.reason)).toMatch(/^NO_FACE: /);
    expect(await ledgerRow('gallery/a..b/escape.jpg')).toMatchObject({ state: 'failed' });
    expect(String((await ledgerRow('gallery/a..b/escape.jpg'))?.reason)).toMatch(/^INVALID_KEY: /);
  });

  it('indexes the templates stream into a snapshot under index/', async () => {
    const event = await stream.next();
    const templates = (await doc.send(new ScanCommand({ TableName: tables.templates }))).Items ?? [];
    expect(event.Records.length).toBe(templates.length);
    expect(event.Records.every((r) => r.eventName === 'INSERT' && r.dynamodb?.NewImage?.embedding?.B)).toBe(
      true,
    );

    const response = await handlers.indexer.handler(event, lambdaContext('faceprint-indexer'));

    expect(response.batchItemFailures).toEqual([]);
    // Published in FACEPRINT_INDEX_SHARDS (4 here) shard objects named by one manifest.
    const manifestKey = 'index/gallery.manifest.json';
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: manifestKey }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'index/shards/' }));
    const shardObjects = listed.Contents ?? [];
    expect(shardObjects.map((o) => o.Key?.split('/').slice(2, 4).join('/')).sort()).toEqual([
      '4/0',
      '4/1',
      '4/2',
      '4/3',
    ]);
    const bytes = shardObjects.reduce((sum, o) => sum + (o.Size ?? 0), 0);
    // In int8 (FACEPRINT_INDEX_DTYPE's default): a byte per component and a float32 scale per template.
    expect(bytes).toBeGreaterThan(templates.length * (512 + 4));
    expect(bytes).toBeLessThan(templates.length * 512 * 4);
    expect(await shardDtypes()).toEqual(['int8', 'int8', 'int8', 'int8']);
    expect(await snapshotSubjects()).toEqual([...SEED_PEOPLE].sort());
    // A replayed batch changes nothing and publishes nothing.
    const again = await handlers.indexer.handler(event, lambdaContext('faceprint-indexer'));
    expect(again.batchItemFailures).toEqual([]);
    const headAgain = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: manifestKey }));
    expect(headAgain.ETag).toBe(head.ETag);
  });

  it('ingests an upload whose key S3 URL-encodes: decision recorded and published', async () => {
    const notification = await put(ODD_KEY, read(seedPhoto('seulgi', 3)));
    expect(notification.Records[0]?.s3.object.key).toBe('uploads/cam+1/frame%2B1%C3%A9.jpg');

    const response = await handlers.ingest.handler(sqsEvent(notification), lambdaContext('faceprint-ingest'));

    expect(response.batchItemFailures).toEqual([]);
    const records = await detections(ODD_KEY);
    expect(records).toHaveLength(1);
    const record = records[0] as Record<string, unknown>;
    expect(record).toMatchObject({
      status: 'processed',
      key: ODD_KEY,
      sk: notification.Records[0]?.s3.object.eTag,
    });
    expect(Number.isNaN(Date.parse(String(record.processedAt)))).toBe(false);
    expect(Number(record.expiresAt)).toBeGreaterThan(Date.now() / 1000);
    const event = JSON.parse(String(record.event)) as IngestEvent;
    expect(event.faces.map((f) => [f.decision.kind, f.decision.subjectId])).toEqual([['match', 'seulgi']]);
    expect(JSON.stringify(record)).not.toContain('embedding');
    const published = eventsFor(ODD_KEY);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      status: 'processed',
      sha256: event.sha256,
      summary: { matches: 1 },
    });
    expect(bus.events.every((e) => e.EventBusName === BUS)).toBe(true);
    expect(await ledgerRow(ODD_KEY)).toMatchObject({ state: 'done' });
  });

  it('identifies through an API Gateway REST proxy event (base64 image body)', async () => {
    const { status, body } = await identify(handlers.api, seedPhoto('yeri', 2));
    expect(status).toBe(200);
    expect(body.faces.map((f) => [f.decision.kind, f.decision.subjectId])).toEqual([['match', 'yeri']]);

    const health = await handlers.api.handler(restEvent('GET', '/health'), lambdaContext('faceprint-api'));
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', index: { subjects: SEED_PEOPLE.length } });
    const notAnEvent = await handlers.api.handler({ hello: 'world' }, lambdaContext('faceprint-api'));
    expect(notAnEvent.statusCode).toBe(400);
  });

  it('processes a replayed S3 event once: still one record, one event', async () => {
    const [first] = s3Events.filter((e) => e.Records[0]?.s3.object.key === ODD_KEY);
    if (!first) throw new Error('no event for the upload');

    const response = await handlers.ingest.handler(
      sqsEvent(asDelivered(first), asDelivered(first)),
      lambdaContext('faceprint-ingest'),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(await detections(ODD_KEY)).toHaveLength(1);
    expect(eventsFor(ODD_KEY)).toHaveLength(1);
  });

  it('records a corrupt upload as failed with its reason; the rest of the batch is processed', async () => {
    const photo = read(seedPhoto('joy', 2));
    const corrupt = await put('uploads/corrupt.jpg', photo.subarray(0, 1500));
    const good = await put('uploads/joy.jpg', photo);
    const test = JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: BUCKET });
    const poison = sqsEvent('not json at all');
    const batch = sqsEvent(corrupt, test, good);
    batch.Records.push(...poison.Records);

    const response = await handlers.ingest.handler(batch, lambdaContext('faceprint-ingest'));

    // Only the message that is not an S3 notification goes back to the queue (and, in the end, to the DLQ).
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: poison.Records[0]?.messageId }]);
    const [failed] = await detections('uploads/corrupt.jpg');
    expect(failed).toMatchObject({ status: 'failed' });
    expect(String(failed?.reason)).toMatch(/^(INVALID_IMAGE|UNSUPPORTED_FORMAT): \S/);
    expect(eventsFor('uploads/corrupt.jpg')).toMatchObject([
      { status: 'failed', error: { code: expect.any(String) } },
    ]);
    expect(await ledgerRow('uploads/corrupt.jpg')).toMatchObject({ state: 'failed' });
    const [ok] = await detections('uploads/joy.jpg');
    const event = JSON.parse(String(ok?.event)) as IngestEvent;
    expect(event.faces.map((f) => f.decision.subjectId)).toContain('joy');
    // Nothing else lost: the earlier record is intact.
    expect(await detections(ODD_KEY)).toMatchObject([{ status: 'processed' }]);
  });

  it('finds a subject enrolled after the snapshot (catch-up at cold start, before the indexer runs)', async () => {
    const response = await handlers.enrol.handler(
      sqsEvent(await put(`gallery/${LATE.id}/photo.jpg`, read(LATE.enrol))),
      lambdaContext('faceprint-enrol'),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(await snapshotSubjects()).not.toContain(LATE.id);

    // A new api container: fresh modules, so a cold start.
    vi.resetModules();
    const freshApi = await import('../../functions/handlers/api.ts');
    const { status, body } = await identify(freshApi, LATE_PROBE);

    expect(status).toBe(200);
    expect(body.faces.map((f) => [f.decision.kind, f.decision.subjectId])).toEqual([['match', LATE.id]]);
  });

  it('removes a deleted subject from the next snapshot (REMOVE records rebuild the subject)', async () => {
    const deleted = await handlers.api.handler(
      restEvent('DELETE', '/subjects/joy'),
      lambdaContext('faceprint-api'),
    );
    expect(deleted.statusCode).toBe(204);
    const event = await stream.next();
    expect(event.Records.filter((r) => r.eventName === 'REMOVE').length).toBeGreaterThan(0);
    const before = await manifestShardKeys();

    const response = await handlers.indexer.handler(event, lambdaContext('faceprint-indexer'));

    expect(response.batchItemFailures).toEqual([]);
    const expected = [...SEED_PEOPLE.filter((p) => p !== 'joy'), LATE.id].sort();
    expect(await snapshotSubjects()).toEqual(expected);
    // Only the shards of the batch's subjects were rewritten; the others keep their objects.
    const { shardsOfSubjects } = await import('../../functions/core/search/shards.ts');
    const touched = shardsOfSubjects(['joy', LATE.id], 4);
    const after = await manifestShardKeys();
    for (let shard = 0; shard < 4; shard++) {
      if (touched.includes(shard)) expect(after[shard], `shard ${shard}`).not.toBe(before[shard]);
      else expect(after[shard], `shard ${shard}`).toBe(before[shard]);
    }
    // An erasure leaves no superseded shard object behind: only the current manifest's remain.
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'index/shards/' }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([...after].sort());
  });

  it('runs Batch jobs through the same workflow: new keys processed, settled keys skipped, a summary written', async () => {
    await put('batch/cam/irene-3.jpg', read(seedPhoto('irene', 3)));
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'batch/manifest.ndjson',
        Body: `batch/cam/irene-3.jpg\n{"key": ${JSON.stringify(ODD_KEY)}}\n`,
      }),
    );
    const { readConfig } = await import('../../functions/handlers/aws/config.ts');
    const { main } = await import('../../functions/handlers/batch.ts');
    const config = readConfig('batch');

    expect(await main(['batch/manifest.ndjson'], config)).toBe(0);

    const [record] = await detections('batch/cam/irene-3.jpg');
    const event = JSON.parse(String(record?.event)) as IngestEvent;
    expect(event.faces.map((f) => [f.decision.kind, f.decision.subjectId])).toEqual([['match', 'irene']]);
    expect(await detections(ODD_KEY)).toHaveLength(1);
    const summaries = async () =>
      ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'results/' }))).Contents ?? [])
        .map((o) => o.Key ?? '')
        .sort();
    const summary = async (key: string | undefined) =>
      JSON.parse(
        await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString(),
      ) as Record<string, unknown>;
    const [manifestSummary] = await summaries();
    expect(manifestSummary).toMatch(/^results\/manifest\.ndjson\..+\.summary\.json$/);
    expect(await summary(manifestSummary)).toMatchObject({
      total: 2,
      processed: 1,
      duplicates: 1,
      refused: 0,
      errors: 0,
    });

    // A prefix instead of a manifest: every object under it, here all settled already.
    expect(await main([`s3://${BUCKET}/batch/cam/`], config)).toBe(0);
    const prefixSummary = (await summaries()).find((key) => key.startsWith('results/cam.'));
    expect(await summary(prefixSummary)).toMatchObject({ total: 1, processed: 0, duplicates: 1, errors: 0 });
    // A manifest that does not exist fails the job.
    expect(await main(['batch/missing.json'], config)).toBe(1);
  });
});
