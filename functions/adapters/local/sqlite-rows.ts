/** Row helpers the SQLite stores of unknown persons and reviews share: float blobs and page cursors. */
import { FaceprintError } from '../../core/errors.ts';

/** The bytes of a Float32Array, for a BLOB column (SQLite copies them when binding). */
export function blobOf(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

/** A Float32Array copied out of a BLOB into a fresh, aligned buffer. */
export function floatsOf(blob: Buffer): Float32Array {
  const out = new Float32Array(blob.byteLength / 4);
  new Uint8Array(out.buffer).set(blob);
  return out;
}

/** The values of an opaque page cursor, after its kind tag. */
export type CursorTuple = [kind: string, ...values: (string | number)[]];

/** An opaque page cursor: a kind tag and the values that locate the last row of a page. */
export function encodeCursor(values: CursorTuple): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/**
 * The values of a cursor made by {@link encodeCursor} for `kind` with `arity` values after the tag, unchecked
 * in type; INVALID_ARGUMENT for anything else.
 */
export function readCursor(cursor: string, kind: string, arity: number): unknown[] {
  const invalid = () => new FaceprintError('INVALID_ARGUMENT', 'The cursor is not valid.', { cursor });
  // Buffer's base64url decoder skips junk silently, so check the alphabet first.
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== arity + 1 || parsed[0] !== kind) throw invalid();
  return parsed.slice(1);
}

/** An opaque cursor: a kind tag and the (key, id) of the last row of a page. */
export function encodePageCursor(kind: string, key: string | number, id: string): string {
  return encodeCursor([kind, key, id]);
}

/** The (key, id) of a cursor made by {@link encodePageCursor} for `kind`; INVALID_ARGUMENT otherwise. */
export function decodePageCursor(cursor: string, kind: string): [string | number, string] {
  const [key, id] = readCursor(cursor, kind, 2);
  if ((typeof key !== 'string' && typeof key !== 'number') || typeof id !== 'string') {
    throw new FaceprintError('INVALID_ARGUMENT', 'The cursor is not valid.', { cursor });
  }
  return [key, id];
}
