/**
 * {@link ReviewStore} on the local SQLite database (tables created with `IF NOT EXISTS`, like the unknown
 * persons'). Settling a review is one conditional UPDATE (`WHERE status = 'pending'`), so of two reviewers
 * at once exactly one wins and the other gets REVIEW_NOT_PENDING.
 */
import { FaceprintError } from '../../core/errors.ts';
import type { Page } from '../../core/gallery/ports.ts';
import type { Negative, Review, ReviewStatus, ReviewStore, ReviewVerdict } from '../../core/review/ports.ts';
import { redactReview } from '../../core/review/service.ts';
import { adoptSqliteDatabase, type SqliteDatabase } from './sqlite-face-store.ts';
import { blobOf, decodePageCursor, encodePageCursor, floatsOf } from './sqlite-rows.ts';

interface ReviewRow {
  id: string;
  status: ReviewStatus;
  created_at: string;
  review: string;
}

export class SqliteReviewStore implements ReviewStore {
  readonly db: SqliteDatabase;
  readonly #owned: boolean;

  constructor(database: string | SqliteDatabase) {
    const { db, owned } = adoptSqliteDatabase(database);
    this.db = db;
    this.#owned = owned;
  }

  close(): void {
    if (this.#owned && this.db.open) this.db.close();
  }

  async addReviews(items: { review: Review; embedding: Float32Array; crop: Uint8Array }[]): Promise<void> {
    const insert = this.db.prepare(
      'INSERT INTO reviews (id, status, created_at, subject_id, review, embedding, crop) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.db
      .transaction(() => {
        for (const { review, embedding, crop } of items) {
          insert.run(
            review.id,
            review.status,
            review.createdAt,
            review.decision.subjectId ?? null,
            JSON.stringify(review),
            blobOf(embedding),
            crop.byteLength > 0 ? Buffer.from(crop) : null,
          );
        }
      })
      .immediate();
  }

  async getReview(id: string): Promise<Review | undefined> {
    const row = this.db.prepare<[string], ReviewRow>('SELECT * FROM reviews WHERE id = ?').get(id);
    return row ? toReview(row) : undefined;
  }

  async listReviews(options: {
    status?: ReviewStatus | undefined;
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<Review>> {
    const after = options.cursor === undefined ? undefined : decodePageCursor(options.cursor, 'rv');
    const clauses: string[] = [];
    const args: unknown[] = [];
    if (options.status) {
      clauses.push('status = ?');
      args.push(options.status);
    }
    if (after) {
      clauses.push('(created_at, id) < (?, ?)');
      args.push(after[0], after[1]);
    }
    const where = clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '';
    const rows = this.db
      .prepare<unknown[], ReviewRow>(
        `SELECT id, status, created_at, review FROM reviews ${where} ORDER BY created_at DESC, id DESC LIMIT ?`,
      )
      .all(...args, options.limit + 1);
    const last = rows[options.limit - 1];
    return {
      items: rows.slice(0, options.limit).map(toReview),
      nextCursor:
        rows.length > options.limit && last ? encodePageCursor('rv', last.created_at, last.id) : undefined,
    };
  }

  async getReviewCrop(id: string): Promise<Uint8Array | undefined> {
    const crop = this.db
      .prepare<[string], Buffer | null>('SELECT crop FROM reviews WHERE id = ?')
      .pluck()
      .get(id);
    return crop ? new Uint8Array(crop) : undefined;
  }

  async settle(id: string, verdict: ReviewVerdict, negativeId: string): Promise<Review> {
    let settled: Review | undefined;
    this.db
      .transaction(() => {
        const row = this.db
          .prepare<[string], ReviewRow & { embedding: Buffer | null; subject_id: string | null }>(
            'SELECT * FROM reviews WHERE id = ?',
          )
          .get(id);
        if (!row)
          throw new FaceprintError('REVIEW_NOT_FOUND', `There is no review "${id}".`, { reviewId: id });
        if (row.status !== 'pending') {
          throw new FaceprintError('REVIEW_NOT_PENDING', `Review "${id}" was already ${row.status}.`, {
            reviewId: id,
            status: row.status,
          });
        }
        const review: Review = {
          ...toReview(row),
          status: verdict.status,
          reviewedAt: verdict.reviewedAt,
          ...(verdict.reviewer !== undefined ? { reviewer: verdict.reviewer } : {}),
          ...(verdict.note !== undefined ? { note: verdict.note } : {}),
        };
        const changed = this.db
          .prepare("UPDATE reviews SET status = ?, review = ? WHERE id = ? AND status = 'pending'")
          .run(verdict.status, JSON.stringify(review), id).changes;
        if (changed !== 1) {
          throw new FaceprintError('REVIEW_NOT_PENDING', `Review "${id}" was already settled.`, {
            reviewId: id,
          });
        }
        if (verdict.status === 'rejected' && row.subject_id && row.embedding) {
          this.db
            .prepare(
              'INSERT INTO negatives (id, subject_id, embedding, review_id, created_at) VALUES (?, ?, ?, ?, ?)',
            )
            .run(negativeId, row.subject_id, row.embedding, id, verdict.reviewedAt);
        }
        settled = review;
      })
      .immediate();
    return settled as Review;
  }

  async listNegatives(subjectId?: string): Promise<Negative[]> {
    const rows =
      subjectId === undefined
        ? this.db.prepare<[], NegativeRow>('SELECT * FROM negatives ORDER BY created_at').all()
        : this.db
            .prepare<[string], NegativeRow>(
              'SELECT * FROM negatives WHERE subject_id = ? ORDER BY created_at',
            )
            .all(subjectId);
    return rows.map((r) => ({
      id: r.id,
      subjectId: r.subject_id,
      embedding: floatsOf(r.embedding),
      reviewId: r.review_id,
      createdAt: r.created_at,
    }));
  }

  async eraseSubject(subjectId: string): Promise<void> {
    this.db
      .transaction(() => {
        this.db.prepare('DELETE FROM negatives WHERE subject_id = ?').run(subjectId);
        // The review stays as a decision, as audit rows do on erasure: no face, and nothing that names the
        // subject or the photo it was matched in.
        const rows = this.db
          .prepare<[string], { id: string; review: string }>(
            'SELECT id, review FROM reviews WHERE subject_id = ?',
          )
          .all(subjectId);
        const update = this.db.prepare<[string, string]>(
          'UPDATE reviews SET subject_id = NULL, embedding = NULL, crop = NULL, review = ? WHERE id = ?',
        );
        for (const row of rows)
          update.run(JSON.stringify(redactReview(JSON.parse(row.review) as Review)), row.id);
      })
      .immediate();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}

interface NegativeRow {
  id: string;
  subject_id: string;
  embedding: Buffer;
  review_id: string;
  created_at: string;
}

function toReview(row: ReviewRow): Review {
  return { ...(JSON.parse(row.review) as Review), id: row.id, status: row.status };
}
