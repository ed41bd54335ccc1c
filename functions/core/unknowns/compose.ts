/**
 * Unknown persons and the review queue over any pair of stores: the one assembly local mode (SQLite) and AWS
 * (DynamoDB) share, so both run the same services with the same configuration rules. `retentionDays` and
 * `reviewRule` are the configuration texts (`FACEPRINT_UNKNOWN_RETENTION_DAYS`, `FACEPRINT_REVIEW`); nonsense
 * in either throws INVALID_ARGUMENT here, at start.
 */
import type { FaceStore } from '../gallery/ports.ts';
import type { GalleryService, SubjectView } from '../gallery/service.ts';
import type { FaceAnalyser } from '../pipeline/analyser.ts';
import type { ReviewStore } from '../review/ports.ts';
import { parseReviewRule, ReviewService } from '../review/service.ts';
import { UnknownsAndReviews } from './follow-up.ts';
import type { UnknownStore } from './ports.ts';
import { parseRetentionDays, UnknownsService } from './service.ts';

export interface FollowUpParts {
  unknowns: UnknownsService;
  reviews: ReviewService;
  followUp: UnknownsAndReviews;
  /** Connects promotion to the gallery (which itself holds the follow-up) and what embeds its variants. */
  bind(gallery: GalleryService, pipeline: Pick<FaceAnalyser, 'embedCrops'>): void;
  /** Promotes an unknown person to a subject (after {@link bind}). */
  promote(id: string, input: { name: string; id?: string | undefined }): Promise<SubjectView>;
}

export interface FollowUpStores {
  unknowns: UnknownStore;
  reviews: ReviewStore;
  /** Where verdicts are audited: the face store's audit log. */
  audit: Pick<FaceStore, 'appendAudit'>;
  calibrationId: () => string;
  config: { retentionDays?: string | undefined; reviewRule?: string | undefined };
  now?: (() => Date) | undefined;
}

/** Builds the follow-up services; throws INVALID_ARGUMENT on a nonsensical retention period or review rule. */
export function composeFollowUp(deps: FollowUpStores): FollowUpParts {
  const unknowns = new UnknownsService({
    store: deps.unknowns,
    config: { retentionDays: parseRetentionDays(deps.config.retentionDays) },
    now: deps.now,
  });
  const reviews = new ReviewService({
    store: deps.reviews,
    audit: deps.audit,
    rule: parseReviewRule(deps.config.reviewRule),
    now: deps.now,
  });
  let bound: { gallery: GalleryService; pipeline: Pick<FaceAnalyser, 'embedCrops'> } | undefined;
  return {
    unknowns,
    reviews,
    followUp: new UnknownsAndReviews(unknowns, reviews, deps.calibrationId),
    bind(gallery, pipeline) {
      bound = { gallery, pipeline };
    },
    promote(id, input) {
      if (!bound) throw new Error('promote before bind');
      return unknowns.promote(id, input, bound.gallery, bound.pipeline);
    },
  };
}
