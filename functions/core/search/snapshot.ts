/**
 * Binary snapshot format of a {@link VectorIndex}: the same bytes go to a local file or to S3.
 *
 * Layout, all integers little-endian:
 *
 * | offset        | size | content                                                                 |
 * |---------------|------|-------------------------------------------------------------------------|
 * | 0             | 6    | magic `FPIDX\0` (`46 50 49 44 58 00`)                                   |
 * | 6             | 2    | u16 format version, currently 1                                        |
 * | 8             | 4    | u32 header length `H` in bytes                                          |
 * | 12            | 4    | u32 CRC-32 (IEEE, as zlib) of the header bytes                          |
 * | 16            | H    | header: UTF-8 JSON, see {@link SnapshotHeader}                          |
 * | 16 + H        | 0–3  | zero padding to a multiple of 4                                         |
 * | P             | …    | payload, exactly `payloadBytes` long, then end of file                  |
 *
 * Payload by `dtype`:
 * - `float32`: `count × dim` float32, row-major; row `r` is the template `templateIds[r]`.
 * - `int8`: `count` float32 per-row scales, then `count × dim` int8; component = int8 × scale. Rows are
 *   re-normalised on decode. About a quarter of the size, at a cosine error around 1e-3.
 *
 * The header carries the model id and dimension, the subject-id table, and per row the template id, the
 * ordinal of its subject in that table and its variant name; `payloadCrc32` is the CRC-32 of the payload.
 * A reader rejects an unknown version with `INDEX_INCOMPATIBLE` before reading anything after the version
 * field, and anything else that does not add up (magic, lengths, checksums, counts, ids) with
 * `INDEX_CORRUPT`.
 *
 * Sharding: a subject lives in shard `shardOf(subjectId, count)` (FNV-1a of its UTF-8 id), so all of a
 * subject's templates are in one shard; a shard snapshot holds only its own subjects and says which shard
 * it is.
 *
 * One binary format, encoded and decoded in one place: longer than 400 lines because the reader checks every
 * field the writer writes.
 */
import * as zlib from 'node:zlib';
import { z } from 'zod';
import type { TemplateVariant } from '../domain.ts';
import { isTemplateVariant, TEMPLATE_VARIANTS } from '../domain.ts';
import { FaceprintError, isFaceprintError } from '../errors.ts';
import type { Int8RowsWriter } from './simd-kernel.ts';
import { type IndexColumns, type PendingIndex, VectorIndex } from './vector-index.ts';

/** Current (and only) format version. */
export const SNAPSHOT_VERSION = 1;
const MAGIC = [0x46, 0x50, 0x49, 0x44, 0x58, 0x00] as const;
const PREAMBLE_BYTES = 16;

/** Which shard of how many a snapshot holds. */
export interface ShardRef {
  index: number;
  count: number;
}

/** Element type of the stored vectors. */
export type SnapshotDtype = 'float32' | 'int8';

/** The JSON header of a snapshot (format version 1). */
export interface SnapshotHeader {
  modelId: string;
  dim: number;
  /** Number of templates (rows). */
  count: number;
  dtype: SnapshotDtype;
  /** ISO-8601 timestamp. */
  createdAt: string;
  /** The store's change-feed cursor the rows reflect (`TemplateFeed`), when the writer knew it. */
  cursor?: string | undefined;
  shard: ShardRef | null;
  /** Subject-id table; `subjectOrdinals` index into it. */
  subjects: string[];
  templateIds: string[];
  subjectOrdinals: number[];
  variants: TemplateVariant[];
  payloadBytes: number;
  /** CRC-32 of the payload, as an unsigned 32-bit integer. */
  payloadCrc32: number;
}

/** Options of {@link encodeSnapshot}. */
export interface EncodeOptions {
  /** Write only the subjects that belong to this shard, and record it in the header. */
  shard?: ShardRef | undefined;
  /** ISO-8601 timestamp; defaults to now. */
  createdAt?: string | undefined;
  /** Default `float32` (exact). */
  dtype?: SnapshotDtype | undefined;
  /** The change-feed cursor the index reflects, recorded in the header. */
  cursor?: string | undefined;
}

/** What {@link inspectSnapshot} reports without decoding the vectors. */
export interface SnapshotInfo {
  version: number;
  modelId: string;
  dim: number;
  count: number;
  subjectCount: number;
  dtype: SnapshotDtype;
  createdAt: string;
  cursor: string | undefined;
  shard: ShardRef | null;
  byteLength: number;
}

const anyArray = z.custom<unknown[]>((value) => Array.isArray(value), {
  message: 'Invalid input: expected array',
});

const headerSchema = z.object({
  modelId: z.string().min(1),
  dim: z.number().int().positive(),
  count: z.number().int().nonnegative(),
  dtype: z.enum(['float32', 'int8']),
  createdAt: z.string().min(1),
  cursor: z.string().min(1).max(200).optional(),
  shard: z.object({ index: z.number().int().nonnegative(), count: z.number().int().positive() }).nullable(),
  // The per-row columns are checked by `checkColumns`: zod's per-element checks took ~0.5 s at 100k rows, and even
  // `z.array(z.unknown())` visits every element (~0.1 s of a 100k cold start), so only "is an array" here.
  subjects: anyArray,
  templateIds: anyArray,
  subjectOrdinals: anyArray,
  variants: anyArray,
  payloadBytes: z.number().int().nonnegative(),
  payloadCrc32: z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 32 - 1),
});

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const CRC_TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const t0 = tables[0] as Uint32Array;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n] as number;
    for (let t = 1; t < 8; t++) {
      c = (t0[c & 0xff] as number) ^ (c >>> 8);
      (tables[t] as Uint32Array)[n] = c >>> 0;
    }
  }
  return tables;
})();

/** zlib's own CRC-32 (Node ≥ 20.15): about eight times the JavaScript loop's speed on a snapshot. */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 (IEEE 802.3 polynomial, the one zlib and PNG use) of `bytes`, as an unsigned integer. */
export function crc32(bytes: Uint8Array): number {
  return nativeCrc32 ? nativeCrc32(bytes) >>> 0 : crc32Js(bytes);
}

/** The same CRC-32 in JavaScript (slicing-by-8), where zlib has none; exported for the tests. */
export function crc32Js(bytes: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let crc = 0xffffffff;
  let i = 0;
  const n = bytes.length;
  // Byte-wise up to a 4-byte boundary, so the bulk can be read as aligned 32-bit words.
  for (; i < n && (bytes.byteOffset + i) % 4 !== 0; i++)
    crc = (t0[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  if (littleEndian && (bytes.byteOffset + i) % 4 === 0) {
    // Slicing-by-8: eight table lookups per two little-endian words instead of a shift loop per byte.
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + i, (n - i) >>> 2);
    const end = words.length - (words.length % 2);
    for (let w = 0; w < end; w += 2) {
      const a = crc ^ (words[w] as number);
      const b = words[w + 1] as number;
      crc =
        (t7[a & 0xff] as number) ^
        (t6[(a >>> 8) & 0xff] as number) ^
        (t5[(a >>> 16) & 0xff] as number) ^
        (t4[a >>> 24] as number) ^
        (t3[b & 0xff] as number) ^
        (t2[(b >>> 8) & 0xff] as number) ^
        (t1[(b >>> 16) & 0xff] as number) ^
        (t0[b >>> 24] as number);
    }
    i += end * 4;
  }
  for (; i < n; i++) crc = (t0[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The shard (0 ≤ shard < count) a subject belongs to: 32-bit FNV-1a of the id's UTF-8 bytes, modulo
 * `count`. Stable across processes and releases; changing it would reshuffle every sharded index.
 */
export function shardOf(subjectId: string, count: number): number {
  if (!Number.isInteger(count) || count < 1) {
    throw new FaceprintError('INVALID_ARGUMENT', `shard count must be a positive integer, got ${count}`);
  }
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(subjectId)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % count;
}

function corrupt(message: string, details?: Record<string, unknown>): FaceprintError {
  return new FaceprintError('INDEX_CORRUPT', `index snapshot is corrupt: ${message}`, details);
}

function checkShard(shard: ShardRef): void {
  if (!Number.isInteger(shard.count) || shard.count < 1 || !Number.isInteger(shard.index)) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      'shard must have an integer index and a positive integer count',
    );
  }
  if (shard.index < 0 || shard.index >= shard.count) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `shard index ${shard.index} is outside 0..${shard.count - 1}`,
    );
  }
}

/** Picks the rows to write: all of them, or those of the subjects in `shard`, with a compacted subject table. */
function selectRows(columns: IndexColumns, shard: ShardRef | undefined) {
  const count = columns.templateIds.length;
  if (!shard) {
    return {
      subjects: [...columns.subjectIds],
      rows: undefined,
      ordinals: Array.from(columns.rowSubject),
    };
  }
  const remap = new Int32Array(columns.subjectIds.length).fill(-1);
  const subjects: string[] = [];
  for (const [ordinal, subjectId] of columns.subjectIds.entries()) {
    if (shardOf(subjectId, shard.count) === shard.index) {
      remap[ordinal] = subjects.length;
      subjects.push(subjectId);
    }
  }
  const rows: number[] = [];
  const ordinals: number[] = [];
  for (let row = 0; row < count; row++) {
    const mapped = remap[columns.rowSubject[row] as number] as number;
    if (mapped >= 0) {
      rows.push(row);
      ordinals.push(mapped);
    }
  }
  return { subjects, rows, ordinals };
}

/**
 * Serialises an index (or one shard of it) into the snapshot format described at the top of this module.
 * Throws `INVALID_ARGUMENT` for a bad shard, timestamp or dtype.
 */
export function encodeSnapshot(index: VectorIndex, options: EncodeOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'int8') {
    throw new FaceprintError('INVALID_ARGUMENT', `unknown snapshot dtype ${String(dtype)}`);
  }
  if (options.shard) checkShard(options.shard);
  const createdAt = options.createdAt ?? new Date().toISOString();
  if (Number.isNaN(Date.parse(createdAt))) {
    throw new FaceprintError('INVALID_ARGUMENT', `createdAt must be an ISO-8601 timestamp, got ${createdAt}`);
  }
  const columns = index.columns();
  const { dim } = columns;
  const { subjects, rows, ordinals } = selectRows(columns, options.shard);
  const count = rows ? rows.length : columns.templateIds.length;
  const sourceRow = (r: number): number => (rows ? (rows[r] as number) : r);

  const payloadBytes = dtype === 'float32' ? count * dim * 4 : count * 4 + count * dim;
  const payload = new Uint8Array(payloadBytes);
  const payloadView = new DataView(payload.buffer);
  if (dtype === 'float32') {
    if (littleEndian && !rows) {
      payload.set(new Uint8Array(columns.vectors.buffer, columns.vectors.byteOffset, payloadBytes));
    } else {
      const out = littleEndian ? new Float32Array(payload.buffer) : undefined;
      for (let r = 0; r < count; r++) {
        const row = columns.vectors.subarray(sourceRow(r) * dim, (sourceRow(r) + 1) * dim);
        if (out) out.set(row, r * dim);
        else for (let j = 0; j < dim; j++) payloadView.setFloat32((r * dim + j) * 4, row[j] as number, true);
      }
    }
  } else {
    const quantised = new Int8Array(payload.buffer, count * 4, count * dim);
    for (let r = 0; r < count; r++) {
      const row = columns.vectors.subarray(sourceRow(r) * dim, (sourceRow(r) + 1) * dim);
      let maxAbs = 0;
      for (let j = 0; j < dim; j++) maxAbs = Math.max(maxAbs, Math.abs(row[j] as number));
      // Rows are normalised, so maxAbs > 0; the float32 round-trip keeps encoder and decoder in step.
      const scale = Math.fround(maxAbs / 127);
      payloadView.setFloat32(r * 4, scale, true);
      for (let j = 0; j < dim; j++) {
        quantised[r * dim + j] = Math.max(-127, Math.min(127, Math.round((row[j] as number) / scale)));
      }
    }
  }

  const header: SnapshotHeader = {
    modelId: columns.modelId,
    dim,
    count,
    dtype,
    createdAt,
    ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
    shard: options.shard ? { index: options.shard.index, count: options.shard.count } : null,
    subjects,
    templateIds: rows ? rows.map((row) => columns.templateIds[row] as string) : [...columns.templateIds],
    subjectOrdinals: ordinals,
    variants: Array.from(
      { length: count },
      (_, r) => TEMPLATE_VARIANTS[columns.rowVariant[sourceRow(r)] as number] ?? 'original',
    ),
    payloadBytes,
    payloadCrc32: crc32(payload),
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const payloadOffset = PREAMBLE_BYTES + headerBytes.length + ((4 - (headerBytes.length % 4)) % 4);
  const bytes = new Uint8Array(payloadOffset + payloadBytes);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint16(6, SNAPSHOT_VERSION, true);
  view.setUint32(8, headerBytes.length, true);
  view.setUint32(12, crc32(headerBytes), true);
  bytes.set(headerBytes, PREAMBLE_BYTES);
  bytes.set(payload, payloadOffset);
  return bytes;
}

/** Reads and validates the preamble and the header; returns the header and where the payload starts. */
function readHeader(bytes: Uint8Array): { header: SnapshotHeader; payloadOffset: number } {
  if (!(bytes instanceof Uint8Array)) throw corrupt('expected bytes');
  if (bytes.length < PREAMBLE_BYTES)
    throw corrupt(`truncated: ${bytes.length} bytes is shorter than the preamble`);
  if (MAGIC.some((byte, i) => bytes[i] !== byte)) throw corrupt('bad magic: not a Faceprint index snapshot');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(6, true);
  if (version !== SNAPSHOT_VERSION) {
    throw new FaceprintError(
      'INDEX_INCOMPATIBLE',
      `index snapshot format version ${version} is not supported (this build reads version ${SNAPSHOT_VERSION})`,
      { version },
    );
  }
  const headerLength = view.getUint32(8, true);
  const payloadOffset = PREAMBLE_BYTES + headerLength + ((4 - (headerLength % 4)) % 4);
  if (bytes.length < payloadOffset) throw corrupt('truncated inside the header');
  const headerBytes = bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength);
  if (crc32(headerBytes) !== view.getUint32(12, true)) throw corrupt('header checksum mismatch');
  for (let i = PREAMBLE_BYTES + headerLength; i < payloadOffset; i++) {
    if (bytes[i] !== 0) throw corrupt('non-zero padding after the header');
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch {
    throw corrupt('the header is not UTF-8 JSON');
  }
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw corrupt(`bad header field ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  checkColumns(parsed.data);
  const header = parsed.data as SnapshotHeader;
  const { count, dim, dtype } = header;
  for (const [name, length] of [
    ['templateIds', header.templateIds.length],
    ['subjectOrdinals', header.subjectOrdinals.length],
    ['variants', header.variants.length],
  ] as const) {
    if (length !== count) throw corrupt(`header says ${count} templates but ${name} has ${length}`);
  }
  const expectedPayload = dtype === 'float32' ? count * dim * 4 : count * 4 + count * dim;
  if (header.payloadBytes !== expectedPayload) {
    throw corrupt(`payloadBytes ${header.payloadBytes} does not match ${count} × ${dim} ${dtype}`);
  }
  if (bytes.length < payloadOffset + expectedPayload) {
    throw corrupt(`truncated: ${bytes.length} bytes, expected ${payloadOffset + expectedPayload}`);
  }
  if (bytes.length > payloadOffset + expectedPayload) {
    throw corrupt(`${bytes.length - payloadOffset - expectedPayload} unexpected bytes after the payload`);
  }
  if (header.shard && header.shard.index >= header.shard.count) {
    throw corrupt(`shard index ${header.shard.index} is outside 0..${header.shard.count - 1}`);
  }
  return { header, payloadOffset };
}

/** The header's per-row columns, element by element: plain loops, as these arrays hold one entry per template. */
function checkColumns(header: {
  subjects: unknown[];
  templateIds: unknown[];
  subjectOrdinals: unknown[];
  variants: unknown[];
}): void {
  const bad = (field: string, at: number, what: string) =>
    corrupt(`bad header field ${field}.${at}: expected ${what}`);
  const nonEmptyStrings = (field: 'subjects' | 'templateIds') => {
    const values = header[field];
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (typeof value !== 'string' || value.length === 0) throw bad(field, i, 'a non-empty string');
    }
  };
  nonEmptyStrings('subjects');
  nonEmptyStrings('templateIds');
  const ordinals = header.subjectOrdinals;
  for (let i = 0; i < ordinals.length; i++) {
    const value = ordinals[i];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
      throw bad('subjectOrdinals', i, 'a non-negative integer');
  }
  const variants = header.variants;
  for (let i = 0; i < variants.length; i++) {
    if (typeof variants[i] !== 'string') throw bad('variants', i, 'a string');
  }
}

/**
 * Reads a snapshot's header (model, dimension, counts, dtype, creation time, shard) without decoding the
 * vectors or checking their checksum. Throws like {@link decodeSnapshot} for a bad header.
 */
export function inspectSnapshot(bytes: Uint8Array): SnapshotInfo {
  return infoOf(readHeader(bytes).header, bytes.length);
}

function infoOf(header: SnapshotHeader, byteLength: number): SnapshotInfo {
  return {
    version: SNAPSHOT_VERSION,
    modelId: header.modelId,
    dim: header.dim,
    count: header.count,
    subjectCount: header.subjects.length,
    dtype: header.dtype,
    createdAt: header.createdAt,
    cursor: header.cursor,
    shard: header.shard,
    byteLength,
  };
}

/**
 * Decodes and fully validates a snapshot into a new index. Throws `INDEX_INCOMPATIBLE` for an unknown
 * format version and `INDEX_CORRUPT` for bad magic, truncation, trailing bytes, a checksum mismatch,
 * inconsistent counts or ids, unknown variants, non-finite values, or a subject in the wrong shard.
 * `simd: false` builds the index without the WebAssembly kernels (as a runtime without SIMD would).
 */
export function decodeSnapshot(bytes: Uint8Array, options?: { simd?: boolean }): VectorIndex {
  return decodeSnapshotWithInfo(bytes, options).index;
}

/** {@link decodeSnapshot} and {@link inspectSnapshot} in one pass over the header. */
export function decodeSnapshotWithInfo(
  bytes: Uint8Array,
  options?: { simd?: boolean },
): { index: VectorIndex; info: SnapshotInfo } {
  const decoded = decodeSnapshotColumns(bytes);
  const { columns } = decoded;
  const index = indexOf('', () =>
    VectorIndex.fromFilledColumns(columns, {
      simd: options?.simd,
      length: columns.templateIds.length * columns.dim,
      fill: decoded.writeVectors,
      finite: decoded.finite,
    }),
  );
  return { index, info: decoded.info };
}

/** Builds an index, reporting a column the index refuses as a corrupt snapshot. */
function indexOf(context: string, build: () => VectorIndex): VectorIndex {
  try {
    return build();
  } catch (error) {
    if (isFaceprintError(error, 'INVALID_ARGUMENT'))
      throw corrupt(`${context}${error.message}`, error.details);
    throw error;
  }
}

/** A snapshot's columns without its vectors, which {@link DecodedColumns.writeVectors} writes where they go. */
type IdColumns = Omit<IndexColumns, 'vectors'>;

interface DecodedColumns {
  columns: IdColumns;
  info: SnapshotInfo;
  /**
   * Writes the `count × dim` decoded floats into `target` (exactly that long), int8 rows with `int8Rows` (the
   * index's SIMD kernel) when given.
   */
  writeVectors: (target: Float32Array, int8Rows?: Int8RowsWriter | undefined) => void;
  /** True when the payload can only decode to finite values (int8 with checked scales). */
  finite: boolean;
}

/**
 * A snapshot's checked columns and header facts, and a writer of its vectors, without building an index:
 * {@link buildMerged} merges several and writes each shard's vectors straight into the merged index. Throws like
 * {@link decodeSnapshot}, except for the per-row checks the index makes when it is built.
 */
function decodeSnapshotColumns(bytes: Uint8Array): DecodedColumns {
  const { header, payloadOffset } = readHeader(bytes);
  const { count, dim } = header;
  const payload = bytes.subarray(payloadOffset, payloadOffset + header.payloadBytes);
  if (crc32(payload) !== header.payloadCrc32) throw corrupt('vector checksum mismatch');

  const rowVariant = new Uint8Array(count);
  for (const [row, variant] of header.variants.entries()) {
    if (!isTemplateVariant(variant)) throw corrupt(`row ${row} has unknown variant ${variant}`);
    rowVariant[row] = TEMPLATE_VARIANTS.indexOf(variant);
  }
  if (header.shard) {
    const { shard } = header;
    const stray = header.subjects.find((subjectId) => shardOf(subjectId, shard.count) !== shard.index);
    if (stray !== undefined)
      throw corrupt(`subject ${stray} does not belong to shard ${shard.index}/${shard.count}`);
  }

  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let writeVectors: DecodedColumns['writeVectors'];
  if (header.dtype === 'float32') {
    writeVectors = littleEndian
      ? (target) => new Uint8Array(target.buffer, target.byteOffset, payload.byteLength).set(payload)
      : (target) => {
          for (let i = 0; i < target.length; i++) target[i] = view.getFloat32(i * 4, true);
        };
  } else {
    // Checked before anything is written, so a bad scale never leaves a half-written index behind.
    for (let r = 0; r < count; r++) {
      const scale = view.getFloat32(r * 4, true);
      if (!Number.isFinite(scale) || scale <= 0) throw corrupt(`row ${r} has int8 scale ${scale}`);
    }
    const quantised = new Int8Array(payload.buffer, payload.byteOffset + count * 4, count * dim);
    // The row's scale cancels out of its normalisation: component = q / ‖q‖, with ‖q‖² summed exactly in
    // integers (so in any order). One pass to read, one to write, four components a step (measured ~40% faster
    // than one a step on a cold 100k decode); the scales only had to be positive and finite.
    const bulk = dim - (dim % 4);
    writeVectors = (vectors, int8Rows) => {
      if (int8Rows) {
        const zero = int8Rows(quantised, vectors, dim);
        if (zero >= 0) throw corrupt(`row ${zero} is all zeros`);
        return;
      }
      const q = quantised;
      for (let r = 0; r < count; r++) {
        const base = r * dim;
        const end = base + bulk;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let j = base; j < end; j += 4) {
          const a = q[j] as number;
          const b = q[j + 1] as number;
          const c = q[j + 2] as number;
          const d = q[j + 3] as number;
          s0 += a * a;
          s1 += b * b;
          s2 += c * c;
          s3 += d * d;
        }
        for (let j = end; j < base + dim; j++) s0 += (q[j] as number) * (q[j] as number);
        const sum = s0 + s1 + s2 + s3;
        if (sum === 0) throw corrupt(`row ${r} is all zeros`);
        const inverse = 1 / Math.sqrt(sum);
        for (let j = base; j < end; j += 4) {
          vectors[j] = (q[j] as number) * inverse;
          vectors[j + 1] = (q[j + 1] as number) * inverse;
          vectors[j + 2] = (q[j + 2] as number) * inverse;
          vectors[j + 3] = (q[j + 3] as number) * inverse;
        }
        for (let j = end; j < base + dim; j++) vectors[j] = (q[j] as number) * inverse;
      }
    };
  }

  const columns: IdColumns = {
    modelId: header.modelId,
    dim,
    subjectIds: header.subjects,
    templateIds: header.templateIds,
    rowSubject: Int32Array.from(header.subjectOrdinals),
    rowVariant,
  };
  return { columns, info: infoOf(header, bytes.length), writeVectors, finite: header.dtype === 'int8' };
}

/**
 * Throws `INDEX_INCOMPATIBLE`, naming both model ids, when an index was not built by the expected model
 * or has another dimension. Call it after loading a snapshot and before searching with new embeddings.
 */
export function assertCompatible(
  index: Pick<VectorIndex, 'modelId' | 'dim'>,
  expected: { modelId: string; dim: number },
): void {
  if (index.modelId !== expected.modelId || index.dim !== expected.dim) {
    throw new FaceprintError(
      'INDEX_INCOMPATIBLE',
      `index was built with model ${index.modelId} (dim ${index.dim}) but the pipeline uses model ${expected.modelId} (dim ${expected.dim}); rebuild the index`,
      { indexModelId: index.modelId, indexDim: index.dim, modelId: expected.modelId, dim: expected.dim },
    );
  }
}

/**
 * Merges decoded shards (or any indexes of the same model) into one index, in argument order. Throws
 * `INDEX_INCOMPATIBLE` when model ids or dimensions differ, and `INDEX_CORRUPT` when a template id appears
 * in more than one index. A subject present in several indexes keeps all of its templates.
 */
export function mergeSnapshots(indexes: readonly VectorIndex[]): VectorIndex {
  const first = indexes[0];
  if (!first) throw new FaceprintError('INVALID_ARGUMENT', 'mergeSnapshots needs at least one index');
  for (const index of indexes) assertCompatible(index, first);
  const merged = mergeColumns(indexes.map((index) => index.columns()));
  return indexOf('shards overlap: ', () => VectorIndex.fromColumns(merged));
}

/**
 * Concatenates the columns of several indexes of one model and dimension (checked by the caller) into one set,
 * renumbering subjects; builds nothing (see {@link buildMerged}).
 */
function mergeColumns(parts: readonly IndexColumns[]): IndexColumns {
  const first = parts[0] as IndexColumns;
  const { columns, rowOffsets } = mergeIdColumns(parts);
  const vectors = new Float32Array(columns.templateIds.length * first.dim);
  for (const [at, part] of parts.entries()) vectors.set(part.vectors, (rowOffsets[at] as number) * first.dim);
  return { ...columns, vectors };
}

/** The id columns of {@link mergeColumns}, and the row at which each part starts. */
function mergeIdColumns(parts: readonly IdColumns[]): { columns: IdColumns; rowOffsets: number[] } {
  const first = parts[0] as IdColumns;
  const subjectIds: string[] = [];
  const ordinalOf = new Map<string, number>();
  const templateIds: string[] = [];
  const total = parts.reduce((sum, part) => sum + part.templateIds.length, 0);
  const rowSubject = new Int32Array(total);
  const rowVariant = new Uint8Array(total);
  const rowOffsets: number[] = [];
  let row = 0;
  for (const columns of parts) {
    rowOffsets.push(row);
    const remap = columns.subjectIds.map((subjectId) => {
      let ordinal = ordinalOf.get(subjectId);
      if (ordinal === undefined) {
        ordinal = subjectIds.length;
        subjectIds.push(subjectId);
        ordinalOf.set(subjectId, ordinal);
      }
      return ordinal;
    });
    for (let r = 0; r < columns.templateIds.length; r++) {
      templateIds.push(columns.templateIds[r] as string);
      rowSubject[row + r] = remap[columns.rowSubject[r] as number] as number;
    }
    rowVariant.set(columns.rowVariant, row);
    row += columns.templateIds.length;
  }
  return {
    columns: { modelId: first.modelId, dim: first.dim, subjectIds, templateIds, rowSubject, rowVariant },
    rowOffsets,
  };
}

/**
 * One snapshot checked and read up to its vectors (its checksum, header and columns; see
 * {@link prepareSnapshot}), which {@link buildPrepared} then writes into a merged index. Opaque.
 */
export interface PreparedSnapshot {
  readonly info: SnapshotInfo;
  /** @internal */
  readonly decoded: DecodedColumns;
}

/**
 * Checks and reads one snapshot (a shard) up to its vectors, so that a cold start can do this for each shard as it
 * arrives and only the merge is left when the last one does. Throws like {@link decodeSnapshot}.
 */
export function prepareSnapshot(bytes: Uint8Array): PreparedSnapshot {
  const decoded = decodeSnapshotColumns(bytes);
  return { info: decoded.info, decoded };
}

/**
 * Decodes several snapshots (the shards of one index) straight into one index, writing each shard's vectors once,
 * into the index's own storage. Throws like {@link decodeSnapshot} for a bad snapshot, `INDEX_INCOMPATIBLE` when
 * their model ids or dimensions differ, and `INDEX_CORRUPT` when a template appears in more than one.
 */
export function buildMerged(
  snapshots: readonly Uint8Array[],
  check: (info: SnapshotInfo, at: number) => void = () => undefined,
): VectorIndex {
  return buildPrepared(
    snapshots.map((bytes, at) => {
      const prepared = prepareSnapshot(bytes);
      check(prepared.info, at);
      return prepared;
    }),
  );
}

/** {@link buildMerged} from snapshots already prepared (in the order their rows are to be merged). */
export function buildPrepared(prepared: readonly PreparedSnapshot[]): VectorIndex {
  const first = prepared[0]?.decoded.columns;
  if (!first) throw new FaceprintError('INVALID_ARGUMENT', 'buildMerged needs at least one snapshot');
  for (const part of prepared) assertCompatible(part.decoded.columns, first);
  const count = prepared.reduce((sum, part) => sum + part.info.count, 0);
  const pending = VectorIndex.reserve({ modelId: first.modelId, dim: first.dim, count });
  let row = 0;
  for (const part of prepared) {
    writePreparedVectors(part, pending, row);
    row += part.info.count;
  }
  return completePrepared(pending, prepared);
}

/**
 * Writes a prepared snapshot's vectors into reserved storage from row `row` on (a cold start does this for each
 * shard as it arrives, at the row where the manifest's row counts place it). The caller checks that the model and
 * dimension match the storage's. Throws `INDEX_CORRUPT` for an all-zero int8 row.
 */
export function writePreparedVectors(prepared: PreparedSnapshot, pending: PendingIndex, row: number): void {
  const { columns } = prepared.decoded;
  const start = row * columns.dim;
  prepared.decoded.writeVectors(
    pending.target.subarray(start, start + columns.templateIds.length * columns.dim),
    pending.int8Rows,
  );
}

/**
 * Completes reserved storage whose rows hold the vectors of `prepared`, in this order, into one index. Throws
 * `INDEX_CORRUPT` when a template appears in more than one, like {@link buildMerged}.
 */
export function completePrepared(pending: PendingIndex, prepared: readonly PreparedSnapshot[]): VectorIndex {
  const parts = prepared.map((p) => p.decoded);
  const { columns } =
    parts.length === 1
      ? { columns: (parts[0] as DecodedColumns).columns }
      : mergeIdColumns(parts.map((part) => part.columns));
  return indexOf('shards overlap: ', () =>
    pending.complete(columns, { finite: parts.every((part) => part.finite) }),
  );
}
