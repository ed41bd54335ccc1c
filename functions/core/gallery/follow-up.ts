/**
 * The port through which the gallery's identify path hands its decisions on, after deciding: a reviewer's
 * rejections may veto a match before it is logged, unknown faces go to unknown persons and decisions to the
 * review queue once logged. Every entry point (HTTP API, uploads folder, S3 ingest) reaches it through
 * `GalleryService.identify`; a video track's decision calls the same implementation directly.
 */
import type { Candidate, Decision } from '../domain.ts';
import type { RgbImage } from '../pipeline/image.ts';
import type { DecisionPolicy } from '../search/decision.ts';
import type { Box, FaceQuality, ModelRef } from '../types.ts';

/** One decided face, as the follow-up sees it. */
export interface DecidedFace {
  /** The audit entry that records this decision. */
  auditId: string;
  faceIndex: number;
  box: Box;
  quality: FaceQuality;
  embedding: Float32Array;
  /** The aligned 112×112 crop (its JPEG is what a reviewer sees). */
  crop: RgbImage | undefined;
  decision: Decision & { subjectName?: string | undefined };
}

/** Where and when the faces were seen. */
export interface SightingContext {
  at: string;
  source: string;
  operation: string;
  camera?: string | undefined;
  model: ModelRef;
}

/** What the follow-up did with one face (all optional: most faces need nothing). */
export interface FollowUpRefs {
  unknownId?: string | undefined;
  sightingId?: string | undefined;
  reviewId?: string | undefined;
}

export interface IdentifyFollowUp {
  /** Whether the identify path must keep aligned crops for {@link record}. */
  readonly wantsCrops: boolean;
  /**
   * A decision as it will be logged: a match to a subject that a reviewer rejected for this face (or one like it)
   * is taken back and decided again among the other candidates.
   */
  adjust(
    embedding: Float32Array,
    decision: Decision,
    candidates: Candidate[],
    policy: DecisionPolicy,
  ): Promise<Decision>;
  /** After the audit: unknown faces to unknown persons, decisions to the review queue. One result per face. */
  record(faces: DecidedFace[], context: SightingContext): Promise<FollowUpRefs[]>;
  /** Erasure of a subject: its negatives and the faces of its reviews. */
  eraseSubject(subjectId: string): Promise<void>;
}
