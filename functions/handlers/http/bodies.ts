/**
 * Request bodies: read once, bounded, and handed to the routes in one of three forms (JSON with base64 images,
 * multipart with files, or a raw image body), with the photo input and source id the gallery expects.
 */
import type { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { PhotoInput } from '../../core/gallery/service.ts';
import type { AppEnv } from './env.ts';
import { HttpError } from './errors.ts';
import { ImageForm, ImageJson } from './schemas.ts';

const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/;
const FORM_MEDIA = new Set(['multipart/form-data', 'application/x-www-form-urlencoded']);

/**
 * Reads every POST body up front, bounded: a declared Content-Length over the limit is refused before reading,
 * and a body without one (chunked) is cut off as soon as it passes the limit. Empty bodies and malformed JSON
 * are refused here too, so the routes only ever see a complete, parseable body.
 */
export function readBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const tooLarge = () => {
      // The rest of the body stays unread: the connection cannot carry another request after this answer.
      c.header('connection', 'close');
      return new HttpError(
        'PAYLOAD_TOO_LARGE',
        `The request body is larger than the limit of ${describeBytes(maxBytes)}.`,
      );
    };
    const declared = c.req.header('content-length');
    if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge();
    const bytes = await readLimited(c.req.raw.body, maxBytes, tooLarge);
    if (bytes.byteLength === 0) throw new HttpError('VALIDATION_ERROR', 'The request body is empty.');
    if (JSON_MEDIA.test(mediaType(c.req.header('content-type')))) {
      try {
        JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        throw new HttpError('MALFORMED_JSON', 'The request body is not valid JSON.');
      }
    }
    c.set('body', bytes);
    // The validators downstream read the body again: hand them the buffered copy.
    c.req.raw = new Request(c.req.raw, { body: bytes });
    return next();
  };
}

async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

export type BodyKind = 'json' | 'form' | 'raw';

/** Which of the three body forms a request uses (the route's media-type gate has already refused the rest). */
export function bodyKind(c: Context<AppEnv>): BodyKind {
  const media = mediaType(c.req.header('content-type'));
  if (JSON_MEDIA.test(media)) return 'json';
  if (FORM_MEDIA.has(media)) return 'form';
  if (media.startsWith('image/') || media === 'application/octet-stream') return 'raw';
  throw new HttpError(
    'UNSUPPORTED_MEDIA_TYPE',
    'Send application/json, multipart/form-data or an image/* body.',
  );
}

/** The image of a route that takes exactly one (`image` in JSON or multipart, or the raw body). */
export async function oneImage(c: Context<AppEnv>, kind: BodyKind): Promise<Uint8Array> {
  if (kind === 'raw') return rawBody(c);
  if (kind === 'json') return decodeBase64(bodyOf(c, 'json', ImageJson).image);
  return blobBytes(bodyOf(c, 'form', ImageForm).image);
}

/**
 * The validated body of the form that was sent. @hono/zod-openapi types `valid('json')` as the union of every
 * declared media type's schema; at run time each validator only runs on its own media type, so narrow it here.
 */
export function bodyOf<S extends z.ZodType>(
  c: Context<AppEnv>,
  target: 'json' | 'form',
  _schema: S,
): z.output<S> {
  return (c.req as unknown as { valid(target: 'json' | 'form'): z.output<S> }).valid(target);
}

export function rawBody(c: Context<AppEnv>): Uint8Array {
  const body = c.get('body');
  if (!body) throw new HttpError('VALIDATION_ERROR', 'The request body is empty.');
  return body;
}

export function decodeBase64(text: string): Uint8Array {
  return Buffer.from(text, 'base64');
}

export async function blobBytes(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

/** A photo from a request; errors about it say "the photo", never the internal source id. */
export function photoInput(bytes: Uint8Array, source: string, takeLargest: boolean | undefined): PhotoInput {
  return { label: 'the photo', bytes, source, takeLargest };
}

export function sourceOf(c: Context<AppEnv>): string {
  return `http:${c.get('requestId')}`;
}

/** `http:<request-id>/<file name>` for an uploaded file: the name helps whoever reads the record later. */
export function fileSource(source: string, blob: Blob): string {
  const name = blob instanceof File ? blob.name.replace(/[^\w.-]+/g, '_').slice(0, 100) : '';
  return name ? `${source}/${name}` : source;
}

export function flag(value: 'true' | 'false' | undefined): boolean | undefined {
  return value === undefined ? undefined : value === 'true';
}

export function describeBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${n} bytes`;
}
