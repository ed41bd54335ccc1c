/**
 * Typed domain errors and who is to blame for each. The core throws only these for problems with the caller's
 * input, the gallery's state or the installation; every edge (HTTP status, CLI exit code, ingest failure
 * records, the uploads folder) decides what to do from {@link ERROR_BLAME}, defined once here.
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
  /** The analysis passed its processing deadline (bounded work per request). */
  | 'PROCESSING_TIMEOUT'
  /** The analysis was stopped because its caller went away (an HTTP client disconnected). */
  | 'CANCELLED'
  /** The thread analysing the image stopped (crashed or ran out of memory); the request may be retried. */
  | 'ANALYSIS_FAILED'
  | 'UNKNOWN_NOT_FOUND'
  | 'UNKNOWN_PROMOTED'
  | 'SIGHTING_NOT_FOUND'
  | 'REVIEW_NOT_FOUND'
  | 'REVIEW_NOT_PENDING'
  | 'INVALID_VIDEO'
  | 'UNSUPPORTED_VIDEO'
  | 'NO_VIDEO_STREAM'
  | 'STREAM_UNAVAILABLE'
  | 'DECODER_UNAVAILABLE'
  /** An identify call (or a camera operation) named a camera that is not configured. */
  | 'CAMERA_NOT_FOUND';

/**
 * Whose fault an error is, which decides what every entry point does with it:
 * - `input`: the upload or request itself is bad (unreadable, no usable face, too large…). HTTP 4xx; the CLI
 *   exits 3 (no usable face) or 4; an ingested upload is recorded as `failed` with the reason and never retried.
 * - `state`: the input is fine but the gallery's state refuses it (unknown subject, id taken). HTTP 404/409; the
 *   CLI exits 4; an ingest step that meets it is a refusal, not retried.
 * - `operator`: the installation or configuration is broken (a model missing, an index corrupt). HTTP 5xx; the
 *   CLI exits 6; an ingested upload is retried (and dead-lettered in the end), never recorded as the file's fault.
 */
export type ErrorBlame = 'input' | 'state' | 'operator';

/**
 * The one table of blame. A `Record` over every code, so adding a code without deciding its blame fails the
 * type check; the HTTP status table and the CLI are tested to agree with it.
 */
export const ERROR_BLAME: Readonly<Record<FaceprintErrorCode, ErrorBlame>> = {
  INVALID_IMAGE: 'input',
  UNSUPPORTED_FORMAT: 'input',
  IMAGE_TOO_LARGE: 'input',
  IMAGE_TOO_SMALL: 'input',
  NO_FACE: 'input',
  MULTIPLE_FACES: 'input',
  LOW_QUALITY: 'input',
  INVALID_ARGUMENT: 'input',
  SUBJECT_NOT_FOUND: 'state',
  SUBJECT_EXISTS: 'state',
  MODEL_UNAVAILABLE: 'operator',
  MODEL_MISMATCH: 'operator',
  INDEX_CORRUPT: 'operator',
  INDEX_INCOMPATIBLE: 'operator',
  // Too slow for the deadline: the service is overloaded (or the input at the edge of the budget); retried.
  PROCESSING_TIMEOUT: 'operator',
  // The caller went away: its own doing, nothing to retry.
  CANCELLED: 'input',
  // A worker thread died under the request: the installation's (or the load's) fault; retried.
  ANALYSIS_FAILED: 'operator',
  UNKNOWN_NOT_FOUND: 'state',
  UNKNOWN_PROMOTED: 'state',
  SIGHTING_NOT_FOUND: 'state',
  REVIEW_NOT_FOUND: 'state',
  REVIEW_NOT_PENDING: 'state',
  // Video: the file is the problem; a camera that cannot be reached or a missing decoder is the operator's.
  INVALID_VIDEO: 'input',
  UNSUPPORTED_VIDEO: 'input',
  NO_VIDEO_STREAM: 'input',
  STREAM_UNAVAILABLE: 'operator',
  DECODER_UNAVAILABLE: 'operator',
  CAMERA_NOT_FOUND: 'state',
};

/** Input codes that mean "no usable face" (the CLI's exit status 3) rather than "input refused". */
export const NO_USABLE_FACE: ReadonlySet<FaceprintErrorCode> = new Set([
  'NO_FACE',
  'MULTIPLE_FACES',
  'LOW_QUALITY',
]);

/** The blame of an error: a {@link FaceprintError}'s from {@link ERROR_BLAME}; anything else is the operator's. */
export function blameOf(error: unknown): ErrorBlame {
  return isFaceprintError(error) ? ERROR_BLAME[error.code] : 'operator';
}

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
