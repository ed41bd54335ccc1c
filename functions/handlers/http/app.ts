/**
 * The one HTTP app of Faceprint (local server and API Gateway): request ids and the access log, API-key
 * authentication, bounded bodies, the routes of `routes.ts` with their handlers, the OpenAPI document, and one
 * error mapping. Schemas live in `schemas.ts`, request bodies in `bodies.ts`.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { PhotoInput } from '../../core/gallery/service.ts';
import {
  blobBytes,
  bodyKind,
  bodyOf,
  decodeBase64,
  fileSource,
  flag,
  oneImage,
  photoInput,
  rawBody,
  readBody,
  sourceOf,
} from './bodies.ts';
import { registerCameraRoutes } from './camera-routes.ts';
import { registerConsoleApiRoutes } from './console-api-routes.ts';
import { isConsolePath, registerConsoleRoutes } from './console-routes.ts';
import { type AppDeps, type AppEnv, DEFAULT_MAX_BODY_BYTES, type HttpLogger } from './env.ts';
import { errorResponse, HttpError, toHttpError, validationMessage } from './errors.ts';
import { registerReviewRoutes } from './review-routes.ts';
import {
  addFaceRoute,
  createSubjectRoute,
  deleteSubjectRoute,
  detectRoute,
  getSubjectRoute,
  healthRoute,
  identifyRoute,
  listSubjectsRoute,
  verifyRoute,
} from './routes.ts';
import {
  CreateSubjectForm,
  CreateSubjectJson,
  ImageForm,
  ImageJson,
  VerifyForm,
  VerifyJson,
} from './schemas.ts';
import { registerUnknownsRoutes } from './unknowns-routes.ts';
import { registerVideoRoutes } from './video-routes.ts';

export { type AppDeps, DEFAULT_MAX_BODY_BYTES, type HttpLogger } from './env.ts';
export { SubjectIdSchema } from './schemas.ts';

/** Logged status of a request whose client disconnected before the answer. */
export const CLIENT_CLOSED = 499;
const CLIENT_GONE = 'The client closed the connection before the request was answered.';
const PUBLIC_PATHS = new Set(['/health', '/openapi.json']);
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * The Faceprint HTTP API as one Hono app: the same object runs on Node (`@hono/node-server`) and behind API
 * Gateway (`handle(app)` from `hono/aws-lambda`). Requests are validated in full by the zod schemas that also
 * generate `GET /openapi.json`, so the gallery is only ever called with valid input; every error is
 * `{ error: { code, message } }` with the status from {@link HTTP_STATUS}.
 */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { gallery } = deps;
  const logger: HttpLogger = deps.logger ?? console;
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  // A blank key would be dropped silently and could turn "one key required" into "none": refuse it.
  if ((deps.apiKeys ?? []).some((k) => k.trim() === '')) throw new Error('An API key must not be blank.');
  const keyDigests = (deps.apiKeys ?? []).map(sha256);

  const app = new OpenAPIHono<AppEnv>({
    // Every validation failure (path, query, body) becomes one VALIDATION_ERROR sentence.
    defaultHook: (result) => {
      if (!result.success) {
        throw new HttpError('VALIDATION_ERROR', validationMessage(result.error, result.target));
      }
    },
  });

  app.openAPIRegistry.registerComponent('securitySchemes', 'ApiKey', {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
  });

  app.use('*', async (c, next) => {
    const given = c.req.header('x-request-id');
    const id = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', id);
    c.header('x-request-id', id);
    const started = performance.now();
    // Node's adapter aborts the request's signal when the client goes away before the answer is written.
    const signal = c.req.raw.signal;
    await next();
    const gone = signal.aborted;
    logger.info(gone ? 'request abandoned by the client' : 'request', {
      requestId: id,
      method: c.req.method,
      path: c.req.path,
      // 499 (nginx's "client closed request"): the answer was never delivered, so no status was sent.
      status: gone ? CLIENT_CLOSED : c.res.status,
      ...(gone ? { clientClosed: true } : {}),
      ms: Math.round(performance.now() - started),
    });
  });

  app.use('*', async (c, next) => {
    if (keyDigests.length === 0 || PUBLIC_PATHS.has(c.req.path) || isConsolePath(c.req.path)) return next();
    const given = c.req.header('x-api-key');
    if (given === undefined || !keyMatches(given, keyDigests)) {
      throw new HttpError('UNAUTHORIZED', 'A valid API key is required in the x-api-key header.');
    }
    return next();
  });

  app.use('*', readBody(maxBodyBytes));

  app.openapi(createSubjectRoute, async (c) => {
    const query = c.req.valid('query');
    const source = sourceOf(c);
    const kind = bodyKind(c);
    let input: { id?: string | undefined; name: string; metadata?: Record<string, string> | undefined };
    let photo: PhotoInput | undefined;
    if (kind === 'json') {
      const body = bodyOf(c, 'json', CreateSubjectJson);
      input = { id: body.id, name: body.name, metadata: body.metadata };
      if (body.image !== undefined) {
        photo = photoInput(decodeBase64(body.image), source, body.takeLargest ?? flag(query.takeLargest));
      }
    } else if (kind === 'form') {
      const form = bodyOf(c, 'form', CreateSubjectForm);
      input = { id: form.id, name: form.name, metadata: form.metadata };
      if (form.image !== undefined) {
        photo = photoInput(
          await blobBytes(form.image),
          fileSource(source, form.image),
          flag(form.takeLargest ?? query.takeLargest),
        );
      }
    } else {
      if (query.name === undefined) {
        throw new HttpError(
          'VALIDATION_ERROR',
          'The query parameter "name" is required with a raw image body.',
        );
      }
      input = { id: query.id, name: query.name };
      photo = photoInput(rawBody(c), source, flag(query.takeLargest));
    }
    const subject = await gallery.createSubject(input, photo);
    c.header('location', `/subjects/${encodeURIComponent(subject.id)}`);
    return c.json(subject, 201);
  });

  app.openapi(addFaceRoute, async (c) => {
    const { id } = c.req.valid('param');
    const query = c.req.valid('query');
    const source = sourceOf(c);
    const kind = bodyKind(c);
    let photo: PhotoInput;
    if (kind === 'json') {
      const body = bodyOf(c, 'json', ImageJson);
      photo = photoInput(decodeBase64(body.image), source, body.takeLargest ?? flag(query.takeLargest));
    } else if (kind === 'form') {
      const form = bodyOf(c, 'form', ImageForm);
      photo = photoInput(
        await blobBytes(form.image),
        fileSource(source, form.image),
        flag(form.takeLargest ?? query.takeLargest),
      );
    } else {
      photo = photoInput(rawBody(c), source, flag(query.takeLargest));
    }
    return c.json(await gallery.addFace(id, photo), 201);
  });

  app.openapi(listSubjectsRoute, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const page = await gallery.listSubjects(limit ?? 50, cursor);
    return c.json({ items: page.items, nextCursor: page.nextCursor ?? null }, 200);
  });

  app.openapi(getSubjectRoute, async (c) => c.json(await gallery.getSubject(c.req.valid('param').id), 200));

  app.openapi(deleteSubjectRoute, async (c) => {
    const erased = await gallery.deleteSubject(c.req.valid('param').id);
    // What was erased, as `faceprint subjects delete` prints it; counts only, so the log keeps no name.
    logger.info('subject erased', {
      requestId: c.get('requestId'),
      templates: erased.templates,
      auditRowsRedacted: erased.auditRowsRedacted,
      filesRemoved: erased.filesRemoved.length,
      filesRedacted: erased.filesRedacted.length,
      ledgerRows: erased.ledgerRows,
      objectVersionsDeleted: erased.objectVersionsDeleted,
      snapshotVersionsDeleted: erased.snapshotVersionsDeleted,
    });
    return c.body(null, 204);
  });

  app.openapi(identifyRoute, async (c) => {
    const { topK, camera } = c.req.valid('query');
    const bytes = await oneImage(c, bodyKind(c));
    // The client's signal: a disconnect stops the analysis within one step instead of running to the end.
    const signal = c.req.raw.signal;
    return c.json(
      await gallery.identify(bytes, {
        source: sourceOf(c),
        signal,
        ...(topK ? { topK } : {}),
        ...(camera ? { camera } : {}),
      }),
      200,
    );
  });

  app.openapi(verifyRoute, async (c) => {
    const kind = bodyKind(c);
    let probe: Uint8Array;
    let against: { image: Uint8Array } | { subjectId: string };
    if (kind === 'json') {
      const body = bodyOf(c, 'json', VerifyJson);
      probe = decodeBase64(body.image);
      against =
        body.otherImage !== undefined
          ? { image: decodeBase64(body.otherImage) }
          : { subjectId: body.subjectId! };
    } else if (kind === 'form') {
      const form = bodyOf(c, 'form', VerifyForm);
      probe = await blobBytes(form.image);
      against =
        form.otherImage !== undefined
          ? { image: await blobBytes(form.otherImage) }
          : { subjectId: form.subjectId! };
    } else {
      throw new HttpError(
        'UNSUPPORTED_MEDIA_TYPE',
        'Verify takes two inputs: send application/json or multipart/form-data.',
      );
    }
    return c.json(await gallery.verify(probe, against, sourceOf(c)), 200);
  });

  app.openapi(detectRoute, async (c) => {
    const result = await gallery.detect(await oneImage(c, bodyKind(c)));
    return c.json(
      {
        width: result.width,
        height: result.height,
        // Named fields only: no embeddings, no crops.
        faces: result.faces.map((f) => ({
          box: f.box,
          landmarks: f.landmarks,
          score: f.score,
          detector: f.detector,
          quality: f.quality,
          pose: f.pose,
        })),
      },
      200,
    );
  });

  if (deps.videos) registerVideoRoutes(app, { videos: deps.videos });
  if (deps.cameras) registerCameraRoutes(app, { cameras: deps.cameras });

  app.openapi(healthRoute, (c) =>
    c.json(
      {
        status: 'ok' as const,
        index: gallery.stats(),
        model: gallery.model,
        calibration: gallery.config.calibration.id,
      },
      200,
    ),
  );

  registerConsoleApiRoutes(app, deps);
  registerConsoleRoutes(app, deps);
  if (deps.followUp) registerUnknownsRoutes(app, deps.followUp);
  if (deps.followUp) registerReviewRoutes(app, deps.followUp, gallery.model);

  let document: unknown;
  app.get('/openapi.json', (c) => {
    document ??= withRequiredBodies(
      app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: {
          title: 'Faceprint',
          version: '1',
          description:
            'Self-hosted face identification: enrol subjects from photos, then identify every face in dark, blurry images.',
        },
      }),
    );
    return c.json(document as object);
  });

  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length > 0) {
      c.header('allow', allowed.join(', '));
      return respond(
        c,
        errorResponse('METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on ${c.req.path}.`),
      );
    }
    return respond(c, errorResponse('NOT_FOUND', `There is no route ${c.req.method} ${c.req.path}.`));
  });

  app.onError((error, c) => {
    // A failure caused by the client leaving (its body stream cut off) is not a server error: the access log
    // records it as abandoned, and nothing goes to the error log.
    if (c.req.raw.signal.aborted) return respond(c, errorResponse('MALFORMED_REQUEST', CLIENT_GONE));
    return respond(
      c,
      toHttpError(error, logger, { requestId: c.get('requestId'), method: c.req.method, path: c.req.path }),
    );
  });

  return app;
}

function respond(c: Context<AppEnv>, response: ReturnType<typeof errorResponse>): Response {
  const id = c.get('requestId');
  if (id) c.header('x-request-id', id);
  return c.json(response.body, response.status);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time in the key: digests have equal length, and every configured key is compared. */
function keyMatches(given: string, digests: Buffer[]): boolean {
  const digest = sha256(given);
  let ok = false;
  for (const d of digests) ok = timingSafeEqual(digest, d) || ok;
  return ok;
}

/** Marks every request body of the document required: readBody refuses empty bodies on every route. */
function withRequiredBodies<D extends object>(document: D): D {
  const paths = (document as { paths?: Record<string, Record<string, unknown>> }).paths ?? {};
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const body = (operation as { requestBody?: { required?: boolean } } | undefined)?.requestBody;
      if (body) body.required = true;
    }
  }
  return document;
}

/** Methods registered for a path, for 405 responses (Hono itself answers 404 for a known path, wrong method). */
function allowedMethods(app: OpenAPIHono<AppEnv>, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === 'ALL') continue;
    const pattern = new RegExp(
      `^${route.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}$`,
    );
    if (pattern.test(path)) methods.add(route.method);
  }
  return [...methods].sort();
}
