/**
 * Issue 13 in AWS, against DynamoDB Local and s3rver (the real SDK clients, the real tables and bucket):
 * - exactly-once audit: a redelivered upload, decided again later (another `at`, the same claim-derived ids),
 *   leaves one audit row per decision;
 * - erasure: deleting a subject leaves no item in any table, and no object in the bucket, that names it or
 *   its photos; audit rows keep the decision without the face; uploads decided as the subject go (record,
 *   object, ledger row); records where it was only a candidate are rewritten without it.
 * s3rver has no object versioning (it answers ListObjectVersions with 405), so here each object has one copy
 * and the eraser's unversioned path runs. The versioned path (every version and delete marker deleted by
 * VersionId, superseded snapshots pruned, the current one kept) is tested at the end against an in-memory
 * stand-in of a versioned bucket, because no local S3 emulator installed here keeps versions.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  type DeleteObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSubjectEraser } from '../../functions/adapters/aws/aws-erasure.ts';
import { DynamoDetectionSink } from '../../functions/adapters/aws/detection-sink.ts';
import { DynamoFaceStore } from '../../functions/adapters/aws/dynamo-face-store.ts';
import { S3SnapshotStore } from '../../functions/adapters/aws/s3-snapshot-store.ts';
import { deleteAllVersions, pruneSupersededSnapshots } from '../../functions/adapters/aws/s3-versions.ts';
import type { DecisionAuditEntry, FaceTemplate } from '../../functions/core/domain.ts';
import { ERASED } from '../../functions/core/gallery/erasure.ts';
import type { IngestEvent } from '../../functions/core/ingest/ingest.ts';
import {
  createTables,
  type Emulator,
  FAKE_CREDENTIALS,
  REGION,
  s3Client,
  startDynamoLocal,
  startEventBusRecorder,
  startS3rver,
  type TableNames,
} from '../support/emulators.ts';

const BUCKET = 'faceprint-erasure';
let dynamo: Emulator;
let s3rver: Emulator;
let bus: Emulator;
let tables: TableNames;
let doc: DynamoDBDocumentClient;
let s3: S3Client;
let store: DynamoFaceStore;

beforeAll(async () => {
  [dynamo, s3rver, bus] = await Promise.all([
    startDynamoLocal(),
    startS3rver([BUCKET]),
    startEventBusRecorder(),
  ]);
  tables = await createTables(dynamo.endpoint);
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: REGION,
    credentials: FAKE_CREDENTIALS,
  });
  doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  s3 = s3Client(s3rver.endpoint);
  store = new DynamoFaceStore(client, tables);
}, 120_000);
afterAll(async () => {
  s3?.destroy();
  await Promise.all([dynamo?.stop(), s3rver?.stop(), bus?.stop()]);
});

function template(subjectId: string, source: string): FaceTemplate {
  const embedding = new Float32Array(512).map(() => Math.random() - 0.5);
  return {
    id: randomUUID(),
    subjectId,
    source,
    box: { x: 10, y: 20, width: 64, height: 80 },
    quality: {
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
    },
    embedding,
    variant: 'original',
    model: { id: 'mobilefacenet-512', version: 'test' },
    createdAt: new Date().toISOString(),
  };
}

function decision(kind: 'match' | 'unknown', subjectId: string | undefined, candidates: string[]) {
  return {
    kind,
    subjectId,
    similarity: 0.7,
    threshold: 0.5,
    margin: 0.02,
    confidence: 0.9,
    candidates: candidates.map((id, i) => ({
      subjectId: id,
      similarity: 0.7 - i / 10,
      templateId: `t-${id}`,
    })),
  };
}

function audit(id: string, at: string, source: string, d: ReturnType<typeof decision>): DecisionAuditEntry {
  return {
    id,
    at,
    operation: 'ingest',
    source,
    faceIndex: 0,
    box: { x: 5, y: 6, width: 70, height: 80 },
    quality: template('x', 'x').quality,
    decision: d,
    model: { id: 'mobilefacenet-512', version: 'test' },
    calibration: 'test',
  };
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

const auditRows = async () =>
  (await items(tables.detections)).filter((i) => String(i.pk).startsWith('AUDIT#'));

describe('AWS audit log: exactly once per decision', () => {
  it('a redelivered decision (same claim-derived id, a later time) leaves one row', async () => {
    const first = audit(
      randomUUID(),
      '2026-03-01T23:59:59.000Z',
      'uploads/a.jpg',
      decision('unknown', undefined, []),
    );
    const other = audit(
      randomUUID(),
      '2026-03-01T23:59:59.000Z',
      'uploads/a.jpg',
      decision('unknown', undefined, []),
    );
    await store.appendAudit([first, other]);
    // The redelivery decides again a day later: another partition and sort key, the same ids.
    await store.appendAudit([
      { ...first, at: '2026-03-02T00:00:05.000Z' },
      { ...other, at: '2026-03-02T00:00:05.000Z' },
    ]);
    // A partial retry: one already written, one new.
    const third = audit(
      randomUUID(),
      '2026-03-02T00:00:06.000Z',
      'uploads/a.jpg',
      decision('unknown', undefined, []),
    );
    await store.appendAudit([{ ...first, at: '2026-03-02T00:00:06.000Z' }, third]);
    const rows = (await auditRows()).map((r) => JSON.parse(r.entry as string) as DecisionAuditEntry);
    const ids = rows.map((r) => r.id).sort();
    expect(ids).toEqual([first.id, other.id, third.id].sort());
    expect(rows.find((r) => r.id === first.id)?.at).toBe(first.at);
  });
});

describe('AWS erasure', () => {
  it('removes the subject from every table and the bucket, keeping redacted decisions', async () => {
    await store.createSubject(
      { id: 'wendy', name: 'Wendy Son', metadata: {}, createdAt: new Date().toISOString() },
      [template('wendy', 'gallery/wendy/portrait.jpg'), template('wendy', 'gallery/wendy/portrait.jpg')],
    );
    await store.createSubject(
      { id: 'joy', name: 'Joy Park', metadata: {}, createdAt: new Date().toISOString() },
      [template('joy', 'gallery/joy/joy.jpg')],
    );
    const put = (Key: string) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Buffer.from(Key) }));
    await Promise.all(
      [
        'gallery/wendy/portrait.jpg',
        'gallery/joy/joy.jpg',
        'uploads/cam/wendy-seen.jpg',
        'uploads/cam/joy-seen.jpg',
      ].map(put),
    );
    await put('index/gallery.fpidx');
    const now = new Date().toISOString();
    await store.appendAudit([
      audit(randomUUID(), now, 'uploads/cam/wendy-seen.jpg', decision('match', 'wendy', ['wendy', 'joy'])),
      audit(randomUUID(), now, 'uploads/cam/joy-seen.jpg', decision('match', 'joy', ['joy', 'wendy'])),
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
    const event = (key: string, d: ReturnType<typeof decision>): IngestEvent =>
      ({
        version: 1,
        key,
        sha256: `sha-${key}`,
        processedAt: now,
        status: 'processed',
        summary: { faces: 1, matches: 1, unknowns: 0, ambiguous: 0 },
        faces: [{ box: { x: 1, y: 2, width: 3, height: 4 }, decision: d, candidates: d.candidates }],
      }) as unknown as IngestEvent;
    const ref = (key: string) => ({ bucket: BUCKET, key });
    await sink.record(
      ref('uploads/cam/wendy-seen.jpg') as never,
      'etag-w',
      event('uploads/cam/wendy-seen.jpg', decision('match', 'wendy', ['wendy', 'joy'])),
    );
    await sink.record(
      ref('uploads/cam/joy-seen.jpg') as never,
      'etag-j',
      event('uploads/cam/joy-seen.jpg', decision('match', 'joy', ['joy', 'wendy'])),
    );
    for (const key of ['uploads/cam/wendy-seen.jpg', 'uploads/cam/joy-seen.jpg']) {
      await doc.send(
        new PutCommand({ TableName: tables.idempotency, Item: { id: `INGEST#sha-${key}#${key}`, key } }),
      );
    }

    await store.deleteSubject('wendy');
    const report = await new AwsSubjectEraser({
      doc,
      s3,
      bucket: BUCKET,
      detectionsTable: tables.detections,
      idempotencyTable: tables.idempotency,
      pruneSnapshots: () => new S3SnapshotStore(s3, BUCKET, 'index/').pruneSuperseded(),
    }).eraseTraces('wendy');

    expect(report.auditRowsRedacted).toBe(2);
    expect(report.filesRemoved.sort()).toEqual([
      `s3://${BUCKET}/gallery/wendy/portrait.jpg`,
      `s3://${BUCKET}/uploads/cam/wendy-seen.jpg`,
    ]);
    expect(report.filesRedacted).toEqual(['detection uploads/cam/joy-seen.jpg']);
    expect(report.ledgerRows).toBe(1);
    expect(report.objectVersionsDeleted).toBe(2);

    // Nothing in any table names her, her photos or her upload.
    for (const table of Object.values(tables)) {
      const dump = JSON.stringify(await items(table));
      expect(dump, table).not.toMatch(/wendy|Wendy/);
    }
    // The decisions stay, without the face.
    const rows = (await auditRows()).map((r) => JSON.parse(r.entry as string) as DecisionAuditEntry);
    const hers = rows.find((r) => r.decision.kind === 'match' && r.decision.subjectId === ERASED);
    expect(hers).toMatchObject({
      source: ERASED,
      box: { width: 0 },
      decision: { similarity: 0.7, threshold: 0.5 },
    });
    const joys = rows.find((r) => r.decision.subjectId === 'joy');
    expect(joys?.source).toBe('uploads/cam/joy-seen.jpg');
    expect(joys?.decision.candidates.map((c) => c.subjectId)).toEqual(['joy', ERASED]);
    // The bucket keeps only what is not hers.
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([
      'gallery/joy/joy.jpg',
      'index/gallery.fpidx',
      'uploads/cam/joy-seen.jpg',
    ]);
    // s3rver keeps no versions: it refuses to list them, which is why the unversioned path ran.
    await expect(s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET }))).rejects.toThrow();
  }, 60_000);
});

/** An in-memory versioned bucket: just ListObjectVersions (paged two at a time) and DeleteObjects by VersionId. */
class VersionedBucketStandIn {
  versions: { Key: string; VersionId: string; IsLatest: boolean; marker?: boolean }[] = [];
  put(key: string, marker = false) {
    for (const v of this.versions) if (v.Key === key) v.IsLatest = false;
    this.versions.push({ Key: key, VersionId: randomUUID(), IsLatest: true, marker });
  }
  async send(command: ListObjectVersionsCommand | DeleteObjectsCommand): Promise<unknown> {
    if (command instanceof ListObjectVersionsCommand) {
      const { Prefix = '', KeyMarker, VersionIdMarker } = command.input;
      const all = this.versions.filter((v) => v.Key.startsWith(Prefix));
      const from = KeyMarker
        ? all.findIndex((v) => v.Key === KeyMarker && v.VersionId === VersionIdMarker) + 1
        : 0;
      const page = all.slice(from, from + 2);
      const last = page.at(-1);
      const truncated = from + 2 < all.length;
      return {
        Versions: page.filter((v) => !v.marker),
        DeleteMarkers: page.filter((v) => v.marker),
        IsTruncated: truncated,
        NextKeyMarker: truncated ? last?.Key : undefined,
        NextVersionIdMarker: truncated ? last?.VersionId : undefined,
      };
    }
    const doomed = new Set((command.input.Delete?.Objects ?? []).map((o) => `${o.Key}@${o.VersionId}`));
    this.versions = this.versions.filter((v) => !doomed.has(`${v.Key}@${v.VersionId}`));
    return { Errors: [] };
  }
}

describe('versioned bucket (in-memory stand-in: no local S3 emulator keeps versions)', () => {
  it('deletes every version and delete marker of the keys, by VersionId, across pages', async () => {
    const bucket = new VersionedBucketStandIn();
    for (let i = 0; i < 3; i++) bucket.put('gallery/wendy/a.jpg');
    bucket.put('gallery/wendy/a.jpg', true);
    bucket.put('gallery/wendy/b.jpg');
    bucket.put('gallery/joy/c.jpg');
    const deleted = await deleteAllVersions(bucket as unknown as S3Client, 'b', 'gallery/wendy/');
    expect(deleted).toEqual({ keys: ['gallery/wendy/a.jpg', 'gallery/wendy/b.jpg'], versions: 5 });
    expect(bucket.versions.map((v) => v.Key)).toEqual(['gallery/joy/c.jpg']);
  });

  it('prunes superseded snapshot versions and keeps the current one', async () => {
    const bucket = new VersionedBucketStandIn();
    for (let i = 0; i < 4; i++) bucket.put('index/gallery.fpidx');
    bucket.put('index/gallery.fpidx.bak');
    const current = bucket.versions.find((v) => v.Key === 'index/gallery.fpidx' && v.IsLatest)?.VersionId;
    expect(await pruneSupersededSnapshots(bucket as unknown as S3Client, 'b', 'index/gallery.fpidx')).toBe(3);
    expect(bucket.versions.map((v) => [v.Key, v.VersionId])).toEqual([
      ['index/gallery.fpidx', current],
      ['index/gallery.fpidx.bak', expect.any(String)],
    ]);
  });
});
