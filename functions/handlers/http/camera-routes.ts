/**
 * Camera routes (local mode): configured cameras and their camera-matched templates. `PUT /cameras/{id}` with the
 * camera's settings configures it and backfills a template per kept enrolment photo (an identify call with
 * `?camera=<id>` then also searches them); `GET` lists or shows; `DELETE` removes a camera and its templates.
 * Estimating settings from a camera's images is `faceprint camera add <id> <image…>` (CLI).
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { parseCameraSettings } from '../../core/camera/profile.ts';
import type { CameraGallery } from '../../core/camera/service.ts';
import { CAMERA_NAME_PATTERN } from '../../core/domain.ts';
import type { AppEnv } from './env.ts';
import { AUTH, errors, json } from './routes.ts';
import { requireJson } from './unknowns-routes.ts';

const CameraIdParams = z.object({
  id: z
    .string()
    .regex(
      CAMERA_NAME_PATTERN,
      'must be 1–64 letters, digits, "_", "." or "-", starting with a letter or digit',
    )
    .openapi({
      param: { name: 'id', in: 'path' },
      description: 'The camera id identify calls name (`?camera=`).',
    }),
});

const SettingsSchema = z
  .object({
    faceBrightness: z
      .number()
      .nullable()
      .openapi({ description: 'Mean luma of its faces, 0–255 (null: as enrolled).' }),
    noise: z.number().openapi({ description: 'Sensor noise σ in grey levels.' }),
    blur: z.number().openapi({ description: 'Gaussian blur σ in px at the camera’s face size.' }),
    jpegQuality: z.number().nullable().openapi({ description: 'JPEG quality 1–100 (null: not compressed).' }),
    interOcularPx: z
      .number()
      .nullable()
      .openapi({ description: 'Median inter-ocular distance of its faces in px.' }),
  })
  .openapi('CameraSettings');

const SettingsInput = z
  .object({
    faceBrightness: z.number().nullable().optional(),
    noise: z.number().optional(),
    blur: z.number().optional(),
    jpegQuality: z.number().nullable().optional(),
    interOcularPx: z.number().nullable().optional(),
  })
  .openapi('CameraSettingsInput', {
    description:
      'Missing fields are neutral (no change). Ranges: faceBrightness 1–255, noise 0–64, blur 0–20, jpegQuality 1–100, interOcularPx 4–1000.',
  });

const CameraSchema = z
  .object({
    id: z.string(),
    settings: SettingsSchema,
    provenance: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'How the settings were made (`method`: user | estimated).' }),
    createdAt: z.string(),
    updatedAt: z.string(),
    templates: z.number().int().openapi({ description: 'Camera-matched templates stored for this camera.' }),
  })
  .openapi('Camera');

const BackfillSchema = z
  .object({
    camera: z.string(),
    photos: z.number().int(),
    made: z.number().int(),
    skipped: z.number().int(),
    failed: z.array(z.object({ subjectId: z.string(), photoId: z.string(), reason: z.string() })),
  })
  .openapi('CameraBackfill');

const listRoute = createRoute({
  method: 'get',
  path: '/cameras',
  summary: 'Configured cameras',
  security: AUTH,
  responses: {
    200: json(z.object({ items: z.array(CameraSchema) }), 'Every configured camera.'),
    ...errors(401, 500),
  },
});

const showRoute = createRoute({
  method: 'get',
  path: '/cameras/{id}',
  summary: 'One configured camera',
  security: AUTH,
  request: { params: CameraIdParams },
  responses: { 200: json(CameraSchema, 'The camera.'), ...errors(400, 401, 404, 500) },
});

const putRoute = createRoute({
  method: 'put',
  path: '/cameras/{id}',
  summary: "Configure a camera and backfill its templates from the gallery's enrolment photos",
  description:
    'Replaces the camera if it exists (its templates are made again for the new settings). Answers when the backfill is done.',
  security: AUTH,
  request: { params: CameraIdParams, body: { content: { 'application/json': { schema: SettingsInput } } } },
  responses: {
    200: json(z.object({ camera: CameraSchema, backfill: BackfillSchema }), 'The camera and its backfill.'),
    ...errors(400, 401, 415, 500),
  },
});

const deleteRoute = createRoute({
  method: 'delete',
  path: '/cameras/{id}',
  summary: 'Remove a camera and its templates',
  security: AUTH,
  request: { params: CameraIdParams },
  responses: { 204: { description: 'Removed.' }, ...errors(400, 401, 404, 500) },
});

/** Registers the camera routes (local mode: the cameras live in its SQLite database). */
export function registerCameraRoutes(app: OpenAPIHono<AppEnv>, deps: { cameras: CameraGallery }): void {
  const { cameras } = deps;
  const withCount = async <T extends { id: string }>(camera: T) => ({
    ...camera,
    templates: await cameras.countTemplates(camera.id),
  });
  app.openapi(listRoute, async (c) => {
    const items = await Promise.all((await cameras.list()).map(withCount));
    return c.json({ items }, 200);
  });
  app.openapi(showRoute, async (c) =>
    c.json(await withCount(await cameras.require(c.req.valid('param').id)), 200),
  );
  app.openapi(putRoute, async (c) => {
    requireJson(c);
    const settings = parseCameraSettings(c.req.valid('json'));
    const { camera, backfill } = await cameras.add(c.req.valid('param').id, settings, { method: 'user' });
    return c.json({ camera: await withCount(camera), backfill }, 200);
  });
  app.openapi(deleteRoute, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await cameras.remove(id))) await cameras.require(id); // throws CAMERA_NOT_FOUND
    return c.body(null, 204);
  });
}
