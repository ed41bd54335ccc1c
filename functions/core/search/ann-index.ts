/**
 * Approximate nearest-neighbour search over face templates, for galleries past the exact index's crossover.
 *
 * The graph itself (HNSW) comes from a well-kept native package behind the small {@link AnnGraph} port
 * (`functions/adapters/local/usearch-graph.ts` is the one Faceprint ships; `hnswlib-graph.ts` is benchmarked
 * beside it). This module owns what the graph does not know about: template ids, subjects and variants per
 * key, per-subject fusion over the retrieved templates, and real deletes.
 *
 * Grouping: a graph node is a *group* of one subject's templates, not one template. Templates added together for a
 * subject (an enrolment photo and its derived variants) join the group of the first earlier member within
 * {@link DEFAULT_GROUP_SIMILARITY} cosine of them, and the node's vector is the group's normalised mean. Measured on
 * real enrolments (lfw-dev, docs/accuracy.md "Grouped graph nodes"): the mirror, dark and blur variants fall within
 * 0.9 of their photo and share its node, the lowres variant mostly does not, so a photo takes ~2 nodes instead of 5;
 * each member lies within 0.06 cosine of its node. A smaller graph needs a smaller search ef for the same recall
 * (257 instead of 640 at 1M templates, README "Session 23"), and the answer stays exact: every template of a
 * retrieved node is re-scored.
 *
 * Fusion: the graph returns the `k × oversample` nearest nodes; the similarities of their templates are fused per
 * subject exactly as {@link VectorIndex} fuses (max, weighted, mean, top2mean) but over the retrieved templates
 * only. For `max` and `weighted` (the defaults) that is the exact answer whenever the node holding the subject's
 * best template is retrieved; for `mean`/`top2mean` a subject's unretrieved templates are left out of its mean
 * (`template-fusion.ts`, shared with the remote engines).
 */

import { type Candidate, isTemplateVariant, TEMPLATE_VARIANTS } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import { fuseRows, variantWeights } from './template-fusion.ts';
import type { FusionConfig, IndexEntry, SearchOptions } from './vector-index.ts';

/**
 * What an approximate-search engine must offer. Keys are non-negative integers chosen by the caller and never
 * reused; vectors are L2-normalised, row-major; similarity is cosine.
 */
export interface AnnGraph {
  /** Engine name and settings, for `/health` and the benchmark (e.g. `usearch-hnsw-i8`). */
  readonly engine: string;
  /** Live (not removed) vectors. */
  readonly size: number;
  /** Adds `keys.length` vectors (`vectors.length === keys.length × dim`). */
  add(keys: readonly number[], vectors: Float32Array): void;
  /** Removes vectors for real: no later search returns these keys. Unknown keys are ignored. */
  remove(keys: readonly number[]): void;
  /** The `count` nearest live vectors, best first, with their cosine similarities. */
  search(query: Float32Array, count: number): { keys: ArrayLike<number>; similarities: ArrayLike<number> };
}

/** Exact similarities of a query to templates by id (NaN for an unknown id), in the ids' order. */
export type TemplateRescorer = (query: Float32Array, templateIds: readonly string[]) => ArrayLike<number>;

/** Makes an empty graph for `dim`-dimensional vectors, sized for about `capacity` of them. */
export type AnnGraphFactory = (dim: number, capacity: number) => AnnGraph;

/**
 * The id tables of an {@link ApproximateIndex}, saved beside its graph so both reload together. One entry per
 * template; the templates of one node share its key.
 */
export interface AnnManifest {
  modelId: string;
  dim: number;
  nextKey: number;
  keys: number[];
  templateIds: string[];
  subjectIds: string[];
  variants: number[];
  /** The grouping the graph was built with (absent: saved by a release with one node per template). */
  grouping?: number | 'off' | undefined;
}

/**
 * Templates of one subject added together share a graph node when within this cosine of the node's first member
 * (measured on real enrolment variants: see the module header).
 */
export const DEFAULT_GROUP_SIMILARITY = 0.9;

/** A node holds at most this many templates, which bounds the re-scoring work per retrieved node. */
export const MAX_GROUP_SIZE = 8;

/** Constructor options of {@link ApproximateIndex}. */
export interface ApproximateIndexOptions {
  modelId: string;
  dim: number;
  graph: AnnGraph;
  /** Graph nodes retrieved per requested subject before fusion (default 10). */
  oversample?: number | undefined;
  /**
   * The cosine within which a subject's templates added together share a node (default
   * {@link DEFAULT_GROUP_SIMILARITY}, in (0, 1]), or `off` for one node per template.
   */
  grouping?: number | 'off' | undefined;
}

function invalid(message: string, details?: Record<string, unknown>): FaceprintError {
  return new FaceprintError('INVALID_ARGUMENT', message, details);
}

function normalised(vector: Float32Array, dim: number, what: string): Float32Array {
  if (!(vector instanceof Float32Array) || vector.length !== dim) {
    throw invalid(`${what}: expected a Float32Array of dimension ${dim}`);
  }
  let sum = 0;
  for (let j = 0; j < dim; j++) {
    const x = vector[j] as number;
    if (!Number.isFinite(x)) throw invalid(`${what}: component ${j} is not a finite number`);
    sum += x * x;
  }
  if (sum === 0) throw invalid(`${what}: the vector is all zeros`);
  const scale = 1 / Math.sqrt(sum);
  const out = new Float32Array(dim);
  for (let j = 0; j < dim; j++) out[j] = (vector[j] as number) * scale;
  return out;
}

interface Row {
  templateId: string;
  subjectId: string;
  variant: number;
}

function groupingOf(value: number | 'off' | undefined): number | 'off' {
  if (value === undefined) return DEFAULT_GROUP_SIMILARITY;
  if (value === 'off') return value;
  if (!(Number.isFinite(value) && value > 0 && value <= 1))
    throw invalid(`grouping must be "off" or a cosine in (0, 1], got ${String(value)}`);
  return value;
}

/**
 * Approximate cosine index with the same search contract as {@link VectorIndex} (top-k subjects, fused,
 * ties broken by subject id). Not thread-safe.
 */
export class ApproximateIndex {
  readonly modelId: string;
  readonly dim: number;
  /** The cosine within which a subject's templates added together share a node, or `off`. */
  readonly grouping: number | 'off';
  #graphRef: AnnGraph;
  readonly #oversample: number;
  #nextKey = 0;
  /**
   * Graph node key → the templates it stands for (keys are issued in order and never reused, so a dense array:
   * one memory access per retrieved node where a Map costs a hash probe; a removed node leaves a hole).
   */
  readonly #nodes: (Row[] | undefined)[] = [];
  #nodeCount = 0;
  readonly #templateKey = new Map<string, number>();
  readonly #subjectKeys = new Map<string, number[]>();

  /** Wraps an empty graph. Throws `INVALID_ARGUMENT` for a bad dimension, oversample factor or grouping. */
  constructor(options: ApproximateIndexOptions) {
    if (!Number.isInteger(options.dim) || options.dim <= 0) throw invalid(`dim must be a positive integer`);
    const oversample = options.oversample ?? 10;
    if (!Number.isInteger(oversample) || oversample < 1)
      throw invalid('oversample must be a positive integer');
    if (options.graph.size !== 0) throw invalid('the graph must start empty');
    this.modelId = options.modelId;
    this.dim = options.dim;
    this.grouping = groupingOf(options.grouping);
    this.#graphRef = options.graph;
    this.#oversample = oversample;
  }

  /** Number of templates. */
  get size(): number {
    return this.#templateKey.size;
  }

  /** Number of graph nodes (groups of templates). */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /** Number of subjects with at least one template. */
  get subjectCount(): number {
    return this.#subjectKeys.size;
  }

  /** The graph (for saving it). */
  get graph(): AnnGraph {
    return this.#graphRef;
  }

  /** The graph engine, e.g. `usearch-hnsw-i8`. */
  get kernel(): string {
    return this.#graphRef.engine;
  }

  /** True when a template with this id is in the index. */
  has(templateId: string): boolean {
    return this.#templateKey.has(templateId);
  }

  /** True when the subject has at least one template. */
  hasSubject(subjectId: string): boolean {
    return this.#subjectKeys.has(subjectId);
  }

  /**
   * Adds templates, all-or-nothing: throws `INVALID_ARGUMENT` (adding none) for a bad vector, an unknown
   * variant, an empty id or a template id already present. Vectors are copied and L2-normalised. A subject's
   * templates in this call are grouped into nodes (see the module header); templates added in a later call get
   * nodes of their own, since the earlier members' vectors are not kept here.
   */
  add(entries: readonly IndexEntry[]): void {
    if (entries.length === 0) return;
    const dim = this.dim;
    const matrix = new Float32Array(entries.length * dim);
    const seen = new Set<string>();
    for (const [i, e] of entries.entries()) {
      if (typeof e.templateId !== 'string' || e.templateId.length === 0)
        throw invalid(`entry ${i}: templateId must be a non-empty string`);
      if (typeof e.subjectId !== 'string' || e.subjectId.length === 0)
        throw invalid(`entry ${i}: subjectId must be a non-empty string`);
      if (!isTemplateVariant(e.variant)) throw invalid(`entry ${i}: unknown variant ${String(e.variant)}`);
      if (this.#templateKey.has(e.templateId) || seen.has(e.templateId))
        throw invalid(`template ${e.templateId} is already in the index`, { templateId: e.templateId });
      seen.add(e.templateId);
      matrix.set(normalised(e.vector, dim, `template ${e.templateId}`), i * dim);
    }
    const groups = groupRows(entries, matrix, dim, this.grouping);
    const keys = groups.map((_, g) => this.#nextKey + g);
    this.#graphRef.add(keys, nodeVectors(groups, matrix, dim));
    this.#nextKey += groups.length;
    for (const [g, members] of groups.entries()) {
      this.#attach(
        keys[g] as number,
        members.map((i) => {
          const e = entries[i] as IndexEntry;
          return {
            templateId: e.templateId,
            subjectId: e.subjectId,
            variant: TEMPLATE_VARIANTS.indexOf(e.variant),
          };
        }),
      );
    }
  }

  /** Records node `key` as standing for `rows` (one subject's templates). */
  #attach(key: number, rows: Row[]): void {
    this.#nodes[key] = rows;
    this.#nodeCount++;
    for (const row of rows) this.#templateKey.set(row.templateId, key);
    const subjectId = (rows[0] as Row).subjectId;
    const list = this.#subjectKeys.get(subjectId);
    if (list) list.push(key);
    else this.#subjectKeys.set(subjectId, [key]);
  }

  /** Removes every template of a subject from the graph for real. Returns how many were removed. */
  removeSubject(subjectId: string): number {
    const keys = this.#subjectKeys.get(subjectId);
    if (!keys) return 0;
    this.#graphRef.remove(keys);
    let removed = 0;
    for (const key of keys) {
      const members = this.#nodes[key];
      if (!members) continue;
      for (const row of members) this.#templateKey.delete(row.templateId);
      removed += members.length;
      this.#nodes[key] = undefined;
      this.#nodeCount--;
    }
    this.#subjectKeys.delete(subjectId);
    return removed;
  }

  /**
   * The top `k` subjects by fused similarity over the templates of the `k × oversample` nearest nodes, best first;
   * ties broken by subject id. `rescore` gives the exact similarity of the retrieved templates (the exact index held
   * beside the graph): the graph then only chooses the candidates, and the similarities (and so the decisions and
   * their order) are exact; a template it does not know (NaN) is dropped. Without `rescore` each template carries
   * its node's similarity (the graph's, to the group's mean). Throws `INVALID_ARGUMENT` for a bad query, `k` or
   * fusion.
   */
  search(query: Float32Array, options: SearchOptions, rescore?: TemplateRescorer): Candidate[] {
    if (!Number.isInteger(options.k) || options.k < 1)
      throw invalid(`k must be a positive integer, got ${options.k}`);
    const fusion: FusionConfig = options.fusion ?? { method: 'max' };
    variantWeights(fusion);
    const q = normalised(query, this.dim, 'query');
    if (this.#nodeCount === 0) return [];
    const count = Math.min(this.#nodeCount, options.k * this.#oversample);
    const hits = this.#graphRef.search(q, count);
    // Columns, not an object per template: at 1M templates the per-query garbage showed in the p99.
    const rows: Row[] = [];
    const nodeSimilarities: number[] = [];
    for (let i = 0; i < hits.keys.length; i++) {
      const members = this.#nodes[hits.keys[i] as number];
      if (!members) continue;
      for (const row of members) {
        rows.push(row);
        if (!rescore) nodeSimilarities.push(hits.similarities[i] as number);
      }
    }
    const similarities = rescore
      ? rescore(
          q,
          rows.map((r) => r.templateId),
        )
      : nodeSimilarities;
    return fuseRows(rows, similarities, options.k, fusion, options.exclude);
  }

  /** The id tables, for saving beside the graph. */
  manifest(): AnnManifest {
    const m: AnnManifest = {
      modelId: this.modelId,
      dim: this.dim,
      nextKey: this.#nextKey,
      keys: [],
      templateIds: [],
      subjectIds: [],
      variants: [],
      grouping: this.grouping,
    };
    for (const [key, rows] of this.#nodes.entries()) {
      for (const row of rows ?? []) {
        m.keys.push(key);
        m.templateIds.push(row.templateId);
        m.subjectIds.push(row.subjectId);
        m.variants.push(row.variant);
      }
    }
    return m;
  }

  /**
   * Rebuilds the id tables over a graph reloaded from disk. Throws `INDEX_CORRUPT` when the manifest and the
   * graph disagree (another model, dimension or number of nodes).
   */
  static restore(
    graph: AnnGraph,
    manifest: AnnManifest,
    options: { oversample?: number | undefined } = {},
  ): ApproximateIndex {
    const n = manifest.keys.length;
    const nodes = new Set(manifest.keys).size;
    if (
      graph.size !== nodes ||
      manifest.templateIds.length !== n ||
      manifest.subjectIds.length !== n ||
      manifest.variants.length !== n
    ) {
      throw new FaceprintError('INDEX_CORRUPT', 'the approximate index and its manifest disagree', {
        graph: graph.size,
        manifest: nodes,
      });
    }
    const empty: AnnGraph = {
      engine: graph.engine,
      size: 0,
      add() {},
      remove() {},
      search: () => ({ keys: [], similarities: [] }),
    };
    const index = new ApproximateIndex({
      modelId: manifest.modelId,
      dim: manifest.dim,
      graph: empty,
      oversample: options.oversample,
      // A manifest from before grouping has one node per template.
      grouping: manifest.grouping ?? 'off',
    });
    index.#adopt(graph, manifest);
    return index;
  }

  #adopt(graph: AnnGraph, manifest: AnnManifest): void {
    this.#graphRef = graph;
    this.#nextKey = manifest.nextKey;
    const byKey = new Map<number, Row[]>();
    for (const [i, key] of manifest.keys.entries()) {
      const row = {
        templateId: manifest.templateIds[i] as string,
        subjectId: manifest.subjectIds[i] as string,
        variant: manifest.variants[i] as number,
      };
      const members = byKey.get(key);
      if (members) members.push(row);
      else byKey.set(key, [row]);
    }
    for (const [key, rows] of byKey) this.#attach(key, rows);
  }

  /** Every template's id, subject and variant (no vectors: the graph may store them quantised). */
  *rows(): IterableIterator<{ templateId: string; subjectId: string }> {
    for (const rows of this.#nodes)
      for (const row of rows ?? []) yield { templateId: row.templateId, subjectId: row.subjectId };
  }
}

/**
 * Groups the rows of one add call into nodes: per subject, in order, each row joins the first of that subject's
 * groups whose first member is within `grouping` cosine of it and that has room, else starts a group.
 */
function groupRows(
  entries: readonly IndexEntry[],
  matrix: Float32Array,
  dim: number,
  grouping: number | 'off',
): number[][] {
  if (grouping === 'off') return entries.map((_, i) => [i]);
  const groups: number[][] = [];
  const bySubject = new Map<string, number[][]>();
  for (const [i, e] of entries.entries()) {
    const open = bySubject.get(e.subjectId) ?? [];
    const home = open.find(
      (g) => g.length < MAX_GROUP_SIZE && dot(matrix, (g[0] as number) * dim, i * dim, dim) >= grouping,
    );
    if (home) {
      home.push(i);
      continue;
    }
    const group = [i];
    open.push(group);
    bySubject.set(e.subjectId, open);
    groups.push(group);
  }
  return groups;
}

function dot(matrix: Float32Array, a: number, b: number, dim: number): number {
  let sum = 0;
  for (let j = 0; j < dim; j++) sum += (matrix[a + j] as number) * (matrix[b + j] as number);
  return sum;
}

/** Each group's normalised mean, row-major. */
function nodeVectors(groups: readonly number[][], matrix: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(groups.length * dim);
  const sum = new Float32Array(dim);
  for (const [g, members] of groups.entries()) {
    sum.fill(0);
    for (const i of members)
      for (let j = 0; j < dim; j++) sum[j] = (sum[j] as number) + (matrix[i * dim + j] as number);
    out.set(normalised(sum, dim, 'a node'), g * dim);
  }
  return out;
}
