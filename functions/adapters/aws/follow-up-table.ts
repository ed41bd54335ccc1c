/**
 * The follow-up table (unknown persons, sightings, reviews, negatives): one DynamoDB table, item types told
 * apart by their keys, two generic GSIs, and the helpers both stores share. Key layout (all strings):
 *
 * | item | `pk` | `sk` | GSI1 `gsi1pk` / `gsi1sk` | GSI2 `gsi2pk` / `gsi2sk` |
 * |---|---|---|---|---|
 * | unknown person | `UNKNOWN#<id>` | `PERSON` | `UNKNOWN` / `<lastSeenAt>#<id>` (recent) | `UNKNOWN` / `<count>#<id>` (frequent) |
 * | sighting | `SIGHTING#<id>` | `SIGHTING` | – | `SIGHTING` / `<expiresAt>#<id>` (every live vector; expiry sweep) |
 * | sighting crop | `SIGHTING#<id>` | `CROP` | – | – |
 * | review | `REVIEW#<id>` | `REVIEW` | `REVIEW` / `<createdAt>#<id>` | `REVIEW#<status>` / `<createdAt>#<id>` |
 * | review face | `REVIEW#<id>` | `FACE` | – | – |
 * | negative | `SUBJECT#<subjectId>` | `NEGATIVE#<id>` | `NEGATIVE` / `<createdAt>#<id>` | – |
 * | review of a subject | `SUBJECT#<subjectId>` | `REVIEW#<id>` | – | – |
 *
 * The `SUBJECT#` item collection is what erasure of a subject reads (one Query). Promoted persons carry no GSI
 * attributes (sparse: not listed). Crops and embeddings live in the items themselves (binary, ~4 KB JPEG and
 * 2 KB of floats): the data bucket is versioned, so an S3 crop would outlive its deletion as a noncurrent
 * version; in DynamoDB erasing the item erases the face. Crops sit in their own items (no GSI attributes), so
 * the GSI reads that attachment does every time never carry them.
 *
 * `expiresAt` (epoch seconds) is the table's TTL attribute on sightings, their crops and persons: DynamoDB
 * deletes expired items late (typically within days), so the core's own sweep (`purgeExpired`) erases on time
 * and TTL is only the backstop.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { TABLE_KEYS } from '../../../lib/runtime-config.ts';
import { FaceprintError } from '../../core/errors.ts';

export const GSI1 = TABLE_KEYS.followUp.indexes.recent.name;
export const GSI2 = TABLE_KEYS.followUp.indexes.rank.name;

/** DynamoDB's limit on the items of one transaction. */
export const MAX_TRANSACTION_ITEMS = 100;

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
export type Item = Record<string, unknown>;

/** A float vector as a binary attribute (2 KB for 512 dimensions). */
export function bytesOfFloats(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
}

/** A binary attribute back as floats (copied: the SDK's buffer may be shared and unaligned). */
export function floatsOfBytes(bytes: unknown): Float32Array {
  const source = bytes as Uint8Array;
  const copy = new Uint8Array(source.byteLength);
  copy.set(source);
  return new Float32Array(copy.buffer);
}

/** Epoch seconds for the TTL attribute. */
export function ttlOf(iso: string): number {
  return Math.ceil(Date.parse(iso) / 1000);
}

/** Whether a transaction was cancelled because one of its conditions failed (and which items failed). */
export function failedConditions(error: unknown): number[] | undefined {
  if (!(error instanceof TransactionCanceledException)) return undefined;
  const failed: number[] = [];
  error.CancellationReasons?.forEach((r, i) => {
    if (r.Code === 'ConditionalCheckFailed') failed.push(i);
  });
  return failed.length > 0 ? failed : undefined;
}

/** Whether a transaction lost a race with another one on the same items (worth a retry). */
export function isTransactionConflict(error: unknown): boolean {
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((r) => r.Code === 'TransactionConflict')
  );
}

export async function transact(doc: DynamoDBDocumentClient, items: TransactItem[]): Promise<void> {
  if (items.length === 0) return;
  await doc.send(new TransactWriteCommand({ TransactItems: items }));
}

/**
 * Writes `steps` (idempotent item writes) in transactions of at most 100 items, `final` (the conditional
 * writes that make the change visible) with the last of them. Where everything fits, it is one transaction;
 * otherwise a crash between chunks leaves only idempotent steps done, and the caller's retry completes it.
 */
export async function transactInChunks(
  doc: DynamoDBDocumentClient,
  steps: TransactItem[],
  final: TransactItem[],
): Promise<void> {
  const room = MAX_TRANSACTION_ITEMS - final.length;
  let rest = steps;
  while (rest.length > room) {
    await transact(doc, rest.slice(0, MAX_TRANSACTION_ITEMS));
    rest = rest.slice(MAX_TRANSACTION_ITEMS);
  }
  await transact(doc, [...rest, ...final]);
}

/** A page cursor: the last item's table and index keys, tagged with the list it belongs to. */
export function encodeCursor(list: string, key: Item): string {
  return Buffer.from(JSON.stringify({ list, key })).toString('base64url');
}

/** Decodes a cursor of `list`; anything else (another list's, tampered) is INVALID_ARGUMENT. */
export function decodeCursor(cursor: string, list: string, names: readonly string[]): Item {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      list?: unknown;
      key?: Record<string, unknown>;
    };
    const key = parsed.key;
    if (
      parsed.list === list &&
      key &&
      typeof key === 'object' &&
      Object.keys(key).length === names.length &&
      names.every((n) => typeof key[n] === 'string')
    ) {
      return key;
    }
  } catch {
    // fall through
  }
  throw new FaceprintError('INVALID_ARGUMENT', 'The cursor is not one this service handed out.');
}

/** A short random pause before retrying a write that lost a race, so the racers do not collide again. */
export function backOff(attempt: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, Math.random() * 20 * attempt));
}

/** Splits a list into pieces of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
