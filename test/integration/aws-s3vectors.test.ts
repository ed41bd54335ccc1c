/**
 * `index: 's3vectors'` end to end with the real handlers: enrolment through the enrol Lambda (DynamoDB Local,
 * s3rver), the indexer putting the templates stream into the vector index, identify querying it, and erasure
 * deleting the vectors at once. S3 Vectors has no local emulator: the index is the CONTRACT FAKE of
 * test/support/s3vectors-fake.ts (the documented request shapes and limits), reached by the real SDK client
 * through `AWS_ENDPOINT_URL_S3VECTORS`; everything else is the real local equivalent.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { S3Event } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';
import {
  createTables,
  type Emulator,
  emulatorEnv,
  type S3rverInstance,
  startDynamoLocal,
  startS3rver,
  TableStream,
} from '../support/emulators.ts';
import { asDelivered, lambdaContext, restEvent, sqsEvent } from '../support/lambda-events.ts';
import { startS3VectorsFake } from '../support/s3vectors-fake.ts';

const BUCKET = 'faceprint-vectors-e2e';
const INDEX_ARN = 'arn:aws:s3vectors:us-east-1:123456789012:bucket/faceprint-vectors/index/templates';

process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

describe.runIf(hasData(SEED))('AWS with index: s3vectors (contract fake of S3 Vectors)', () => {
  let dynamo: Emulator;
  let s3rver: Emulator & { server: S3rverInstance };
  let vectors: Awaited<ReturnType<typeof startS3VectorsFake>>;
  let stream: TableStream;
  let s3: S3Client;
  const s3Events: S3Event[] = [];
  const savedEnv = { ...process.env };
  let handlers: {
    enrol: typeof import('../../functions/handlers/enrol.ts');
    indexer: typeof import('../../functions/handlers/indexer.ts');
    api: typeof import('../../functions/handlers/api.ts');
  };

  async function put(key: string, bytes: Buffer): Promise<S3Event> {
    const before = s3Events.length;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
    const event = s3Events.slice(before).find((e) => e.Records[0]?.s3.object.key === key);
    if (!event) throw new Error(`s3rver emitted no event for ${key}`);
    return asDelivered(event);
  }

  async function identify(path: string) {
    const result = await handlers.api.handler(
      restEvent('POST', '/identify', { bytes: read(path), contentType: 'image/jpeg' }),
      lambdaContext('faceprint-api'),
    );
    const body = JSON.parse(result.body) as { faces: { decision: { kind: string; subjectId?: string } }[] };
    return { status: result.statusCode, decisions: body.faces.map((f) => f.decision) };
  }

  const subjectsIn = () => new Set([...vectors.vectors.values()].map((v) => v.metadata.subjectId));

  beforeAll(async () => {
    [dynamo, s3rver, vectors] = await Promise.all([
      startDynamoLocal(),
      startS3rver([BUCKET]),
      startS3VectorsFake({ indexArn: INDEX_ARN, dimension: 512 }),
    ]);
    s3rver.server.on('event', (event) => s3Events.push(event));
    const tables = await createTables(dynamo.endpoint);
    stream = await TableStream.open(dynamo.endpoint, tables.templates);
    delete process.env.AWS_PROFILE;
    Object.assign(process.env, {
      ...emulatorEnv({ s3: s3rver.endpoint, dynamo: dynamo.endpoint, bucket: BUCKET, tables }),
      AWS_ENDPOINT_URL_S3VECTORS: vectors.endpoint,
      FACEPRINT_API_KEYS_REQUIRED: 'false',
      FACEPRINT_VECTOR_INDEX: INDEX_ARN,
    });
    handlers = {
      enrol: await import('../../functions/handlers/enrol.ts'),
      indexer: await import('../../functions/handlers/indexer.ts'),
      api: await import('../../functions/handlers/api.ts'),
    };
    const { createClients } = await import('../../functions/handlers/aws/clients.ts');
    s3 = createClients().s3;
  }, 180_000);

  afterAll(async () => {
    await Promise.all([s3rver?.stop(), dynamo?.stop(), vectors?.close()]);
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  it('the indexer puts enrolled templates into the vector index instead of publishing a snapshot', async () => {
    const enrolled = await handlers.enrol.handler(
      sqsEvent(
        await put('gallery/irene/img_1.jpg', read(seedPhoto('irene', 1))),
        await put('gallery/joy/img_1.jpg', read(seedPhoto('joy', 1))),
      ),
      lambdaContext('faceprint-enrol'),
    );
    expect(enrolled.batchItemFailures).toEqual([]);
    const response = await handlers.indexer.handler(await stream.next(), lambdaContext('faceprint-indexer'));
    expect(response.batchItemFailures).toEqual([]);
    expect(subjectsIn()).toEqual(new Set(['irene', 'joy']));
    expect(vectors.requests.some((r) => r.path === '/PutVectors')).toBe(true);
    const { S3SnapshotStore } = await import('../../functions/adapters/aws/s3-snapshot-store.ts');
    expect(await new S3SnapshotStore(s3, BUCKET, 'index/').load()).toBeUndefined();
  });

  it('identify queries the vector index: another photo of an enrolled person matches', async () => {
    const queries = vectors.requests.filter((r) => r.path === '/QueryVectors').length;
    const { status, decisions } = await identify(seedPhoto('irene', 2));
    expect(status).toBe(200);
    expect(decisions.map((d) => [d.kind, d.subjectId])).toEqual([['match', 'irene']]);
    expect(vectors.requests.filter((r) => r.path === '/QueryVectors').length).toBeGreaterThan(queries);
  });

  it('erasure deletes the vectors at once; the REMOVE records that follow change nothing', async () => {
    const deleted = await handlers.api.handler(
      restEvent('DELETE', '/subjects/joy'),
      lambdaContext('faceprint-api'),
    );
    expect(deleted.statusCode).toBe(204);
    expect(subjectsIn()).toEqual(new Set(['irene']));
    const { decisions } = await identify(seedPhoto('joy', 2));
    expect(decisions.some((d) => d.subjectId === 'joy')).toBe(false);
    const event = await stream.next();
    expect(event.Records.some((r) => r.eventName === 'REMOVE')).toBe(true);
    const response = await handlers.indexer.handler(event, lambdaContext('faceprint-indexer'));
    expect(response.batchItemFailures).toEqual([]);
    expect(subjectsIn()).toEqual(new Set(['irene']));
  });
});
