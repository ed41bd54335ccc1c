/**
 * The decision audit log in DynamoDB, written exactly once per decision (issue 13). An audit row lives at
 * `pk` = `AUDIT#<day>`, `sk` = `<at>#<id>` (listing walks back day by day), so a redelivered upload, decided
 * again a second or a day later, would land on another key. Each row is therefore written in one transaction
 * with a guard item keyed by the entry's id alone (`pk` = `AUDITID#<id>`): the ingest workflow derives that
 * id from the ingest claim (`auditKey` = key and version, as in local mode), and the guard's
 * `attribute_not_exists` condition makes a second write of the same decision a no-op. The guard holds no face
 * data (an id and where its row is) and expires with the row. The same transaction writes the row's mentions
 * (`subject-mentions.ts`: one item per subject the decision names), so that erasure finds the row by key.
 *
 * @module
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { DecisionAuditEntry } from '../../core/domain.ts';
import { markIndexed, mentionItems, subjectsNamed } from './subject-mentions.ts';

/** Where an audit entry's row lives. */
export function auditRowKey(entry: Pick<DecisionAuditEntry, 'at' | 'id'>): { pk: string; sk: string } {
  return { pk: `AUDIT#${entry.at.slice(0, 10)}`, sk: `${entry.at}#${entry.id}` };
}

/** The guard item that makes an audit id unique. */
export function auditGuardKey(id: string): { pk: string; sk: string } {
  return { pk: `AUDITID#${id}`, sk: 'AUDITID' };
}

/** Items per transaction: DynamoDB's limit. */
const TRANSACTION_ITEMS = 100;

/** Items one entry writes: its guard, its row and one mention per subject it names. */
const itemsOf = (e: DecisionAuditEntry) => 2 + subjectsNamed(e.decision).length;

function transaction(table: string, entries: DecisionAuditEntry[], retentionSeconds: number) {
  return new TransactWriteCommand({
    TransactItems: entries.flatMap((e) => {
      const row = auditRowKey(e);
      const expiresAt = Math.floor(Date.parse(e.at) / 1000) + retentionSeconds;
      const mentions = mentionItems(row, subjectsNamed(e.decision), expiresAt);
      return [
        ...mentions.map((Item) => ({ Put: { TableName: table, Item } })),
        {
          Put: {
            TableName: table,
            Item: { ...auditGuardKey(e.id), row: `${row.pk}|${row.sk}`, expiresAt },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        { Put: { TableName: table, Item: { ...row, entry: JSON.stringify(e), expiresAt } } },
      ];
    }),
  });
}

function alreadyWritten(error: unknown): boolean {
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')
  );
}

/**
 * Writes audit entries so that each id is recorded once however often it is written. Returns how many rows
 * were new (the rest were already there: a redelivery).
 */
export async function writeAuditOnce(
  doc: DynamoDBDocumentClient,
  table: string,
  entries: DecisionAuditEntry[],
  retentionSeconds: number,
): Promise<number> {
  let written = 0;
  if (entries.length > 0) await markIndexed(doc, table);
  for (const chunk of chunks(entries)) {
    try {
      await doc.send(transaction(table, chunk, retentionSeconds));
      written += chunk.length;
    } catch (error) {
      if (!alreadyWritten(error)) throw error;
      // Some were written before (a retry after a partial write): one by one, skipping those.
      for (const entry of chunk) {
        try {
          await doc.send(transaction(table, [entry], retentionSeconds));
          written += 1;
        } catch (single) {
          if (!alreadyWritten(single)) throw single;
        }
      }
    }
  }
  return written;
}

/** Consecutive entries whose items fit one transaction. */
function chunks(entries: DecisionAuditEntry[]): DecisionAuditEntry[][] {
  const out: DecisionAuditEntry[][] = [];
  let current: DecisionAuditEntry[] = [];
  let size = 0;
  for (const entry of entries) {
    const n = itemsOf(entry);
    if (current.length > 0 && size + n > TRANSACTION_ITEMS) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}
