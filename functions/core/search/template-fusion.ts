/**
 * Per-subject fusion of retrieved templates, shared by every index that retrieves templates rather than scoring the
 * whole gallery: the local approximate graph (`ann-index.ts`) and remote engines (S3 Vectors). It fuses as
 * `VectorIndex` fuses (max, weighted, mean, top2mean), over the retrieved templates only.
 */
import { type Candidate, isTemplateVariant, TEMPLATE_VARIANTS } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { FusionConfig } from './vector-index.ts';

/**
 * The per-variant weights of a fusion, by variant code. Throws `INVALID_ARGUMENT` for an unknown method or
 * variant, or a weight that is not a finite number ≥ 0.
 */
export function variantWeights(fusion: FusionConfig): Float64Array {
  if (!['max', 'mean', 'top2mean', 'weighted'].includes(fusion.method)) {
    throw new FaceprintError('INVALID_ARGUMENT', `unknown fusion method ${String(fusion.method)}`);
  }
  const weights = new Float64Array(TEMPLATE_VARIANTS.length).fill(1);
  for (const [variant, weight] of Object.entries(fusion.variantWeights ?? {})) {
    if (!isTemplateVariant(variant))
      throw new FaceprintError('INVALID_ARGUMENT', `unknown variant ${variant} in variantWeights`);
    if (weight === undefined) continue;
    if (!Number.isFinite(weight) || weight < 0)
      throw new FaceprintError('INVALID_ARGUMENT', `variant weight for ${variant} must be >= 0`);
    weights[TEMPLATE_VARIANTS.indexOf(variant)] = weight;
  }
  return weights;
}

/** One retrieved template with its similarity to the query (variant as its code in `TEMPLATE_VARIANTS`). */
export interface ScoredTemplate {
  templateId: string;
  subjectId: string;
  variant: number;
  similarity: number;
}

/**
 * Fuses retrieved templates per subject ({@link FusionConfig}, over the retrieved templates only) and returns
 * the top `k` subjects, best first, ties broken by subject id. Shared by every approximate or remote index.
 */
export function fuseTemplates(
  hits: readonly ScoredTemplate[],
  k: number,
  fusion: FusionConfig,
  exclude?: ((templateId: string) => boolean) | undefined,
): Candidate[] {
  return fuseRows(
    hits,
    hits.map((h) => h.similarity),
    k,
    fusion,
    exclude,
  );
}

/**
 * {@link fuseTemplates} over templates and their similarities as two columns; a NaN similarity (a template the
 * re-scoring index does not know) leaves its template out.
 */
export function fuseRows(
  rows: readonly { templateId: string; subjectId: string; variant: number }[],
  similarities: ArrayLike<number>,
  k: number,
  fusion: FusionConfig,
  exclude?: ((templateId: string) => boolean) | undefined,
): Candidate[] {
  const weights = variantWeights(fusion);
  const bySubject = new Map<
    string,
    { best: number; bestTemplate: string; second: number; sum: number; n: number }
  >();
  for (const [i, row] of rows.entries()) {
    let s = similarities[i] as number;
    if (Number.isNaN(s) || exclude?.(row.templateId)) continue;
    if (fusion.method === 'weighted') s *= weights[row.variant] ?? 1;
    const acc = bySubject.get(row.subjectId);
    if (!acc) {
      bySubject.set(row.subjectId, {
        best: s,
        bestTemplate: row.templateId,
        second: Number.NaN,
        sum: s,
        n: 1,
      });
      continue;
    }
    acc.sum += s;
    acc.n += 1;
    if (s > acc.best) {
      acc.second = acc.best;
      acc.best = s;
      acc.bestTemplate = row.templateId;
    } else if (!(s <= acc.second)) {
      acc.second = s;
    }
  }
  const fused: Candidate[] = [];
  for (const [subjectId, acc] of bySubject) {
    let similarity = acc.best;
    if (fusion.method === 'mean') similarity = acc.sum / acc.n;
    else if (fusion.method === 'top2mean' && !Number.isNaN(acc.second))
      similarity = (acc.best + acc.second) / 2;
    fused.push({ subjectId, similarity: Math.fround(similarity), templateId: acc.bestTemplate });
  }
  fused.sort((a, b) =>
    b.similarity !== a.similarity ? b.similarity - a.similarity : a.subjectId < b.subjectId ? -1 : 1,
  );
  return fused.slice(0, k);
}
