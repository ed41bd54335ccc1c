/**
 * Lambda `api.handler`: the REST API behind API Gateway (proxy integration), served by the same Hono app as
 * local mode (`createApp`). In front of it, one step the local server does not need: the gallery's index is
 * brought up to date with the snapshot the indexer publishes (loaded at cold start, reloaded when a newer one
 * appears, checked at most every 10 s), and a cold start catches up with templates newer than the snapshot.
 *
 * API keys are enforced by API Gateway (`FACEPRINT_API_KEYS_REQUIRED`), so the app runs without its own.
 *
 * @module
 */
import type { Context } from 'aws-lambda';
import { Hono } from 'hono';
import { type APIGatewayProxyResult, handle, type LambdaEvent } from 'hono/aws-lambda';
import { z } from 'zod';
import { AwsRuntime } from './aws/composition.ts';
import { readConfig } from './aws/config.ts';
import { httpLogger, invocation, logger } from './aws/observability.ts';
import { createApp } from './http/app.ts';
import { toHttpError } from './http/errors.ts';

const config = readConfig('api');
const runtime = new AwsRuntime(config);
// In Lambda (which sets AWS_LAMBDA_INITIALIZATION_TYPE), the init phase loads the index and the models before
// the first request, side by side; tests and other hosts load them on first use.
if (process.env.AWS_LAMBDA_INITIALIZATION_TYPE) await runtime.prepareColdStart();
// The web console's static files sit beside the handler in the image (functions/Dockerfile).
const app = createApp({
  gallery: runtime.gallery,
  followUp: runtime.followUp,
  logger: httpLogger,
  consoleDir: process.env.FACEPRINT_CONSOLE_DIR,
});

/** The request shapes API Gateway sends: REST API (v1) and HTTP API (v2) proxy events. */
const ProxyEventSchema = z.union([
  z.looseObject({
    httpMethod: z.string().min(1),
    path: z.string().startsWith('/'),
    requestContext: z.looseObject({ requestId: z.string().optional() }),
  }),
  z.looseObject({
    version: z.literal('2.0'),
    rawPath: z.string().startsWith('/'),
    requestContext: z.looseObject({
      requestId: z.string().optional(),
      http: z.looseObject({ method: z.string() }),
    }),
  }),
]);

const REQUEST_ID = /^[\w.:-]{1,128}$/;

const root = new Hono<{ Bindings: { event: LambdaEvent } }>();

// The index first: every route reads it (identify, verify, health) or must see the same gallery as they do.
root.use('*', async (_c, next) => {
  await runtime.freshGallery();
  await next();
});

// Everything else is the app's: routes, validation, errors, 404/405. API Gateway's request id becomes the app's
// request id (`x-request-id`) unless the caller sent one, so the audit log and the access log join up.
root.all('*', (c) => {
  const requestId = (c.env.event.requestContext as { requestId?: string } | undefined)?.requestId;
  let request = c.req.raw;
  if (!request.headers.has('x-request-id') && requestId && REQUEST_ID.test(requestId)) {
    const headers = new Headers(request.headers);
    headers.set('x-request-id', requestId);
    request = new Request(request, { headers });
  }
  return app.fetch(request, c.env);
});

// Only the freshness step can fail here (the app answers its own errors): e.g. S3 unreachable at cold start.
root.onError((error, c) => {
  const response = toHttpError(error, httpLogger, { path: c.req.path });
  return c.json(response.body, response.status);
});

const serve = handle(root);

export async function handler(event: unknown, context: Context): Promise<APIGatewayProxyResult> {
  const parsed = ProxyEventSchema.safeParse(event);
  if (!parsed.success) {
    logger.error('not an API Gateway proxy event', { issues: parsed.error.issues.slice(0, 3) });
    return {
      statusCode: 400,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        error: { code: 'VALIDATION_ERROR', message: 'The request could not be read.' },
      }),
      isBase64Encoded: false,
    };
  }
  const requestId = parsed.data.requestContext.requestId;
  return invocation(context, { requestId: context.awsRequestId, apiRequestId: requestId }, () =>
    serve(event as LambdaEvent, context),
  );
}
