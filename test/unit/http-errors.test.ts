import { HTTPException } from 'hono/http-exception';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { FaceprintError, type FaceprintErrorCode } from '../../functions/core/errors.ts';
import {
  errorResponse,
  HTTP_STATUS,
  HttpError,
  INTERNAL_MESSAGE,
  toHttpError,
  validationMessage,
} from '../../functions/handlers/http/errors.ts';

/** The documented contract, restated: the test pins it rather than reading it back from the code. */
const EXPECTED: Record<string, number> = {
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
  CANCELLED: 400,
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
  ANALYSIS_FAILED: 503,
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

const quietLogger = () => ({ error: vi.fn() });

describe('HTTP status of every error code', () => {
  it('maps exactly the documented codes to the documented statuses', () => {
    expect({ ...HTTP_STATUS }).toEqual(EXPECTED);
    for (const [code, status] of Object.entries(EXPECTED)) {
      expect(errorResponse(code as keyof typeof HTTP_STATUS, 'Refused.')).toEqual({
        status,
        body: { error: { code, message: 'Refused.' } },
      });
    }
  });
});

describe('toHttpError', () => {
  it('keeps a domain error’s code and sentence, without details or stack', () => {
    const logger = quietLogger();
    const error = new FaceprintError('NO_FACE', 'No face was found in the image.', { faces: 0 });
    const response = toHttpError(error, logger);
    expect(response).toEqual({
      status: 422,
      body: { error: { code: 'NO_FACE', message: 'No face was found in the image.' } },
    });
    expect(logger.error).not.toHaveBeenCalled();
  });

  it.each<[FaceprintErrorCode, number]>([
    ['SUBJECT_NOT_FOUND', 404],
    ['SUBJECT_EXISTS', 409],
    ['UNSUPPORTED_FORMAT', 415],
    ['IMAGE_TOO_LARGE', 413],
    ['MULTIPLE_FACES', 422],
    ['CAMERA_NOT_FOUND', 404],
  ])('a FaceprintError %s becomes %i', (code, status) => {
    expect(toHttpError(new FaceprintError(code, 'Refused.')).status).toBe(status);
  });

  it('logs 5xx domain errors (a broken model or index) but still says what happened', () => {
    const logger = quietLogger();
    const response = toHttpError(
      new FaceprintError('MODEL_UNAVAILABLE', 'The detector model is missing.'),
      logger,
    );
    expect(response.status).toBe(503);
    expect(response.body.error.code).toBe('MODEL_UNAVAILABLE');
    expect(logger.error).toHaveBeenCalledOnce();
  });

  it('keeps an edge error’s code and sentence', () => {
    const response = toHttpError(new HttpError('MALFORMED_JSON', 'The request body is not valid JSON.'));
    expect(response).toEqual({
      status: 400,
      body: { error: { code: 'MALFORMED_JSON', message: 'The request body is not valid JSON.' } },
    });
  });

  it('turns an unexpected error into a generic 500, logging the error and never echoing it', () => {
    const logger = quietLogger();
    const boom = new Error('SQLITE_CORRUPT at /secret/path/faceprint.db');
    const response = toHttpError(boom, logger, { requestId: 'r1' });
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ error: { code: 'INTERNAL', message: INTERNAL_MESSAGE } });
    expect(JSON.stringify(response.body)).not.toMatch(/secret|SQLITE|at /);
    expect(logger.error).toHaveBeenCalledWith(
      'Request failed',
      expect.objectContaining({ requestId: 'r1', error: boom }),
    );
  });

  it('treats thrown non-errors as internal too', () => {
    expect(toHttpError('a string', quietLogger()).body.error.code).toBe('INTERNAL');
    expect(toHttpError(undefined, quietLogger()).status).toBe(500);
  });

  it.each([
    [415, 'UNSUPPORTED_MEDIA_TYPE'],
    [413, 'PAYLOAD_TOO_LARGE'],
    [401, 'UNAUTHORIZED'],
    [400, 'VALIDATION_ERROR'],
  ] as const)("restates Hono's HTTPException %i as %s in our words", (status, code) => {
    const response = toHttpError(new HTTPException(status, { message: 'framework wording' }));
    expect(response.status).toBe(status);
    expect(response.body.error.code).toBe(code);
    expect(response.body.error.message).not.toContain('framework wording');
  });

  it('treats an HTTPException with an unmapped status as internal', () => {
    const logger = quietLogger();
    expect(toHttpError(new HTTPException(418), logger).body.error.code).toBe('INTERNAL');
    expect(logger.error).toHaveBeenCalledOnce();
  });

  it('every message is one sentence', () => {
    for (const error of [new HTTPException(415), new Error('x'), new FaceprintError('NO_FACE', 'No face.')]) {
      const { message } = toHttpError(error, quietLogger()).body.error;
      expect(message).toMatch(/^[A-Z].*\.$/);
      expect(message).not.toContain('\n');
    }
  });
});

describe('validationMessage', () => {
  const schema = z.object({ name: z.string().max(3, 'must be at most 3 characters') });

  it('names the field and the reason', () => {
    const result = schema.safeParse({ name: 'abcdef' });
    expect(result.success).toBe(false);
    expect(validationMessage(result.error!, 'json')).toBe(
      'The field "name" is invalid: must be at most 3 characters.',
    );
    expect(validationMessage(result.error!, 'query')).toBe(
      'The query parameter "name" is invalid: must be at most 3 characters.',
    );
  });

  it('names the whole body when the issue has no path', () => {
    const refined = z.object({ a: z.string().optional() }).refine((v) => v.a !== undefined, 'give a');
    const result = refined.safeParse({});
    expect(validationMessage(result.error!, 'json')).toBe('The request body is invalid: give a.');
  });
});
