/**
 * One decision per track: keeps the track's best-K faces by quality, aggregates their embeddings and decides
 * match / unknown / ambiguous with the calibrated thresholds, again whenever the evidence improves.
 */
import type { Candidate, Decision } from '../domain.ts';
import { l2Normalise } from '../pipeline/embed.ts';
import type { RgbImage } from '../pipeline/image.ts';
import { type DecisionPolicy, decide } from '../search/decision.ts';
import type { Box, FaceQuality } from '../types.ts';

/**
 * How a track's faces become one decision:
 * - `quality-mean`: the quality-weighted mean of the best-K embeddings, re-normalised, searched once;
 * - `best-single`: the embedding of the best-quality face alone;
 * - `max-score`: every best-K face searched, each subject scored by its best similarity over the faces;
 * - `top2-mean`: every best-K face searched, each subject scored by the mean of its two best similarities (one
 *   lucky frame alone cannot carry a decision).
 */
export type Aggregation = 'quality-mean' | 'best-single' | 'max-score' | 'top2-mean';

export const AGGREGATIONS: readonly Aggregation[] = ['quality-mean', 'best-single', 'max-score', 'top2-mean'];

/** How many of a subject's best per-face similarities `top2-mean` averages. */
export const TOP_K_MEAN = 2;

/** The gallery as a track decision needs it: candidates for an embedding, and the thresholds. */
export interface IdentityMatcher {
  /** Top-k subjects for an embedding, best first, with their fused similarity. */
  search(embedding: Float32Array, k: number): Promise<Candidate[]>;
  /** Display name of a subject, when it has one. */
  nameOf(subjectId: string): Promise<string | undefined>;
  policy: DecisionPolicy;
  calibrationId: string;
}

/** One face of a track. */
export interface TrackFace {
  frameIndex: number;
  timestampMs: number;
  box: Box;
  quality: FaceQuality;
  embedding: Float32Array;
  /** The aligned 112×112 crop (kept for the evidence thumbnails). */
  crop?: RgbImage | undefined;
  /** Similarity of this face alone to the track's decided (or best) subject, set at each decision. */
  similarity?: number | undefined;
}

/** A track's decision and the evidence behind it. */
export interface TrackDecision extends Decision {
  subjectName?: string | undefined;
  aggregation: Aggregation;
  /** Faces the decision rests on. */
  facesUsed: number;
}

/** Quality gain over the worst kept face that makes a new face worth embedding once the best-K is full. */
const IMPROVEMENT = 0.03;

/** Weight of a face in the mean: its quality, floored so a track of poor faces still has an average. */
function weightOf(face: TrackFace): number {
  return Math.max(0.05, face.quality.score);
}

/** The best-K faces of one track and the decision they support. */
export class TrackEvidence {
  private readonly faces: TrackFace[] = [];
  /** Faces seen in total (embedded or not). */
  seen = 0;

  constructor(
    readonly bestK: number,
    readonly aggregation: Aggregation,
  ) {}

  /** Whether the best-K is full (a new face must then beat the worst kept one). */
  get full(): boolean {
    return this.faces.length >= this.bestK;
  }

  /** Whether a face of this quality would enter the best-K (callers embed only such faces). */
  wouldKeep(qualityScore: number): boolean {
    if (this.faces.length < this.bestK) return true;
    const worst = this.faces[this.faces.length - 1]!;
    // A clear improvement only: consecutive frames of one face differ in quality by noise, and each embedding
    // costs ~10 ms.
    return qualityScore > worst.quality.score + IMPROVEMENT;
  }

  /** Adds a face; returns whether it was kept among the best-K. */
  offer(face: TrackFace): boolean {
    if (!this.wouldKeep(face.quality.score)) return false;
    this.faces.push(face);
    this.faces.sort((a, b) => b.quality.score - a.quality.score || a.frameIndex - b.frameIndex);
    if (this.faces.length > this.bestK) this.faces.pop();
    return this.faces.includes(face);
  }

  /** The kept faces, best quality first. */
  best(): readonly TrackFace[] {
    return this.faces;
  }

  /** The embedding that stands for the track (re-linking, `quality-mean`), or undefined before any face. */
  appearance(): Float32Array | undefined {
    const first = this.faces[0];
    if (!first) return undefined;
    if (this.aggregation === 'best-single') return first.embedding;
    return weightedMean(this.faces);
  }

  /**
   * Decides from the kept faces; also sets each face's own similarity to the decided (or best) subject.
   *
   * @returns undefined while the track has no embedded face.
   */
  async decide(matcher: IdentityMatcher, topK: number): Promise<TrackDecision | undefined> {
    if (this.faces.length === 0) return undefined;
    const perFace = await Promise.all(this.faces.map((f) => matcher.search(f.embedding, topK)));
    let candidates: Candidate[];
    if (this.aggregation === 'max-score') {
      const bySubject = new Map<string, Candidate>();
      for (const list of perFace)
        for (const c of list) {
          const seen = bySubject.get(c.subjectId);
          if (!seen || c.similarity > seen.similarity) bySubject.set(c.subjectId, c);
        }
      candidates = [...bySubject.values()];
    } else if (this.aggregation === 'top2-mean') {
      candidates = topKMeanCandidates(perFace, TOP_K_MEAN);
    } else {
      candidates = await matcher.search(this.appearance()!, topK);
    }
    const decision = decide(candidates, matcher.policy);
    const target = decision.subjectId ?? decision.candidates[0]?.subjectId;
    this.faces.forEach((face, i) => {
      const own = perFace[i]!.find((c) => c.subjectId === target);
      face.similarity = own ? round4(own.similarity) : undefined;
    });
    return {
      ...decision,
      subjectName: decision.subjectId ? await matcher.nameOf(decision.subjectId) : undefined,
      aggregation: this.aggregation,
      facesUsed: this.faces.length,
    };
  }
}

/** Quality-weighted mean of L2-normalised embeddings, re-normalised. */
export function weightedMean(faces: readonly TrackFace[]): Float32Array {
  const dim = faces[0]?.embedding.length ?? 0;
  const sum = new Float32Array(dim);
  for (const f of faces) {
    const w = weightOf(f);
    for (let i = 0; i < dim; i++) sum[i]! += w * f.embedding[i]!;
  }
  return l2Normalise(sum);
}

/** Mean of plain embeddings with the given weights, re-normalised (the set protocol aggregates this way). */
export function aggregateEmbeddings(
  embeddings: readonly Float32Array[],
  weights: readonly number[],
  aggregation: Exclude<Aggregation, 'max-score'>,
): Float32Array {
  if (aggregation === 'best-single') {
    let best = 0;
    weights.forEach((w, i) => {
      if (w > weights[best]!) best = i;
    });
    return embeddings[best]!;
  }
  const dim = embeddings[0]?.length ?? 0;
  const sum = new Float32Array(dim);
  embeddings.forEach((e, j) => {
    const w = Math.max(0.05, weights[j] ?? 1);
    for (let i = 0; i < dim; i++) sum[i]! += w * e[i]!;
  });
  return l2Normalise(sum);
}

/**
 * Merges per-face candidate lists by the mean of each subject's `k` best similarities. A face whose top-k list
 * lacks the subject contributes that list's lowest similarity (an upper bound of the subject's own), so a
 * subject seen in one list only is not favoured over one seen in all of them.
 */
function topKMeanCandidates(perFace: readonly Candidate[][], k: number): Candidate[] {
  const subjects = new Map<string, Candidate>();
  for (const list of perFace)
    for (const c of list) if (!subjects.has(c.subjectId)) subjects.set(c.subjectId, c);
  const n = Math.min(k, perFace.length);
  return [...subjects.values()]
    .map((subject) => {
      const sims = perFace
        .map((list) => {
          const own = list.find((c) => c.subjectId === subject.subjectId);
          return own ? own.similarity : Math.min(...list.map((c) => c.similarity));
        })
        .sort((a, b) => b - a)
        .slice(0, n);
      return { ...subject, similarity: sims.reduce((a, b) => a + b, 0) / Math.max(1, sims.length) };
    })
    .sort((a, b) => b.similarity - a.similarity);
}

/** One face of a probe set (the set protocol) or of a track: its embedding and quality score. */
export interface SetFace {
  embedding: Float32Array;
  quality: number;
}

/**
 * The score of every gallery entry for a set of faces, aggregated as a track decision aggregates them
 * (`quality-mean`, `best-single`, `max-score`, `top2-mean`), with the full score vector of each face instead of
 * its top-k list: the set protocol of `faceprint eval` measures the track decision's aggregations this way.
 *
 * @param score - the similarity of an embedding to every gallery entry.
 * @returns one score per gallery entry; empty when the set has no face.
 */
export function aggregateSetScores(
  faces: readonly SetFace[],
  aggregation: Aggregation,
  score: (embedding: Float32Array) => Float32Array,
): Float32Array {
  if (faces.length === 0) return new Float32Array(0);
  const embeddings = faces.map((f) => f.embedding);
  const weights = faces.map((f) => f.quality);
  if (aggregation === 'quality-mean' || aggregation === 'best-single') {
    return score(aggregateEmbeddings(embeddings, weights, aggregation));
  }
  const perFace = embeddings.map(score);
  const size = perFace[0]!.length;
  const out = new Float32Array(size);
  const n = aggregation === 'max-score' ? 1 : Math.min(TOP_K_MEAN, perFace.length);
  const column = new Float32Array(perFace.length);
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < perFace.length; i++) column[i] = perFace[i]![j]!;
    column.sort();
    let sum = 0;
    for (let t = 0; t < n; t++) sum += column[column.length - 1 - t]!;
    out[j] = sum / n;
  }
  return out;
}

function round4(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}
