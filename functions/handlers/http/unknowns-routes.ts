/**
 * Routes of unknown persons: list, show, a sighting's crop, promote to a subject, merge, split and delete.
 * Same authentication as every route (the app's API-key middleware runs first).
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { SubjectView } from '../../core/gallery/service.ts';
import type { ReviewService } from '../../core/review/service.ts';
import type { UnknownsService } from '../../core/unknowns/service.ts';
import { bodyKind } from './bodies.ts';
import type { AppEnv } from './env.ts';
import { HttpError } from './errors.ts';
import {
  JpegSchema,
  MergeJson,
  PromoteJson,
  SightingParams,
  SplitJson,
  UnknownIdParams,
  UnknownListQuery,
  UnknownPageSchema,
  UnknownViewSchema,
} from './follow-up-schemas.ts';
import { AUTH, errors, json } from './routes.ts';
import { SubjectViewSchema } from './schemas.ts';

/** What these routes (and the review routes) need. */
export interface FollowUpRouteDeps {
  unknowns: UnknownsService;
  reviews: ReviewService;
  promote(id: string, input: { name: string; id?: string | undefined }): Promise<SubjectView>;
}

const jsonBody = <T>(schema: T) => ({ content: { 'application/json': { schema } } });

/** Refuses a POST body that is not JSON before the validator reads it. */
export function requireJson(c: Context<AppEnv>): void {
  if (bodyKind(c) !== 'json') {
    throw new HttpError('UNSUPPORTED_MEDIA_TYPE', 'Send this request as application/json.');
  }
}

const listRoute = createRoute({
  method: 'get',
  path: '/unknowns',
  summary: 'Unknown persons (faces seen at least twice that match no subject)',
  security: AUTH,
  request: { query: UnknownListQuery },
  responses: { 200: json(UnknownPageSchema, 'One page of unknown persons.'), ...errors(400, 401, 500) },
});

const showRoute = createRoute({
  method: 'get',
  path: '/unknowns/{id}',
  summary: 'An unknown person with its sightings, newest first',
  security: AUTH,
  request: { params: UnknownIdParams },
  responses: { 200: json(UnknownViewSchema, 'The unknown person.'), ...errors(400, 401, 404, 409, 500) },
});

const cropRoute = createRoute({
  method: 'get',
  path: '/unknowns/{id}/sightings/{sightingId}/crop',
  summary: "A sighting's aligned face crop",
  security: AUTH,
  request: { params: SightingParams },
  responses: {
    200: { description: 'The crop.', content: { 'image/jpeg': { schema: JpegSchema } } },
    ...errors(400, 401, 404, 409, 500),
  },
});

const promoteRoute = createRoute({
  method: 'post',
  path: '/unknowns/{id}/promote',
  summary: 'Enrol an unknown person as a subject (its best faces); its sightings are then erased',
  security: AUTH,
  request: { params: UnknownIdParams, body: jsonBody(PromoteJson) },
  responses: { 201: json(SubjectViewSchema, 'The new subject.'), ...errors(400, 401, 404, 409, 415, 500) },
});

const mergeRoute = createRoute({
  method: 'post',
  path: '/unknowns/{id}/merge',
  summary: 'Merge this unknown person into another',
  security: AUTH,
  request: { params: UnknownIdParams, body: jsonBody(MergeJson) },
  responses: {
    200: json(UnknownViewSchema, 'The person merged into.'),
    ...errors(400, 401, 404, 409, 415, 500),
  },
});

const splitRoute = createRoute({
  method: 'post',
  path: '/unknowns/{id}/split',
  summary: 'Move some sightings of this person into a new unknown person',
  security: AUTH,
  request: { params: UnknownIdParams, body: jsonBody(SplitJson) },
  responses: { 201: json(UnknownViewSchema, 'The new person.'), ...errors(400, 401, 404, 409, 415, 500) },
});

const deleteRoute = createRoute({
  method: 'delete',
  path: '/unknowns/{id}',
  summary: 'Dismiss an unknown person: its sightings, crops and embeddings are erased',
  security: AUTH,
  request: { params: UnknownIdParams },
  responses: { 204: { description: 'Deleted.' }, ...errors(400, 401, 404, 500) },
});

/** Registers the unknown-person routes on the app. */
export function registerUnknownsRoutes(app: OpenAPIHono<AppEnv>, deps: FollowUpRouteDeps): void {
  const { unknowns } = deps;
  app.openapi(listRoute, async (c) => {
    const { sort, limit, cursor } = c.req.valid('query');
    const page = await unknowns.list(sort ?? 'recent', limit ?? 50, cursor);
    return c.json({ items: page.items, nextCursor: page.nextCursor ?? null }, 200);
  });
  app.openapi(showRoute, async (c) => c.json(await unknowns.show(c.req.valid('param').id), 200));
  app.openapi(cropRoute, async (c) => {
    const { id, sightingId } = c.req.valid('param');
    const crop = await unknowns.crop(id, sightingId);
    return c.body(Buffer.from(crop), 200, { 'content-type': 'image/jpeg', 'cache-control': 'no-store' });
  });
  app.openapi(promoteRoute, async (c) => {
    requireJson(c);
    const { id } = c.req.valid('param');
    const subject = await deps.promote(id, c.req.valid('json'));
    c.header('location', `/subjects/${encodeURIComponent(subject.id)}`);
    return c.json(subject, 201);
  });
  app.openapi(mergeRoute, async (c) => {
    requireJson(c);
    return c.json(await unknowns.merge(c.req.valid('param').id, c.req.valid('json').into), 200);
  });
  app.openapi(splitRoute, async (c) => {
    requireJson(c);
    return c.json(await unknowns.split(c.req.valid('param').id, c.req.valid('json').sightings), 201);
  });
  app.openapi(deleteRoute, async (c) => {
    await unknowns.delete(c.req.valid('param').id);
    return c.body(null, 204);
  });
}
