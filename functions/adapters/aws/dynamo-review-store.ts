/**
 * {@link ReviewStore} on DynamoDB (the follow-up table; layout in `follow-up-table.ts`). Settling a review is
 * one transaction whose update is conditional on `status = pending`, with the negative of a rejection in the
 * same transaction: of two reviewers at once (in two Lambda containers) exactly one wins, the other gets
 * REVIEW_NOT_PENDING, and no negative is written without its verdict. Reviews are decisions and, like the
 * audit log, are not expired; erasure of a subject deletes their faces and redacts them.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { FaceprintError } from '../../core/errors.ts';
import type { Page } from '../../core/gallery/ports.ts';
import type { Negative, Review, ReviewStatus, ReviewStore, ReviewVerdict } from '../../core/review/ports.ts';
import { redactReview } from '../../core/review/service.ts';
import {
  backOff,
  bytesOfFloats,
  chunks,
  decodeCursor,
  encodeCursor,
  failedConditions,
  floatsOfBytes,
  GSI1,
  GSI2,
  type Item,
  isTransactionConflict,
  type TransactItem,
  transact,
} from './follow-up-table.ts';

const REVIEW_SK = 'REVIEW';
const FACE_SK = 'FACE';
const reviewPk = (id: string) => `REVIEW#${id}`;
const subjectPk = (id: string) => `SUBJECT#${id}`;
const MAX_ATTEMPTS = 4;

function reviewFrom(item: Item): Review {
  return {
    ...(JSON.parse(item.review as string) as Review),
    id: item.id as string,
    status: item.status as ReviewStatus,
  };
}

function reviewItem(review: Review): Item {
  const order = `${review.createdAt}#${review.id}`;
  return {
    pk: reviewPk(review.id),
    sk: REVIEW_SK,
    id: review.id,
    status: review.status,
    createdAt: review.createdAt,
    subjectId: review.decision.subjectId,
    review: JSON.stringify(review),
    gsi1pk: 'REVIEW',
    gsi1sk: order,
    gsi2pk: `REVIEW#${review.status}`,
    gsi2sk: order,
  };
}

function notFound(id: string): FaceprintError {
  return new FaceprintError('REVIEW_NOT_FOUND', `There is no review "${id}".`, { reviewId: id });
}

export class DynamoReviewStore implements ReviewStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async addReviews(items: { review: Review; embedding: Float32Array; crop: Uint8Array }[]): Promise<void> {
    // Three items a review; each review is whole or absent.
    for (const group of chunks(items, 33)) {
      await transact(
        this.doc,
        group.flatMap(({ review, embedding, crop }): TransactItem[] => [
          {
            Put: {
              TableName: this.table,
              Item: reviewItem(review),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: this.table,
              Item: {
                pk: reviewPk(review.id),
                sk: FACE_SK,
                embedding: bytesOfFloats(embedding),
                ...(crop.byteLength > 0 ? { crop } : {}),
              },
            },
          },
          ...(review.decision.subjectId
            ? [
                {
                  Put: {
                    TableName: this.table,
                    Item: {
                      pk: subjectPk(review.decision.subjectId),
                      sk: `REVIEW#${review.id}`,
                      reviewId: review.id,
                    },
                  },
                },
              ]
            : []),
        ]),
      );
    }
  }

  async getReview(id: string): Promise<Review | undefined> {
    const item = await this.#get(reviewPk(id), REVIEW_SK);
    return item ? reviewFrom(item) : undefined;
  }

  async listReviews(options: {
    status?: ReviewStatus | undefined;
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<Review>> {
    const [index, pkName, skName, partition] = options.status
      ? [GSI2, 'gsi2pk', 'gsi2sk', `REVIEW#${options.status}`]
      : [GSI1, 'gsi1pk', 'gsi1sk', 'REVIEW'];
    const list = `reviews-${options.status ?? 'all'}`;
    const names = ['pk', 'sk', pkName, skName];
    const page = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: index,
        KeyConditionExpression: '#p = :p',
        ExpressionAttributeNames: { '#p': pkName },
        ExpressionAttributeValues: { ':p': partition },
        ScanIndexForward: false,
        Limit: options.limit + 1,
        ExclusiveStartKey:
          options.cursor === undefined ? undefined : decodeCursor(options.cursor, list, names),
      }),
    );
    const items = page.Items ?? [];
    const last = items[options.limit - 1];
    return {
      items: items.slice(0, options.limit).map(reviewFrom),
      nextCursor:
        items.length > options.limit && last
          ? encodeCursor(list, Object.fromEntries(names.map((n) => [n, last[n]])))
          : undefined,
    };
  }

  async getReviewCrop(id: string): Promise<Uint8Array | undefined> {
    const item = await this.#get(reviewPk(id), FACE_SK);
    return item?.crop instanceof Uint8Array ? item.crop : undefined;
  }

  async settle(id: string, verdict: ReviewVerdict, negativeId: string): Promise<Review> {
    for (let attempt = 1; ; attempt++) {
      const item = await this.#get(reviewPk(id), REVIEW_SK);
      if (!item) throw notFound(id);
      const current = reviewFrom(item);
      if (current.status !== 'pending') {
        throw new FaceprintError('REVIEW_NOT_PENDING', `Review "${id}" was already ${current.status}.`, {
          reviewId: id,
          status: current.status,
        });
      }
      const review: Review = {
        ...current,
        status: verdict.status,
        reviewedAt: verdict.reviewedAt,
        ...(verdict.reviewer !== undefined ? { reviewer: verdict.reviewer } : {}),
        ...(verdict.note !== undefined ? { note: verdict.note } : {}),
      };
      const face = verdict.status === 'rejected' ? await this.#get(reviewPk(id), FACE_SK) : undefined;
      const subjectId = item.subjectId as string | undefined;
      const writes: TransactItem[] = [
        {
          Put: {
            TableName: this.table,
            Item: reviewItem(review),
            ConditionExpression: '#s = :pending',
            ExpressionAttributeNames: { '#s': 'status' },
            ExpressionAttributeValues: { ':pending': 'pending' },
          },
        },
      ];
      if (subjectId && face?.embedding instanceof Uint8Array) {
        writes.push({
          Put: {
            TableName: this.table,
            Item: {
              pk: subjectPk(subjectId),
              sk: `NEGATIVE#${negativeId}`,
              id: negativeId,
              subjectId,
              embedding: face.embedding,
              reviewId: id,
              createdAt: verdict.reviewedAt,
              gsi1pk: 'NEGATIVE',
              gsi1sk: `${verdict.reviewedAt}#${negativeId}`,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        });
      }
      try {
        await transact(this.doc, writes);
        return review;
      } catch (error) {
        // Lost to another reviewer (their verdict is in) or raced them (read again: theirs may be in now).
        if (attempt < MAX_ATTEMPTS && (failedConditions(error) || isTransactionConflict(error))) {
          await backOff(attempt);
          continue;
        }
        throw error;
      }
    }
  }

  async listNegatives(subjectId?: string): Promise<Negative[]> {
    const items =
      subjectId === undefined
        ? await this.#queryAll({
            IndexName: GSI1,
            KeyConditionExpression: 'gsi1pk = :p',
            ExpressionAttributeValues: { ':p': 'NEGATIVE' },
          })
        : await this.#queryAll({
            KeyConditionExpression: 'pk = :p AND begins_with(sk, :n)',
            ExpressionAttributeValues: { ':p': subjectPk(subjectId), ':n': 'NEGATIVE#' },
            ConsistentRead: true,
          });
    return items
      .map((item) => ({
        id: item.id as string,
        subjectId: item.subjectId as string,
        embedding: floatsOfBytes(item.embedding),
        reviewId: item.reviewId as string,
        createdAt: item.createdAt as string,
      }))
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  async eraseSubject(subjectId: string): Promise<void> {
    const items = await this.#queryAll({
      KeyConditionExpression: 'pk = :p',
      ExpressionAttributeValues: { ':p': subjectPk(subjectId) },
      ConsistentRead: true,
    });
    const negatives = items.filter((i) => String(i.sk).startsWith('NEGATIVE#'));
    for (const group of chunks(negatives, 100)) {
      await transact(
        this.doc,
        group.map((n) => ({ Delete: { TableName: this.table, Key: { pk: n.pk, sk: n.sk } } })),
      );
    }
    // Each review stays as a decision, as audit rows do on erasure: no face, nothing that names the subject or
    // the photo; its link from the subject goes in the same transaction.
    for (const link of items.filter((i) => String(i.sk).startsWith('REVIEW#'))) {
      const reviewId = link.reviewId as string;
      const item = await this.#get(reviewPk(reviewId), REVIEW_SK);
      const writes: TransactItem[] = [
        { Delete: { TableName: this.table, Key: { pk: link.pk, sk: link.sk } } },
        { Delete: { TableName: this.table, Key: { pk: reviewPk(reviewId), sk: FACE_SK } } },
      ];
      if (item) {
        const { subjectId: _named, ...rest } = reviewItem(redactReview(reviewFrom(item)));
        writes.push({ Put: { TableName: this.table, Item: rest } });
      }
      await transact(this.doc, writes);
    }
  }

  async #get(pk: string, sk: string): Promise<Item | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk, sk }, ConsistentRead: true }),
    );
    return Item;
  }

  async #queryAll(input: {
    IndexName?: string;
    KeyConditionExpression: string;
    ExpressionAttributeValues: Item;
    ConsistentRead?: boolean;
  }): Promise<Item[]> {
    const out: Item[] = [];
    let start: Item | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({ TableName: this.table, ...input, ExclusiveStartKey: start }),
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }
}
