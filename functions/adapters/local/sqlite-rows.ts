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

/** An opaque cursor: a kind tag and the (key, id) of the last row of a page. */
export function encodePageCursor(kind: string, key: string | number, id: string): string {
  return Buffer.from(JSON.stringify([kind, key, id])).toString('base64url');
}

/** The (key, id) of a cursor made by {@link encodePageCursor} for `kind`; INVALID_ARGUMENT otherwise. */
export function decodePageCursor(cursor: string, kind: string): [string | number, string] {
  const invalid = () => new FaceprintError('INVALID_ARGUMENT', 'The cursor is not valid.', { cursor });
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    parsed[0] !== kind ||
    (typeof parsed[1] !== 'string' && typeof parsed[1] !== 'number') ||
    typeof parsed[2] !== 'string'
  ) {
    throw invalid();
  }
  return [parsed[1], parsed[2]];
}
