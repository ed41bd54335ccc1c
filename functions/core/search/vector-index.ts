/**
 * Exact (exhaustive) cosine search over face templates.
 *
 * All vectors live in one contiguous, growable, row-major `Float32Array`; template ids, subject ordinals
 * (`Int32Array` into a subject-id table) and variant codes (`Uint8Array`) are parallel per-row columns, so the
 * hot loop touches no per-template objects. The dot products run in the WebAssembly SIMD kernel of
 * `simd-kernel.ts` when the runtime supports it and `dim` is a multiple of 16; otherwise a 4-way unrolled
 * JavaScript loop computes the same float32 scores.
 *
 * One data structure with its search, fusion and growth: longer than 400 lines because they share its columns.
 */

import { type Candidate, isTemplateVariant, TEMPLATE_VARIANTS, type TemplateVariant } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import {
  type DotsKernel,
  dotsModule,
  FLOATS_PER_SIMD_STEP,
  type Int8RowsWriter,
  type UnitFromInt8Kernel,
  WASM_PAGE,
  type WasmMemory,
  wasm,
} from './simd-kernel.ts';

/** Stable numeric code of each template variant (stored per row, and in snapshots): its place in the list. */
const VARIANT_CODE = Object.fromEntries(TEMPLATE_VARIANTS.map((v, i) => [v, i])) as Record<
  TemplateVariant,
  number
>;

/**
 * How the similarities of one subject's templates are fused into the subject's score.
 *
 * - `max` (default): the best template's similarity.
 * - `mean`: the mean similarity over the subject's (non-excluded) templates.
 * - `top2mean`: the mean of the two best similarities (the best one alone when the subject has one template).
 * - `weighted`: the maximum over the subject's templates of `similarity × variantWeights[variant]`; variants
 *   without a weight count 1. Weights above 1 can push a score above 1.
 *
 * For every method the candidate's `templateId` is the template with the highest (weighted, for `weighted`)
 * similarity.
 */
export interface FusionConfig {
  method: 'max' | 'mean' | 'top2mean' | 'weighted';
  variantWeights?: Partial<Record<TemplateVariant, number>> | undefined;
}

/** Options of {@link VectorIndex.search}. */
export interface SearchOptions {
  /** How many subjects to return (a positive integer); fewer when the index holds fewer. */
  k: number;
  fusion?: FusionConfig | undefined;
  /** Rows whose template id this returns true for are ignored (e.g. leave-one-out evaluation). */
  exclude?: ((templateId: string) => boolean) | undefined;
}

/** One template as added to, or read back from, the index. */
export interface IndexEntry {
  templateId: string;
  subjectId: string;
  variant: TemplateVariant;
  vector: Float32Array;
}

/** Constructor options of {@link VectorIndex}. */
export interface VectorIndexOptions {
  /** The embedding model the vectors come from; snapshots and compatibility checks carry it. */
  modelId: string;
  /** Embedding dimension (512 for the shipped model). */
  dim: number;
  /** Rows to reserve up front; the storage doubles when full. */
  initialCapacity?: number | undefined;
  /** Set false to force the scalar JavaScript kernel (tests compare both). Default true. */
  simd?: boolean | undefined;
}

/**
 * The index's raw columns, for the snapshot codec. Views into live storage: valid only until the index is
 * next changed.
 * @internal
 */
export interface IndexColumns {
  modelId: string;
  dim: number;
  subjectIds: readonly string[];
  templateIds: readonly string[];
  rowSubject: Int32Array;
  rowVariant: Uint8Array;
  /** `templateIds.length × dim` floats, row-major. */
  vectors: Float32Array;
}

function invalid(message: string, details?: Record<string, unknown>): FaceprintError {
  return new FaceprintError('INVALID_ARGUMENT', message, details);
}

/** Storage reserved by {@link VectorIndex.reserve}, filled, then completed into an index. @internal */
export interface PendingIndex {
  /** The `count × dim` floats to write. */
  readonly target: Float32Array;
  /** The SIMD kernel's int8 writer for views of `target`, when the index has the kernel. */
  readonly int8Rows: Int8RowsWriter | undefined;
  /** Checks and installs the rows' id columns; `finite: true` skips the scan for non-finite components. */
  complete(columns: Omit<IndexColumns, 'vectors'>, options: { finite: boolean }): VectorIndex;
}

/**
 * Exhaustive cosine-similarity index of face templates, grouped by subject.
 *
 * Vectors are L2-normalised on the way in, so scores are cosine similarities whatever the input's scale.
 * Not thread-safe; searches reuse internal scratch buffers.
 */
export class VectorIndex {
  /** The embedding model the vectors come from. */
  readonly modelId: string;
  /** Embedding dimension. */
  readonly dim: number;

  #capacity: number;
  #size = 0;
  /** Row-major `capacity × dim`; a view into WebAssembly memory when the SIMD kernel is in use. */
  #vectors: Float32Array;
  /** Scratch: the normalised query. */
  #query: Float32Array;
  /** Scratch: one score per row. */
  #scores: Float32Array;
  #memory: WasmMemory | undefined;
  #dots: DotsKernel | undefined;
  #unitFromInt8: UnitFromInt8Kernel | undefined;

  #templateIds: string[] = [];
  #rowSubject: Int32Array;
  #rowVariant: Uint8Array;
  #templateRow = new Map<string, number>();
  #subjectIds: string[] = [];
  #subjectOrdinal = new Map<string, number>();

  /** Creates an empty index. Throws `INVALID_ARGUMENT` for an empty model id or a non-positive dimension. */
  constructor(options: VectorIndexOptions) {
    if (typeof options.modelId !== 'string' || options.modelId.length === 0) {
      throw invalid('modelId must be a non-empty string');
    }
    if (!Number.isInteger(options.dim) || options.dim <= 0) {
      throw invalid(`dim must be a positive integer, got ${options.dim}`);
    }
    this.modelId = options.modelId;
    this.dim = options.dim;
    this.#capacity = Math.max(1, Math.floor(options.initialCapacity ?? 64));
    this.#rowSubject = new Int32Array(this.#capacity);
    this.#rowVariant = new Uint8Array(this.#capacity);
    const useSimd =
      (options.simd ?? true) && dotsModule !== undefined && this.dim % FLOATS_PER_SIMD_STEP === 0;
    if (useSimd && dotsModule && wasm) {
      this.#memory = new wasm.Memory({ initial: this.#pagesFor(this.#capacity) });
      const instance = new wasm.Instance(dotsModule, { e: { m: this.#memory } });
      this.#dots = instance.exports.dots as DotsKernel;
      this.#unitFromInt8 = instance.exports.unitFromInt8 as UnitFromInt8Kernel;
    }
    this.#vectors = new Float32Array(0);
    this.#query = new Float32Array(0);
    this.#scores = new Float32Array(0);
    this.#layout(new Float32Array(0));
  }

  /**
   * Builds an index straight from columns (the snapshot decoder's bulk path). Validates every column and
   * throws `INVALID_ARGUMENT` on any inconsistency. Vectors are copied as they are (they are expected to be
   * normalised already) but must be finite.
   * @internal
   */
  static fromColumns(columns: IndexColumns, options?: { simd?: boolean | undefined }): VectorIndex {
    const { vectors } = columns;
    return VectorIndex.fromFilledColumns(columns, {
      simd: options?.simd,
      length: vectors.length,
      fill: (target) => target.set(vectors),
    });
  }

  /**
   * {@link fromColumns} without an intermediate vector array: `fill` writes the `count × dim` floats straight into
   * the index's storage (a cold start decodes each shard's payload into place, one copy instead of three).
   * `finite: true` says `fill` can only write finite values (dequantised int8), which skips the finiteness scan.
   * `fill` is handed the SIMD kernel's int8 writer for views of this storage when the index has one.
   * @internal
   */
  static fromFilledColumns(
    columns: Omit<IndexColumns, 'vectors'>,
    options: {
      simd?: boolean | undefined;
      /** The number of floats `fill` writes; must be `count × dim`. */
      length: number;
      fill: (target: Float32Array, int8Rows: Int8RowsWriter | undefined) => void;
      finite?: boolean | undefined;
    },
  ): VectorIndex {
    const { dim, templateIds, rowSubject, rowVariant } = columns;
    const count = templateIds.length;
    if (rowSubject.length !== count || rowVariant.length !== count || options.length !== count * dim) {
      throw invalid('column lengths disagree', {
        templateIds: count,
        rowSubject: rowSubject.length,
        rowVariant: rowVariant.length,
        vectors: options.length,
      });
    }
    const pending = VectorIndex.reserve({ modelId: columns.modelId, dim, count, simd: options.simd });
    options.fill(pending.target, pending.int8Rows);
    return pending.complete(columns, { finite: options.finite ?? false });
  }

  /**
   * Storage for `count` rows reserved before the rows' ids are known: a cold start writes each shard's vectors into
   * place as the shard arrives (`target`, with the SIMD kernel's `int8Rows` writer when the index has one), then
   * `complete` checks the id columns (as {@link fromColumns} does) and answers the index. Single use.
   * @internal
   */
  static reserve(options: {
    modelId: string;
    dim: number;
    count: number;
    simd?: boolean | undefined;
  }): PendingIndex {
    const index = new VectorIndex({
      modelId: options.modelId,
      dim: options.dim,
      initialCapacity: Math.max(options.count, 1),
      simd: options.simd,
    });
    const target = index.#vectors.subarray(0, options.count * options.dim);
    let completed = false;
    return {
      target,
      int8Rows: index.#int8RowsWriter(),
      complete: (columns, { finite }) => {
        if (completed) throw invalid('a reserved index is completed once');
        completed = true;
        if (columns.modelId !== index.modelId || columns.dim !== index.dim)
          throw invalid('the columns are for another model or dimension than the reserved storage');
        if (columns.templateIds.length !== options.count)
          throw invalid('column lengths disagree', {
            templateIds: columns.templateIds.length,
            vectors: options.count * options.dim,
          });
        index.#complete(columns, target, finite);
        return index;
      },
    };
  }

  /** Checks and installs the id columns of rows whose vectors are already in `vectors` (see {@link reserve}). */
  #complete(columns: Omit<IndexColumns, 'vectors'>, vectors: Float32Array, finite: boolean): void {
    const { dim, subjectIds, templateIds, rowSubject, rowVariant } = columns;
    const count = templateIds.length;
    if (rowSubject.length !== count || rowVariant.length !== count) {
      throw invalid('column lengths disagree', {
        templateIds: count,
        rowSubject: rowSubject.length,
        rowVariant: rowVariant.length,
      });
    }
    for (const [ordinal, subjectId] of subjectIds.entries()) {
      if (typeof subjectId !== 'string' || subjectId.length === 0)
        throw invalid(`subject ${ordinal} has no id`);
      if (this.#subjectOrdinal.has(subjectId)) throw invalid(`subject id ${subjectId} appears twice`);
      this.#subjectOrdinal.set(subjectId, ordinal);
      this.#subjectIds.push(subjectId);
    }
    const rowsPerSubject = new Int32Array(subjectIds.length);
    for (let row = 0; row < count; row++) {
      const templateId = templateIds[row];
      if (typeof templateId !== 'string' || templateId.length === 0)
        throw invalid(`row ${row} has no template id`);
      if (this.#templateRow.has(templateId)) throw invalid(`template id ${templateId} appears twice`);
      const ordinal = rowSubject[row] ?? -1;
      if (ordinal < 0 || ordinal >= subjectIds.length)
        throw invalid(`row ${row} has subject ordinal ${ordinal}`);
      if ((rowVariant[row] ?? 255) >= TEMPLATE_VARIANTS.length)
        throw invalid(`row ${row} has an unknown variant`);
      rowsPerSubject[ordinal] = (rowsPerSubject[ordinal] ?? 0) + 1;
      this.#templateRow.set(templateId, row);
      this.#templateIds.push(templateId);
    }
    const empty = rowsPerSubject.indexOf(0);
    if (empty >= 0) throw invalid(`subject ${subjectIds[empty]} has no templates`);
    if (!finite) {
      // x × 0 is ±0 for finite x and NaN for ±Infinity or NaN, so one sum finds any non-finite component
      // cheaply; the slow scan only runs to name the row.
      let poison = 0;
      for (let i = 0; i < vectors.length; i++) poison += (vectors[i] as number) * 0;
      if (poison !== 0) {
        const bad = vectors.findIndex((x) => !Number.isFinite(x));
        throw invalid(`row ${Math.floor(bad / dim)} has a non-finite component`);
      }
    }
    this.#rowSubject.set(rowSubject);
    this.#rowVariant.set(rowVariant);
    this.#size = count;
  }

  /** Number of templates (rows). */
  get size(): number {
    return this.#size;
  }

  /** Number of subjects with at least one template. */
  get subjectCount(): number {
    return this.#subjectIds.length;
  }

  /** Which dot-product kernel searches use. */
  get kernel(): 'wasm-simd' | 'js' {
    return this.#dots ? 'wasm-simd' : 'js';
  }

  /** True when a template with this id is in the index. */
  has(templateId: string): boolean {
    return this.#templateRow.has(templateId);
  }

  /** True when the subject has at least one template in the index. */
  hasSubject(subjectId: string): boolean {
    return this.#subjectOrdinal.has(subjectId);
  }

  /** Subject ids in first-added order. */
  subjectIds(): string[] {
    return [...this.#subjectIds];
  }

  /**
   * Adds templates. All-or-nothing: throws `INVALID_ARGUMENT` (and adds none) when any entry has a vector
   * of the wrong dimension, a non-finite or all-zero vector, an unknown variant, an empty id, or a template
   * id that is already in the index or repeated in the batch. Vectors are copied and L2-normalised.
   */
  add(entries: readonly IndexEntry[]): void {
    const seen = new Set<string>();
    const norms = new Float64Array(entries.length);
    for (const [i, entry] of entries.entries()) {
      const { templateId, subjectId, variant, vector } = entry;
      if (typeof templateId !== 'string' || templateId.length === 0) {
        throw invalid(`entry ${i}: templateId must be a non-empty string`);
      }
      if (typeof subjectId !== 'string' || subjectId.length === 0) {
        throw invalid(`entry ${i}: subjectId must be a non-empty string`, { templateId });
      }
      if (!isTemplateVariant(variant))
        throw invalid(`entry ${i}: unknown variant ${String(variant)}`, { templateId });
      if (this.#templateRow.has(templateId) || seen.has(templateId)) {
        throw invalid(`template ${templateId} is already in the index`, { templateId });
      }
      seen.add(templateId);
      if (!(vector instanceof Float32Array) || vector.length !== this.dim) {
        throw invalid(`template ${templateId}: expected a Float32Array of dimension ${this.dim}`, {
          templateId,
          length: vector instanceof Float32Array ? vector.length : undefined,
        });
      }
      norms[i] = this.#norm(vector, `template ${templateId}`);
    }
    this.#reserve(this.#size + entries.length);
    const dim = this.dim;
    const vectors = this.#vectors;
    for (const [i, entry] of entries.entries()) {
      const row = this.#size;
      let ordinal = this.#subjectOrdinal.get(entry.subjectId);
      if (ordinal === undefined) {
        ordinal = this.#subjectIds.length;
        this.#subjectIds.push(entry.subjectId);
        this.#subjectOrdinal.set(entry.subjectId, ordinal);
      }
      const scale = 1 / (norms[i] ?? 1);
      const base = row * dim;
      const source = entry.vector;
      for (let j = 0; j < dim; j++) vectors[base + j] = (source[j] as number) * scale;
      this.#templateIds.push(entry.templateId);
      this.#rowSubject[row] = ordinal;
      this.#rowVariant[row] = VARIANT_CODE[entry.variant];
      this.#templateRow.set(entry.templateId, row);
      this.#size = row + 1;
    }
  }

  /**
   * Removes every template of a subject, compacting the rows behind it. Returns how many templates were
   * removed (0 when the subject was not in the index). Storage capacity is kept for later additions.
   */
  removeSubject(subjectId: string): number {
    const removed = this.#subjectOrdinal.get(subjectId);
    if (removed === undefined) return 0;
    const dim = this.dim;
    let write = 0;
    for (let read = 0; read < this.#size; read++) {
      const ordinal = this.#rowSubject[read] ?? -1;
      const templateId = this.#templateIds[read] ?? '';
      if (ordinal === removed) {
        this.#templateRow.delete(templateId);
        continue;
      }
      if (write !== read) {
        this.#vectors.copyWithin(write * dim, read * dim, (read + 1) * dim);
        this.#templateIds[write] = templateId;
        this.#rowVariant[write] = this.#rowVariant[read] ?? 0;
        this.#templateRow.set(templateId, write);
      }
      // Ordinals above the removed subject's shift down with the subject table.
      this.#rowSubject[write] = ordinal > removed ? ordinal - 1 : ordinal;
      write++;
    }
    const count = this.#size - write;
    this.#templateIds.length = write;
    this.#size = write;
    this.#subjectIds.splice(removed, 1);
    this.#subjectOrdinal.delete(subjectId);
    for (let ordinal = removed; ordinal < this.#subjectIds.length; ordinal++) {
      this.#subjectOrdinal.set(this.#subjectIds[ordinal] ?? '', ordinal);
    }
    return count;
  }

  /**
   * The top `k` subjects for a query, best first, by fused similarity (see {@link FusionConfig}); ties
   * are broken by subject id so results are deterministic. The query is L2-normalised first. Throws
   * `INVALID_ARGUMENT` for a query of the wrong dimension, a non-finite or all-zero query, a bad `k` or bad
   * fusion weights.
   */
  search(query: Float32Array, options: SearchOptions): Candidate[] {
    const fusion = this.#checkOptions(options);
    this.#score(query);
    return this.#collect(options.k, fusion, options.exclude);
  }

  /**
   * The cosine similarity of the query to each of the given templates (NaN for an id not in the index): an
   * approximate index's candidates re-scored exactly (`TieredIndex`). The query is L2-normalised first.
   */
  similaritiesOf(query: Float32Array, templateIds: readonly string[]): Float32Array {
    const q = this.#loadQuery(query);
    const dim = this.dim;
    const v = this.#vectors;
    const out = new Float32Array(templateIds.length);
    // One row at a time through the SIMD kernel, into the first score slot (searches overwrite it anyway).
    const dots = this.#dots;
    const slot = this.#scores;
    for (const [i, templateId] of templateIds.entries()) {
      const row = this.#templateRow.get(templateId);
      if (row === undefined) {
        out[i] = Number.NaN;
      } else if (dots) {
        dots(row * dim * 4, q.byteOffset, 1, dim, slot.byteOffset);
        out[i] = slot[0] as number;
      } else {
        let sum = 0;
        for (let j = 0, o = row * dim; j < dim; j++, o++) sum += (v[o] as number) * (q[j] as number);
        out[i] = sum;
      }
    }
    return out;
  }

  /** {@link VectorIndex.search} for each query in turn; results are in the queries' order. */
  searchMany(queries: readonly Float32Array[], options: SearchOptions): Candidate[][] {
    const fusion = this.#checkOptions(options);
    return queries.map((query) => {
      this.#score(query);
      return this.#collect(options.k, fusion, options.exclude);
    });
  }

  /** Every template in row order, each with a copy of its (normalised) vector. */
  *entries(): IterableIterator<IndexEntry> {
    for (let row = 0; row < this.#size; row++) {
      yield {
        templateId: this.#templateIds[row] ?? '',
        subjectId: this.#subjectIds[this.#rowSubject[row] ?? 0] ?? '',
        variant: TEMPLATE_VARIANTS[this.#rowVariant[row] ?? 0] ?? 'original',
        vector: this.#vectors.slice(row * this.dim, (row + 1) * this.dim),
      };
    }
  }

  /**
   * Views of the raw columns for the snapshot codec; they are invalidated by the next change to the index.
   * @internal
   */
  columns(): IndexColumns {
    return {
      modelId: this.modelId,
      dim: this.dim,
      subjectIds: this.#subjectIds,
      templateIds: this.#templateIds,
      rowSubject: this.#rowSubject.subarray(0, this.#size),
      rowVariant: this.#rowVariant.subarray(0, this.#size),
      vectors: this.#vectors.subarray(0, this.#size * this.dim),
    };
  }

  #norm(vector: Float32Array, what: string): number {
    let sum = 0;
    for (let j = 0; j < vector.length; j++) {
      const x = vector[j] ?? Number.NaN;
      if (!Number.isFinite(x)) throw invalid(`${what}: component ${j} is not a finite number`);
      sum += x * x;
    }
    if (sum === 0) throw invalid(`${what}: the vector is all zeros`);
    return Math.sqrt(sum);
  }

  #checkOptions(options: SearchOptions): FusionConfig & { weights: Float64Array } {
    if (!Number.isInteger(options.k) || options.k < 1) {
      throw invalid(`k must be a positive integer, got ${options.k}`);
    }
    const fusion = options.fusion ?? { method: 'max' };
    if (!['max', 'mean', 'top2mean', 'weighted'].includes(fusion.method)) {
      throw invalid(`unknown fusion method ${String(fusion.method)}`);
    }
    const weights = new Float64Array(TEMPLATE_VARIANTS.length).fill(1);
    for (const [variant, weight] of Object.entries(fusion.variantWeights ?? {})) {
      if (!isTemplateVariant(variant)) throw invalid(`unknown variant ${variant} in variantWeights`);
      if (weight === undefined) continue;
      if (!Number.isFinite(weight) || weight < 0) {
        throw invalid(`variant weight for ${variant} must be a finite number >= 0, got ${weight}`);
      }
      weights[VARIANT_CODE[variant]] = weight;
    }
    return { ...fusion, weights };
  }

  /** Checks the query and writes it, L2-normalised, into the `#query` scratch (which it answers). */
  #loadQuery(query: Float32Array): Float32Array {
    if (!(query instanceof Float32Array) || query.length !== this.dim) {
      throw invalid(`query must be a Float32Array of dimension ${this.dim}`);
    }
    const scale = 1 / this.#norm(query, 'query');
    const q = this.#query;
    for (let j = 0; j < this.dim; j++) q[j] = (query[j] ?? 0) * scale;
    return q;
  }

  /** Fills `#scores[0..size)` with the cosine similarity of each row to the normalised query. */
  #score(query: Float32Array): void {
    const q = this.#loadQuery(query);
    const dim = this.dim;
    const rows = this.#size;
    if (rows === 0) return;
    if (this.#dots) {
      this.#dots(0, q.byteOffset, rows, dim, this.#scores.byteOffset);
      return;
    }
    const v = this.#vectors;
    const out = this.#scores;
    const tail = dim - (dim % 4);
    for (let row = 0, base = 0; row < rows; row++, base += dim) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let j = 0;
      for (; j < tail; j += 4) {
        const o = base + j;
        s0 += (v[o] as number) * (q[j] as number);
        s1 += (v[o + 1] as number) * (q[j + 1] as number);
        s2 += (v[o + 2] as number) * (q[j + 2] as number);
        s3 += (v[o + 3] as number) * (q[j + 3] as number);
      }
      for (; j < dim; j++) s0 += (v[base + j] as number) * (q[j] as number);
      out[row] = s0 + s1 + s2 + s3;
    }
  }

  /** Fuses the row scores per subject, then selects the top k subjects with a bounded min-heap. */
  #collect(
    k: number,
    fusion: FusionConfig & { weights: Float64Array },
    exclude: ((templateId: string) => boolean) | undefined,
  ): Candidate[] {
    const subjects = this.#subjectIds.length;
    const rows = this.#size;
    const scores = this.#scores;
    const rowSubject = this.#rowSubject;
    // best: fused score for max/weighted, best raw score otherwise; second/sum/count only where needed.
    const best = new Float32Array(subjects).fill(Number.NEGATIVE_INFINITY);
    const bestRow = new Int32Array(subjects).fill(-1);
    const method = fusion.method;
    if (method === 'max' && !exclude) {
      for (let row = 0; row < rows; row++) {
        const s = scores[row] as number;
        const o = rowSubject[row] as number;
        if (s > (best[o] as number)) {
          best[o] = s;
          bestRow[o] = row;
        }
      }
    } else {
      const weights = fusion.weights;
      const variants = this.#rowVariant;
      const sum = method === 'mean' ? new Float64Array(subjects) : undefined;
      const count = method === 'mean' ? new Int32Array(subjects) : undefined;
      const second =
        method === 'top2mean' ? new Float32Array(subjects).fill(Number.NEGATIVE_INFINITY) : undefined;
      for (let row = 0; row < rows; row++) {
        if (exclude?.(this.#templateIds[row] ?? '')) continue;
        const o = rowSubject[row] as number;
        let s = scores[row] as number;
        if (method === 'weighted') s *= weights[variants[row] as number] as number;
        if (sum && count) {
          sum[o] = (sum[o] as number) + s;
          count[o] = (count[o] as number) + 1;
        }
        if (s > (best[o] as number) || bestRow[o] === -1) {
          if (second) second[o] = best[o] as number;
          best[o] = s;
          bestRow[o] = row;
        } else if (second && s > (second[o] as number)) {
          second[o] = s;
        }
      }
      if (sum && count) {
        for (let o = 0; o < subjects; o++)
          if ((count[o] as number) > 0) best[o] = (sum[o] as number) / (count[o] as number);
      } else if (second) {
        for (let o = 0; o < subjects; o++) {
          const s2 = second[o] as number;
          if (s2 !== Number.NEGATIVE_INFINITY) best[o] = ((best[o] as number) + s2) / 2;
        }
      }
    }
    return this.#topK(k, best, bestRow);
  }

  #topK(k: number, fused: Float32Array, bestRow: Int32Array): Candidate[] {
    const ids = this.#subjectIds;
    // `a` ranks above `b`: higher score, then smaller subject id.
    const above = (a: number, b: number): boolean => {
      const sa = fused[a] as number;
      const sb = fused[b] as number;
      return sa > sb || (sa === sb && (ids[a] as string) < (ids[b] as string));
    };
    const heap: number[] = []; // min-heap: the root ranks lowest
    const siftDown = (start: number): void => {
      let i = start;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let lowest = i;
        if (l < heap.length && above(heap[lowest] as number, heap[l] as number)) lowest = l;
        if (r < heap.length && above(heap[lowest] as number, heap[r] as number)) lowest = r;
        if (lowest === i) return;
        [heap[i], heap[lowest]] = [heap[lowest] as number, heap[i] as number];
        i = lowest;
      }
    };
    for (let o = 0; o < fused.length; o++) {
      if (bestRow[o] === -1) continue;
      if (heap.length < k) {
        heap.push(o);
        let i = heap.length - 1;
        while (i > 0) {
          const parent = (i - 1) >> 1;
          if (!above(heap[parent] as number, heap[i] as number)) break;
          [heap[i], heap[parent]] = [heap[parent] as number, heap[i] as number];
          i = parent;
        }
      } else if (above(o, heap[0] as number)) {
        heap[0] = o;
        siftDown(0);
      }
    }
    heap.sort((a, b) => (above(a, b) ? -1 : 1));
    return heap.map((o) => ({
      subjectId: ids[o] as string,
      similarity: fused[o] as number,
      templateId: this.#templateIds[bestRow[o] as number] as string,
    }));
  }

  /**
   * The kernel's int8 writer for views of this index's WebAssembly memory: the int8 rows are copied into the last
   * quarter of their target's bytes and widened in place (see `unitFromInt8`), so no scratch memory is needed.
   */
  #int8RowsWriter(): Int8RowsWriter | undefined {
    const memory = this.#memory;
    const kernel = this.#unitFromInt8;
    if (!memory || !kernel) return undefined;
    return (quantised, target, dim) => {
      if (target.buffer !== memory.buffer || target.length !== quantised.length || dim % FLOATS_PER_SIMD_STEP)
        throw invalid('int8 rows must fill a view of the index storage, in whole SIMD steps');
      const at = target.byteOffset + 3 * quantised.length;
      new Int8Array(memory.buffer, at, quantised.length).set(quantised);
      return kernel(at, target.byteOffset, quantised.length / dim, dim);
    };
  }

  #pagesFor(capacity: number): number {
    const bytes = capacity * this.dim * 4 + this.dim * 4 + capacity * 4;
    return Math.ceil(bytes / WASM_PAGE);
  }

  /** Grows the storage (doubling) to hold at least `rows` rows. */
  #reserve(rows: number): void {
    if (rows <= this.#capacity) return;
    let capacity = this.#capacity;
    while (capacity < rows) capacity *= 2;
    const old = this.#vectors.subarray(0, this.#size * this.dim);
    if (this.#memory) {
      try {
        this.#memory.grow(this.#pagesFor(capacity) - this.#memory.buffer.byteLength / WASM_PAGE);
      } catch {
        // WebAssembly memory is capped (4 GiB); past that, fall back to plain arrays and the JS kernel.
        const copy = old.slice();
        this.#memory = undefined;
        this.#dots = undefined;
        this.#grow(capacity);
        this.#layout(copy);
        return;
      }
    }
    this.#grow(capacity);
    this.#layout(this.#memory ? undefined : old);
  }

  #grow(capacity: number): void {
    const rowSubject = new Int32Array(capacity);
    rowSubject.set(this.#rowSubject.subarray(0, this.#size));
    const rowVariant = new Uint8Array(capacity);
    rowVariant.set(this.#rowVariant.subarray(0, this.#size));
    this.#rowSubject = rowSubject;
    this.#rowVariant = rowVariant;
    this.#capacity = capacity;
  }

  /**
   * (Re)creates the vector, query and score views for the current capacity. In WebAssembly memory the
   * vectors sit at offset 0, so growing the memory keeps them in place; `previous` is copied over otherwise.
   */
  #layout(previous: Float32Array | undefined): void {
    const dim = this.dim;
    const capacity = this.#capacity;
    if (this.#memory) {
      const buffer = this.#memory.buffer;
      this.#vectors = new Float32Array(buffer, 0, capacity * dim);
      this.#query = new Float32Array(buffer, capacity * dim * 4, dim);
      this.#scores = new Float32Array(buffer, (capacity + 1) * dim * 4, capacity);
      if (previous && previous.length > 0) this.#vectors.set(previous);
      return;
    }
    const vectors = new Float32Array(capacity * dim);
    if (previous) vectors.set(previous);
    this.#vectors = vectors;
    this.#query = new Float32Array(dim);
    this.#scores = new Float32Array(capacity);
  }
}
