import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { IngestLedger, IngestState, LedgerClaim } from '../../core/ingest/ports.ts';

/** Default age after which a claim counts as a crashed worker's. */
const DEFAULT_STALE_AFTER_MS = 15 * 60_000;

/** Where the ledger rows live: their key attributes. */
export type LedgerKeySchema =
  /** A table keyed `pk` / `sk` (e.g. the detections table): `pk` = `INGEST#<key>`, `sk` = fingerprint. */
  | 'pk-sk'
  /**
   * The idempotency table (`id`, TTL attribute `expiration`): `id` = `INGEST#<fingerprint>#<key>`, and each row
   * expires `retentionDays` after its last write.
   */
  | 'id';

/**
 * The ingest ledger in DynamoDB: a conditional put makes exactly one of several deliveries of the same S3 event
 * the one that processes the object. A claim older than `staleAfterMs` (the worker died) may be taken over.
 *
 * A long job (a video in Batch) keeps its claim with {@link DynamoIngestLedger.renew} every third of the window,
 * and gives it up on failure with {@link DynamoIngestLedger.release} (`claim-heartbeat.ts`). Both are fenced by
 * the claim's `attempts`, which every take-over increments: a holder whose claim was taken over cannot renew
 * (or release) the new holder's.
 */
export class DynamoIngestLedger implements IngestLedger {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
    private readonly options: {
      staleAfterMs?: number;
      now?: () => number;
      /** Default `pk-sk`. */
      keySchema?: LedgerKeySchema;
      /** With `keySchema: 'id'`: days a row is kept after its last write (default 400). */
      retentionDays?: number;
      /** How often a long job renews its claim (default a third of `staleAfterMs`). */
      renewEveryMs?: number;
    } = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.renewEveryMs = options.renewEveryMs ?? Math.max(1, Math.floor(this.staleAfterMs() / 3));
  }

  /** A third of the stale window: two renewals can fail in a row before the claim looks abandoned. */
  readonly renewEveryMs: number;

  private staleAfterMs(): number {
    return this.options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private itemKey(key: string, fingerprint: string): Record<string, string> {
    return this.options.keySchema === 'id'
      ? { id: `INGEST#${fingerprint}#${key}` }
      : { pk: `INGEST#${key}`, sk: fingerprint };
  }

  /** The TTL attribute to write with every change (idempotency table only). */
  private expiry(now: number): Record<string, number> {
    if (this.options.keySchema !== 'id') return {};
    return { expiration: Math.floor(now / 1000) + (this.options.retentionDays ?? 400) * 86_400 };
  }

  /** `:now` (and `:expiration`) for an update. */
  private times(): Record<string, number> {
    const now = this.now();
    const expiry = this.expiry(now);
    return { ':now': now, ...(expiry.expiration === undefined ? {} : { ':expiration': expiry.expiration }) };
  }

  private expirySet(): string {
    return this.options.keySchema === 'id' ? ', expiration = :expiration' : '';
  }

  async claim(key: string, fingerprint: string): Promise<LedgerClaim> {
    const now = this.now();
    const item = this.itemKey(key, fingerprint);
    const [keyAttribute] = Object.keys(item);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...item,
            key,
            fingerprint,
            state: 'claimed',
            claimedAt: now,
            attempts: 1,
            ...this.expiry(now),
          },
          ConditionExpression: 'attribute_not_exists(#key)',
          ExpressionAttributeNames: { '#key': keyAttribute! },
        }),
      );
      return { state: 'claimed', firstClaim: true, acquired: true, attempts: 1 };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const stale = now - this.staleAfterMs();
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: item,
          UpdateExpression: 'SET claimedAt = :now, attempts = attempts + :one',
          ConditionExpression: '#state = :claimed AND claimedAt < :stale',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':now': now, ':one': 1, ':claimed': 'claimed', ':stale': stale },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const attempts = typeof Attributes?.attempts === 'number' ? Attributes.attempts : undefined;
      return { state: 'claimed', firstClaim: false, acquired: true, attempts };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: item }));
    return { state: (Item?.state as IngestState) ?? 'claimed', firstClaim: false, acquired: false };
  }

  /** Moves the claim's `claimedAt` to now, if it is still `claim` (same `attempts`, still `claimed`). */
  async renew(key: string, fingerprint: string, claim: LedgerClaim): Promise<boolean> {
    return this.ifStillHeld(key, fingerprint, claim, this.now());
  }

  /** Makes the claim stale at once (`claimedAt` = 0), if it is still `claim`: the next claim takes it over. */
  async release(key: string, fingerprint: string, claim: LedgerClaim): Promise<void> {
    await this.ifStillHeld(key, fingerprint, claim, 0);
  }

  private async ifStillHeld(
    key: string,
    fingerprint: string,
    claim: LedgerClaim,
    claimedAt: number,
  ): Promise<boolean> {
    // Without a known attempt number (a ledger row from before it was returned) the fence cannot be checked.
    if (claim.attempts === undefined) return false;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.itemKey(key, fingerprint),
          UpdateExpression: 'SET claimedAt = :at',
          ConditionExpression: '#state = :claimed AND attempts = :attempts',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':at': claimedAt, ':claimed': 'claimed', ':attempts': claim.attempts },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async complete(key: string, fingerprint: string, resultRef: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.itemKey(key, fingerprint),
        UpdateExpression: `SET #state = :done, resultRef = :ref, updatedAt = :now${this.expirySet()}`,
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':done': 'done', ':ref': resultRef, ...this.times() },
      }),
    );
  }

  async fail(key: string, fingerprint: string, reason: string): Promise<void> {
    await this.doc
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.itemKey(key, fingerprint),
          UpdateExpression: `SET #state = :failed, reason = :reason, updatedAt = :now${this.expirySet()}`,
          // A late failure never overwrites a success.
          ConditionExpression: 'attribute_not_exists(#state) OR #state <> :done',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':failed': 'failed',
            ':reason': reason,
            ':done': 'done',
            ...this.times(),
          },
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }
}
