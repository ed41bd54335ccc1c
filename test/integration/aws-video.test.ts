/**
 * Videos on AWS end to end, without an AWS account: a clip built here from LFW photos with FFmpeg is uploaded
 * under `uploads/` (without an extension, so the ingest function must recognise it by its first bytes), the real
 * ingest handler hands it off to Batch, and the real Batch entry processes it with the real models and FFmpeg.
 * Stand-ins on 127.0.0.1: DynamoDB Local for the tables and s3rver for the bucket (real emulators); two
 * recorders, because no emulator of either is installed:
 * - the Batch feed queue: an SQS SendMessage recorder (AWS JSON 1.0) — the one recorded fake of this flow: the
 *   queue → EventBridge pipe → `batch:SubmitJob` step is not run, the test starts the job with the manifest the
 *   message names, as the pipe would;
 * - EventBridge: the PutEvents recorder of the other AWS tests (the track events are captured there).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { S3Event } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackEvent } from '../../functions/core/video/events.ts';
import { hasData, LFW, lfwPhoto, read } from '../support/data.ts';
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
} from '../support/emulators.ts';
import { lambdaContext, sqsEvent } from '../support/lambda-events.ts';
import { hasFfmpeg, makeClip } from '../support/video.ts';

const READY = hasData(LFW) && hasFfmpeg();
const BUCKET = 'faceprint-video-e2e';
const BUS = 'faceprint-video-bus';
const CLIP_KEY = 'uploads/cam1/clip-0001';
const BROKEN_KEY = 'uploads/cam1/broken.mp4';

process.env.POWERTOOLS_SERVICE_NAME = 'faceprint-video-e2e';
process.env.POWERTOOLS_METRICS_NAMESPACE = 'Faceprint';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

/** A recorder of SQS SendMessage calls (AWS JSON 1.0), answering with the MD5 the SDK checks. A fake. */
async function startSqsRecorder(): Promise<Emulator & { bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { MessageBody?: string };
      const body = input.MessageBody ?? '';
      bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(
        JSON.stringify({
          MessageId: randomUUID(),
          MD5OfMessageBody: createHash('md5').update(body).digest('hex'),
        }),
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bodies,
    stop: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

describe.runIf(READY)('videos on AWS: ingest hands off to Batch, Batch records tracks and events', () => {
  let dynamo: Emulator;
  let s3rver: Emulator & { server: S3rverInstance };
  let bus: Emulator & { events: RecordedEvent[] };
  let feed: Emulator & { bodies: string[] };
  let tables: TableNames;
  let s3: S3Client;
  let doc: DynamoDBDocumentClient;
  let ingest: typeof import('../../functions/handlers/ingest.ts');
  let root = '';
  const s3Events: S3Event[] = [];
  const savedEnv = { ...process.env };

  async function put(key: string, bytes: Buffer): Promise<S3Event> {
    const before = s3Events.length;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
    const event = s3Events.slice(before).find((e) => e.Records[0]?.s3.object.key === key);
    if (!event) throw new Error(`s3rver emitted no event for ${key}`);
    return event;
  }

  async function query(pk: string): Promise<Record<string, unknown>[]> {
    const page = await doc.send(
      new QueryCommand({
        TableName: tables.detections,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
      }),
    );
    return page.Items ?? [];
  }

  async function ledger(key: string): Promise<Record<string, unknown> | undefined> {
    const page = await doc.send(new ScanCommand({ TableName: tables.idempotency }));
    return (page.Items ?? []).find((item) => item.key === key);
  }

  const trackEvents = () =>
    bus.events
      .filter((e) => e.DetailType === 'Faceprint Track')
      .map((e) => JSON.parse(e.Detail) as TrackEvent);

  beforeAll(async () => {
    [dynamo, s3rver, bus, feed] = await Promise.all([
      startDynamoLocal(),
      startS3rver([BUCKET]),
      startEventBusRecorder(),
      startSqsRecorder(),
    ]);
    s3rver.server.on('event', (event) => s3Events.push(event));
    tables = await createTables(dynamo.endpoint);
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
      AWS_ENDPOINT_URL_SQS: feed.endpoint,
      FACEPRINT_EVENT_BUS: BUS,
      FACEPRINT_BATCH_FEED_QUEUE_URL: `${feed.endpoint}/000000000000/faceprint-batch-feed`,
    });
    ingest = await import('../../functions/handlers/ingest.ts');
    const { createClients } = await import('../../functions/handlers/aws/clients.ts');
    const clients = createClients();
    s3 = clients.s3;
    doc = DynamoDBDocumentClient.from(clients.dynamo);

    // The gallery: Colin Powell enrolled from another photo than the clip's.
    const { AwsRuntime } = await import('../../functions/handlers/aws/composition.ts');
    const { readConfig } = await import('../../functions/handlers/aws/config.ts');
    const rt = new AwsRuntime(readConfig('ingest'));
    await rt.gallery.createSubject(
      { id: 'colin', name: 'Colin Powell' },
      { bytes: read(lfwPhoto('Colin_Powell', 1)), source: 'Colin_Powell_0001.jpg', takeLargest: true },
    );
    await rt.dispose();

    root = await mkdtemp(join(tmpdir(), 'faceprint-aws-video-'));
    await makeClip(
      {
        width: 640,
        height: 360,
        fps: 10,
        seconds: 3,
        actors: [
          { photo: lfwPhoto('Colin_Powell', 2), size: 160, from: { x: 10, y: 110 }, to: { x: 470, y: 80 } },
        ],
      },
      join(root, 'walk.mp4'),
    );
  });

  afterAll(async () => {
    await Promise.all([s3rver?.stop(), bus?.stop(), feed?.stop(), dynamo?.stop()]);
    if (root) await rm(root, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  it('ingest recognises the video by its bytes and hands it to Batch once, recorded in the ledger', async () => {
    const event = await put(CLIP_KEY, await readFile(join(root, 'walk.mp4')));
    const first = await ingest.handler(sqsEvent(event), lambdaContext('faceprint-ingest'));
    expect(first.batchItemFailures).toEqual([]);
    expect(feed.bodies).toHaveLength(1);
    const { manifest } = JSON.parse(feed.bodies[0]!) as { manifest: string };
    expect(manifest).toMatch(/^batch\/videos\/[0-9a-f]{32}\.json$/);
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: manifest }));
    const eTag = (await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: CLIP_KEY }))).ETag?.replace(
      /"/g,
      '',
    );
    expect(JSON.parse(await object.Body!.transformToString())).toEqual({
      kind: 'video',
      keys: [{ key: CLIP_KEY, eTag }],
    });
    expect(await ledger(CLIP_KEY)).toMatchObject({ state: 'done', resultRef: `HANDED-OFF#${manifest}` });
    // Not identified as an image: no detection record.
    expect(await query(`DETECTION#${CLIP_KEY}`)).toHaveLength(0);

    // A redelivered notification submits nothing more.
    const again = await ingest.handler(sqsEvent(event), lambdaContext('faceprint-ingest'));
    expect(again.batchItemFailures).toEqual([]);
    expect(feed.bodies).toHaveLength(1);
  });

  it('the Batch job processes the video: the track, its identity and files recorded, events on the bus', async () => {
    const { manifest } = JSON.parse(feed.bodies[0]!) as { manifest: string };
    const { readConfig } = await import('../../functions/handlers/aws/config.ts');
    const { main } = await import('../../functions/handlers/batch.ts');
    const config = readConfig('batch');
    expect(await main([manifest], config)).toBe(0);

    const items = await query(`VIDEO#${CLIP_KEY}`);
    const video = items.find((i) => !String(i.sk).includes('#TRACK#'));
    const tracks = items.filter((i) => String(i.sk).includes('#TRACK#'));
    expect(video).toMatchObject({
      status: 'processed',
      complete: true,
      frames: 30,
      tracks: 1,
      identified: 1,
    });
    expect(tracks).toHaveLength(1);
    expect(tracks[0]).toMatchObject({ trackId: 1, decision: { kind: 'match', subjectId: 'colin' } });
    const decision = tracks[0]!.decision as { similarity: number; threshold: number };
    expect(decision.similarity).toBeGreaterThanOrEqual(decision.threshold);
    // The decisions by subject.
    const byColin = await query('SUBJECT-TRACK#colin');
    expect(byColin.map((i) => i.key)).toEqual([CLIP_KEY]);
    // The annotated MP4 and the track's thumbnail under results/.
    const annotated = await s3.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: String(video!.annotatedKey) }),
    );
    expect(annotated.ContentLength).toBeGreaterThan(1000);
    expect(String(tracks[0]!.thumbnailKey)).toMatch(
      /^results\/videos\/uploads\/cam1\/clip-0001\/.+\/track-1\.jpg$/,
    );
    await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: String(tracks[0]!.thumbnailKey) }));
    // Track events on the bus, in order.
    const events = trackEvents();
    expect(events.map((e) => e.type)).toEqual(['track.started', 'track.identified', 'track.ended']);
    expect(events.every((e) => e.source === CLIP_KEY)).toBe(true);
    expect(events[1]!.decision).toMatchObject({ kind: 'match', subjectId: 'colin' });
    expect(await ledger(`${CLIP_KEY}#video`)).toMatchObject({ state: 'done' });

    // The same job again (a retry): the video is settled, nothing is processed or published twice.
    expect(await main([manifest], config)).toBe(0);
    expect(trackEvents()).toHaveLength(3);
    expect((await query(`VIDEO#${CLIP_KEY}`)).length).toBe(items.length);
  });

  it('a corrupt video is handed off, then recorded as failed with its reason, not retried', async () => {
    const event = await put(BROKEN_KEY, Buffer.from('this is not a video at all, only text'.repeat(20)));
    expect(
      (await ingest.handler(sqsEvent(event), lambdaContext('faceprint-ingest'))).batchItemFailures,
    ).toEqual([]);
    expect(feed.bodies).toHaveLength(2);
    const { manifest } = JSON.parse(feed.bodies[1]!) as { manifest: string };
    const { readConfig } = await import('../../functions/handlers/aws/config.ts');
    const { main } = await import('../../functions/handlers/batch.ts');
    expect(await main([manifest], readConfig('batch'))).toBe(0);
    const [video, ...rest] = await query(`VIDEO#${BROKEN_KEY}`);
    expect(rest).toHaveLength(0);
    expect(video).toMatchObject({ status: 'failed', tracks: 0 });
    expect(String(video!.reason)).toMatch(/^INVALID_VIDEO: The video uploads\/cam1\/broken\.mp4 .*\.$/);
    expect(await ledger(`${BROKEN_KEY}#video`)).toMatchObject({ state: 'failed' });
  });
});
