/**
 * Local mode's unknown persons and review queue: SQLite stores on the data directory's database, configured by
 * `FACEPRINT_REVIEW` (all | below:<similarity> | watch:<id>,… | off) and `FACEPRINT_UNKNOWN_RETENTION_DAYS`
 * (default 30). Nonsense in either fails closed at start.
 */
import type { DataDir } from '../adapters/local/data-dir.ts';
import { SqliteReviewStore } from '../adapters/local/sqlite-review-store.ts';
import { SqliteUnknownStore } from '../adapters/local/sqlite-unknown-store.ts';
import type { GalleryService, SubjectView } from '../core/gallery/service.ts';
import type { FacePipeline } from '../core/pipeline/pipeline.ts';
import { parseReviewRule, ReviewService } from '../core/review/service.ts';
import { UnknownsAndReviews } from '../core/unknowns/follow-up.ts';
import { parseRetentionDays, UnknownsService } from '../core/unknowns/service.ts';

export interface FollowUpParts {
  unknowns: UnknownsService;
  reviews: ReviewService;
  followUp: UnknownsAndReviews;
  /** Connects promotion to the gallery (which itself holds the follow-up). */
  bind(gallery: GalleryService, pipeline: FacePipeline): void;
  /** Promotes an unknown person to a subject (after {@link bind}). */
  promote(id: string, input: { name: string; id?: string | undefined }): Promise<SubjectView>;
}

export function openLocalFollowUp(
  dataDir: DataDir,
  calibrationId: string,
  now?: () => Date,
  env: NodeJS.ProcessEnv = process.env,
): FollowUpParts {
  const unknowns = new UnknownsService({
    store: new SqliteUnknownStore(dataDir.db),
    config: { retentionDays: parseRetentionDays(env.FACEPRINT_UNKNOWN_RETENTION_DAYS) },
    now,
  });
  const reviews = new ReviewService({
    store: new SqliteReviewStore(dataDir.db),
    audit: dataDir.faceStore,
    rule: parseReviewRule(env.FACEPRINT_REVIEW),
    now,
  });
  let bound: { gallery: GalleryService; pipeline: FacePipeline } | undefined;
  return {
    unknowns,
    reviews,
    followUp: new UnknownsAndReviews(unknowns, reviews, () => calibrationId),
    bind(gallery, pipeline) {
      bound = { gallery, pipeline };
    },
    promote(id, input) {
      if (!bound) throw new Error('promote before bind');
      return unknowns.promote(id, input, bound.gallery, bound.pipeline);
    },
  };
}
