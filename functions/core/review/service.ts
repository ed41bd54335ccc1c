/**
 * The review queue: decisions enter it by a configurable rule, a reviewer confirms or rejects each (with who,
 * when and a note, all in the audit log), and a rejection is used — the probe's face becomes a negative of the
 * subject, so that face (or one closer to it than to the subject) is not matched to them again — and the
 * thresholds can be refit from reviewed decisions.
 */
import { randomUUID } from 'node:crypto';
import type { Candidate, Decision, DecisionAuditEntry } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { FaceStore, Page } from '../gallery/ports.ts';
import { type Calibration, thresholdAtRate } from '../search/calibration.ts';
import { type DecisionPolicy, decide } from '../search/decision.ts';
import type { ModelRef } from '../types.ts';
import type { Review, ReviewStatus, ReviewStore } from './ports.ts';

/** Which decisions a person must look at. */
export type ReviewRule =
  | { kind: 'all-matches' }
  | { kind: 'below'; similarity: number }
  | { kind: 'watch-list'; subjects: string[] }
  | { kind: 'off' };

/** The default: every match is reviewed (public-safety guidance for face search). */
export const DEFAULT_REVIEW_RULE: ReviewRule = { kind: 'all-matches' };

/**
 * Parses a rule from configuration: `all` (every match), `below:0.7` (matches under that similarity),
 * `watch:id1,id2` (matches to those subjects), `off`. Anything else fails closed with INVALID_ARGUMENT.
 */
export function parseReviewRule(text: string | undefined): ReviewRule {
  if (text === undefined || text === '' || text === 'all') return DEFAULT_REVIEW_RULE;
  if (text === 'off') return { kind: 'off' };
  const [kind, arg = ''] = text.split(/:(.*)/s, 2);
  if (kind === 'below') {
    const similarity = Number(arg);
    if (arg !== '' && Number.isFinite(similarity) && similarity > -1 && similarity <= 1) {
      return { kind: 'below', similarity };
    }
  }
  if (kind === 'watch') {
    const subjects = arg
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (subjects.length > 0) return { kind: 'watch-list', subjects };
  }
  throw new FaceprintError(
    'INVALID_ARGUMENT',
    `The review rule "${text}" is not one of: all, below:<similarity>, watch:<id>,<id>…, off.`,
  );
}

/** Whether a decision enters the review queue under `rule`. Only matches are reviewed. */
export function needsReview(rule: ReviewRule, decision: Decision): boolean {
  if (decision.kind !== 'match' || decision.subjectId === undefined) return false;
  switch (rule.kind) {
    case 'all-matches':
      return true;
    case 'below':
      return decision.similarity < rule.similarity;
    case 'watch-list':
      return rule.subjects.includes(decision.subjectId);
    case 'off':
      return false;
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

export interface ReviewDeps {
  store: ReviewStore;
  /** The audit log the verdicts are written to. */
  audit: Pick<FaceStore, 'appendAudit'>;
  rule?: ReviewRule | undefined;
  now?: (() => Date) | undefined;
}

export class ReviewService {
  readonly store: ReviewStore;
  readonly rule: ReviewRule;
  private readonly audit: Pick<FaceStore, 'appendAudit'>;
  private readonly now: () => Date;

  constructor(deps: ReviewDeps) {
    this.store = deps.store;
    this.audit = deps.audit;
    this.rule = deps.rule ?? DEFAULT_REVIEW_RULE;
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * A decision with reviewers' rejections applied: a subject is vetoed for this probe when one of its negatives
   * is at least as close to the probe as the subject itself (and above the threshold) — the probe looks more like
   * a face a person said is *not* them than like them. The decision is then taken again without that subject.
   */
  async adjust(
    embedding: Float32Array,
    decision: Decision,
    candidates: Candidate[],
    policy: DecisionPolicy,
  ): Promise<Decision> {
    let current = decision;
    let remaining = candidates;
    for (let guard = 0; guard < candidates.length; guard++) {
      const subjectId = current.subjectId;
      if (current.kind === 'unknown' || subjectId === undefined) return current;
      const own = remaining.find((c) => c.subjectId === subjectId)?.similarity ?? current.similarity;
      const negatives = await this.store.listNegatives(subjectId);
      const vetoed = negatives.some((n) => {
        const sim = dot(n.embedding, embedding);
        return sim >= policy.threshold && sim >= own;
      });
      if (!vetoed) return current;
      remaining = remaining.filter((c) => c.subjectId !== subjectId);
      current = decide(remaining, policy);
    }
    return current;
  }

  /** Enqueues a decided face when the rule asks for it; returns the review id. */
  async enqueue(
    face: {
      auditId: string;
      faceIndex: number;
      box: Review['box'];
      quality: Review['quality'];
      embedding: Float32Array;
      crop: Uint8Array;
      decision: Decision & { subjectName?: string | undefined };
    },
    context: { at: string; source: string; operation: string; calibration?: string | undefined },
  ): Promise<string | undefined> {
    if (!needsReview(this.rule, face.decision)) return undefined;
    const d = face.decision;
    const review: Review = {
      id: randomUUID(),
      status: 'pending',
      createdAt: context.at,
      operation: context.operation,
      source: context.source,
      faceIndex: face.faceIndex,
      box: face.box,
      quality: { score: face.quality.score, reasons: face.quality.reasons },
      decision: {
        kind: d.kind,
        subjectId: d.subjectId,
        subjectName: d.subjectName,
        similarity: d.similarity,
        threshold: d.threshold,
        confidence: d.confidence,
      },
      auditId: face.auditId,
      calibration: context.calibration,
    };
    await this.store.addReviews([{ review, embedding: face.embedding, crop: face.crop }]);
    return review.id;
  }

  list(status: ReviewStatus | undefined, limit: number, cursor?: string): Promise<Page<Review>> {
    return this.store.listReviews({ status, limit, cursor });
  }

  async get(id: string): Promise<Review> {
    const review = await this.store.getReview(id);
    if (!review)
      throw new FaceprintError('REVIEW_NOT_FOUND', `There is no review "${id}".`, { reviewId: id });
    return review;
  }

  async crop(id: string): Promise<Uint8Array> {
    await this.get(id);
    const crop = await this.store.getReviewCrop(id);
    if (!crop) {
      throw new FaceprintError('REVIEW_NOT_FOUND', `Review "${id}" has no face crop any more (erased).`, {
        reviewId: id,
      });
    }
    return crop;
  }

  /**
   * Confirms or rejects a pending review, and writes the verdict to the audit log (operation `review.confirm` or
   * `review.reject`, the reviewer and note in the source). REVIEW_NOT_FOUND, REVIEW_NOT_PENDING (409).
   */
  async settle(
    id: string,
    input: { verdict: 'confirm' | 'reject'; reviewer?: string | undefined; note?: string | undefined },
    model: ModelRef,
  ): Promise<Review> {
    const reviewedAt = this.now().toISOString();
    const review = await this.store.settle(
      id,
      {
        status: input.verdict === 'confirm' ? 'confirmed' : 'rejected',
        reviewer: input.reviewer,
        note: input.note,
        reviewedAt,
      },
      randomUUID(),
    );
    const entry: DecisionAuditEntry = {
      id: randomUUID(),
      at: reviewedAt,
      operation: `review.${input.verdict}`,
      source: `review:${review.id} audit:${review.auditId} reviewer:${input.reviewer ?? 'anonymous'}${input.note ? ` note:${input.note}` : ''}`,
      faceIndex: review.faceIndex,
      box: review.box,
      // Score and reasons restated; the full measurements are in the decision's own entry (`audit:` above).
      quality: {
        score: review.quality.score,
        reasons: review.quality.reasons,
        brightness: 0,
        contrast: 0,
        sharpness: 0,
        interOcularPx: 0,
        detectionScore: 0,
        yaw: 0,
        pitch: 0,
        roll: 0,
      },
      decision: { ...review.decision, margin: 0, candidates: [] },
      model,
      calibration: review.calibration ?? '',
    };
    await this.audit.appendAudit([entry]);
    return review;
  }
}

/** What erasure writes in place of a subject's id, name and the probe's source. */
export const ERASED = '[erased]';

/**
 * A review as it stays after its subject is erased: the decision's kind and scores, without what names the
 * subject or the photo it was matched in (both stores apply it, with the face itself deleted).
 */
export function redactReview(review: Review): Review {
  return {
    ...review,
    source: ERASED,
    box: { x: 0, y: 0, width: 0, height: 0 },
    decision: { ...review.decision, subjectId: ERASED, subjectName: ERASED },
  };
}

/** The outcome of {@link refitFromReviews}. */
export interface ReviewRefit {
  calibration: Calibration;
  confirmed: number;
  rejected: number;
  /** Of the confirmed matches, the share still above the new threshold. */
  confirmedKept: number;
  /** Of the rejected matches, the share still above the new threshold. */
  rejectedKept: number;
}

/**
 * Refits the open-set threshold from reviewed matches: the smallest threshold, never below the current one (the
 * reviews only ever saw matches, so nothing below it was measured), at which at most `maxRejectedShare` of the
 * rejected matches would still be matches. INVALID_ARGUMENT without any rejected review.
 */
export function refitFromReviews(
  base: Calibration,
  reviews: readonly Pick<Review, 'status' | 'decision'>[],
  maxRejectedShare: number,
  now: Date = new Date(),
): ReviewRefit {
  const matches = reviews.filter((r) => r.decision.kind === 'match');
  const confirmed = matches.filter((r) => r.status === 'confirmed').map((r) => r.decision.similarity);
  const rejected = matches.filter((r) => r.status === 'rejected').map((r) => r.decision.similarity);
  if (rejected.length === 0) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      'No rejected match has been reviewed yet: nothing to refit from.',
    );
  }
  const threshold = Math.max(base.threshold, thresholdAtRate(rejected, rejected.length, maxRejectedShare));
  const share = (xs: number[]) => (xs.length === 0 ? 0 : xs.filter((x) => x >= threshold).length / xs.length);
  const calibration: Calibration = {
    ...base,
    id: `${base.id}+reviews-${now.toISOString().slice(0, 10)}`,
    createdAt: now.toISOString(),
    threshold,
    method: `${base.method} Refit from ${confirmed.length} confirmed and ${rejected.length} rejected reviewed matches: the smallest threshold not below ${base.threshold} leaving at most ${maxRejectedShare} of the rejected matches above it.`,
  };
  return {
    calibration,
    confirmed: confirmed.length,
    rejected: rejected.length,
    confirmedKept: share(confirmed),
    rejectedKept: share(rejected),
  };
}
