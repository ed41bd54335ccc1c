import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { TABLE_KEYS } from '../../../lib/runtime-config.ts';
import type { DecisionAuditEntry, FaceTemplate, Subject } from '../../core/domain.ts';
import { FaceprintError } from '../../core/errors.ts';
import type { FaceStore, Page, TemplateChanges, TemplateFeed } from '../../core/gallery/ports.ts';
import { writeAuditOnce } from './dynamo-audit-log.ts';

export interface DynamoTables {
  subjects: string;
  templates: string;
  /** Detections and the decision audit log. */
  detections: string;
}

const SUBJECT_SK = 'SUBJECT';
/** Clock skew allowed between the writers of templates and the reader catching up with them. */
const CATCH_UP_MARGIN_MS = 60_000;
/**
 * Partitions per day of the `byCreation` index: a bulk enrolment (a Batch back-fill) writes thousands of templates
 * a second, more than one index partition takes; eight spread it. A catch-up reads days × shards key ranges.
 */
const FEED_SHARDS = 8;
/** A cursor older than this many days is caught up by a scan (a rebuild reads everything anyway). */
const FEED_MAX_DAYS = 31;
const DAY_MS = 86_400_000;
const BY_CREATION = TABLE_KEYS.templates.byCreation;

/** The `byCreation` partition of a template: its creation day (UTC) and a shard from its id. */
export function feedBucket(templateId: string, createdAt: string): string {
  let hash = 2166136261;
  for (let i = 0; i < templateId.length; i++) hash = Math.imul(hash ^ templateId.charCodeAt(i), 16777619);
  return `${createdAt.slice(0, 10)}#${(hash >>> 0) % FEED_SHARDS}`;
}
/** How long audit rows live before DynamoDB's TTL removes them (default: 400 days). */
const DEFAULT_AUDIT_RETENTION_DAYS = 400;

function encodeCursor(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

function decodeCursor(cursor: string | undefined): Record<string, unknown> | undefined {
  if (!cursor) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new FaceprintError('INVALID_ARGUMENT', 'The cursor is not one this service handed out.');
}

function templateItem(t: FaceTemplate): Record<string, unknown> {
  return {
    pk: t.subjectId,
    sk: t.id,
    source: t.source,
    box: t.box,
    quality: t.quality,
    // Binary attribute: 2 KB per 512-d template instead of ~10 KB as a number list.
    embedding: new Uint8Array(t.embedding.buffer, t.embedding.byteOffset, t.embedding.byteLength).slice(),
    variant: t.variant,
    model: t.model,
    createdAt: t.createdAt,
    [BY_CREATION.partitionKey]: feedBucket(t.id, t.createdAt),
    // The enrolment thumbnail (a few KB of JPEG) lives on its template item: erased with it, far below 400 KB.
    ...(t.thumbnail ? { thumbnail: t.thumbnail.slice() } : {}),
  };
}

function templateFrom(item: Record<string, unknown>): FaceTemplate {
  const bytes = item.embedding as Uint8Array;
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return {
    id: item.sk as string,
    subjectId: item.pk as string,
    source: item.source as string,
    box: item.box as FaceTemplate['box'],
    quality: item.quality as FaceTemplate['quality'],
    embedding: new Float32Array(copy.buffer),
    variant: item.variant as FaceTemplate['variant'],
    model: item.model as FaceTemplate['model'],
    createdAt: item.createdAt as string,
  };
}

function subjectFrom(item: Record<string, unknown>): Subject {
  return {
    id: item.pk as string,
    name: item.name as string,
    metadata: (item.metadata as Record<string, string>) ?? {},
    createdAt: item.createdAt as string,
  };
}

/**
 * The face store on DynamoDB: subjects (`pk` = id, `sk` = `SUBJECT`), templates (`pk` = subject id, `sk` =
 * template id, embedding as binary) and the audit log in the detections table (`pk` = `AUDIT#<day>`, `sk` =
 * `<at>#<id>`, expiring by TTL). Multi-item writes are DynamoDB transactions, so a refused write leaves nothing.
 */
export class DynamoFaceStore implements FaceStore, TemplateFeed {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tables: DynamoTables,
    private readonly options: { auditRetentionDays?: number } = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async createSubject(subject: Subject, templates: FaceTemplate[]): Promise<void> {
    if (templates.length > 99)
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        'At most 99 templates can be created with a subject at once.',
      );
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tables.subjects,
                Item: {
                  pk: subject.id,
                  sk: SUBJECT_SK,
                  name: subject.name,
                  metadata: subject.metadata,
                  createdAt: subject.createdAt,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            ...templates.map((t) => ({ Put: { TableName: this.tables.templates, Item: templateItem(t) } })),
          ],
        }),
      );
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed'
      ) {
        throw new FaceprintError('SUBJECT_EXISTS', `A subject with id "${subject.id}" already exists.`);
      }
      throw error;
    }
  }

  async addTemplates(subjectId: string, templates: FaceTemplate[]): Promise<void> {
    if (templates.length > 99)
      throw new FaceprintError('INVALID_ARGUMENT', 'At most 99 templates can be added at once.');
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName: this.tables.subjects,
                Key: { pk: subjectId, sk: SUBJECT_SK },
                ConditionExpression: 'attribute_exists(pk)',
              },
            },
            ...templates.map((t) => ({
              Put: { TableName: this.tables.templates, Item: templateItem({ ...t, subjectId }) },
            })),
          ],
        }),
      );
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed'
      ) {
        throw new FaceprintError('SUBJECT_NOT_FOUND', `There is no subject with id "${subjectId}".`);
      }
      throw error;
    }
  }

  async getSubject(id: string): Promise<Subject | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tables.subjects, Key: { pk: id, sk: SUBJECT_SK } }),
    );
    return Item ? subjectFrom(Item) : undefined;
  }

  async listSubjects(options: { limit: number; cursor?: string | undefined }): Promise<Page<Subject>> {
    // A scan pages in key-hash order, not by creation time: fine for listing, and it scales.
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new ScanCommand({
        TableName: this.tables.subjects,
        Limit: options.limit,
        ExclusiveStartKey: decodeCursor(options.cursor),
      }),
    );
    return { items: (Items ?? []).map(subjectFrom), nextCursor: encodeCursor(LastEvaluatedKey) };
  }

  async deleteSubject(id: string): Promise<boolean> {
    const templates = await this.queryTemplates(id);
    // Templates go first, the subject record last: an interrupted delete leaves a subject to delete again,
    // never templates without a subject.
    for (let i = 0; i < templates.length; i += 25) {
      await this.doc.send(
        new BatchWriteCommand({
          RequestItems: {
            [this.tables.templates]: templates
              .slice(i, i + 25)
              .map((t) => ({ DeleteRequest: { Key: { pk: id, sk: t.sk } } })),
          },
        }),
      );
    }
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tables.subjects,
          Key: { pk: id, sk: SUBJECT_SK },
          ConditionExpression: 'attribute_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Deletes the given templates of one subject (`TemplateRemoval`, the last step of a re-embedding): one
   * transaction per 100 templates, so a subject of up to 100 goes in one atomic step; a retry after a crash
   * deletes what is left. Returns how many of them existed.
   */
  async deleteTemplates(subjectId: string, templateIds: string[]): Promise<number> {
    const wanted = new Set(templateIds);
    const present = (await this.queryTemplates(subjectId))
      .map((t) => t.sk as string)
      .filter((sk) => wanted.has(sk));
    for (let i = 0; i < present.length; i += 100) {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: present.slice(i, i + 100).map((sk) => ({
            Delete: { TableName: this.tables.templates, Key: { pk: subjectId, sk } },
          })),
        }),
      );
    }
    return present.length;
  }

  private async queryTemplates(subjectId: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tables.templates,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': subjectId },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async listTemplates(subjectId?: string): Promise<FaceTemplate[]> {
    if (subjectId !== undefined) return (await this.queryTemplates(subjectId)).map(templateFrom);
    return this.scanTemplates();
  }

  /**
   * Templates created after `isoTime` (the identify path's catch-up on top of the newest snapshot): key-range
   * queries of the `byCreation` index, one per day and shard from that day to tomorrow (writers' clocks may run
   * ahead), so the cost is what is new, not the table. A cursor older than {@link FEED_MAX_DAYS} days scans.
   */
  async templatesCreatedAfter(isoTime: string, now: number = Date.now()): Promise<FaceTemplate[]> {
    const from = Date.parse(isoTime);
    const firstDay = Date.parse(`${isoTime.slice(0, 10)}T00:00:00.000Z`);
    if (Number.isNaN(from) || Number.isNaN(firstDay) || now - from > FEED_MAX_DAYS * DAY_MS) {
      return this.scanTemplates(isoTime);
    }
    const buckets: string[] = [];
    for (let day = firstDay; day <= now + DAY_MS; day += DAY_MS) {
      const date = new Date(day).toISOString().slice(0, 10);
      for (let shard = 0; shard < FEED_SHARDS; shard++) buckets.push(`${date}#${shard}`);
    }
    const pages = await Promise.all(buckets.map((bucket) => this.queryCreatedAfter(bucket, isoTime)));
    return pages.flat().sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  private async queryCreatedAfter(bucket: string, after: string): Promise<FaceTemplate[]> {
    const out: FaceTemplate[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tables.templates,
          IndexName: BY_CREATION.indexName,
          KeyConditionExpression: '#b = :b AND #c > :after',
          ExpressionAttributeNames: { '#b': BY_CREATION.partitionKey, '#c': BY_CREATION.sortKey },
          ExpressionAttributeValues: { ':b': bucket, ':after': after },
          ExclusiveStartKey: start,
        }),
      );
      out.push(...(page.Items ?? []).map(templateFrom));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /**
   * The change feed (`TemplateFeed`) as DynamoDB can answer it: the cursor is a time, and templates created after
   * it (minus {@link CATCH_UP_MARGIN_MS} of clock skew between writers) are the changes. Deletions are not
   * reported: they reach readers with the indexer's next snapshot. Without a cursor, every template (`full`).
   */
  async changesSince(cursor: string | undefined): Promise<TemplateChanges> {
    const since = cursor === undefined ? Number.NaN : Date.parse(cursor);
    const added = Number.isNaN(since)
      ? await this.scanTemplates()
      : await this.templatesCreatedAfter(new Date(since - CATCH_UP_MARGIN_MS).toISOString());
    // ISO-8601 times of one format order as strings: the newest creation time seen is the next cursor.
    let newest = Number.isNaN(since) ? '' : (cursor as string);
    for (const t of added) if (t.createdAt.localeCompare(newest) > 0) newest = t.createdAt;
    return {
      cursor: newest || new Date(0).toISOString(),
      full: Number.isNaN(since),
      added,
      removedSubjects: [],
    };
  }

  /** Display names of subjects, in one BatchGetItem per 100 ids (absent ids are left out). */
  async subjectNames(ids: readonly string[]): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = unique
        .slice(i, i + 100)
        .map((pk) => ({ pk, sk: SUBJECT_SK }));
      // Unprocessed keys (throttling) are asked again until none is left.
      while (keys && keys.length > 0) {
        const answer: BatchGetCommandOutput = await this.doc.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tables.subjects]: {
                Keys: keys,
                ProjectionExpression: 'pk, #n',
                ExpressionAttributeNames: { '#n': 'name' },
              },
            },
          }),
        );
        for (const item of answer.Responses?.[this.tables.subjects] ?? []) {
          names.set(item.pk as string, item.name as string);
        }
        keys = answer.UnprocessedKeys?.[this.tables.subjects]?.Keys as Record<string, unknown>[] | undefined;
      }
    }
    return names;
  }

  private async scanTemplates(after?: string): Promise<FaceTemplate[]> {
    const out: FaceTemplate[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({
          TableName: this.tables.templates,
          ExclusiveStartKey: start,
          ...(after
            ? { FilterExpression: 'createdAt > :after', ExpressionAttributeValues: { ':after': after } }
            : {}),
        }),
      );
      out.push(...(page.Items ?? []).map(templateFrom));
      start = page.LastEvaluatedKey;
    } while (start);
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async getThumbnail(subjectId: string, templateId?: string): Promise<Uint8Array | undefined> {
    if (templateId !== undefined) {
      const { Item } = await this.doc.send(
        new GetCommand({
          TableName: this.tables.templates,
          Key: { pk: subjectId, sk: templateId },
          ProjectionExpression: 'thumbnail',
        }),
      );
      return Item?.thumbnail instanceof Uint8Array ? Item.thumbnail : undefined;
    }
    const withThumbnail = (await this.queryTemplates(subjectId))
      .filter((item) => item.thumbnail instanceof Uint8Array)
      .sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)));
    return withThumbnail[0]?.thumbnail as Uint8Array | undefined;
  }

  async countTemplates(subjectId: string): Promise<number> {
    const { Count } = await this.doc.send(
      new QueryCommand({
        TableName: this.tables.templates,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': subjectId },
        Select: 'COUNT',
      }),
    );
    return Count ?? 0;
  }

  /** Exactly once per entry id (a redelivered upload's decisions are not written twice): see `dynamo-audit-log.ts`. */
  async appendAudit(entries: DecisionAuditEntry[]): Promise<void> {
    const retention = (this.options.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS) * 86_400;
    await writeAuditOnce(this.doc, this.tables.detections, entries, retention);
  }

  /** Newest first, one UTC day per partition; the cursor walks back day by day (up to the retention period). */
  async listAudit(options: {
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<DecisionAuditEntry>> {
    const cursor = decodeCursor(options.cursor) as
      | { day?: string; key?: Record<string, unknown> }
      | undefined;
    let day = cursor?.day ?? new Date().toISOString().slice(0, 10);
    let start = cursor?.key;
    const items: DecisionAuditEntry[] = [];
    const retentionDays = this.options.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS;
    for (let walked = 0; walked <= retentionDays && items.length < options.limit; ) {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tables.detections,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `AUDIT#${day}` },
          ScanIndexForward: false,
          Limit: options.limit - items.length,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(page.Items ?? []).map((i) => JSON.parse(i.entry as string) as DecisionAuditEntry));
      start = page.LastEvaluatedKey;
      if (!start) {
        day = new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
        walked += 1;
      }
      if (items.length >= options.limit) {
        return { items, nextCursor: encodeCursor({ day, key: start }) };
      }
    }
    return { items };
  }
}
