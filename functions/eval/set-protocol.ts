/**
 * The set protocol (`faceprint eval --protocol set`): a probe is a *set* of one person's images, the stand-in
 * for a video track, aggregated the ways a track decision aggregates its best faces
 * (`core/video/track-evidence.ts`), against a single image. This module builds the sets and scores them; the
 * run (embedding through the shared cache) is in `set-eval.ts`.
 *
 * Layout, in two folds so every identity with enough images is once mated and once a stranger:
 * - identities with ≥ `minImages` images alternate (by sorted name) between *enrolled* (gallery = their first
 *   image; probe set = up to `maxSetSize` of the others) and *strangers* (not enrolled; their set, built the same
 *   way, is a non-mated probe); fold 1 swaps the two halves;
 * - identities with 2 images are enrolled by their first image in both folds (distractors that make the gallery
 *   one-shot-sized);
 * - single-image identities are not used (a set needs images of one person).
 */
import type { Aggregation, SetFace } from '../core/video/track-evidence.ts';
import { aggregateSetScores } from '../core/video/track-evidence.ts';
import type { Dataset } from './dataset.ts';
import { type OpenSetProbe, rankK, tpirAtFpir } from './metrics.ts';

/** One probe set: images of one identity, enrolled (`mated`) or not. */
export interface ProbeSet {
  identity: string;
  images: string[];
  mated: boolean;
}

/** One fold of the set protocol. */
export interface SetFold {
  fold: number;
  gallery: { identity: string; image: string }[];
  sets: ProbeSet[];
}

export interface SetProtocolOptions {
  /** Images an identity needs to give a probe set (gallery image + ≥ 2 probes). Default 3. */
  minImages?: number;
  /** Images per probe set at most. Default 5. */
  maxSetSize?: number;
}

/** The two folds of the set protocol on a dataset (see the module header). */
export function setProtocolFolds(dataset: Dataset, options: SetProtocolOptions = {}): SetFold[] {
  const minImages = Math.max(3, options.minImages ?? 3);
  const maxSetSize = Math.max(1, options.maxSetSize ?? 5);
  const rich = dataset.identities.filter((i) => i.images.length >= minImages);
  const distractors = dataset.identities.filter((i) => i.images.length >= 2 && i.images.length < minImages);
  return [0, 1].map((fold) => {
    const gallery: SetFold['gallery'] = [];
    const sets: ProbeSet[] = [];
    rich.forEach((identity, index) => {
      const [first, ...rest] = identity.images as [string, ...string[]];
      const mated = index % 2 === fold;
      if (mated) gallery.push({ identity: identity.name, image: first });
      sets.push({ identity: identity.name, images: rest.slice(0, maxSetSize), mated });
    });
    for (const d of distractors) gallery.push({ identity: d.name, image: d.images[0] as string });
    return { fold, gallery, sets };
  });
}

/** How a set becomes one score per gallery identity: a track aggregation, or its first image alone. */
export type SetMethod = Aggregation | 'first-image';

/** The methods the set protocol compares, the single-image baseline first. */
export const SET_METHODS: readonly SetMethod[] = [
  'first-image',
  'best-single',
  'quality-mean',
  'max-score',
  'top2-mean',
];

/** Cosine similarity of one embedding to every row of a gallery matrix (L2-normalised rows). */
export function scoreAgainst(gallery: readonly Float32Array[]): (embedding: Float32Array) => Float32Array {
  return (embedding) => {
    const out = new Float32Array(gallery.length);
    gallery.forEach((row, j) => {
      let dot = 0;
      for (let i = 0; i < row.length; i++) dot += row[i]! * embedding[i]!;
      out[j] = dot;
    });
    return out;
  };
}

/**
 * The open-set probe of one set under one method: the true identity's rank and score, and the best score.
 * A set without any embedded face (every image missed by the detector) has no score: a miss when mated.
 *
 * @param faces - the set's embedded faces, in the set's image order.
 * @param galleryIds - the identity of each gallery row (one row per identity).
 */
export function scoreSet(
  faces: readonly SetFace[],
  method: SetMethod,
  mated: boolean,
  identity: string,
  galleryIds: readonly string[],
  score: (embedding: Float32Array) => Float32Array,
): OpenSetProbe {
  const used = method === 'first-image' ? faces.slice(0, 1) : faces;
  const aggregation: Aggregation = method === 'first-image' ? 'best-single' : method;
  const scores = aggregateSetScores(used, aggregation, score);
  if (scores.length === 0) return { mated, trueRank: null, trueScore: null, topScore: null };
  let top = Number.NEGATIVE_INFINITY;
  for (const s of scores) if (s > top) top = s;
  const trueIndex = mated ? galleryIds.indexOf(identity) : -1;
  if (trueIndex < 0) return { mated, trueRank: null, trueScore: null, topScore: top };
  const trueScore = scores[trueIndex]!;
  let above = 0;
  for (const s of scores) if (s > trueScore) above += 1;
  return { mated, trueRank: above + 1, trueScore, topScore: top };
}

/** Rank-1 and TPIR at FPIR 1% / 10% of one method over every fold's probes. */
export interface SetMethodResult {
  method: SetMethod;
  rank1: number;
  tpirAtFpir: { fpir: number; tpir: number; threshold: number }[];
}

/** The metrics of a list of probes (both folds pooled: the galleries are the same size). */
export function setMetrics(method: SetMethod, probes: readonly OpenSetProbe[]): SetMethodResult {
  return {
    method,
    rank1: rankK(probes, 1),
    tpirAtFpir: [0.01, 0.1].map((fpir) => {
      const r = tpirAtFpir(probes, fpir);
      return { fpir, tpir: r.tpir, threshold: r.threshold };
    }),
  };
}
