import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { type FaceprintErrorCode, isFaceprintError } from '../../core/errors.ts';

/** Error codes that only the HTTP edge produces (the request itself is wrong, before the core sees it). */
export type EdgeErrorCode =
  | 'VALIDATION_ERROR'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'MALFORMED_JSON'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'MALFORMED_REQUEST'
  | 'HEADERS_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'OVERLOADED'
  | 'INTERNAL';

/** Every `error.code` an HTTP response can carry. */
export type HttpErrorCode = FaceprintErrorCode | EdgeErrorCode;

/**
 * The one mapping from error code to HTTP status. A `Record` over every code, so adding a code to the core
 * without deciding its status here fails the type check.
 */
export const HTTP_STATUS: Readonly<Record<HttpErrorCode, ContentfulStatusCode>> = {
  INVALID_IMAGE: 400,
  UNSUPPORTED_FORMAT: 415,
  IMAGE_TOO_LARGE: 413,
  IMAGE_TOO_SMALL: 422,
  NO_FACE: 422,
  MULTIPLE_FACES: 422,
  LOW_QUALITY: 422,
  SUBJECT_NOT_FOUND: 404,
  SUBJECT_EXISTS: 409,
  INVALID_ARGUMENT: 400,
  MODEL_UNAVAILABLE: 503,
  MODEL_MISMATCH: 503,
  INDEX_CORRUPT: 500,
  INDEX_INCOMPATIBLE: 500,
  PROCESSING_TIMEOUT: 503,
  // Never delivered (the client is gone); a 4xx so it is not counted as a server failure.
  CANCELLED: 400,
  ANALYSIS_FAILED: 503,
  UNKNOWN_NOT_FOUND: 404,
  UNKNOWN_PROMOTED: 409,
  SIGHTING_NOT_FOUND: 404,
  REVIEW_NOT_FOUND: 404,
  REVIEW_NOT_PENDING: 409,
  INVALID_VIDEO: 400,
  UNSUPPORTED_VIDEO: 415,
  NO_VIDEO_STREAM: 422,
  STREAM_UNAVAILABLE: 502,
  DECODER_UNAVAILABLE: 503,
  CAMERA_NOT_FOUND: 404,
  VALIDATION_ERROR: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PAYLOAD_TOO_LARGE: 413,
  MALFORMED_JSON: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  MALFORMED_REQUEST: 400,
  HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
  OVERLOADED: 503,
  INTERNAL: 500,
};

/** The body of every error response. */
export interface ErrorBody {
  error: { code: HttpErrorCode; message: string };
}

/** An HTTP error response: status and body. */
export interface HttpErrorResponse {
  status: ContentfulStatusCode;
  body: ErrorBody;
}

/** Where server-side failures are reported; `console` fits, and so does a Powertools logger. */
export interface ErrorLogger {
  error(message: string, ...extra: unknown[]): void;
}

/** Said for every 500: the details go to the server log, never to the caller. */
export const INTERNAL_MESSAGE = 'Something went wrong inside Faceprint; the error was logged on the server.';

/** An error the HTTP edge raises itself (bad request shape, missing API key, …). */
export class HttpError extends Error {
  readonly code: EdgeErrorCode;

  constructor(code: EdgeErrorCode, message: string) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
  }
}

/** The response for an error code and a one-sentence message. */
export function errorResponse(code: HttpErrorCode, message: string): HttpErrorResponse {
  return { status: HTTP_STATUS[code], body: { error: { code, message } } };
}

// Hono (and @hono/zod-openapi) throw HTTPExceptions with their own wording; restate them in ours.
const FROM_HTTP_EXCEPTION: Partial<Record<number, [EdgeErrorCode, string]>> = {
  400: ['VALIDATION_ERROR', 'The request body could not be read.'],
  401: ['UNAUTHORIZED', 'A valid API key is required in the x-api-key header.'],
  404: ['NOT_FOUND', 'There is no such resource.'],
  405: ['METHOD_NOT_ALLOWED', 'This method is not allowed on this resource.'],
  413: ['PAYLOAD_TOO_LARGE', 'The request body is too large.'],
  415: [
    'UNSUPPORTED_MEDIA_TYPE',
    'The Content-Type is not accepted here; send application/json, multipart/form-data or an image.',
  ],
};

/**
 * Maps anything thrown while handling a request to its response. Domain and edge errors keep their code and
 * message; anything else is a 500 with a generic sentence, and the error itself goes to `logger`.
 */
export function toHttpError(
  error: unknown,
  logger?: ErrorLogger,
  context?: Record<string, unknown>,
): HttpErrorResponse {
  if (isFaceprintError(error)) {
    const response = errorResponse(error.code, error.message);
    // A 5xx domain error (a broken model or index) is the operator's problem: keep its details in the log.
    // A request over its processing deadline is load, not a fault: the access log's 503 records it.
    if (response.status >= 500 && error.code !== 'PROCESSING_TIMEOUT') {
      logger?.error('Request failed', { ...context, code: error.code, error });
    }
    return response;
  }
  if (error instanceof HttpError) return errorResponse(error.code, error.message);
  if (error instanceof HTTPException) {
    const known = FROM_HTTP_EXCEPTION[error.status];
    if (known) return errorResponse(known[0], known[1]);
  }
  logger?.error('Request failed', { ...context, error });
  return errorResponse('INTERNAL', INTERNAL_MESSAGE);
}

const WHERE: Record<string, { field: string; whole: string }> = {
  param: { field: 'path parameter', whole: 'path' },
  query: { field: 'query parameter', whole: 'query string' },
  json: { field: 'field', whole: 'request body' },
  form: { field: 'form field', whole: 'form' },
  header: { field: 'header', whole: 'headers' },
};

/**
 * One sentence from a zod validation failure: the first issue, with where it is (`query parameter "topK"`,
 * `field "name"`) so the caller knows what to fix. `target` is what was validated: `param`, `query`, `json`, `form`.
 */
export function validationMessage(error: ZodError, target: string): string {
  const where = WHERE[target] ?? { field: 'field', whole: 'request' };
  const issue = error.issues[0];
  if (!issue) return `The ${where.whole} is invalid.`;
  const path = issue.path.map(String).join('.');
  const subject = path ? `${where.field} "${path}"` : where.whole;
  const reason = issue.message.replace(/[.\s]+$/, '');
  return `The ${subject} is invalid: ${reason}.`;
}
