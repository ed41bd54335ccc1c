/**
 * The read side of {@link DynamoUnknownStore} (`dynamo-unknown-store.ts`, the writes): persons, sightings, crops
 * and the vectors the unknowns index is built from, on the follow-up table (layout in `follow-up-table.ts`). A
 * person and its sightings are read consistently from the table itself; only listings and the retention sweep's
 * candidates come from a GSI.
 *
 * @module
 */
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page } from '../../core/gallery/ports.ts';
import type { Sighting, SightingVector, UnknownPerson, UnknownSort } from '../../core/unknowns/ports.ts';
import {
  CROP_SK,
  PERSON_SK,
  type PersonRecord,
  personFrom,
  personPk,
  SIGHTING_SK,
  sightingFrom,
  sightingPk,
  toUnknown,
} from './dynamo-unknown-items.ts';
import {
  chunks,
  decodeCursor,
  encodeCursor,
  floatsOfBytes,
  GSI1,
  GSI2,
  type Item,
} from './follow-up-table.ts';

export class DynamoUnknownReader {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async listSightingVectors(): Promise<SightingVector[]> {
    const out: SightingVector[] = [];
    let start: Item | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: GSI2,
          KeyConditionExpression: 'gsi2pk = :p',
          ExpressionAttributeValues: { ':p': 'SIGHTING' },
          ProjectionExpression: 'id, unknownId, embedding',
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        out.push({
          id: item.id as string,
          unknownId: item.unknownId as string | undefined,
          embedding: floatsOfBytes(item.embedding),
        });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async getUnknown(id: string): Promise<UnknownPerson | undefined> {
    const person = await this.person(id);
    return person ? toUnknown(person) : undefined;
  }

  async listUnknowns(options: {
    sort: UnknownSort;
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<UnknownPerson>> {
    const [index, pkName, skName] =
      options.sort === 'frequent' ? [GSI2, 'gsi2pk', 'gsi2sk'] : [GSI1, 'gsi1pk', 'gsi1sk'];
    const list = `unknowns-${options.sort}`;
    const names = ['pk', 'sk', pkName, skName];
    const page = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: index,
        KeyConditionExpression: '#p = :p',
        ExpressionAttributeNames: { '#p': pkName },
        ExpressionAttributeValues: { ':p': 'UNKNOWN' },
        ScanIndexForward: false,
        Limit: options.limit + 1,
        ExclusiveStartKey:
          options.cursor === undefined ? undefined : decodeCursor(options.cursor, list, names),
      }),
    );
    const items = page.Items ?? [];
    const last = items[options.limit - 1];
    return {
      items: items.slice(0, options.limit).map((i) => toUnknown(personFrom(i))),
      nextCursor:
        items.length > options.limit && last
          ? encodeCursor(list, Object.fromEntries(names.map((n) => [n, last[n]])))
          : undefined,
    };
  }

  async listSightings(unknownId: string): Promise<Sighting[]> {
    const person = await this.person(unknownId);
    if (!person) return [];
    const sightings = await this.sightings(person.members.map((m) => m.id));
    // A sighting that TTL removed before the sweep did is simply absent.
    return sightings
      .filter((s) => s.unknownId === unknownId)
      .sort((a, b) => (a.at === b.at ? a.id.localeCompare(b.id) : a.at < b.at ? 1 : -1));
  }

  async getSighting(id: string): Promise<Sighting | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: sightingPk(id), sk: SIGHTING_SK },
        ConsistentRead: true,
      }),
    );
    return Item ? sightingFrom(Item) : undefined;
  }

  async getCrop(sightingId: string): Promise<Uint8Array | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: sightingPk(sightingId), sk: CROP_SK },
        ConsistentRead: true,
      }),
    );
    return Item?.crop instanceof Uint8Array ? Item.crop : undefined;
  }

  /** A person's item, read consistently. */
  async person(id: string): Promise<PersonRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: personPk(id), sk: PERSON_SK },
        ConsistentRead: true,
      }),
    );
    return Item ? personFrom(Item) : undefined;
  }

  /** Sightings by id, read consistently (missing ones left out). */
  async sightings(ids: readonly string[]): Promise<Sighting[]> {
    const out: Sighting[] = [];
    for (const group of chunks([...new Set(ids)], 100)) {
      let keys: Item[] | undefined = group.map((id) => ({ pk: sightingPk(id), sk: SIGHTING_SK }));
      while (keys && keys.length > 0) {
        const result = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }),
        );
        for (const item of result.Responses?.[this.table] ?? []) out.push(sightingFrom(item));
        keys = result.UnprocessedKeys?.[this.table]?.Keys as Item[] | undefined;
      }
    }
    return out;
  }

  /** Ids of the sightings whose retention ended by `at`, from the GSI (which may lag the table). */
  async expiredSightingIds(at: string): Promise<string[]> {
    const expired: string[] = [];
    let start: Item | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: GSI2,
          // `<expiresAt>#<id>` sorts before `<at>$` exactly when expiresAt <= at ('$' follows '#').
          KeyConditionExpression: 'gsi2pk = :p AND gsi2sk < :at',
          ExpressionAttributeValues: { ':p': 'SIGHTING', ':at': `${at}$` },
          ProjectionExpression: 'id',
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) expired.push(item.id as string);
      start = page.LastEvaluatedKey;
    } while (start);
    return expired;
  }
}
