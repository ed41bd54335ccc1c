/**
 * The gallery's vector index on Amazon S3 Vectors (`index: 's3vectors'` on the construct): one vector per face
 * template, key = template id, metadata `subjectId`, `variant`, `templateId` and optional `lists` (watch lists,
 * filterable with `$eq`, which on a list value matches any element). Identify asks for the `k × oversample`
 * nearest templates (capped at the service's top-K limit of 100), then fuses them per subject exactly as the
 * local approximate index does (`fuseTemplates`). Erasure deletes the subject's template keys for real.
 *
 * Limits respected here (S3 Vectors "Limitations and restrictions"): at most 500 vectors per PutVectors and
 * DeleteVectors call, top-K at most 100, cosine distance = 1 − cosine similarity.
 */
import {
  DeleteVectorsCommand,
  PutVectorsCommand,
  QueryVectorsCommand,
  type S3VectorsClient,
} from '@aws-sdk/client-s3vectors';
import { type Candidate, TEMPLATE_VARIANTS } from '../../core/domain.ts';
import { FaceprintError } from '../../core/errors.ts';
import type { RemoteEntry, RemoteSearchOptions, RemoteVectorIndex } from '../../core/search/remote-index.ts';
import { fuseTemplates, type ScoredTemplate } from '../../core/search/template-fusion.ts';

/** Service limits (published). */
export const S3VECTORS_LIMITS = { batch: 500, topK: 100, dim: 4096 } as const;

export type { RemoteEntry, RemoteSearchOptions, RemoteVectorIndex };

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function unit(vector: Float32Array, what: string): number[] {
  let sum = 0;
  for (const x of vector) {
    if (!Number.isFinite(x))
      throw new FaceprintError('INVALID_ARGUMENT', `${what} has a non-finite component`);
    sum += x * x;
  }
  if (sum === 0) throw new FaceprintError('INVALID_ARGUMENT', `${what} is all zeros`);
  const k = 1 / Math.sqrt(sum);
  return Array.from(vector, (x) => x * k);
}

/** {@link RemoteVectorIndex} on one S3 Vectors index, addressed by ARN. */
export class S3VectorsIndex implements RemoteVectorIndex {
  readonly engine = 's3vectors';
  readonly #client: S3VectorsClient;
  readonly #indexArn: string;
  readonly #oversample: number;

  constructor(options: { client: S3VectorsClient; indexArn: string; oversample?: number | undefined }) {
    if (!/^arn:aws[a-z-]*:s3vectors:[a-z0-9-]+:\d{12}:bucket\/[^/]+\/index\/[^/]+$/.test(options.indexArn)) {
      throw new FaceprintError('INVALID_ARGUMENT', `not an S3 Vectors index ARN: ${options.indexArn}`);
    }
    this.#client = options.client;
    this.#indexArn = options.indexArn;
    this.#oversample = options.oversample ?? 5;
  }

  /** PutVectors in batches of 500 (a put with an existing key replaces it). */
  async upsert(entries: readonly RemoteEntry[]): Promise<void> {
    const vectors = entries.map((e) => ({
      key: e.templateId,
      data: { float32: unit(e.vector, `template ${e.templateId}`) },
      metadata: {
        subjectId: e.subjectId,
        variant: e.variant,
        templateId: e.templateId,
        ...(e.lists && e.lists.length > 0 ? { lists: [...e.lists] } : {}),
      },
    }));
    for (const batch of chunks(vectors, S3VECTORS_LIMITS.batch)) {
      await this.#client.send(new PutVectorsCommand({ indexArn: this.#indexArn, vectors: batch }));
    }
  }

  /** DeleteVectors in batches of 500: erasure removes the vectors, not a flag on them. */
  async removeTemplates(templateIds: readonly string[]): Promise<void> {
    for (const keys of chunks(templateIds, S3VECTORS_LIMITS.batch)) {
      await this.#client.send(new DeleteVectorsCommand({ indexArn: this.#indexArn, keys }));
    }
  }

  /** QueryVectors for the nearest templates (with metadata and distances), fused per subject. */
  async search(query: Float32Array, options: RemoteSearchOptions): Promise<Candidate[]> {
    if (!Number.isInteger(options.k) || options.k < 1) {
      throw new FaceprintError('INVALID_ARGUMENT', `k must be a positive integer, got ${options.k}`);
    }
    const topK = Math.min(S3VECTORS_LIMITS.topK, options.k * this.#oversample);
    const response = await this.#client.send(
      new QueryVectorsCommand({
        indexArn: this.#indexArn,
        topK,
        queryVector: { float32: unit(query, 'query') },
        ...(options.list ? { filter: { lists: { $eq: options.list } } } : {}),
        returnMetadata: true,
        returnDistance: true,
      }),
    );
    const hits: ScoredTemplate[] = [];
    for (const v of response.vectors ?? []) {
      const metadata = (v.metadata ?? {}) as { subjectId?: unknown; variant?: unknown };
      if (typeof v.key !== 'string' || typeof metadata.subjectId !== 'string' || v.distance === undefined)
        continue;
      const variant = TEMPLATE_VARIANTS.indexOf(metadata.variant as (typeof TEMPLATE_VARIANTS)[number]);
      hits.push({
        templateId: v.key,
        subjectId: metadata.subjectId,
        variant: Math.max(variant, 0),
        similarity: 1 - v.distance,
      });
    }
    return fuseTemplates(hits, options.k, options.fusion ?? { method: 'max' });
  }
}
