/**
 * The evaluation's scoring: pairs (10-fold accuracy, ROC, TAR@FAR) and identification (CMC, open-set TPIR@FPIR,
 * brightness buckets), each with the worst failures for the report.
 */

import type { FusionConfig } from '../core/search/vector-index.ts';
import { attributeMisses, type MissCause, missCause } from './attribution.ts';
import { CameraScoreNorm } from './camera-matched.ts';
import { BRIGHTNESS_BUCKETS, brightnessBucket, type IdentificationProtocol, type Pair } from './dataset.ts';
import { FusedGalleryScorer, type GalleryVariant, type ScoreNorm } from './gallery-variants.ts';
import {
  abstentionRate,
  cmc,
  kFoldAccuracy,
  type OpenSetProbe,
  type RocPoint,
  rankK,
  rocAuc,
  rocCurve,
  tarAtFar,
  tpirAtFpir,
} from './metrics.ts';
import { gateOutcomes, REPORTED_GATES } from './quality-report.ts';
import type {
  Embedded,
  FaceSelection,
  Failure,
  IdentificationResult,
  ImageRef,
  Job,
  PairsResult,
} from './types.ts';

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

function ref(path: string, degrade: string, e: Embedded | undefined): ImageRef {
  return { path, degrade, box: e?.box ?? null };
}

const round = (x: number, digits = 6) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Scores every pair by the dot product of its two embeddings (−1 where a face is missing). */
export function scorePairs(
  pairs: Pair[],
  degrade: string,
  embedded: (job: Job) => Embedded | undefined,
  worst: number,
): PairsResult {
  const scored: { pair: Pair; score: number; missing: boolean }[] = [];
  const failedImages = new Set<string>();
  for (const pair of pairs) {
    const ea = embedded({ path: pair.a, select: 'centre', degrade: '' });
    const eb = embedded({ path: pair.b, select: 'centre', degrade });
    if (!ea?.embedding) failedImages.add(`${pair.a}|`);
    if (!eb?.embedding) failedImages.add(`${pair.b}|${degrade}`);
    const missing = !ea?.embedding || !eb?.embedding;
    scored.push({
      pair,
      score: missing ? -1 : dot(ea?.embedding as Float32Array, eb?.embedding as Float32Array),
      missing,
    });
  }
  const genuine = scored.filter((s) => s.pair.same).map((s) => s.score);
  const impostor = scored.filter((s) => !s.pair.same).map((s) => s.score);
  const kfold = kFoldAccuracy(scored.map((s) => ({ score: s.score, same: s.pair.same, fold: s.pair.fold })));
  // With fewer than 1/FAR impostors, TAR@FAR is the rate at zero false accepts (reported `far` is then 0).
  const fars = [1e-2, 1e-3];
  // Worst: lowest genuine and highest impostor scores, relative to the mean fold threshold.
  const t = kfold.perFold.reduce((sum, f) => sum + f.threshold, 0) / Math.max(1, kfold.perFold.length);
  const wrong = scored
    .filter((s) => (s.pair.same ? s.score < t : s.score >= t))
    .sort((x, y) => Math.abs(y.score - t) - Math.abs(x.score - t))
    .slice(0, worst);
  return {
    protocol: 'pairs',
    pairs: pairs.length,
    accuracy: kfold,
    auc: rocAuc(genuine, impostor),
    tarAtFar: fars.map((far) => {
      const r = tarAtFar(genuine, impostor, far);
      return { far, tar: r.tar, threshold: round(r.threshold) };
    }),
    detectionFailures: failedImages.size,
    pairsWithMissingFace: scored.filter((s) => s.missing).length,
    roc: thinRoc(rocCurve(genuine, impostor)),
    worst: wrong.map(({ pair, score }) => {
      const a = ref(pair.a, '', embedded({ path: pair.a, select: 'centre', degrade: '' }));
      const b = ref(pair.b, degrade, embedded({ path: pair.b, select: 'centre', degrade }));
      return pair.same
        ? { probe: b, wrong: null, truth: { ...a, score: round(score, 4) } }
        : { probe: b, wrong: { ...a, score: round(score, 4) }, truth: null };
    }),
  };
}

/** Keeps at most ~400 ROC points (the plot needs no more), always the first and last. */
function thinRoc(points: RocPoint[]): RocPoint[] {
  if (points.length <= 400) return points;
  const step = points.length / 400;
  const out: RocPoint[] = [];
  for (let i = 0; i < points.length; i += step) out.push(points[Math.floor(i)] as RocPoint);
  out.push(points[points.length - 1] as RocPoint);
  return out;
}

/** Scores every probe against the gallery (fused over variants when configured) and computes the metrics. */
export function scoreIdentification(
  protocol: IdentificationProtocol,
  name: 'one-shot' | 'lighting',
  degrade: string,
  embedded: (job: Job) => Embedded | undefined,
  threshold: number,
  worst: number,
  gallery: {
    variants: readonly GalleryVariant[];
    fusion: FusionConfig;
    scoreNorm: ScoreNorm;
    /** Which face of a gallery photo is enrolled (default `largest`). */
    select?: FaceSelection | undefined;
    /** Camera-matched templates by gallery image path (`camera-matched.ts`), one more template per subject. */
    cameraTemplates?: ReadonlyMap<string, Float32Array> | undefined;
    /** Cohort-normalise the camera templates' scores (`CameraScoreNorm`) instead of fusing them raw. */
    cameraNorm?: boolean | undefined;
  },
): IdentificationResult {
  const gallerySelect: FaceSelection = gallery.select ?? 'largest';
  const galleryJobs = protocol.gallery.map((g) => ({
    g,
    e: embedded({ path: g.image, select: gallerySelect, degrade: '' }),
  }));
  const enrolled = galleryJobs.filter((x) => x.e?.embedding);
  const dim = enrolled[0]?.e?.embedding?.length ?? 0;
  const matrix = new Float32Array(enrolled.length * dim);
  enrolled.forEach((x, i) => {
    matrix.set(x.e?.embedding as Float32Array, i * dim);
  });
  // One template per identity and no normalisation: plain dot products (the figures recorded before variants
  // existed). Otherwise the vector index fuses each subject's templates as configured.
  const fused =
    gallery.variants.length > 0 || gallery.scoreNorm !== 'none' || gallery.cameraTemplates
      ? new FusedGalleryScorer(
          enrolled.map((x) => ({
            original: x.e?.embedding as Float32Array,
            variants: x.e?.variants ?? {},
            camera: gallery.cameraNorm ? undefined : gallery.cameraTemplates?.get(x.g.image),
          })),
          gallery.fusion,
          gallery.scoreNorm,
        )
      : undefined;
  const cameraNorm =
    gallery.cameraNorm && gallery.cameraTemplates
      ? new CameraScoreNorm(
          enrolled.map((x) => x.e?.embedding as Float32Array),
          enrolled.map((x) => gallery.cameraTemplates?.get(x.g.image)),
        )
      : undefined;
  const indexOf = new Map(enrolled.map((x, i) => [x.g.identity, i]));
  const select: FaceSelection = name === 'one-shot' ? 'centre' : 'largest';

  const probes: (OpenSetProbe & {
    image: string;
    identity: string;
    top: number;
    luma: number;
    e: Embedded | undefined;
  })[] = [];
  const failedPaths: string[] = galleryJobs.filter((x) => !x.e?.embedding).map((x) => x.g.image);
  let matedFailures = 0;
  let nonMatedFailures = 0;
  const scores = new Float32Array(enrolled.length);
  /** Scores `v` against every gallery subject into `scores`; returns the index of the best. */
  const scoreAll = (v: Float32Array): number => {
    let top = 0;
    if (fused) {
      fused.score(v, scores);
      cameraNorm?.apply(v, scores);
      for (let i = 1; i < enrolled.length; i++) if ((scores[i] as number) > (scores[top] as number)) top = i;
    } else {
      for (let i = 0; i < enrolled.length; i++) {
        let s = 0;
        const o = i * dim;
        for (let d = 0; d < dim; d++) s += (matrix[o + d] as number) * (v[d] as number);
        scores[i] = s;
        if (s > (scores[top] as number)) top = i;
      }
    }
    return top;
  };
  // Degraded runs: each mated miss is attributed by comparing with the same image undegraded (see attribution.ts).
  const missed: { cause: MissCause; cleanHit: boolean | null }[] = [];
  const attribute = (probe: IdentificationProtocol['probes'][number], e: Embedded | undefined) => {
    if (!probe.mated || degrade === '') return;
    const clean = embedded({ path: probe.image, select, degrade: '' });
    const trueIndex = indexOf.get(probe.identity);
    const cleanHit =
      clean?.embedding && trueIndex !== undefined && enrolled.length > 0
        ? scoreAll(clean.embedding) === trueIndex
        : clean
          ? false
          : null;
    missed.push({ cause: missCause(e, clean), cleanHit });
  };
  for (const probe of protocol.probes) {
    const e = embedded({ path: probe.image, select, degrade });
    const base = {
      image: probe.identity ? probe.image : probe.image,
      identity: probe.identity,
      luma: e?.luma ?? 0,
      e,
    };
    if (!e?.embedding || enrolled.length === 0) {
      if (!e?.embedding) {
        failedPaths.push(probe.image);
        if (probe.mated) matedFailures += 1;
        else nonMatedFailures += 1;
      }
      probes.push({ ...base, mated: probe.mated, trueRank: null, trueScore: null, topScore: null, top: -1 });
      attribute(probe, e);
      continue;
    }
    const top = scoreAll(e.embedding);
    const trueIndex = probe.mated ? indexOf.get(probe.identity) : undefined;
    let trueRank: number | null = null;
    let trueScore: number | null = null;
    if (trueIndex !== undefined) {
      trueScore = scores[trueIndex] as number;
      let above = 0;
      for (let i = 0; i < enrolled.length; i++) if ((scores[i] as number) > trueScore) above += 1;
      trueRank = above + 1;
    }
    const topScore = scores[top] as number;
    if (trueRank !== 1) attribute(probe, e);
    probes.push({ ...base, mated: probe.mated, trueRank, trueScore, topScore, top });
  }

  const mated = probes.filter((p) => p.mated);
  const nonMated = probes.filter((p) => !p.mated);
  const openSet = nonMated.length > 0 && mated.length > 0;
  const tpir = openSet
    ? [0.01, 0.1].map((fpir) => {
        const r = tpirAtFpir(probes, fpir);
        return { fpir, tpir: r.tpir, threshold: round(r.threshold) };
      })
    : [];
  const curve = openSet
    ? [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1].map((fpir) => ({
        fpir,
        tpir: tpirAtFpir(probes, fpir).tpir,
      }))
    : [];
  const accepted = (p: OpenSetProbe) => p.topScore !== null && p.topScore >= threshold;
  const atThreshold =
    mated.length > 0
      ? {
          threshold,
          abstention: abstentionRate(probes, threshold),
          matedTpir:
            mated.filter((p) => p.trueRank === 1 && p.trueScore !== null && p.trueScore >= threshold).length /
            mated.length,
          nonMatedFpir: nonMated.length > 0 ? nonMated.filter(accepted).length / nonMated.length : 0,
        }
      : null;

  const buckets =
    name === 'lighting'
      ? BRIGHTNESS_BUCKETS.map(({ label }) => {
          const inBucket = mated.filter((p) => brightnessBucket(p.luma) === label);
          return {
            label,
            probes: inBucket.length,
            rank1:
              inBucket.length > 0 ? inBucket.filter((p) => p.trueRank === 1).length / inBucket.length : 0,
            detectionFailures: inBucket.filter((p) => !p.e?.embedding).length,
          };
        })
      : [];

  const failures = mated
    .filter((p) => p.trueRank !== 1 && p.top >= 0)
    .sort((a, b) => (b.topScore ?? 0) - (b.trueScore ?? -1) - ((a.topScore ?? 0) - (a.trueScore ?? -1)))
    .slice(0, worst)
    .map((p): Failure => {
      const wrong = enrolled[p.top] as (typeof enrolled)[number];
      const trueIndex = indexOf.get(p.identity);
      const truth =
        trueIndex === undefined ? galleryJobs.find((x) => x.g.identity === p.identity) : enrolled[trueIndex];
      return {
        probe: ref(p.image, degrade, p.e),
        wrong: {
          ...ref(wrong.g.image, '', wrong.e),
          score: round(p.topScore ?? 0, 4),
          identity: wrong.g.identity,
        },
        truth: truth
          ? { ...ref(truth.g.image, '', truth.e), score: p.trueScore === null ? null : round(p.trueScore, 4) }
          : null,
      };
    });

  return {
    protocol: name,
    gallerySize: enrolled.length,
    matedProbes: mated.length,
    nonMatedProbes: nonMated.length,
    rank1: rankK(probes, 1),
    rank5: rankK(probes, 5),
    cmc: cmc(probes, Math.min(20, Math.max(1, enrolled.length))),
    tpirAtFpir: tpir,
    tpirCurve: curve,
    atThreshold,
    detectionFailures: {
      gallery: galleryJobs.length - enrolled.length,
      mated: matedFailures,
      nonMated: nonMatedFailures,
      paths: failedPaths,
    },
    buckets,
    missAttribution: degrade === '' ? null : attributeMisses(missed),
    qualityGate: gateOutcomes(
      probes.map((p) => ({ ...p, quality: p.e?.quality })),
      threshold,
      REPORTED_GATES,
    ),
    worst: failures,
  };
}
