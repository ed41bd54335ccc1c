/**
 * The DynamoDB change feed against DynamoDB Local: a reader catching up with templates created after its
 * snapshot reads them by key from the `byCreation` index (day × shard partitions), never by scanning the table;
 * only a cursor older than a month falls back to a scan.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoFaceStore, feedBucket } from '../../functions/adapters/aws/dynamo-face-store.ts';
import type { FaceTemplate } from '../../functions/core/domain.ts';
import { createTables, dynamoClient, type Emulator, startDynamoLocal } from '../support/emulators.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00.000Z');

function template(id: string, subjectId: string, createdAt: number): FaceTemplate {
  return {
    id,
    subjectId,
    source: 'test',
    box: { x: 0, y: 0, width: 10, height: 10 },
    quality: {
      score: 1,
      reasons: [],
      brightness: 0.5,
      contrast: 0.5,
      sharpness: 1,
      interOcularPx: 40,
      detectionScore: 1,
      yaw: 0,
      pitch: 0,
      roll: 0,
    },
    embedding: Float32Array.from({ length: 8 }, (_, i) => i + 1),
    variant: 'original',
    model: { id: 'm', version: '1' },
    createdAt: new Date(createdAt).toISOString(),
  };
}

describe('DynamoDB change feed by key', () => {
  let dynamo: Emulator;
  let store: DynamoFaceStore;
  const commands: string[] = [];

  beforeAll(async () => {
    dynamo = await startDynamoLocal();
    const tables = await createTables(dynamo.endpoint);
    const client = dynamoClient(dynamo.endpoint);
    client.middlewareStack.add(
      (next, context) => (args) => {
        commands.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    store = new DynamoFaceStore(client, tables);
    const at = (name: string, createdAt: number) => ({
      subject: { id: name, name, metadata: {}, createdAt: new Date(createdAt).toISOString() },
      templates: [0, 1, 2].map((i) => template(`${name}-${i}`, name, createdAt + i)),
    });
    for (const [name, createdAt] of [
      ['old', NOW - 40 * DAY],
      ['last-week', NOW - 7 * DAY],
      ['yesterday', NOW - DAY],
      ['recent', NOW - 3_600_000],
      ['clock-ahead', NOW + 120_000],
    ] as const) {
      const { subject, templates } = at(name, createdAt);
      await store.createSubject(subject, templates);
    }
  }, 120_000);

  afterAll(async () => {
    await dynamo?.stop();
  });

  it('spreads a day over shards by template id', () => {
    const buckets = new Set(
      Array.from({ length: 200 }, (_, i) => feedBucket(`t${i}`, '2026-12-01T00:00:00Z')),
    );
    expect([...buckets].every((b) => b.startsWith('2026-12-01#'))).toBe(true);
    expect(buckets.size).toBeGreaterThan(4);
  });

  it('reads only what is new, by key, including a writer whose clock runs ahead', async () => {
    commands.length = 0;
    const found = await store.templatesCreatedAfter(new Date(NOW - 2 * DAY).toISOString(), NOW);
    expect(new Set(found.map((t) => t.subjectId))).toEqual(new Set(['yesterday', 'recent', 'clock-ahead']));
    expect(found).toHaveLength(9);
    // Sorted by creation time, oldest first.
    expect(found.map((t) => t.createdAt)).toEqual([...found.map((t) => t.createdAt)].sort());
    expect(commands).not.toContain('ScanCommand');
    expect(commands.every((c) => c === 'QueryCommand')).toBe(true);
    // The time itself is exclusive: a template created exactly at the cursor is not new.
    const after = await store.templatesCreatedAfter(found[0]?.createdAt as string, NOW);
    expect(after).toHaveLength(8);
  });

  it('falls back to a scan only for a cursor older than a month', async () => {
    commands.length = 0;
    const found = await store.templatesCreatedAfter(new Date(NOW - 45 * DAY).toISOString(), NOW);
    expect(found).toHaveLength(15);
    expect(commands).toContain('ScanCommand');
  });
});
