/**
 * A published index in shards (`core/search/shards.ts`): encoded from one index, decoded back into one, and the
 * checks that refuse a set that does not add up.
 */
import { describe, expect, it } from 'vitest';
import { TEMPLATE_VARIANTS, type TemplateVariant } from '../../functions/core/domain.ts';
import {
  checkShardCount,
  decodeShards,
  encodeShards,
  MAX_INDEX_SHARDS,
  ShardSetDecoder,
  shardsOfSubjects,
} from '../../functions/core/search/shards.ts';
import { encodeSnapshot, inspectSnapshot, shardOf } from '../../functions/core/search/snapshot.ts';
import { VectorIndex } from '../../functions/core/search/vector-index.ts';
import { expectFaceprintError } from '../support/errors.ts';
import { randomUnit, rng } from '../support/random.ts';

const CREATED = '2026-12-01T12:00:00.000Z';
const MODEL = { id: 'arcface-r100@1', dim: 32 };

function gallery(subjects: number, perSubject = 3, modelId = MODEL.id): VectorIndex {
  const next = rng(subjects);
  const index = new VectorIndex({ modelId, dim: MODEL.dim });
  for (let s = 0; s < subjects; s++) {
    index.add(
      Array.from({ length: perSubject }, (_, t) => ({
        templateId: `t-${s}-${t}`,
        subjectId: `subject-${s}`,
        variant: TEMPLATE_VARIANTS[t % TEMPLATE_VARIANTS.length] as TemplateVariant,
        vector: randomUnit(MODEL.dim, next),
      })),
    );
  }
  return index;
}

describe('index shards', () => {
  it('encode then decode gives the same index: every template, and the same answers', () => {
    const index = gallery(40);
    const shards = encodeShards(index, { count: 5, createdAt: CREATED });
    expect([...shards.keys()]).toEqual([0, 1, 2, 3, 4]);
    const decoded = decodeShards({ count: 5, createdAt: CREATED, shards }, MODEL);
    expect(decoded.size).toBe(index.size);
    expect(decoded.subjectIds().sort()).toEqual(index.subjectIds().sort());
    const next = rng(7);
    for (let q = 0; q < 10; q++) {
      const query = randomUnit(MODEL.dim, next);
      expect(decoded.search(query, { k: 5 })).toEqual(index.search(query, { k: 5 }));
    }
  });

  it('decodes shards one at a time as they arrive, in any order, into the same index', () => {
    const index = gallery(40);
    const shards = encodeShards(index, { count: 5, createdAt: CREATED, dtype: 'int8' });
    const whole = decodeShards({ count: 5, createdAt: CREATED, shards }, MODEL);
    const decoder = new ShardSetDecoder(5, MODEL);
    for (const shard of [3, 0, 4, 1, 2]) decoder.add(shard, shards.get(shard) as Uint8Array);
    expect(decoder.size).toBe(5);
    const arrived = decoder.finish();
    // Rows in shard order whatever the arrival order: the same index, row for row.
    expect([...arrived.entries()]).toEqual([...whole.entries()]);
    // A shard heard of twice, or under another number, is refused as it arrives.
    expectFaceprintError(() => decoder.add(3, shards.get(3) as Uint8Array), 'INDEX_CORRUPT');
    const other = new ShardSetDecoder(5, MODEL);
    expectFaceprintError(() => other.add(2, shards.get(1) as Uint8Array), 'INDEX_CORRUPT');
    expectFaceprintError(() => other.finish(), 'INDEX_CORRUPT');
  });

  it('with the row counts known up front, writes each shard into its final rows as it arrives', () => {
    const index = gallery(40);
    const shards = encodeShards(index, { count: 5, createdAt: CREATED, dtype: 'int8' });
    const whole = decodeShards({ count: 5, createdAt: CREATED, shards }, MODEL);
    const rows = new Map([...shards].map(([shard, bytes]) => [shard, inspectSnapshot(bytes).count]));
    const placed = new ShardSetDecoder(5, MODEL, rows);
    for (const shard of [4, 2, 0, 3, 1]) placed.add(shard, shards.get(shard) as Uint8Array);
    expect([...placed.finish().entries()]).toEqual([...whole.entries()]);
    // A shard that is not the size the manifest said, one not expected, one that never came: refused.
    const wrongRows = new ShardSetDecoder(
      5,
      MODEL,
      new Map([...rows].map(([s, n]) => [s, s === 1 ? n + 1 : n])),
    );
    expectFaceprintError(() => wrongRows.add(1, shards.get(1) as Uint8Array), 'INDEX_CORRUPT');
    const partial = new ShardSetDecoder(
      5,
      MODEL,
      new Map([
        [0, rows.get(0) as number],
        [1, rows.get(1) as number],
      ]),
    );
    expectFaceprintError(() => partial.add(2, shards.get(2) as Uint8Array), 'INDEX_CORRUPT');
    partial.add(0, shards.get(0) as Uint8Array);
    expectFaceprintError(() => partial.finish(), 'INDEX_CORRUPT');
    // Another model's shards are refused as they arrive.
    const foreign = encodeShards(gallery(10, 3, 'other-model'), { count: 5, createdAt: CREATED });
    const strict = new ShardSetDecoder(
      5,
      MODEL,
      new Map([...foreign].map(([s, b]) => [s, inspectSnapshot(b).count])),
    );
    expectFaceprintError(() => strict.add(0, foreign.get(0) as Uint8Array), 'INDEX_INCOMPATIBLE');
  });

  it('decodes only the shards it is given, and only their subjects', () => {
    const index = gallery(40);
    const touched = shardsOfSubjects(['subject-3', 'subject-17', 'subject-3'], 8);
    expect(touched).toEqual([...new Set([shardOf('subject-3', 8), shardOf('subject-17', 8)])].sort());
    const shards = encodeShards(index, { count: 8, createdAt: CREATED, only: touched });
    expect([...shards.keys()]).toEqual(touched);
    const partial = decodeShards({ count: 8, createdAt: CREATED, shards }, MODEL);
    expect(partial.subjectIds()).toContain('subject-3');
    expect(partial.subjectIds()).toContain('subject-17');
    for (const subjectId of partial.subjectIds()) expect(touched).toContain(shardOf(subjectId, 8));
    expect(partial.size).toBeLessThan(index.size);
  });

  it('an empty gallery still publishes every shard, each empty', () => {
    const empty = new VectorIndex({ modelId: MODEL.id, dim: MODEL.dim });
    const shards = encodeShards(empty, { count: 3, createdAt: CREATED });
    expect(decodeShards({ count: 3, createdAt: CREATED, shards }, MODEL).size).toBe(0);
  });

  it('refuses a shard published under another number or count, or of another model', () => {
    const index = gallery(20);
    const shards = encodeShards(index, { count: 4, createdAt: CREATED });
    const swapped = new Map([
      [0, shards.get(1) as Uint8Array],
      [1, shards.get(0) as Uint8Array],
    ]);
    expect(
      expectFaceprintError(
        () => decodeShards({ count: 4, createdAt: CREATED, shards: swapped }, MODEL),
        'INDEX_CORRUPT',
      ).message,
    ).toMatch(/shard 0 of 4 holds 1 of 4/);
    expectFaceprintError(
      () => decodeShards({ count: 2, createdAt: CREATED, shards }, MODEL),
      'INDEX_CORRUPT',
    );
    const unsharded = new Map([[0, encodeSnapshot(index, { createdAt: CREATED })]]);
    expect(
      expectFaceprintError(
        () => decodeShards({ count: 1, createdAt: CREATED, shards: unsharded }, MODEL),
        'INDEX_CORRUPT',
      ).message,
    ).toMatch(/unsharded/);
    const other = encodeShards(gallery(20, 3, 'mobilefacenet@2'), { count: 4, createdAt: CREATED });
    expectFaceprintError(
      () => decodeShards({ count: 4, createdAt: CREATED, shards: other }, MODEL),
      'INDEX_INCOMPATIBLE',
    );
    expectFaceprintError(
      () => decodeShards({ count: 4, createdAt: CREATED, shards: new Map() }, MODEL),
      'INDEX_CORRUPT',
    );
  });

  it('shard counts outside 1..MAX are refused', () => {
    for (const bad of [0, -1, 1.5, MAX_INDEX_SHARDS + 1, Number.NaN]) {
      expectFaceprintError(() => checkShardCount(bad), 'INVALID_ARGUMENT');
    }
    expect(() => checkShardCount(MAX_INDEX_SHARDS)).not.toThrow();
  });
});
