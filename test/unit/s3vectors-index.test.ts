/**
 * The S3 Vectors adapter, driven through the real @aws-sdk/client-s3vectors client against a CONTRACT FAKE of the
 * service (test/support/s3vectors-fake.ts): S3 Vectors has no local emulator, so this checks that the requests
 * match the documented shapes and limits and that fusion, filters and erasure behave, not the service's recall.
 */
import { S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3VectorsIndex } from '../../functions/adapters/aws/s3vectors-index.ts';
import type { IndexEntry } from '../../functions/core/search/vector-index.ts';
import { expectFaceprintError } from '../support/errors.ts';
import { randomUnit, rng } from '../support/random.ts';
import { startS3VectorsFake } from '../support/s3vectors-fake.ts';

const DIM = 512;
const INDEX_ARN = 'arn:aws:s3vectors:eu-west-1:123456789012:bucket/faceprint-vectors/index/templates';

let fake: Awaited<ReturnType<typeof startS3VectorsFake>>;
let index: S3VectorsIndex;

beforeAll(async () => {
  fake = await startS3VectorsFake({ indexArn: INDEX_ARN, dimension: DIM });
  const client = new S3VectorsClient({
    region: 'eu-west-1',
    endpoint: fake.endpoint,
    credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' },
  });
  index = new S3VectorsIndex({ client, indexArn: INDEX_ARN });
});
afterAll(() => fake.close());

/** 240 subjects × 5 templates (1,200 vectors: three PutVectors calls of ≤ 500). */
function gallery(): IndexEntry[] {
  const next = rng(14);
  const out: IndexEntry[] = [];
  for (let s = 0; s < 240; s++) {
    const centre = randomUnit(DIM, next);
    for (const [t, variant] of (['original', 'mirror', 'blur', 'dark', 'lowres'] as const).entries()) {
      const noise = randomUnit(DIM, next);
      out.push({
        templateId: `s${s}-t${t}`,
        subjectId: `s${s}`,
        variant,
        vector: centre.map((x, i) => x + 0.2 * (noise[i] as number)),
      });
    }
  }
  return out;
}

describe('S3VectorsIndex against the contract fake', () => {
  const entries = gallery();

  it('puts in batches of at most 500 with the documented vector shape (key, data.float32, metadata)', async () => {
    await index.upsert(
      entries.map((e) => ({ ...e, lists: e.subjectId === 's3' || e.subjectId === 's4' ? ['watch'] : [] })),
    );
    const puts = fake.requests.filter((r) => r.path === '/PutVectors');
    expect(puts.map((p) => (p.body.vectors as unknown[]).length)).toEqual([500, 500, 200]);
    const body = (puts[0] as (typeof puts)[number]).body;
    const first = (body.vectors as Record<string, unknown>[])[0] as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['indexArn', 'vectors']);
    expect(first.key).toBe('s0-t0');
    expect((first.data as { float32: number[] }).float32).toHaveLength(DIM);
    expect(Math.hypot(...(first.data as { float32: number[] }).float32)).toBeCloseTo(1, 5);
    expect(first.metadata).toEqual({ subjectId: 's0', variant: 'original', templateId: 's0-t0' });
    expect(fake.vectors.size).toBe(1200);
  });

  it('queries with topK = k × oversample (≤ 100), metadata and distances, and fuses per subject', async () => {
    const target = entries[57] as IndexEntry; // s11
    const found = await index.search(target.vector, { k: 10 });
    const query = fake.requests.filter((r) => r.path === '/QueryVectors').at(-1);
    expect(query?.body).toMatchObject({
      indexArn: INDEX_ARN,
      topK: 50,
      returnMetadata: true,
      returnDistance: true,
    });
    expect(query?.body.filter).toBeUndefined();
    expect(found[0]).toMatchObject({ subjectId: 's11', templateId: 's11-t2' });
    expect(found[0]?.similarity).toBeCloseTo(1, 5);
    expect(new Set(found.map((c) => c.subjectId)).size).toBe(found.length);
    await index.search(target.vector, { k: 50 });
    expect(fake.requests.at(-1)?.body.topK).toBe(100);
  });

  it('filters by watch list with $eq on the list metadata', async () => {
    const found = await index.search((entries[57] as IndexEntry).vector, { k: 5, list: 'watch' });
    expect(fake.requests.at(-1)?.body.filter).toEqual({ lists: { $eq: 'watch' } });
    expect(found.map((c) => c.subjectId).sort()).toEqual(['s3', 's4']);
  });

  it('erasure deletes the keys for real (DeleteVectors, ≤ 500 keys) and no query finds them', async () => {
    const erased = entries.filter((e) => e.subjectId === 's11').map((e) => e.templateId);
    await index.removeTemplates(erased);
    const del = fake.requests.filter((r) => r.path === '/DeleteVectors').at(-1);
    expect(del?.body).toEqual({ indexArn: INDEX_ARN, keys: erased });
    for (const key of erased) expect(fake.vectors.has(key)).toBe(false);
    const found = await index.search((entries[57] as IndexEntry).vector, { k: 20 });
    expect(found.map((c) => c.subjectId)).not.toContain('s11');
  });

  it('refuses a bad ARN, k or vector before sending anything', async () => {
    const before = fake.requests.length;
    expectFaceprintError(
      () => new S3VectorsIndex({ client: new S3VectorsClient({}), indexArn: 'templates' }),
      'INVALID_ARGUMENT',
    );
    await expect(index.search(new Float32Array(DIM), { k: 3 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(index.search(randomUnit(DIM, rng(1)), { k: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(fake.requests.length).toBe(before);
  });
});
