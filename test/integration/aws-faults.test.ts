/**
 * Issue 13, finding 8: faults in AWS mode. A batch of S3 upload notifications is driven through the SQS edge
 * (`processSqsBatch`, the ingest function's own code) with the real runtime against DynamoDB Local and s3rver;
 * in the middle of the batch (just before the third upload is read) s3rver is stopped, and started again (same port, same directory) before SQS
 * delivers the failed messages again. The test plays SQS: it redelivers exactly the `batchItemFailures` ids and
 * moves a message to the DLQ after 3 receives (the stack's default `maxReceiveCount`).
 *
 * Expected: every upload ends with exactly one detection record and one audit row per face, none lost; the
 * corrupt image is a `failed` record (not retried, not dead-lettered); only the message that is not an S3
 * notification at all reaches the DLQ. Then a crash between record and settle (the ledger row lost) and a
 * redelivery of everything: still one record per upload and one audit row per face. The claim of an upload interrupted between claim and read is taken over
 * on redelivery: in Lambda it is stale by then (SQS's visibility timeout outlasts it); here the runtime's
 * staleness is set to 0 ms, which stands in for that wait.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { S3Event, SQSEvent } from 'aws-lambda';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasData, read, SEED, SEED_PEOPLE, seedPhoto } from '../support/data.ts';
import {
  createTables,
  type Emulator,
  emulatorEnv,
  FAKE_CREDENTIALS,
  REGION,
  s3Client,
  startDynamoLocal,
  startEventBusRecorder,
  startRestartableS3rver,
  type TableNames,
} from '../support/emulators.ts';

const HAVE_DATA = hasData(SEED);
const BUCKET = 'faceprint-faults';
const MAX_RECEIVES = 3;

process.env.POWERTOOLS_SERVICE_NAME = 'faceprint-faults';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'CRITICAL';

describe.runIf(HAVE_DATA)('AWS ingest survives S3 going away mid-batch', () => {
  let dynamo: Emulator;
  let s3rver: Awaited<ReturnType<typeof startRestartableS3rver>>;
  let bus: Emulator;
  let tables: TableNames;
  let doc: DynamoDBDocumentClient;
  let s3: S3Client;
  const events: S3Event[] = [];
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    [dynamo, s3rver, bus] = await Promise.all([
      startDynamoLocal(),
      startRestartableS3rver([BUCKET], (e) => events.push(e)),
      startEventBusRecorder(),
    ]);
    tables = await createTables(dynamo.endpoint);
    Object.assign(process.env, {
      ...emulatorEnv({
        s3: s3rver.endpoint,
        dynamo: dynamo.endpoint,
        events: bus.endpoint,
        bucket: BUCKET,
        tables,
      }),
      FACEPRINT_EVENT_BUS: 'faceprint-faults-bus',
    });
    delete process.env.AWS_PROFILE;
    const client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: REGION,
      credentials: FAKE_CREDENTIALS,
    });
    doc = DynamoDBDocumentClient.from(client);
    s3 = s3Client(s3rver.endpoint);
  }, 120_000);

  afterAll(async () => {
    s3?.destroy();
    await Promise.all([s3rver?.stop(), bus?.stop(), dynamo?.stop()]);
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  async function detectionRecords(): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(
        new ScanCommand({ TableName: tables.detections, ExclusiveStartKey: start }),
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  it('every upload ends with exactly one record after redelivery; only poison reaches the DLQ', async () => {
    const uploads: string[] = [];
    for (const [i, person] of [...SEED_PEOPLE, 'joy'].entries()) {
      const key = `uploads/cam-${i}/${person}.jpg`;
      // Downscaled to 640 px: the same faces, and analyses that stay well inside their deadline on a busy machine.
      const body = await sharp(read(seedPhoto(person, 2 + (i % 2))))
        .resize(640, 640, { fit: 'inside' })
        .jpeg()
        .toBuffer();
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
      uploads.push(key);
    }
    const corrupt = 'uploads/cam-9/corrupt.jpg';
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: corrupt,
        Body: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]),
      }),
    );
    const messages = new Map<string, string>();
    for (const key of [...uploads.slice(0, 3), corrupt, ...uploads.slice(3)]) {
      const event = events.find((e) => e.Records[0]?.s3.object.key === key);
      if (!event) throw new Error(`no notification for ${key}`);
      messages.set(randomUUID(), JSON.stringify(event));
    }
    const poison = randomUUID();
    messages.set(poison, '{"not":"an S3 notification"');

    const { readConfig } = await import('../../functions/handlers/aws/config.ts');
    const { AwsRuntime } = await import('../../functions/handlers/aws/composition.ts');
    const { processSqsBatch } = await import('../../functions/handlers/aws/sqs-batch.ts');
    const { createClients } = await import('../../functions/handlers/aws/clients.ts');
    const config = readConfig('ingest');
    // The fault: S3 goes away just before the third upload is read, whatever the machine's speed.
    const clients = createClients();
    let uploadReads = 0;
    let faulted = false;
    clients.s3.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: unknown }).Key;
        if (context.commandName === 'GetObjectCommand' && String(key).startsWith('uploads/')) {
          uploadReads += 1;
          if (uploadReads === 3) {
            await s3rver.down();
            faulted = true;
          }
        }
        return next(args);
      },
      { step: 'initialize', name: 'faultOnThirdUploadRead' },
    );
    const runtime = new AwsRuntime(config, { clients, staleAfterMs: 0 });
    const receives = new Map<string, number>();
    const dlq: string[] = [];
    const deliver = async (ids: string[]) => {
      const event: SQSEvent = {
        Records: ids.map((id) => {
          receives.set(id, (receives.get(id) ?? 0) + 1);
          return {
            messageId: id,
            receiptHandle: id,
            body: messages.get(id) as string,
            attributes: {
              ApproximateReceiveCount: String(receives.get(id)),
              SentTimestamp: String(Date.now()),
              SenderId: 'S3',
              ApproximateFirstReceiveTimestamp: String(Date.now()),
            },
            messageAttributes: {},
            md5OfBody: '',
            eventSource: 'aws:sqs',
            eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:ingest',
            awsRegion: REGION,
          };
        }),
      };
      const response = await processSqsBatch(event, { prefix: 'uploads/', bucket: BUCKET }, (ref, c) =>
        runtime.ingestObject(ref, c),
      );
      return response.batchItemFailures.map((f) => f.itemIdentifier);
    };

    let pending = await deliver([...messages.keys()]);
    expect(faulted).toBe(true);
    // Some uploads of the first batch could not be read: they are among the failures, with the poison.
    expect(pending.length, 'uploads failed by the fault, besides the poison').toBeGreaterThan(1);
    await s3rver.up();
    for (let round = 0; round < MAX_RECEIVES && pending.length > 0; round++) {
      const again = pending.filter((id) => (receives.get(id) ?? 0) < MAX_RECEIVES);
      dlq.push(...pending.filter((id) => (receives.get(id) ?? 0) >= MAX_RECEIVES));
      pending = again.length > 0 ? await deliver(again) : [];
    }
    dlq.push(...pending);

    const items = await detectionRecords();
    const statuses = items
      .filter((r) => String(r.pk).startsWith('DETECTION#'))
      .map((r) => `${r.key}: ${r.status} ${r.reason ?? ''}`);
    expect(dlq, `dead-lettered ${dlq.length}; records ${JSON.stringify(statuses)}`).toEqual([poison]);
    const records = items.filter((r) => String(r.pk).startsWith('DETECTION#'));
    // Exactly one record per upload, the corrupt one included (as failed).
    expect(records.map((r) => r.key).sort()).toEqual([...uploads, corrupt].sort());
    for (const key of uploads) expect(records.find((r) => r.key === key)?.status, key).toBe('processed');
    expect(records.find((r) => r.key === corrupt)).toMatchObject({ status: 'failed' });
    // One audit row per decided face, whatever the deliveries.
    const faces = records.reduce((n, r) => n + ((r.summary as { faces: number }).faces ?? 0), 0);
    const audit = items.filter((r) => String(r.pk).startsWith('AUDIT#'));
    expect(faces).toBeGreaterThanOrEqual(uploads.length);
    expect(audit.length).toBe(faces);

    // A crash after the record but before the claim was settled: the ledger row is lost, SQS delivers again,
    // the upload is identified again. Still one record, and the audit rows (keyed by the claim) are not doubled.
    const ledger = (await doc.send(new ScanCommand({ TableName: tables.idempotency }))).Items ?? [];
    const row = ledger.find((r) => r.key === uploads[0]);
    expect(row).toBeDefined();
    await doc.send(new DeleteCommand({ TableName: tables.idempotency, Key: { id: row?.id } }));
    const first = [...messages].find(([, body]) => body.includes(uploads[0] as string))?.[0] as string;
    expect(
      await deliver([first, ...[...messages.keys()].filter((id) => id !== poison && id !== first)]),
    ).toEqual([]);
    const after = await detectionRecords();
    expect(after.filter((r) => String(r.pk).startsWith('DETECTION#')).length).toBe(records.length);
    expect(after.filter((r) => String(r.pk).startsWith('AUDIT#')).length).toBe(faces);
    await runtime.dispose();
  }, 240_000);
});
