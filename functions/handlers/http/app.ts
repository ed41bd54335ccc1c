import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { GalleryService, PhotoInput } from '../../core/gallery/service.ts';
import { EMBEDDING_MODEL } from '../../core/pipeline/pipeline.ts';
import {
  type ErrorLogger,
  errorResponse,
  HTTP_STATUS,
  HttpError,
  type HttpErrorCode,
  toHttpError,
  validationMessage,
} from './errors.ts';

/** Where the app writes its access log and its server-side errors; `console` fits. */
export interface HttpLogger extends ErrorLogger {
  info(message: string, ...extra: unknown[]): void;
}

/** What the HTTP app needs: the gallery, and how to guard it. */
export interface AppDeps {
  gallery: GalleryService;
  /** When non-empty, every route but /health and /openapi.json requires one of these in `x-api-key`. */
  apiKeys?: string[] | undefined;
  /** Largest accepted request body (default 20 MiB). */
  maxBodyBytes?: number | undefined;
  logger?: HttpLogger | undefined;
}

/** Default {@link AppDeps.maxBodyBytes}: a large phone photo, base64-encoded, fits. */
export const DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024;

type AppEnv = { Variables: { requestId: string; body: Uint8Array | undefined } };

// ---------------------------------------------------------------------------------------------------------------
// Schemas: they validate the requests and generate the OpenAPI document, so the two cannot disagree.

const SUBJECT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A subject id: safe as a file name, a DynamoDB key and a URL path segment. */
export const SubjectIdSchema = z
  .string()
  .regex(SUBJECT_ID, 'must be 1 to 128 letters, digits, "_", "." or "-", starting with a letter or digit')
  .refine((id) => !id.includes('..'), 'must not contain ".."')
  .openapi({
    description: 'Subject id: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`, never containing `..`.',
    example: 'jane-doe',
  });

// \p{Cc}: C0 and C1 control characters (NUL, newline, escape, …) have no place in a display name.
const NameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters')
  .regex(/\S/, 'must not be blank')
  .openapi({ description: 'Display name, 1 to 200 characters.', example: 'Jane Doe' });

const MetadataSchema = z
  .record(
    z
      .string()
      .min(1, 'keys must not be empty')
      .max(100, 'keys must be at most 100 characters')
      // Assigning it would set the object's prototype instead of a key.
      .refine((k) => k !== '__proto__', 'keys must not be "__proto__"'),
    z.string().max(2000, 'values must be at most 2,000 characters'),
  )
  .refine((m) => Object.keys(m).length <= 50, 'may hold at most 50 keys')
  .openapi({
    description: 'Free-form string-to-string metadata, at most 50 keys.',
    example: { badge: '1234' },
  });

// A multipart field is a string: the same metadata, JSON-encoded.
const MetadataJsonSchema = z
  .string()
  .transform((text, ctx): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of strings' });
      return z.NEVER;
    }
  })
  .pipe(MetadataSchema)
  .openapi({ type: 'string', description: 'Metadata as a JSON object of strings, at most 50 keys.' });

// Strict alphabet, no whitespace, at most two padding characters; a length of 4n+1 cannot be base64.
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const Base64ImageSchema = z
  .string()
  .min(2, 'must be a non-empty base64-encoded image')
  .refine((s) => BASE64.test(s) && s.length % 4 !== 1 && (!s.endsWith('=') || s.length % 4 === 0), {
    message: 'must be a base64-encoded image (standard alphabet, no data: prefix)',
  })
  .openapi({ description: 'The image file (JPEG, PNG, WebP, …), base64-encoded.' });

const ImageFileSchema = z
  .custom<Blob>((v) => v instanceof Blob && v.size > 0, 'must be a non-empty image file')
  .openapi({ type: 'string', format: 'binary', description: 'The image file (JPEG, PNG, WebP, …).' });

const RawImageSchema = z
  .string()
  .openapi({ type: 'string', format: 'binary', description: 'The image file itself.' });

const BooleanFieldSchema = z.enum(['true', 'false']).openapi({ description: '`true` or `false`.' });

const TakeLargestJson = z.boolean().optional().openapi({
  description:
    'When the photo shows several faces, enrol the largest instead of refusing with MULTIPLE_FACES.',
});

const CreateSubjectJson = z
  .object({
    name: NameSchema,
    id: SubjectIdSchema.optional(),
    metadata: MetadataSchema.optional(),
    image: Base64ImageSchema.optional(),
    takeLargest: TakeLargestJson,
  })
  .openapi('CreateSubjectJson');

const CreateSubjectForm = z
  .object({
    name: NameSchema,
    id: SubjectIdSchema.optional(),
    metadata: MetadataJsonSchema.optional(),
    image: ImageFileSchema.optional(),
    takeLargest: BooleanFieldSchema.optional(),
  })
  .openapi('CreateSubjectForm');

const ImageJson = z.object({ image: Base64ImageSchema, takeLargest: TakeLargestJson }).openapi('ImageJson');
const ImageForm = z
  .object({ image: ImageFileSchema, takeLargest: BooleanFieldSchema.optional() })
  .openapi('ImageForm');

const exactlyOneTarget = (v: { otherImage?: unknown; subjectId?: unknown }) =>
  (v.otherImage === undefined) !== (v.subjectId === undefined);
const ONE_TARGET = { message: 'give exactly one of otherImage and subjectId' };

const VerifyJson = z
  .object({
    image: Base64ImageSchema,
    otherImage: Base64ImageSchema.optional(),
    subjectId: SubjectIdSchema.optional(),
  })
  .refine(exactlyOneTarget, ONE_TARGET)
  .openapi('VerifyJson');

const VerifyForm = z
  .object({
    image: ImageFileSchema,
    otherImage: ImageFileSchema.optional(),
    subjectId: SubjectIdSchema.optional(),
  })
  .refine(exactlyOneTarget, ONE_TARGET)
  .openapi('VerifyForm');

const IdParams = z.object({ id: SubjectIdSchema.openapi({ param: { name: 'id', in: 'path' } }) });

const TakeLargestQuery = BooleanFieldSchema.optional().openapi({
  param: { name: 'takeLargest', in: 'query' },
  description: 'Enrol the largest face when the photo shows several (any body form).',
});

const CreateSubjectQuery = z.object({
  name: NameSchema.optional().openapi({
    param: { name: 'name', in: 'query' },
    description: 'The name, required with a raw image body.',
  }),
  id: SubjectIdSchema.optional().openapi({ param: { name: 'id', in: 'query' } }),
  takeLargest: TakeLargestQuery,
});

const TopKQuery = z.object({
  topK: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .optional()
    .openapi({
      param: { name: 'topK', in: 'query' },
      description: 'Candidates returned per face (default 5).',
    }),
});

const ListQuery = z.object({
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(500, 'must be at most 500')
    .optional()
    .openapi({ param: { name: 'limit', in: 'query' }, description: 'Page size (default 50).' }),
  cursor: z
    .string()
    .min(1)
    .max(2048)
    .optional()
    .openapi({
      param: { name: 'cursor', in: 'query' },
      description: 'The `nextCursor` of the previous page.',
    }),
});

const BoxSchema = z
  .object({ x: z.number(), y: z.number(), width: z.number(), height: z.number() })
  .openapi('Box');
const PointSchema = z.object({ x: z.number(), y: z.number() });
const LandmarksSchema = z
  .object({
    leftEye: PointSchema,
    rightEye: PointSchema,
    nose: PointSchema,
    mouthLeft: PointSchema,
    mouthRight: PointSchema,
  })
  .openapi('Landmarks');
const QualitySchema = z
  .object({
    score: z.number(),
    reasons: z.array(z.string()),
    brightness: z.number(),
    contrast: z.number(),
    sharpness: z.number(),
    interOcularPx: z.number(),
    detectionScore: z.number(),
    yaw: z.number(),
    pitch: z.number(),
    roll: z.number(),
  })
  .openapi('FaceQuality');
const ModelSchema = z.object({ id: z.string(), version: z.string() }).openapi('Model');

const SubjectSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    metadata: z.record(z.string(), z.string()),
    createdAt: z.string(),
  })
  .openapi('Subject');
const SubjectViewSchema = SubjectSchema.extend({
  templates: z.array(
    z.object({
      id: z.string(),
      variant: z.enum(['original', 'dark', 'blur', 'lowres', 'jpeg', 'mirror']),
      source: z.string(),
      quality: QualitySchema,
      createdAt: z.string(),
    }),
  ),
}).openapi('SubjectView');
const SubjectPageSchema = z
  .object({ items: z.array(SubjectSchema), nextCursor: z.string().nullable() })
  .openapi('SubjectPage');

const CandidateSchema = z
  .object({
    subjectId: z.string(),
    similarity: z.number(),
    templateId: z.string(),
    name: z.string().optional(),
  })
  .openapi('Candidate');
const DecisionSchema = z
  .object({
    kind: z.enum(['match', 'unknown', 'ambiguous']),
    subjectId: z.string().optional(),
    subjectName: z.string().optional(),
    similarity: z.number(),
    threshold: z.number(),
    margin: z.number(),
    confidence: z.number(),
    candidates: z.array(CandidateSchema),
  })
  .openapi('Decision');
const IdentifyResultSchema = z
  .object({
    width: z.number(),
    height: z.number(),
    faces: z.array(
      z.object({
        box: BoxSchema,
        landmarks: LandmarksSchema,
        quality: QualitySchema,
        enhanced: z.boolean(),
        decision: DecisionSchema,
        candidates: z.array(CandidateSchema),
      }),
    ),
    calibration: z.string(),
    model: ModelSchema,
  })
  .openapi('IdentifyResult');
const VerifyResultSchema = z
  .object({
    match: z.boolean(),
    similarity: z.number(),
    threshold: z.number(),
    confidence: z.number(),
    faces: z.array(z.object({ box: BoxSchema, quality: QualitySchema })),
    subjectId: z.string().optional(),
  })
  .openapi('VerifyResult');
const DetectResultSchema = z
  .object({
    width: z.number(),
    height: z.number(),
    faces: z.array(
      z.object({
        box: BoxSchema,
        landmarks: LandmarksSchema,
        score: z.number(),
        detector: z.string(),
        quality: QualitySchema,
        pose: z.object({ yaw: z.number(), pitch: z.number(), roll: z.number() }),
      }),
    ),
  })
  .openapi('DetectResult');
const HealthSchema = z
  .object({
    status: z.literal('ok'),
    index: z.object({ templates: z.number(), subjects: z.number(), kernel: z.string() }),
    model: ModelSchema,
    calibration: z.string(),
  })
  .openapi('Health');
const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(HTTP_STATUS) as [HttpErrorCode, ...HttpErrorCode[]]),
      message: z.string(),
    }),
  })
  .openapi('Error');

// ---------------------------------------------------------------------------------------------------------------
// Routes.

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, json(ErrorSchema, errorDescription(s))]));

function errorDescription(status: number): string {
  const codes = Object.entries(HTTP_STATUS)
    .filter(([, s]) => s === status)
    .map(([code]) => code);
  return `Error: ${codes.join(', ')}.`;
}

const AUTH = [{ ApiKey: [] }];
const COMMON_ERRORS = [400, 401, 413, 415, 500, 503];

// Not marked `required`: @hono/zod-openapi would then run the JSON validator on multipart bodies too. Every POST
// body is required all the same (readBody refuses empty ones), and the document says so (see withRequiredBodies).
const imageBody = <J extends z.ZodType, F extends z.ZodType>(jsonSchema: J, formSchema: F) => ({
  content: {
    'application/json': { schema: jsonSchema },
    'multipart/form-data': { schema: formSchema },
    'image/*': { schema: RawImageSchema },
    'application/octet-stream': { schema: RawImageSchema },
  },
});

const createSubjectRoute = createRoute({
  method: 'post',
  path: '/subjects',
  summary: 'Create a subject, optionally with a first photo',
  description:
    'JSON (`image` base64), multipart/form-data (`image` file, `metadata` as a JSON string) or a raw image body with `?name=`.',
  security: AUTH,
  request: { query: CreateSubjectQuery, body: imageBody(CreateSubjectJson, CreateSubjectForm) },
  responses: { 201: json(SubjectViewSchema, 'The new subject.'), ...errors(...COMMON_ERRORS, 409, 422) },
});

const addFaceRoute = createRoute({
  method: 'post',
  path: '/subjects/{id}/faces',
  summary: 'Add a photo to a subject',
  security: AUTH,
  request: {
    params: IdParams,
    query: z.object({ takeLargest: TakeLargestQuery }),
    body: imageBody(ImageJson, ImageForm),
  },
  responses: {
    201: json(SubjectViewSchema, 'The subject with its templates.'),
    ...errors(...COMMON_ERRORS, 404, 422),
  },
});

const listSubjectsRoute = createRoute({
  method: 'get',
  path: '/subjects',
  summary: 'List subjects, oldest first',
  security: AUTH,
  request: { query: ListQuery },
  responses: { 200: json(SubjectPageSchema, 'One page of subjects.'), ...errors(400, 401, 500) },
});

const getSubjectRoute = createRoute({
  method: 'get',
  path: '/subjects/{id}',
  summary: 'A subject with summaries of its templates',
  security: AUTH,
  request: { params: IdParams },
  responses: { 200: json(SubjectViewSchema, 'The subject.'), ...errors(400, 401, 404, 500) },
});

const deleteSubjectRoute = createRoute({
  method: 'delete',
  path: '/subjects/{id}',
  summary: 'Delete a subject, its templates and index entries',
  security: AUTH,
  request: { params: IdParams },
  responses: { 204: { description: 'Deleted.' }, ...errors(400, 401, 404, 500) },
});

const identifyRoute = createRoute({
  method: 'post',
  path: '/identify',
  summary: 'Identify every face in an image (open set)',
  security: AUTH,
  request: {
    query: TopKQuery,
    body: imageBody(ImageJson.pick({ image: true }), ImageForm.pick({ image: true })),
  },
  responses: {
    200: json(IdentifyResultSchema, 'Every face with its decision.'),
    ...errors(...COMMON_ERRORS, 422),
  },
});

const verifyRoute = createRoute({
  method: 'post',
  path: '/verify',
  summary: 'Verify the largest face of an image against another image or an enrolled subject (1:1)',
  security: AUTH,
  request: {
    body: {
      content: { 'application/json': { schema: VerifyJson }, 'multipart/form-data': { schema: VerifyForm } },
    },
  },
  responses: { 200: json(VerifyResultSchema, 'Same person or not.'), ...errors(...COMMON_ERRORS, 404, 422) },
});

const detectRoute = createRoute({
  method: 'post',
  path: '/detect',
  summary: 'Detect faces (boxes, landmarks, quality; no embeddings)',
  security: AUTH,
  request: { body: imageBody(ImageJson.pick({ image: true }), ImageForm.pick({ image: true })) },
  responses: { 200: json(DetectResultSchema, 'Every face.'), ...errors(...COMMON_ERRORS, 422) },
});

const healthRoute = createRoute({
  method: 'get',
  path: '/health',
  summary: 'Liveness, index size, model and calibration (no API key needed)',
  responses: { 200: json(HealthSchema, 'The service is up.') },
});

// ---------------------------------------------------------------------------------------------------------------
// The app.

const PUBLIC_PATHS = new Set(['/health', '/openapi.json']);
const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/;
const FORM_MEDIA = new Set(['multipart/form-data', 'application/x-www-form-urlencoded']);
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
  const keyDigests = (deps.apiKeys ?? []).filter((k) => k.length > 0).map(sha256);

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
    await next();
    logger.info('request', {
      requestId: id,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  });

  app.use('*', async (c, next) => {
    if (keyDigests.length === 0 || PUBLIC_PATHS.has(c.req.path)) return next();
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
    await gallery.deleteSubject(c.req.valid('param').id);
    return c.body(null, 204);
  });

  app.openapi(identifyRoute, async (c) => {
    const { topK } = c.req.valid('query');
    const bytes = await oneImage(c, bodyKind(c));
    return c.json(await gallery.identify(bytes, { source: sourceOf(c), ...(topK ? { topK } : {}) }), 200);
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

  app.openapi(healthRoute, (c) =>
    c.json(
      {
        status: 'ok' as const,
        index: gallery.stats(),
        model: EMBEDDING_MODEL,
        calibration: gallery.config.calibration.id,
      },
      200,
    ),
  );

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

  app.onError((error, c) =>
    respond(
      c,
      toHttpError(error, logger, { requestId: c.get('requestId'), method: c.req.method, path: c.req.path }),
    ),
  );

  return app;
}

function respond(c: Context<AppEnv>, response: ReturnType<typeof errorResponse>): Response {
  const id = c.get('requestId');
  if (id) c.header('x-request-id', id);
  return c.json(response.body, response.status);
}

/**
 * Reads every POST body up front, bounded: a declared Content-Length over the limit is refused before reading,
 * and a body without one (chunked) is cut off as soon as it passes the limit. Empty bodies and malformed JSON
 * are refused here too, so the routes only ever see a complete, parseable body.
 */
function readBody(maxBytes: number): MiddlewareHandler<AppEnv> {
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

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

type BodyKind = 'json' | 'form' | 'raw';

/** Which of the three body forms a request uses (the route's media-type gate has already refused the rest). */
function bodyKind(c: Context<AppEnv>): BodyKind {
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
async function oneImage(c: Context<AppEnv>, kind: BodyKind): Promise<Uint8Array> {
  if (kind === 'raw') return rawBody(c);
  if (kind === 'json') return decodeBase64(bodyOf(c, 'json', ImageJson).image);
  return blobBytes(bodyOf(c, 'form', ImageForm).image);
}

/**
 * The validated body of the form that was sent. @hono/zod-openapi types `valid('json')` as the union of every
 * declared media type's schema; at run time each validator only runs on its own media type, so narrow it here.
 */
function bodyOf<S extends z.ZodType>(c: Context<AppEnv>, target: 'json' | 'form', _schema: S): z.output<S> {
  return (c.req as unknown as { valid(target: 'json' | 'form'): z.output<S> }).valid(target);
}

function rawBody(c: Context<AppEnv>): Uint8Array {
  const body = c.get('body');
  if (!body) throw new HttpError('VALIDATION_ERROR', 'The request body is empty.');
  return body;
}

function decodeBase64(text: string): Uint8Array {
  return Buffer.from(text, 'base64');
}

async function blobBytes(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

/** A photo from a request; errors about it say "the photo", never the internal source id. */
function photoInput(bytes: Uint8Array, source: string, takeLargest: boolean | undefined): PhotoInput {
  return { label: 'the photo', bytes, source, takeLargest };
}

function sourceOf(c: Context<AppEnv>): string {
  return `http:${c.get('requestId')}`;
}

/** `http:<request-id>/<file name>` for an uploaded file: the name helps whoever reads the record later. */
function fileSource(source: string, blob: Blob): string {
  const name = blob instanceof File ? blob.name.replace(/[^\w.-]+/g, '_').slice(0, 100) : '';
  return name ? `${source}/${name}` : source;
}

function flag(value: 'true' | 'false' | undefined): boolean | undefined {
  return value === undefined ? undefined : value === 'true';
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

function describeBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${n} bytes`;
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
