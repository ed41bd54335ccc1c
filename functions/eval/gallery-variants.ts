/**
 * Gallery-side options of the identification protocols: degradation-matched template variants of each gallery
 * image (made exactly as enrolment makes them, `gallery/variants.ts`), how a subject's template scores fuse
 * (`search/vector-index.ts`), and an optional per-subject score normalisation (Z-norm).
 */

import {
  DERIVED_VARIANTS,
  type DerivedVariant,
  isTemplateVariant,
  type TemplateVariant,
} from '../core/domain.ts';
import { FaceprintError } from '../core/errors.ts';
import { makeVariant } from '../core/gallery/variants.ts';
import type { RgbImage } from '../core/pipeline/image.ts';
import type { AnalyzeOptions, FacePipeline } from '../core/pipeline/pipeline.ts';
import { type FusionConfig, VectorIndex } from '../core/search/vector-index.ts';

/** A template variant made from the enrolment crop (every variant but `original`). */
export type GalleryVariant = DerivedVariant;

/** Every gallery variant, in the canonical order used for cache keys and reports. */
export const GALLERY_VARIANTS: readonly GalleryVariant[] = DERIVED_VARIANTS;

/**
 * Version of the variant recipe (`gallery/variants.ts`): part of the variant cache's file name. Bump it when
 * `makeVariant` changes, or the cache serves embeddings of the old recipe.
 */
export const VARIANTS_VERSION = 'v1';

export const FUSION_METHODS: readonly FusionConfig['method'][] = ['max', 'mean', 'top2mean', 'weighted'];

/**
 * Normalisation of the fused scores: `znorm` per subject (its impostor statistics against a cohort), `tnorm`
 * per probe (its scores against the rest of the gallery). See {@link FusedGalleryScorer}.
 */
export type ScoreNorm = 'none' | 'znorm' | 'tnorm';
export const SCORE_NORMS: readonly ScoreNorm[] = ['none', 'znorm', 'tnorm'];

function invalid(message: string): FaceprintError {
  return new FaceprintError('INVALID_ARGUMENT', message);
}

/**
 * Parses a comma-separated variant list (`mirror,blur,dark`). Empty, undefined or `none` means no variants;
 * `all` means every variant. Duplicates collapse and the result is in {@link GALLERY_VARIANTS} order, so equal
 * sets give equal results (and cache keys) whatever order they were written in.
 *
 * @throws FaceprintError INVALID_ARGUMENT for an unknown name (or `original`, which is always enrolled).
 */
export function parseVariants(spec: string | undefined): GalleryVariant[] {
  const text = (spec ?? '').trim();
  if (text === '' || text === 'none') return [];
  if (text === 'all') return [...GALLERY_VARIANTS];
  const wanted = new Set<GalleryVariant>();
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (!(GALLERY_VARIANTS as readonly string[]).includes(name)) {
      throw invalid(
        `Unknown gallery variant "${name}"; use ${GALLERY_VARIANTS.join(', ')} (comma-separated), all or none.`,
      );
    }
    wanted.add(name as GalleryVariant);
  }
  return GALLERY_VARIANTS.filter((v) => wanted.has(v));
}

/**
 * Parses `--fusion` and, for `weighted`, `--variant-weights variant=w,…` (variants without a weight count 1).
 * Undefined means `max`, the index's default.
 *
 * @throws FaceprintError INVALID_ARGUMENT for an unknown method, weights without `weighted`, an unknown
 * variant, or a weight that is not a finite number ≥ 0.
 */
export function parseFusion(method: string | undefined, weights?: string | undefined): FusionConfig {
  const name = method ?? 'max';
  if (!(FUSION_METHODS as readonly string[]).includes(name)) {
    throw invalid(`Unknown fusion "${name}"; use ${FUSION_METHODS.join(', ')}.`);
  }
  if (weights === undefined || weights.trim() === '') {
    return { method: name as FusionConfig['method'] };
  }
  if (name !== 'weighted') throw invalid('Variant weights need --fusion weighted.');
  const variantWeights: Partial<Record<TemplateVariant, number>> = {};
  for (const item of weights.split(',')) {
    const [variant = '', value = '', ...extra] = item.split('=').map((s) => s.trim());
    const weight = Number(value);
    if (
      !isTemplateVariant(variant) ||
      extra.length > 0 ||
      value === '' ||
      !Number.isFinite(weight) ||
      weight < 0
    ) {
      throw invalid(`Bad variant weight "${item}"; write variant=weight (a number >= 0), e.g. blur=0.9.`);
    }
    variantWeights[variant] = weight;
  }
  return { method: 'weighted', variantWeights };
}

/**
 * Parses `--score-norm` (undefined means `none`).
 *
 * @throws FaceprintError INVALID_ARGUMENT for anything but `none`, `znorm` or `tnorm`.
 */
export function parseScoreNorm(value: string | undefined): ScoreNorm {
  const name = value ?? 'none';
  if (!(SCORE_NORMS as readonly string[]).includes(name)) {
    throw invalid(`Unknown score normalisation "${name}"; use ${SCORE_NORMS.join(', ')}.`);
  }
  return name as ScoreNorm;
}

/**
 * Embeds the requested variants of one aligned enrolment crop, exactly as `enrolmentTemplates` does: each
 * variant made by `makeVariant` from the aligned (not enhanced) crop, then `pipeline.embedCrops`.
 */
export async function embedVariants(
  pipeline: FacePipeline,
  crop: RgbImage,
  variants: readonly GalleryVariant[],
  options: Pick<AnalyzeOptions, 'enhanceOptions' | 'flip'>,
): Promise<Partial<Record<GalleryVariant, Float32Array>>> {
  if (variants.length === 0) return {};
  const images = await Promise.all(variants.map((v) => makeVariant(crop, v, options)));
  const vectors = await pipeline.embedCrops(images, options.flip);
  const out: Partial<Record<GalleryVariant, Float32Array>> = {};
  variants.forEach((v, i) => {
    const vector = vectors[i];
    if (vector) out[v] = vector;
  });
  return out;
}

/** One gallery subject's templates: the original embedding and its variants' embeddings. */
export interface GallerySubject {
  original: Float32Array;
  variants: Partial<Record<GalleryVariant, Float32Array>>;
  /** A camera-matched template (`camera-matched.ts`), scored as the `camera` variant. */
  camera?: Float32Array | undefined;
}

/**
 * Scores probes against a gallery of multi-template subjects through {@link VectorIndex} with the given fusion,
 * optionally Z-normalised per subject.
 *
 * Z-norm: each subject's fused score is standardised, `(s − μ) / σ`, by the mean and standard deviation of that
 * subject's fused scores against a cohort of impostors known at enrolment time: the original templates of every
 * other gallery subject (computed once, when the scorer is made). σ is floored at 1e-3.
 *
 * T-norm: each probe's scores are standardised by the mean and standard deviation of its own scores against the
 * gallery minus its best match (the gallery's other subjects stand in for an impostor cohort). The ranking is
 * unchanged; only the open-set decision sees the new scale.
 */
export class FusedGalleryScorer {
  readonly size: number;
  readonly #index: VectorIndex;
  readonly #fusion: FusionConfig;
  readonly #mean: Float64Array | undefined;
  readonly #std: Float64Array | undefined;
  readonly #tnorm: boolean;

  constructor(subjects: readonly GallerySubject[], fusion: FusionConfig, norm: ScoreNorm = 'none') {
    this.size = subjects.length;
    this.#fusion = fusion;
    this.#tnorm = norm === 'tnorm';
    const dim = subjects[0]?.original.length ?? 512;
    this.#index = new VectorIndex({
      modelId: 'eval',
      dim,
      initialCapacity: Math.max(1, subjects.length * 6),
    });
    this.#index.add(
      subjects.flatMap((s, i) => [
        {
          templateId: `${i}:original`,
          subjectId: String(i),
          variant: 'original' as const,
          vector: s.original,
        },
        ...GALLERY_VARIANTS.flatMap((v) => {
          const vector = s.variants[v];
          return vector ? [{ templateId: `${i}:${v}`, subjectId: String(i), variant: v, vector }] : [];
        }),
        ...(s.camera
          ? [
              {
                templateId: `${i}:camera`,
                subjectId: String(i),
                variant: 'camera' as const,
                vector: s.camera,
              },
            ]
          : []),
      ]),
    );
    if (norm === 'znorm' && subjects.length > 2) {
      const n = subjects.length;
      const sum = new Float64Array(n);
      const sumSq = new Float64Array(n);
      const raw = new Float32Array(n);
      for (let j = 0; j < n; j++) {
        this.#raw((subjects[j] as GallerySubject).original, raw);
        for (let i = 0; i < n; i++) {
          if (i === j) continue;
          const s = raw[i] as number;
          sum[i] = (sum[i] as number) + s;
          sumSq[i] = (sumSq[i] as number) + s * s;
        }
      }
      this.#mean = new Float64Array(n);
      this.#std = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const mean = (sum[i] as number) / (n - 1);
        this.#mean[i] = mean;
        this.#std[i] = Math.max(1e-3, Math.sqrt(Math.max(0, (sumSq[i] as number) / (n - 1) - mean * mean)));
      }
    }
  }

  /** Fused (unnormalised) score of every subject, by subject position, into `out`. */
  #raw(query: Float32Array, out: Float32Array): void {
    for (const c of this.#index.search(query, { k: this.size, fusion: this.#fusion })) {
      out[Number(c.subjectId)] = c.similarity;
    }
  }

  /** Every subject's (fused, normalised where configured) score for a probe, by subject position, into `out`. */
  score(query: Float32Array, out: Float32Array): void {
    this.#raw(query, out);
    if (this.#tnorm && this.size > 2) {
      let best = 0;
      let sum = 0;
      let sumSq = 0;
      for (let i = 0; i < this.size; i++) {
        const s = out[i] as number;
        sum += s;
        sumSq += s * s;
        if (s > (out[best] as number)) best = i;
      }
      const top = out[best] as number;
      const n = this.size - 1;
      const mean = (sum - top) / n;
      const std = Math.max(1e-3, Math.sqrt(Math.max(0, (sumSq - top * top) / n - mean * mean)));
      for (let i = 0; i < this.size; i++) out[i] = ((out[i] as number) - mean) / std;
      return;
    }
    const mean = this.#mean;
    const std = this.#std;
    if (!mean || !std) return;
    for (let i = 0; i < this.size; i++)
      out[i] = ((out[i] as number) - (mean[i] as number)) / (std[i] as number);
  }
}
