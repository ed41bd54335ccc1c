/**
 * Video routes: `POST /videos` (an asynchronous job), `GET /videos/{id}` (status, progress, tracks), and the
 * results to download: the annotated MP4 and each track's best-face thumbnail.
 */
import { readFile } from 'node:fs/promises';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { VideoJobsPort } from '../../core/video/jobs.ts';
import { rawBody } from './bodies.ts';
import type { AppEnv } from './env.ts';
import { HttpError } from './errors.ts';
import { AUTH, COMMON_ERRORS, errors, json } from './routes.ts';

const JobIdParams = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' }, description: 'Video job id.' }),
});
const FileParams = JobIdParams.extend({
  file: z
    .string()
    .regex(/^(annotated\.mp4|track-\d{1,6}\.jpg)$/)
    .openapi({ param: { name: 'file', in: 'path' }, description: '`annotated.mp4` or `track-<id>.jpg`.' }),
});
const VideoJobSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    status: z.enum(['queued', 'running', 'done', 'failed']),
    createdAt: z.string(),
    progress: z.record(z.string(), z.unknown()).optional(),
    result: z.record(z.string(), z.unknown()).optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    files: z.object({ annotated: z.string(), thumbnails: z.record(z.string(), z.string()) }).optional(),
  })
  .openapi('VideoJob');
const VideoBody = z
  .string()
  .openapi({ type: 'string', format: 'binary', description: 'The video file itself.' });

const submitVideoRoute = createRoute({
  method: 'post',
  path: '/videos',
  summary: 'Upload a video: tracks and one decision per person, as an asynchronous job',
  description:
    'A raw body (`video/*` or `application/octet-stream`) up to the request body limit; `?name=` labels it.',
  security: AUTH,
  request: {
    query: z.object({ name: z.string().max(200).optional() }),
    body: {
      content: { 'video/*': { schema: VideoBody }, 'application/octet-stream': { schema: VideoBody } },
    },
  },
  responses: { 202: json(VideoJobSchema, 'The job, queued.'), ...errors(...COMMON_ERRORS) },
});

const getVideoRoute = createRoute({
  method: 'get',
  path: '/videos/{id}',
  summary: 'A video job: status, progress and, when done, the tracks with their decisions and evidence',
  security: AUTH,
  request: { params: JobIdParams },
  responses: { 200: json(VideoJobSchema, 'The job.'), ...errors(400, 401, 404, 500) },
});

const videoFileRoute = createRoute({
  method: 'get',
  path: '/videos/{id}/{file}',
  summary: 'A result of a finished video job: the annotated MP4 or a track thumbnail',
  security: AUTH,
  request: { params: FileParams },
  responses: {
    200: {
      description: 'The file.',
      content: { 'video/mp4': { schema: VideoBody }, 'image/jpeg': { schema: VideoBody } },
    },
    ...errors(400, 401, 404, 500),
  },
});

/** Registers the video routes on the app (local mode; the AWS API hands videos to Batch through S3 instead). */
export function registerVideoRoutes(app: OpenAPIHono<AppEnv>, deps: { videos: VideoJobsPort }): void {
  const { videos } = deps;
  app.openapi(submitVideoRoute, async (c) => {
    const bytes = rawBody(c);
    const name = c.req.valid('query').name ?? 'upload';
    const job = await videos.submit(bytes, name);
    return c.json(job, 202);
  });
  app.openapi(getVideoRoute, async (c) => {
    const job = await videos.get(c.req.valid('param').id);
    if (!job) throw new HttpError('NOT_FOUND', 'There is no video job with this id.');
    return c.json(job as never, 200);
  });
  app.openapi(videoFileRoute, async (c) => {
    const { id, file } = c.req.valid('param');
    const path = await videos.file(id, file);
    if (!path) throw new HttpError('NOT_FOUND', `There is no ${file} for this video job (yet).`);
    const bytes = await readFile(path);
    return c.body(bytes, 200, {
      'content-type': file.endsWith('.mp4') ? 'video/mp4' : 'image/jpeg',
    }) as never;
  });
}
