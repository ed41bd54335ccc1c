/**
 * Read-only routes the web console needs beyond the gallery's: recent decisions from the audit log
 * (`GET /decisions`, filtered by decision, operation, source/camera and time), a subject's enrolment
 * thumbnails (the aligned face the gallery holds, JPEG), and the settings in use (`GET /settings`:
 * calibration and thresholds). Every one needs the API key like the rest of the API.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import {
  DecisionPageSchema,
  DecisionsQuery,
  JpegSchema,
  SettingsSchema,
  TemplateParams,
} from './console-api-schemas.ts';
import type { AppDeps, AppEnv } from './env.ts';
import { HttpError } from './errors.ts';
import { AUTH, errors, json } from './routes.ts';
import { IdParams } from './schemas.ts';

const jpeg = (description: string) => ({
  description,
  content: { 'image/jpeg': { schema: JpegSchema } },
});

export const listDecisionsRoute = createRoute({
  method: 'get',
  path: '/decisions',
  summary: 'Recent decisions from the audit log, newest first, filtered',
  description:
    'Every face decision of identify, verify, S3 or upload-folder ingest and video, with its evidence. A page reads at most 2,000 log rows: it may hold fewer than `limit` items while `nextCursor` is set.',
  security: AUTH,
  request: { query: DecisionsQuery },
  responses: { 200: json(DecisionPageSchema, 'One page of decisions.'), ...errors(400, 401, 500) },
});

export const subjectThumbnailRoute = createRoute({
  method: 'get',
  path: '/subjects/{id}/thumbnail',
  summary: "The subject's enrolment face (first photo), as a small JPEG",
  security: AUTH,
  request: { params: IdParams },
  responses: { 200: jpeg('The aligned face crop.'), ...errors(400, 401, 404, 500) },
});

export const templateThumbnailRoute = createRoute({
  method: 'get',
  path: '/subjects/{id}/templates/{templateId}/thumbnail',
  summary: 'The enrolment face of one photo (its original template), as a small JPEG',
  security: AUTH,
  request: { params: TemplateParams },
  responses: { 200: jpeg('The aligned face crop.'), ...errors(400, 401, 404, 500) },
});

export const settingsRoute = createRoute({
  method: 'get',
  path: '/settings',
  summary: 'The calibration and decision settings in use',
  security: AUTH,
  responses: {
    200: json(SettingsSchema, 'Calibration, thresholds, enrolment quality floor.'),
    ...errors(401),
  },
});

/** Registers `GET /decisions`, the thumbnail routes and `GET /settings` on the app. */
export function registerConsoleApiRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { gallery } = deps;

  app.openapi(listDecisionsRoute, async (c) => {
    const { limit, cursor, ...filter } = c.req.valid('query');
    const page = await gallery.listDecisions(filter, { limit: limit ?? 50, cursor });
    return c.json({ items: page.items, nextCursor: page.nextCursor ?? null }, 200);
  });

  const sendJpeg = (bytes: Uint8Array | undefined, what: string) => {
    if (!bytes) throw new HttpError('NOT_FOUND', `${what} has no enrolment thumbnail.`);
    return new Response(bytes, {
      status: 200,
      // Biometric data: never kept by a shared cache, nor by the browser beyond this page.
      headers: { 'content-type': 'image/jpeg', 'cache-control': 'private, no-store' },
    });
  };

  app.openapi(subjectThumbnailRoute, async (c) => {
    const { id } = c.req.valid('param');
    return sendJpeg(await gallery.thumbnail(id), `Subject "${id}"`) as never;
  });

  app.openapi(templateThumbnailRoute, async (c) => {
    const { id, templateId } = c.req.valid('param');
    return sendJpeg(
      await gallery.thumbnail(id, templateId),
      `Template "${templateId}" of subject "${id}"`,
    ) as never;
  });

  app.openapi(settingsRoute, (c) =>
    c.json(
      {
        calibration: gallery.config.calibration,
        minEnrolQuality: gallery.config.minEnrolQuality,
        topK: gallery.config.topK,
        variants: [...gallery.config.variants],
        model: gallery.model,
      },
      200,
    ),
  );
}
