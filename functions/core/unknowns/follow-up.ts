/**
 * The identify path's follow-up (see `gallery/follow-up.ts`): reviewers' negatives adjust decisions, unknown
 * faces become sightings of unknown persons (a vetoed match included: it comes back unknown), matches enter the
 * review queue by its rule, and expired sightings are erased as the path runs (at most every ten minutes; `purgeExpired` does it on demand).
 */
import type { Candidate, Decision } from '../domain.ts';
import type { DecidedFace, FollowUpRefs, IdentifyFollowUp, SightingContext } from '../gallery/follow-up.ts';
import { encodeImage } from '../pipeline/image.ts';
import type { ReviewService } from '../review/service.ts';
import type { DecisionPolicy } from '../search/decision.ts';
import type { UnknownsService } from './service.ts';

const PURGE_EVERY_MS = 10 * 60_000;

export class UnknownsAndReviews implements IdentifyFollowUp {
  readonly wantsCrops = true;
  private lastPurge = 0;

  constructor(
    readonly unknowns: UnknownsService,
    readonly reviews: ReviewService,
    private readonly calibrationId: () => string,
  ) {}

  adjust(
    embedding: Float32Array,
    decision: Decision,
    candidates: Candidate[],
    policy: DecisionPolicy,
  ): Promise<Decision> {
    return this.reviews.adjust(embedding, decision, candidates, policy);
  }

  async record(faces: DecidedFace[], context: SightingContext): Promise<FollowUpRefs[]> {
    const now = Date.parse(context.at);
    if (now - this.lastPurge >= PURGE_EVERY_MS) {
      this.lastPurge = now;
      await this.unknowns.purgeExpired();
    }
    const out: FollowUpRefs[] = [];
    for (const face of faces) {
      const refs: FollowUpRefs = {};
      const crop = face.crop ? new Uint8Array(await encodeImage(face.crop, 'jpeg', 85)) : new Uint8Array(0);
      if (face.decision.kind === 'unknown' && crop.byteLength > 0) {
        const sighting = await this.unknowns.recordFace({ ...face, crop }, context);
        if (sighting) {
          refs.sightingId = sighting.sightingId;
          refs.unknownId = sighting.unknownId;
        }
      }
      refs.reviewId = await this.reviews.enqueue(
        { ...face, crop },
        { ...context, calibration: this.calibrationId() },
      );
      out.push(refs);
    }
    return out;
  }

  eraseSubject(subjectId: string): Promise<void> {
    return this.reviews.store.eraseSubject(subjectId);
  }
}
