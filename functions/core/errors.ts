/**
 * Typed domain errors. The core throws only these for problems with the caller's input or state;
 * the edge (CLI, HTTP app) maps `code` to an exit status or an HTTP status in one place.
 */
export type FaceprintErrorCode =
  | 'INVALID_IMAGE'
  | 'UNSUPPORTED_FORMAT'
  | 'IMAGE_TOO_LARGE'
  | 'IMAGE_TOO_SMALL'
  | 'NO_FACE'
  | 'MULTIPLE_FACES'
  | 'LOW_QUALITY'
  | 'SUBJECT_NOT_FOUND'
  | 'SUBJECT_EXISTS'
  | 'INVALID_ARGUMENT'
  | 'MODEL_UNAVAILABLE'
  | 'MODEL_MISMATCH'
  | 'INDEX_CORRUPT'
  | 'INDEX_INCOMPATIBLE'
  | 'INVALID_VIDEO'
  | 'UNSUPPORTED_VIDEO'
  | 'NO_VIDEO_STREAM'
  | 'STREAM_UNAVAILABLE'
  | 'DECODER_UNAVAILABLE';

/** An error the caller can act on: a stable machine-readable `code` and a one-sentence `message`. */
export class FaceprintError extends Error {
  readonly code: FaceprintErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: FaceprintErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'FaceprintError';
    this.code = code;
    this.details = details;
  }
}

/** True when `error` is a {@link FaceprintError}, optionally with the given code. */
export function isFaceprintError(error: unknown, code?: FaceprintErrorCode): error is FaceprintError {
  return error instanceof FaceprintError && (code === undefined || error.code === code);
}
