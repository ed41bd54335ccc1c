/**
 * The DynamoDB follow-up stores on their own, against DynamoDB Local, with seeded unit vectors (no model: the
 * model's part is in aws-unknowns-review.test.ts): what the HTTP flow does not reach — pages and cursors, a
 * merge larger than one transaction, racing writers of one person, TTL attributes, and the review store's
 * erasure of a subject.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoReviewStore } from '../../functions/adapters/aws/dynamo-review-store.ts';
import { DynamoUnknownStore } from '../../functions/adapters/aws/dynamo-unknown-store.ts';
import type { Review } from '../../functions/core/review/ports.ts';
import type { Sighting } from '../../functions/core/unknowns/ports.ts';
import {
  createTables,
  type Emulator,
  FAKE_CREDENTIALS,
  REGION,
  startDynamoLocal,
  type TableNames,
} from '../support/emulators.ts';
import { expectCode } from '../support/unknowns.ts';

const quality = {
  score: 0.8,
  reasons: [],
  brightness: 120,
  contrast: 40,
  sharpness: 300,
  interOcularPx: 60,
  detectionScore: 0.99,
  yaw: 0,
  pitch: 0,
  roll: 0,
};

function sighting(at: string, score = 0.8): Sighting {
  return {
    id: randomUUID(),
    unknownId: undefined,
    at,
    source: `cam/${at}`,
    operation: 'identify',
    faceIndex: 0,
    box: { x: 1, y: 2, width: 30, height: 30 },
    quality: { ...quality, score },
    embedding: new Float32Array(512).fill(1 / Math.sqrt(512)),
    model: { id: 'test', version: '1' },
    auditId: randomUUID(),
    expiresAt: new Date(Date.parse(at) + 30 * 86_400_000).toISOString(),
  };
}

const CROP = new Uint8Array([0xff, 0xd8, 1, 2, 3]);

describe('DynamoDB follow-up stores', () => {
  let dynamo: Emulator;
  let tables: TableNames;
  let client: DynamoDBClient;
  let unknowns: DynamoUnknownStore;
  let doc: DynamoDBDocumentClient;

  /** A person with `n` sightings, the first starting it with a held one. */
  async function person(n: number, day: number): Promise<string> {
    const id = randomUUID();
    const at = (i: number) => new Date(Date.UTC(2026, 10, day, 0, i)).toISOString();
    const held = sighting(at(0));
    await unknowns.addSighting(held, CROP, { kind: 'hold' });
    await unknowns.addSighting(sighting(at(1)), CROP, { kind: 'new', unknownId: id, with: [held.id] });
    for (let i = 2; i < n; i++)
      await unknowns.addSighting(sighting(at(i)), CROP, { kind: 'join', unknownId: id });
    return id;
  }

  beforeAll(async () => {
    dynamo = await startDynamoLocal();
    tables = await createTables(dynamo.endpoint);
    client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: REGION, credentials: FAKE_CREDENTIALS });
    doc = DynamoDBDocumentClient.from(client);
    unknowns = new DynamoUnknownStore(client, tables.followUp);
  }, 120_000);
  afterAll(async () => {
    client?.destroy();
    await dynamo?.stop();
  });

  it('pages persons by recency and by count; a cursor of another list is refused', async () => {
    const a = await person(2, 1);
    const b = await person(4, 2);
    const c = await person(3, 3);
    const recent = await unknowns.listUnknowns({ sort: 'recent', limit: 2 });
    expect(recent.items.map((p) => p.id)).toEqual([c, b]);
    const rest = await unknowns.listUnknowns({ sort: 'recent', limit: 2, cursor: recent.nextCursor });
    expect(rest.items.map((p) => p.id)).toEqual([a]);
    expect(rest.nextCursor).toBeUndefined();
    const frequent = await unknowns.listUnknowns({ sort: 'frequent', limit: 3 });
    expect(frequent.items.map((p) => [p.id, p.sightingCount])).toEqual([
      [b, 4],
      [c, 3],
      [a, 2],
    ]);
    await expectCode(
      unknowns.listUnknowns({ sort: 'frequent', limit: 2, cursor: recent.nextCursor }),
      'INVALID_ARGUMENT',
    );
    await expectCode(
      unknowns.listUnknowns({ sort: 'recent', limit: 2, cursor: 'bm9wZQ' }),
      'INVALID_ARGUMENT',
    );
    for (const id of [a, b, c]) expect(await unknowns.deleteUnknown(id)).toBe(true);
  }, 60_000);

  it('a merge larger than one transaction moves every sighting', async () => {
    const big = await person(100, 4);
    const small = await person(2, 5);
    await unknowns.merge(big, small);
    expect(await unknowns.getUnknown(big)).toBeUndefined();
    const merged = await unknowns.getUnknown(small);
    expect(merged?.sightingCount).toBe(102);
    const sightings = await unknowns.listSightings(small);
    expect(sightings).toHaveLength(102);
    expect(sightings.every((s) => s.unknownId === small)).toBe(true);
    // The best face and the last sighting follow the members.
    expect(merged?.lastSeenAt).toBe(sightings[0]?.at);
    expect(await unknowns.deleteUnknown(small)).toBe(true);
    expect(await unknowns.listSightingVectors()).toEqual([]);
  }, 120_000);

  it('two containers joining one person at once both land (the version check retries the loser)', async () => {
    const id = await person(2, 6);
    const other = new DynamoUnknownStore(client, tables.followUp);
    const at = (i: number) => new Date(Date.UTC(2026, 10, 6, 1, i)).toISOString();
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? other : unknowns).addSighting(sighting(at(i)), CROP, { kind: 'join', unknownId: id }),
      ),
    );
    expect((await unknowns.getUnknown(id))?.sightingCount).toBe(8);
    await unknowns.markPromoted(id, 'someone');
    await expectCode(other.markPromoted(id, 'someone-else'), 'UNKNOWN_PROMOTED');
    await expectCode(
      other.addSighting(sighting(at(9)), CROP, { kind: 'join', unknownId: id }),
      'UNKNOWN_PROMOTED',
    );
    expect(await unknowns.listSightings(id)).toEqual([]);
    expect((await unknowns.listUnknowns({ sort: 'recent', limit: 10 })).items).toEqual([]);
  }, 60_000);

  it('sightings, crops and persons carry the TTL attribute (epoch seconds) of their expiry', async () => {
    const s = sighting('2026-11-07T00:00:00.000Z');
    await unknowns.addSighting(s, CROP, { kind: 'hold' });
    for (const sk of ['SIGHTING', 'CROP']) {
      const { Item } = await doc.send(
        new GetCommand({ TableName: tables.followUp, Key: { pk: `SIGHTING#${s.id}`, sk } }),
      );
      expect(Item?.expiresAt).toBe(Date.parse(s.expiresAt) / 1000);
    }
    expect(await unknowns.purgeExpired('2026-12-08T00:00:00.000Z')).toEqual({ sightings: 1, unknowns: 0 });
    expect(await unknowns.getCrop(s.id)).toBeUndefined();
  });

  it('reviews: pages by status; erasure of a subject deletes negatives and faces and redacts its reviews', async () => {
    const reviews = new DynamoReviewStore(client, tables.followUp);
    const review = (i: number, subjectId: string): Review => ({
      id: randomUUID(),
      status: 'pending',
      createdAt: new Date(Date.UTC(2026, 10, 8, 0, i)).toISOString(),
      operation: 'identify',
      source: `cam/${i}`,
      faceIndex: 0,
      box: { x: 1, y: 2, width: 3, height: 4 },
      quality: { score: 0.8, reasons: [] },
      decision: {
        kind: 'match',
        subjectId,
        subjectName: subjectId,
        similarity: 0.6,
        threshold: 0.5,
        confidence: 0.9,
      },
      auditId: randomUUID(),
    });
    const items = [0, 1, 2].map((i) => ({
      review: review(i, i === 2 ? 'bo' : 'al'),
      embedding: new Float32Array(512).fill(0.01),
      crop: CROP,
    }));
    await reviews.addReviews(items);
    const [r0, r1, r2] = items.map((i) => i.review) as [Review, Review, Review];
    const verdict = { reviewer: 'x', note: undefined, reviewedAt: '2026-11-08T01:00:00.000Z' };
    await reviews.settle(r0.id, { ...verdict, status: 'rejected' }, randomUUID());
    await expectCode(
      reviews.settle(r0.id, { ...verdict, status: 'confirmed' }, randomUUID()),
      'REVIEW_NOT_PENDING',
    );
    await expectCode(
      reviews.settle('nope', { ...verdict, status: 'confirmed' }, randomUUID()),
      'REVIEW_NOT_FOUND',
    );
    const pending = await reviews.listReviews({ status: 'pending', limit: 1 });
    expect(pending.items.map((r) => r.id)).toEqual([r2.id]);
    const next = await reviews.listReviews({ status: 'pending', limit: 1, cursor: pending.nextCursor });
    expect(next.items.map((r) => r.id)).toEqual([r1.id]);
    await expectCode(reviews.listReviews({ limit: 1, cursor: pending.nextCursor }), 'INVALID_ARGUMENT');
    expect((await reviews.listNegatives('al')).map((n) => n.reviewId)).toEqual([r0.id]);
    expect(await reviews.listNegatives()).toHaveLength(1);

    await reviews.eraseSubject('al');
    expect(await reviews.listNegatives('al')).toEqual([]);
    for (const r of [r0, r1]) {
      const erased = await reviews.getReview(r.id);
      expect(erased).toMatchObject({
        source: '[erased]',
        decision: { subjectId: '[erased]', subjectName: '[erased]' },
      });
      expect(await reviews.getReviewCrop(r.id)).toBeUndefined();
    }
    expect((await reviews.getReview(r0.id))?.status).toBe('rejected');
    // Bo's review is untouched.
    expect(await reviews.getReviewCrop(r2.id)).toEqual(CROP);
  }, 60_000);
});
