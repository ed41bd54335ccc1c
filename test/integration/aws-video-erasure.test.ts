/**
 * Erasure of a subject seen in videos, in AWS, and erasure by key (issues 10 and 13), against DynamoDB Local
 * and s3rver with the real writers: a video's tracks recorded by `DynamoVideoStore` (Colin's track, Donald's
 * with Colin as a candidate), their track-event audit rows by the face store and a detection record by the
 * detection sink. Deleting Colin deletes his `SUBJECT-TRACK#` item and his track's thumbnail, anonymises his
 * track (the decision stays), erases him as Donald's candidate, and leaves no item or object naming him; and the
 * eraser issues no Scan (its client's commands are recorded). Items written before the mention index (plain
 * puts, no mentions, a month before the index marker) are found through the audit log's day partitions, also
 * without a Scan. The track data are written by the store from a result built here: the video pipeline itself
 * is covered by `aws-video.test.ts`.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSubjectEraser } from '../../functions/adapters/aws/aws-erasure.ts';
import { DynamoDetectionSink } from '../../functions/adapters/aws/detection-sink.ts';
import { DynamoFaceStore } from '../../functions/adapters/aws/dynamo-face-store.ts';
import { DynamoVideoStore } from '../../functions/adapters/aws/dynamo-video-store.ts';
import { S3SnapshotStore } from '../../functions/adapters/aws/s3-snapshot-store.ts';
import { MENTION_INDEX_MARKER } from '../../functions/adapters/aws/subject-mentions.ts';
import type { DecisionAuditEntry } from '../../functions/core/domain.ts';
import { ERASED } from '../../functions/core/gallery/erasure.ts';
import type { IngestEvent } from '../../functions/core/ingest/ingest.ts';
import type { TrackSummary, VideoResult } from '../../functions/core/video/video-types.ts';
import {
  createTables,
  dynamoClient,
  type Emulator,
  FAKE_CREDENTIALS,
  REGION,
  s3Client,
  startDynamoLocal,
  startEventBusRecorder,
  startS3rver,
  type TableNames,
} from '../support/emulators.ts';

const BUCKET = 'faceprint-video-erasure';
const QUALITY = {
  score: 0.8,
  reasons: [],
  brightness: 90,
  contrast: 30,
  sharpness: 300,
  interOcularPx: 30,
  detectionScore: 0.99,
  yaw: 0,
  pitch: 0,
  roll: 0,
};
const MODEL = { id: 'mobilefacenet-512', version: 'test' };

let dynamo: Emulator;
let s3rver: Emulator;
let bus: Emulator;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let s3: S3Client;
/** Commands the eraser's client sent. */
const sent: string[] = [];

beforeAll(async () => {
  [dynamo, s3rver, bus] = await Promise.all([
    startDynamoLocal(),
    startS3rver([BUCKET]),
    startEventBusRecorder(),
  ]);
  client = dynamoClient(dynamo.endpoint);
  doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  s3 = s3Client(s3rver.endpoint);
}, 120_000);
afterAll(async () => {
  s3?.destroy();
  client?.destroy();
  await Promise.all([dynamo?.stop(), s3rver?.stop(), bus?.stop()]);
});

/** An eraser whose DynamoDB commands are recorded. */
function eraser(tables: TableNames, now?: Date) {
  const recorded = dynamoClient(dynamo.endpoint);
  recorded.middlewareStack.add(
    (next, context) => (args) => {
      sent.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return new AwsSubjectEraser({
    doc: DynamoDBDocumentClient.from(recorded, { marshallOptions: { removeUndefinedValues: true } }),
    s3,
    bucket: BUCKET,
    detectionsTable: tables.detections,
    idempotencyTable: tables.idempotency,
    pruneSnapshots: () => new S3SnapshotStore(s3, BUCKET, 'index/').pruneSuperseded(),
    ...(now ? { now: () => now } : {}),
  });
}

function decision(kind: 'match' | 'unknown', subjectId: string | undefined, candidates: string[]) {
  return {
    kind,
    subjectId,
    similarity: 0.7,
    threshold: 0.5,
    margin: 0.1,
    confidence: 0.9,
    candidates: candidates.map((id, i) => ({
      subjectId: id,
      similarity: 0.7 - i / 5,
      templateId: `t-${id}`,
    })),
  };
}

function track(id: number, d: ReturnType<typeof decision>, name: string): TrackSummary {
  return {
    id,
    firstFrame: 0,
    lastFrame: 19,
    firstMs: 0,
    lastMs: 1900,
    hits: 20,
    embedded: 4,
    relinked: false,
    decisions: 2,
    decision: { ...d, subjectName: name, aggregation: 'quality-mean', facesUsed: 4 },
    evidence: [0, 5].map((frameIndex) => ({
      frameIndex,
      timestampMs: frameIndex * 100,
      box: { x: 10 + frameIndex, y: 20, width: 80, height: 90 },
      quality: QUALITY,
      similarity: 0.7,
    })),
  };
}

function auditEntry(at: string, operation: string, source: string, d: ReturnType<typeof decision>) {
  return {
    id: randomUUID(),
    at,
    operation,
    source,
    faceIndex: 1,
    box: { x: 5, y: 6, width: 70, height: 80 },
    quality: QUALITY,
    decision: d,
    model: MODEL,
    calibration: 'test',
  } satisfies DecisionAuditEntry;
}

async function items(table: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    out.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

async function objects(): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

const trackItems = async (tables: TableNames, key: string) =>
  (await items(tables.detections)).filter((i) => i.pk === `VIDEO#${key}` && String(i.sk).includes('#TRACK#'));

describe('AWS erasure of a subject seen in videos, by key', () => {
  it('deletes its SUBJECT-TRACK items and thumbnails, anonymises its track, erases it as a candidate; no Scan', async () => {
    const tables = await createTables(dynamo.endpoint);
    const store = new DynamoFaceStore(client, tables);
    const now = new Date().toISOString();
    const colin = decision('match', 'colin', ['colin', 'donald']);
    const donald = decision('match', 'donald', ['donald', 'colin']);
    const result = {
      source: 'uploads/lobby/door.mp4',
      info: { width: 480, height: 270 },
      frames: 20,
      durationMs: 2000,
      elapsedMs: 900,
      fps: 22,
      complete: true,
      tracks: [track(1, colin, 'Colin Powell'), track(2, donald, 'Donald Rumsfeld')],
      calibration: 'test',
      model: MODEL,
    } as unknown as VideoResult;
    const videos = new DynamoVideoStore({ doc, s3, bucket: BUCKET, detectionsTable: tables.detections });
    await videos.record({ bucket: BUCKET, key: 'uploads/lobby/door.mp4' }, 'etag-v', result, {
      thumbnails: new Map([
        [1, Buffer.from('colin face')],
        [2, Buffer.from('donald face')],
      ]),
    });
    // The track events' audit rows, and a still of Colin through the ingest sink.
    await store.appendAudit([
      auditEntry(now, 'track.identified', 'uploads/lobby/door.mp4#track-1', colin),
      auditEntry(now, 'track.identified', 'uploads/lobby/door.mp4#track-2', donald),
    ]);
    const sink = new DynamoDetectionSink({
      doc,
      events: new EventBridgeClient({
        endpoint: bus.endpoint,
        region: REGION,
        credentials: FAKE_CREDENTIALS,
      }),
      detectionsTable: tables.detections,
      eventBus: 'bus',
      eventSource: 'faceprint.ingest',
    });
    const still = {
      version: 1,
      key: 'uploads/cam/still.jpg',
      sha256: 'sha-still',
      processedAt: now,
      status: 'processed',
      summary: { faces: 1, matches: 1, unknowns: 0, ambiguous: 0 },
      faces: [{ box: { x: 1, y: 2, width: 3, height: 4 }, decision: donald, candidates: donald.candidates }],
    } as unknown as IngestEvent;
    await sink.record({ bucket: BUCKET, key: still.key } as never, 'etag-s', still);
    expect(await objects()).toEqual(
      expect.arrayContaining([
        'results/videos/uploads/lobby/door.mp4/etag-v/track-1.jpg',
        'results/videos/uploads/lobby/door.mp4/etag-v/track-2.jpg',
      ]),
    );
    expect(JSON.stringify(await items(tables.detections))).toMatch(/SUBJECT-TRACK#colin/);

    sent.length = 0;
    const report = await eraser(tables).eraseTraces('colin');
    expect(sent).not.toContain('ScanCommand');
    expect(sent).toContain('QueryCommand');
    expect(report.auditRowsRedacted).toBe(2);
    expect(report.filesRemoved).toEqual([
      `s3://${BUCKET}/results/videos/uploads/lobby/door.mp4/etag-v/track-1.jpg`,
    ]);
    expect(report.filesRedacted.sort()).toEqual(
      [
        'detection uploads/cam/still.jpg',
        'track uploads/lobby/door.mp4#1',
        'track uploads/lobby/door.mp4#2',
      ].sort(),
    );

    const tracks = await trackItems(tables, 'uploads/lobby/door.mp4');
    const anonymous = tracks.find((t) => t.trackId === 1) as {
      decision: { kind: string; subjectId: string; subjectName: string; similarity: number };
      evidence: { box: { width: number }; timestampMs: number }[];
      thumbnailKey?: string;
    };
    // The decision stays; who it was and where the face was go, with the thumbnail.
    expect(anonymous.decision).toMatchObject({
      kind: 'match',
      subjectId: ERASED,
      subjectName: ERASED,
      similarity: 0.7,
    });
    expect(anonymous.evidence.map((f) => [f.box.width, f.timestampMs])).toEqual([
      [0, 0],
      [0, 500],
    ]);
    expect(anonymous.thumbnailKey).toBeUndefined();
    const other = tracks.find((t) => t.trackId === 2) as {
      decision: { subjectId: string; candidates: { subjectId: string }[] };
      thumbnailKey: string;
    };
    expect(other.decision.subjectId).toBe('donald');
    expect(other.decision.candidates.map((c) => c.subjectId)).toEqual(['donald', ERASED]);
    expect(await objects()).toContain(other.thumbnailKey);
    expect(await objects()).not.toContain('results/videos/uploads/lobby/door.mp4/etag-v/track-1.jpg');
    // Nothing in any table names Colin: his tracks by subject, his mentions and his name are gone.
    for (const table of Object.values(tables)) {
      expect(JSON.stringify(await items(table)), table).not.toMatch(/colin|Colin/);
    }
  }, 60_000);

  it('finds items written before the mention index through the audit log by day, without a Scan', async () => {
    const tables = await createTables(dynamo.endpoint);
    const since = new Date();
    const old = new Date(since.getTime() - 30 * 86_400_000).toISOString();
    await doc.send(
      new PutCommand({
        TableName: tables.detections,
        Item: { ...MENTION_INDEX_MARKER, since: since.toISOString() },
      }),
    );
    const colin = decision('match', 'colin', ['colin', 'donald']);
    const donald = decision('match', 'donald', ['donald', 'colin']);
    const put = (Item: Record<string, unknown>) =>
      doc.send(new PutCommand({ TableName: tables.detections, Item }));
    // As the previous version wrote them: rows and records, no mentions.
    const rows = [
      auditEntry(old, 'ingest', 'uploads/cam/old-colin.jpg', colin),
      auditEntry(old, 'ingest', 'uploads/cam/old-donald.jpg', donald),
      auditEntry(old, 'track.ended', 'uploads/old.mp4#track-4', donald),
    ];
    for (const e of rows)
      await put({ pk: `AUDIT#${e.at.slice(0, 10)}`, sk: `${e.at}#${e.id}`, entry: JSON.stringify(e) });
    for (const [key, d] of [
      ['uploads/cam/old-colin.jpg', colin],
      ['uploads/cam/old-donald.jpg', donald],
    ] as const) {
      const event = {
        key,
        sha256: `sha-${key}`,
        faces: [{ box: {}, decision: d, candidates: d.candidates }],
      };
      await put({ pk: `DETECTION#${key}`, sk: 'etag-old', key, event: JSON.stringify(event) });
    }
    const oldTrack = track(4, donald, 'Donald Rumsfeld');
    await put({
      pk: 'VIDEO#uploads/old.mp4',
      sk: 'etag-o#TRACK#000004',
      key: 'uploads/old.mp4',
      trackId: 4,
      ...oldTrack,
    });

    sent.length = 0;
    const report = await eraser(tables).eraseTraces('colin');
    expect(sent).not.toContain('ScanCommand');
    expect(report.auditRowsRedacted).toBe(3);
    expect(report.filesRedacted.sort()).toEqual([
      'detection uploads/cam/old-donald.jpg',
      'track uploads/old.mp4#4',
    ]);
    const left = await items(tables.detections);
    expect(left.some((i) => i.pk === 'DETECTION#uploads/cam/old-colin.jpg')).toBe(false);
    expect(JSON.stringify(left)).not.toMatch(/colin/);
    // Within the retention only: a month before the index is found, the rest of the table is never read whole.
    expect(sent.filter((c) => c === 'QueryCommand').length).toBeGreaterThan(30);
  }, 60_000);
});
