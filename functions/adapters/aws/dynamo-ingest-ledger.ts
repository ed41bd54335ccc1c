import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { IngestLedger, IngestState } from '../../core/gallery/ports.ts';

/**
 * The ingest ledger in the detections table (`pk` = `INGEST#<key>`, `sk` = fingerprint): a conditional put makes
 * exactly one of several deliveries of the same S3 event the one that processes the object. A claim older than
 * `staleAfterMs` (the worker died) may be taken over.
 */
export class DynamoIngestLedger implements IngestLedger {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
    private readonly options: { staleAfterMs?: number; now?: () => number } = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  async claim(
    key: string,
    fingerprint: string,
  ): Promise<{ state: IngestState; firstClaim: boolean; acquired: boolean }> {
    const now = this.now();
    const item = { pk: `INGEST#${key}`, sk: fingerprint };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...item, state: 'claimed', claimedAt: now, attempts: 1 },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { state: 'claimed', firstClaim: true, acquired: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const stale = now - (this.options.staleAfterMs ?? 15 * 60_000);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: item,
          UpdateExpression: 'SET claimedAt = :now, attempts = attempts + :one',
          ConditionExpression: '#state = :claimed AND claimedAt < :stale',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':now': now, ':one': 1, ':claimed': 'claimed', ':stale': stale },
        }),
      );
      return { state: 'claimed', firstClaim: false, acquired: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: item }));
    return { state: (Item?.state as IngestState) ?? 'claimed', firstClaim: false, acquired: false };
  }

  async complete(key: string, fingerprint: string, resultRef: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `INGEST#${key}`, sk: fingerprint },
        UpdateExpression: 'SET #state = :done, resultRef = :ref, updatedAt = :now',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':done': 'done', ':ref': resultRef, ':now': this.now() },
      }),
    );
  }

  async fail(key: string, fingerprint: string, reason: string): Promise<void> {
    await this.doc
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `INGEST#${key}`, sk: fingerprint },
          UpdateExpression: 'SET #state = :failed, reason = :reason, updatedAt = :now',
          // A late failure never overwrites a success.
          ConditionExpression: 'attribute_not_exists(#state) OR #state <> :done',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':failed': 'failed',
            ':reason': reason,
            ':now': this.now(),
            ':done': 'done',
          },
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }
}
