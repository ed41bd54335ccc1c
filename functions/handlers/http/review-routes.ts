/** Routes of the review queue: list, show, the probe's crop, and the verdict (confirm or reject). */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { ModelRef } from '../../core/types.ts';
import type { AppEnv } from './env.ts';
import {
  JpegSchema,
  ReviewIdParams,
  ReviewListQuery,
  ReviewPageSchema,
  ReviewSchema,
  VerdictJson,
} from './follow-up-schemas.ts';
import { AUTH, errors, json } from './routes.ts';
import { type FollowUpRouteDeps, requireJson } from './unknowns-routes.ts';

const listRoute = createRoute({
  method: 'get',
  path: '/reviews',
  summary: 'Decisions in the review queue, newest first',
  security: AUTH,
  request: { query: ReviewListQuery },
  responses: { 200: json(ReviewPageSchema, 'One page of reviews.'), ...errors(400, 401, 500) },
});

const showRoute = createRoute({
  method: 'get',
  path: '/reviews/{id}',
  summary: 'One review',
  security: AUTH,
  request: { params: ReviewIdParams },
  responses: { 200: json(ReviewSchema, 'The review.'), ...errors(400, 401, 404, 500) },
});

const cropRoute = createRoute({
  method: 'get',
  path: '/reviews/{id}/crop',
  summary: "The probe face's aligned crop",
  security: AUTH,
  request: { params: ReviewIdParams },
  responses: {
    200: { description: 'The crop.', content: { 'image/jpeg': { schema: JpegSchema } } },
    ...errors(400, 401, 404, 500),
  },
});

const settleRoute = createRoute({
  method: 'post',
  path: '/reviews/{id}',
  summary: 'Confirm or reject a pending decision (a rejection is kept as a negative of the subject)',
  security: AUTH,
  request: { params: ReviewIdParams, body: { content: { 'application/json': { schema: VerdictJson } } } },
  responses: {
    200: json(ReviewSchema, 'The settled review.'),
    ...errors(400, 401, 404, 409, 415, 500),
  },
});

/** Registers the review routes on the app; `model` is the selected pack's space, which a negative records. */
export function registerReviewRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: FollowUpRouteDeps,
  model: ModelRef,
): void {
  const { reviews } = deps;
  app.openapi(listRoute, async (c) => {
    const { status, limit, cursor } = c.req.valid('query');
    const page = await reviews.list(status, limit ?? 50, cursor);
    return c.json({ items: page.items, nextCursor: page.nextCursor ?? null }, 200);
  });
  app.openapi(showRoute, async (c) => c.json(await reviews.get(c.req.valid('param').id), 200));
  app.openapi(cropRoute, async (c) => {
    const crop = await reviews.crop(c.req.valid('param').id);
    return c.body(Buffer.from(crop), 200, { 'content-type': 'image/jpeg', 'cache-control': 'no-store' });
  });
  app.openapi(settleRoute, async (c) => {
    requireJson(c);
    const review = await reviews.settle(c.req.valid('param').id, c.req.valid('json'), model);
    return c.json(review, 200);
  });
}
