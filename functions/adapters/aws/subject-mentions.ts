/**
 * The detections table's index of who is named where (issue 13's erasure, by key): for every item that names a
 * subject (an audit row, a detection record, a video's track item) one small mention item, written before or
 * with the item it points to, so that erasing a subject queries its mentions instead of scanning the table.
 *
 * | item | `pk` | `sk` | attributes |
 * |---|---|---|---|
 * | a mention | `MENTION#<subjectId>` | `<target pk>|<target sk>` | `targetPk`, `targetSk`, `expiresAt` (the target's) |
 * | the index marker | `MENTION-INDEX` | `SINCE` | `since`: when the first indexed item was written |
 *
 * A subject is named by a decision (`subjectId`) and by its candidates, the decided one included. A mention
 * holds no face data: a subject id and where an item is. It is written before its target (or in the same
 * transaction, for audit rows), so a crash in between leaves a mention whose target is missing, which the
 * eraser skips, never a target that cannot be found. Items written before this index existed (before `since`)
 * have no mentions; the eraser finds those by the day partitions of the audit log (`aws-erasure.ts`).
 *
 * @module
 */

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';

/** `pk` of a subject's mentions. */
export const mentionPk = (subjectId: string) => `MENTION#${subjectId}`;

/** The marker item: when this table's items began to be indexed. */
export const MENTION_INDEX_MARKER = { pk: 'MENTION-INDEX', sk: 'SINCE' } as const;

/** A key of the detections table. */
export interface ItemKey {
  pk: string;
  sk: string;
}

/** What names subjects: a decision with its candidates (face, audit entry, track). */
interface Named {
  subjectId?: string | undefined;
  candidates?: readonly { subjectId: string }[] | undefined;
}

/** The subject ids named by decisions and candidate lists (each once). */
export function subjectsNamed(...decisions: (Named | undefined)[]): string[] {
  const ids = new Set<string>();
  for (const d of decisions) {
    if (d?.subjectId) ids.add(d.subjectId);
    for (const c of d?.candidates ?? []) ids.add(c.subjectId);
  }
  return [...ids];
}

/** The subject ids named by the faces of a detection record (each face's decision and candidates). */
export function subjectsOfFaces(
  faces: readonly { decision: Named; candidates?: readonly { subjectId: string }[] | undefined }[],
): string[] {
  return subjectsNamed(...faces.flatMap((f) => [f.decision, { candidates: f.candidates }]));
}

/** The mention items of one target. */
export function mentionItems(
  target: ItemKey,
  subjectIds: readonly string[],
  expiresAt: number,
): Record<string, unknown>[] {
  return subjectIds.map((id) => ({
    pk: mentionPk(id),
    sk: `${target.pk}|${target.sk}`,
    targetPk: target.pk,
    targetSk: target.sk,
    expiresAt,
  }));
}

const marked = new WeakMap<DynamoDBDocumentClient, Set<string>>();

/**
 * Writes the index marker once per table and process (a conditional put: the first writer's time stays). Call
 * before the first indexed write.
 */
export async function markIndexed(
  doc: DynamoDBDocumentClient,
  table: string,
  now = new Date(),
): Promise<void> {
  const tables = marked.get(doc) ?? new Set<string>();
  marked.set(doc, tables);
  if (tables.has(table)) return;
  try {
    await doc.send(
      new PutCommand({
        TableName: table,
        Item: { ...MENTION_INDEX_MARKER, since: now.toISOString() },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
  tables.add(table);
}

/** Writes mention items (25 per request, unprocessed ones again), after the marker. */
export async function writeMentions(
  doc: DynamoDBDocumentClient,
  table: string,
  items: Record<string, unknown>[],
): Promise<void> {
  await markIndexed(doc, table);
  await batchWrite(
    doc,
    table,
    items.map((Item) => ({ PutRequest: { Item } })),
  );
}

/** Deletes mention items by key. */
export async function deleteMentions(
  doc: DynamoDBDocumentClient,
  table: string,
  keys: ItemKey[],
): Promise<void> {
  await batchWrite(
    doc,
    table,
    keys.map((Key) => ({ DeleteRequest: { Key } })),
  );
}

type WriteRequest = { PutRequest: { Item: Record<string, unknown> } } | { DeleteRequest: { Key: ItemKey } };

async function batchWrite(
  doc: DynamoDBDocumentClient,
  table: string,
  requests: WriteRequest[],
): Promise<void> {
  for (let i = 0; i < requests.length; i += 25) {
    let pending: WriteRequest[] = requests.slice(i, i + 25);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((ok) => setTimeout(ok, Math.min(1000, 50 * 2 ** attempt)));
      if (attempt > 8) throw new Error(`DynamoDB left ${pending.length} mention write(s) unprocessed.`);
      const { UnprocessedItems } = await doc.send(
        new BatchWriteCommand({ RequestItems: { [table]: pending as never } }),
      );
      pending = (UnprocessedItems?.[table] ?? []) as WriteRequest[];
    }
  }
}

/** A subject's mentions: the mention's own key and its target's. */
export async function* mentionsOf(
  doc: DynamoDBDocumentClient,
  table: string,
  subjectId: string,
): AsyncGenerator<{ mention: ItemKey; target: ItemKey }> {
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': mentionPk(subjectId) },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      yield {
        mention: { pk: item.pk as string, sk: item.sk as string },
        target: { pk: item.targetPk as string, sk: item.targetSk as string },
      };
    }
    start = page.LastEvaluatedKey;
  } while (start);
}
