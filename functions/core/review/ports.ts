/**
 * The store of the review queue (decisions a person must confirm or reject) and of negatives (faces a reviewer
 * said are *not* a subject), implemented by the local SQLite database and by DynamoDB. Every method is atomic.
 */
import type { DecisionKind } from '../domain.ts';
import type { Page } from '../gallery/ports.ts';
import type { Box, QualityReason } from '../types.ts';

export type ReviewStatus = 'pending' | 'confirmed' | 'rejected';

/** One decision in the review queue, as the API shows it. */
export interface Review {
  id: string;
  status: ReviewStatus;
  createdAt: string;
  operation: string;
  source: string;
  faceIndex: number;
  box: Box;
  quality: { score: number; reasons: QualityReason[] };
  decision: {
    kind: DecisionKind;
    subjectId: string | undefined;
    subjectName: string | undefined;
    similarity: number;
    threshold: number;
    confidence: number;
  };
  /** The audit entry of the decision. */
  auditId: string;
  /** Calibration id and model of the decision, restated in the audit entry of the verdict. */
  calibration?: string | undefined;
  reviewer?: string | undefined;
  note?: string | undefined;
  reviewedAt?: string | undefined;
}

/** A face a reviewer rejected as `subjectId`: never matched to that subject again. */
export interface Negative {
  id: string;
  subjectId: string;
  embedding: Float32Array;
  reviewId: string;
  createdAt: string;
}

export interface ReviewVerdict {
  status: 'confirmed' | 'rejected';
  reviewer: string | undefined;
  note: string | undefined;
  reviewedAt: string;
}

export interface ReviewStore {
  /** Enqueues reviews with the probe face's embedding (for a later negative) and its JPEG crop. */
  addReviews(items: { review: Review; embedding: Float32Array; crop: Uint8Array }[]): Promise<void>;
  getReview(id: string): Promise<Review | undefined>;
  listReviews(options: {
    status?: ReviewStatus | undefined;
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<Review>>;
  getReviewCrop(id: string): Promise<Uint8Array | undefined>;
  /**
   * Settles a pending review, and for a rejection stores the probe's embedding as a negative of the decided
   * subject, in one transaction. Throws REVIEW_NOT_FOUND, or REVIEW_NOT_PENDING when it was settled already
   * (two reviewers at once: exactly one wins).
   */
  settle(id: string, verdict: ReviewVerdict, negativeId: string): Promise<Review>;
  /** Negatives of one subject, or of all when omitted. */
  listNegatives(subjectId?: string): Promise<Negative[]>;
  /**
   * Erasure of a subject: deletes its negatives and the faces (crops, embeddings) of its reviews; the review
   * rows stay as decisions without a face, their subject, source and box redacted.
   */
  eraseSubject(subjectId: string): Promise<void>;
}
