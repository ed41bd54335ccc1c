/**
 * The HTTP API's routes as OpenAPI operations (path, method, request and response schemas), plus the helpers
 * that a new route module uses to declare its own: `json`, `errors`, `AUTH`, `COMMON_ERRORS`, `imageBody`.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { HTTP_STATUS } from './errors.ts';
import {
  CreateSubjectForm,
  CreateSubjectJson,
  CreateSubjectQuery,
  DetectResultSchema,
  ErrorSchema,
  HealthSchema,
  IdentifyQuery,
  IdentifyResultSchema,
  IdParams,
  ImageForm,
  ImageJson,
  ListQuery,
  RawImageSchema,
  SubjectPageSchema,
  SubjectViewSchema,
  TakeLargestQuery,
  VerifyForm,
  VerifyJson,
  VerifyResultSchema,
} from './schemas.ts';

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, json(ErrorSchema, errorDescription(s))]));

function errorDescription(status: number): string {
  const codes = Object.entries(HTTP_STATUS)
    .filter(([, s]) => s === status)
    .map(([code]) => code);
  return `Error: ${codes.join(', ')}.`;
}

export const AUTH = [{ ApiKey: [] }];
export const COMMON_ERRORS = [400, 401, 413, 415, 500, 503];

// Not marked `required`: @hono/zod-openapi would then run the JSON validator on multipart bodies too. Every POST
// body is required all the same (readBody refuses empty ones), and the document says so (see withRequiredBodies).
export const imageBody = <J extends z.ZodType, F extends z.ZodType>(jsonSchema: J, formSchema: F) => ({
  content: {
    'application/json': { schema: jsonSchema },
    'multipart/form-data': { schema: formSchema },
    'image/*': { schema: RawImageSchema },
    'application/octet-stream': { schema: RawImageSchema },
  },
});

export const createSubjectRoute = createRoute({
  method: 'post',
  path: '/subjects',
  summary: 'Create a subject, optionally with a first photo',
  description:
    'JSON (`image` base64), multipart/form-data (`image` file, `metadata` as a JSON string) or a raw image body with `?name=`.',
  security: AUTH,
  request: { query: CreateSubjectQuery, body: imageBody(CreateSubjectJson, CreateSubjectForm) },
  responses: { 201: json(SubjectViewSchema, 'The new subject.'), ...errors(...COMMON_ERRORS, 409, 422) },
});

export const addFaceRoute = createRoute({
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

export const listSubjectsRoute = createRoute({
  method: 'get',
  path: '/subjects',
  summary: 'List subjects, oldest first',
  security: AUTH,
  request: { query: ListQuery },
  responses: { 200: json(SubjectPageSchema, 'One page of subjects.'), ...errors(400, 401, 500) },
});

export const getSubjectRoute = createRoute({
  method: 'get',
  path: '/subjects/{id}',
  summary: 'A subject with summaries of its templates',
  security: AUTH,
  request: { params: IdParams },
  responses: { 200: json(SubjectViewSchema, 'The subject.'), ...errors(400, 401, 404, 500) },
});

export const deleteSubjectRoute = createRoute({
  method: 'delete',
  path: '/subjects/{id}',
  summary: 'Delete a subject, its templates and index entries',
  security: AUTH,
  request: { params: IdParams },
  responses: { 204: { description: 'Deleted.' }, ...errors(400, 401, 404, 500) },
});

export const identifyRoute = createRoute({
  method: 'post',
  path: '/identify',
  summary: 'Identify every face in an image (open set)',
  security: AUTH,
  request: {
    query: IdentifyQuery,
    body: imageBody(ImageJson.pick({ image: true }), ImageForm.pick({ image: true })),
  },
  responses: {
    200: json(IdentifyResultSchema, 'Every face with its decision.'),
    ...errors(...COMMON_ERRORS, 404, 422),
  },
});

export const verifyRoute = createRoute({
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

export const detectRoute = createRoute({
  method: 'post',
  path: '/detect',
  summary: 'Detect faces (boxes, landmarks, quality; no embeddings)',
  security: AUTH,
  request: { body: imageBody(ImageJson.pick({ image: true }), ImageForm.pick({ image: true })) },
  responses: { 200: json(DetectResultSchema, 'Every face.'), ...errors(...COMMON_ERRORS, 422) },
});

export const healthRoute = createRoute({
  method: 'get',
  path: '/health',
  summary: 'Liveness, index size, model and calibration (no API key needed)',
  responses: { 200: json(HealthSchema, 'The service is up.') },
});

// ---------------------------------------------------------------------------------------------------------------
// The app.
