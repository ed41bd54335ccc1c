/**
 * {@link UnknownStore} on DynamoDB (the follow-up table; layout in `follow-up-table.ts`).
 *
 * A person's item lists its members (id, time, quality, expiry of each sighting), so its count, last sighting,
 * best face and expiry are recomputed from a consistent read of one item, never from a lagging GSI. Every write
 * of a person is conditional on the version it read: two Lambda containers changing one person at once cannot
 * both win; the loser re-reads and tries again (a join), or gets the state error (UNKNOWN_PROMOTED on a second
 * promotion). A write that fits in one transaction (100 items) is atomic; a larger merge, promotion or
 * deletion writes its idempotent sighting updates first and the person last, so a crash between chunks loses
 * nothing and a retry completes it. A person holds at most ~3,000 members (the 400 KB item limit), far more
 * than 30 days of retention gives one face at a door camera. This module writes; the reads (and the consistent
 * read of a person every write starts from) are `dynamo-unknown-reads.ts`.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { FaceprintError } from '../../core/errors.ts';
import type { Page } from '../../core/gallery/ports.ts';
import type {
  Attachment,
  Sighting,
  SightingVector,
  UnknownPerson,
  UnknownSort,
  UnknownStore,
} from '../../core/unknowns/ports.ts';
import {
  CROP_SK,
  memberOf,
  notFound,
  PERSON_SK,
  type PersonRecord,
  personItem,
  personPk,
  promoted,
  SIGHTING_SK,
  sightingItem,
  sightingPk,
  withMembers,
} from './dynamo-unknown-items.ts';
import { DynamoUnknownReader } from './dynamo-unknown-reads.ts';
import {
  backOff,
  chunks,
  failedConditions,
  isTransactionConflict,
  MAX_TRANSACTION_ITEMS,
  type TransactItem,
  transact,
  transactInChunks,
  ttlOf,
} from './follow-up-table.ts';

/** Retries of a person write that lost a race with another container. */
const MAX_ATTEMPTS = 8;
/** Sightings one split may move (one transaction). */
const MAX_SPLIT = MAX_TRANSACTION_ITEMS - 2;

export class DynamoUnknownStore implements UnknownStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly reads: DynamoUnknownReader;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.reads = new DynamoUnknownReader(this.doc, table);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reads (dynamo-unknown-reads.ts)

  listSightingVectors(): Promise<SightingVector[]> {
    return this.reads.listSightingVectors();
  }

  getUnknown(id: string): Promise<UnknownPerson | undefined> {
    return this.reads.getUnknown(id);
  }

  listUnknowns(options: {
    sort: UnknownSort;
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<UnknownPerson>> {
    return this.reads.listUnknowns(options);
  }

  listSightings(unknownId: string): Promise<Sighting[]> {
    return this.reads.listSightings(unknownId);
  }

  getSighting(id: string): Promise<Sighting | undefined> {
    return this.reads.getSighting(id);
  }

  getCrop(sightingId: string): Promise<Uint8Array | undefined> {
    return this.reads.getCrop(sightingId);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writes

  async addSighting(sighting: Sighting, crop: Uint8Array, attachment: Attachment): Promise<void> {
    const own = (unknownId: string | undefined): TransactItem[] => [
      {
        Put: {
          TableName: this.table,
          Item: sightingItem({ ...sighting, unknownId }),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.table,
          Item: { pk: sightingPk(sighting.id), sk: CROP_SK, crop, expiresAt: ttlOf(sighting.expiresAt) },
        },
      },
    ];
    if (attachment.kind === 'hold') return transact(this.doc, own(undefined));
    if (attachment.kind === 'join') {
      return this.#updatePerson(attachment.unknownId, (person) => ({
        steps: own(person.id),
        next: withMembers(person, [...person.members, memberOf(sighting)]),
      }));
    }
    // A new person, with the held-back faces that agree (as many as one transaction takes).
    let held = attachment.with.slice(0, MAX_TRANSACTION_ITEMS - 3);
    for (let attempt = 0; ; attempt++) {
      const others = (await this.reads.sightings(held)).filter((s) => s.unknownId === undefined);
      if (others.length === 0) return transact(this.doc, own(undefined));
      const person: PersonRecord = withMembers(
        {
          id: attachment.unknownId,
          createdAt: sighting.at,
          lastSeenAt: sighting.at,
          members: [],
          version: 0,
        },
        [...others.map(memberOf), memberOf(sighting)],
      );
      try {
        return await transact(this.doc, [
          ...own(person.id),
          ...others.map((s) => this.#moveSighting(s.id, person.id, 'attribute_not_exists(unknownId)')),
          {
            Put: {
              TableName: this.table,
              Item: personItem(person),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ]);
      } catch (error) {
        // Another container attached one of these held faces first: start the person with the rest.
        if (attempt >= MAX_ATTEMPTS || !(failedConditions(error) || isTransactionConflict(error)))
          throw error;
        held = others.map((s) => s.id);
      }
    }
  }

  async merge(fromId: string, intoId: string): Promise<void> {
    await this.#requireActive(fromId);
    await this.#updatePerson(intoId, async (into) => {
      const from = await this.#requireActive(fromId);
      return {
        steps: from.members.map((m) => this.#moveSighting(m.id, intoId)),
        next: withMembers(into, [
          ...into.members,
          ...from.members.filter((m) => !into.members.some((x) => x.id === m.id)),
        ]),
        also: [
          {
            Delete: {
              TableName: this.table,
              Key: { pk: personPk(fromId), sk: PERSON_SK },
              ConditionExpression: 'version = :v AND attribute_not_exists(promotedTo)',
              ExpressionAttributeValues: { ':v': from.version },
            },
          },
        ],
      };
    });
  }

  async split(unknownId: string, sightingIds: string[], newId: string, at: string): Promise<void> {
    if (sightingIds.length > MAX_SPLIT) {
      throw new FaceprintError('INVALID_ARGUMENT', `Split off at most ${MAX_SPLIT} sightings at once.`);
    }
    await this.#updatePerson(unknownId, (person) => {
      const moving = sightingIds.map((id) => {
        const member = person.members.find((m) => m.id === id);
        if (!member) {
          throw new FaceprintError(
            'SIGHTING_NOT_FOUND',
            `Unknown person ${unknownId} has no sighting ${id}.`,
            {
              sightingId: id,
            },
          );
        }
        return member;
      });
      const split = withMembers(
        { id: newId, createdAt: at, lastSeenAt: at, members: [], version: 0 },
        moving,
      );
      return {
        steps: [],
        next: withMembers(
          person,
          person.members.filter((m) => !sightingIds.includes(m.id)),
        ),
        also: [
          ...moving.map((m) => this.#moveSighting(m.id, newId)),
          {
            Put: {
              TableName: this.table,
              Item: personItem(split),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      };
    });
  }

  async markPromoted(id: string, subjectId: string): Promise<void> {
    await this.#updatePerson(id, (person) => ({
      steps: person.members.flatMap((m) => this.#deleteSighting(m.id)),
      next: { ...person, members: [], promotedTo: subjectId },
    }));
  }

  async deleteUnknown(id: string): Promise<boolean> {
    const person = await this.reads.person(id);
    if (!person) return false;
    await transactInChunks(
      this.doc,
      person.members.flatMap((m) => this.#deleteSighting(m.id)),
      [
        {
          Delete: {
            TableName: this.table,
            Key: { pk: personPk(id), sk: PERSON_SK },
            ConditionExpression: 'version = :v',
            ExpressionAttributeValues: { ':v': person.version },
          },
        },
      ],
    );
    return true;
  }

  async purgeExpired(at: string): Promise<{ sightings: number; unknowns: number }> {
    const expired = await this.reads.expiredSightingIds(at);
    // The GSI may lag: who owns each sighting now is read from the table itself.
    const owners = new Map<string, string[]>();
    let sightings = 0;
    const held: string[] = [];
    for (const s of await this.reads.sightings(expired)) {
      if (s.unknownId === undefined) held.push(s.id);
      else owners.set(s.unknownId, [...(owners.get(s.unknownId) ?? []), s.id]);
    }
    for (const group of chunks(held, MAX_TRANSACTION_ITEMS / 2)) {
      await transact(
        this.doc,
        group.flatMap((id) => this.#deleteSighting(id)),
      );
      sightings += group.length;
    }
    let unknowns = 0;
    for (const [unknownId, ids] of owners) {
      let emptied = false;
      let erased = 0;
      await this.#updatePerson(
        unknownId,
        (person) => {
          const left = person.members.filter((m) => !ids.includes(m.id) && m.exp > at);
          const gone = person.members.filter((m) => !left.includes(m));
          emptied = left.length === 0;
          erased = gone.length;
          return { steps: gone.flatMap((m) => this.#deleteSighting(m.id)), next: withMembers(person, left) };
        },
        { allowPromoted: true, dropIfEmpty: true },
      ).catch((error: unknown) => {
        // Deleted meanwhile, with its sightings.
        if (!(error instanceof FaceprintError && error.code === 'UNKNOWN_NOT_FOUND')) throw error;
      });
      sightings += erased;
      if (emptied) unknowns += 1;
    }
    return { sightings, unknowns };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Helpers

  async #requireActive(id: string): Promise<PersonRecord> {
    const person = await this.reads.person(id);
    if (!person) throw notFound(id);
    if (person.promotedTo !== undefined) throw promoted(person);
    return person;
  }

  #moveSighting(id: string, unknownId: string, condition = 'attribute_exists(pk)'): TransactItem {
    return {
      Update: {
        TableName: this.table,
        Key: { pk: sightingPk(id), sk: SIGHTING_SK },
        UpdateExpression: 'SET unknownId = :u',
        ConditionExpression: condition,
        ExpressionAttributeValues: { ':u': unknownId },
      },
    };
  }

  #deleteSighting(id: string): TransactItem[] {
    return [
      { Delete: { TableName: this.table, Key: { pk: sightingPk(id), sk: SIGHTING_SK } } },
      { Delete: { TableName: this.table, Key: { pk: sightingPk(id), sk: CROP_SK } } },
    ];
  }

  /**
   * Reads a person, lets `change` compute its next state (and the item writes that go with it), and writes it
   * conditional on the version read; on a lost race (a condition or a transaction conflict) it reads again and
   * retries, so the state errors the caller sees come from a fresh read.
   */
  async #updatePerson(
    id: string,
    change: (
      person: PersonRecord,
    ) =>
      | { steps: TransactItem[]; next: PersonRecord; also?: TransactItem[] }
      | Promise<{ steps: TransactItem[]; next: PersonRecord; also?: TransactItem[] }>,
    options: { allowPromoted?: boolean; dropIfEmpty?: boolean } = {},
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const person = await this.reads.person(id);
      if (!person) throw notFound(id);
      if (person.promotedTo !== undefined && !options.allowPromoted) throw promoted(person);
      const { steps, next, also = [] } = await change(person);
      const guard = {
        ConditionExpression: 'version = :v',
        ExpressionAttributeValues: { ':v': person.version },
      };
      const key = { pk: personPk(id), sk: PERSON_SK };
      const write: TransactItem =
        options.dropIfEmpty && next.members.length === 0 && next.promotedTo === undefined
          ? { Delete: { TableName: this.table, Key: key, ...guard } }
          : {
              Put: {
                TableName: this.table,
                Item: personItem({ ...next, version: person.version }),
                ...guard,
              },
            };
      try {
        await transactInChunks(this.doc, steps, [...also, write]);
        return;
      } catch (error) {
        if (attempt < MAX_ATTEMPTS && (failedConditions(error) || isTransactionConflict(error))) {
          await backOff(attempt);
          continue;
        }
        throw error;
      }
    }
  }
}
