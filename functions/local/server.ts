import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { FaceprintError } from '../core/errors.ts';
import { createApp, type HttpLogger } from '../handlers/http/app.ts';
import { Admission, type AdmissionOptions, parseMemoryCeilingMb } from './admission.ts';
import { checkApiKeys, parseApiKeyList } from './api-keys.ts';
import { answerClientErrors } from './client-errors.ts';
import { type LocalGallery, openLocalGallery } from './composition.ts';
import { LocalVideoJobs } from './video-jobs.ts';

/** Options of {@link startServer}; each falls back to its environment variable, then to the default. */
export interface ServerOptions {
  /** TCP port (default FACEPRINT_PORT, else 8080); 0 picks a free one. */
  port?: number | undefined;
  /** Interface to listen on (default FACEPRINT_HOST, else 127.0.0.1: only this machine can connect). */
  host?: string | undefined;
  /** Data directory (default FACEPRINT_DATA_DIR, else ./.faceprint). */
  dataDir?: string | undefined;
  /** Accepted API keys (default FACEPRINT_API_KEYS, comma-separated); none means no key is required. */
  apiKeys?: string[] | undefined;
  /** ONNX Runtime threads per model (default 1; 0 = all cores). */
  threads?: number | undefined;
  /** Calibration file (default FACEPRINT_CALIBRATION, else the shipped one). */
  calibration?: string | undefined;
  /** Largest accepted request body in bytes (default 20 MiB). */
  maxBodyBytes?: number | undefined;
  /** Access log and errors (default: one JSON line each, on stdout and stderr). */
  logger?: HttpLogger | undefined;
  /** Runs once the server listens, with the opened gallery (for example to start the upload-folder watcher). */
  onStarted?: ((local: LocalGallery) => void | Promise<void>) | undefined;
  /** Admission control of pipeline requests (default: one per analysis worker, a queue of ten per worker). */
  admission?: AdmissionOptions | undefined;
  /**
   * Worker threads that run the face analysis off the event loop (default FACEPRINT_ANALYSIS_WORKERS, else one
   * per core; 0 analyses on the event loop).
   */
  analysisWorkers?: number | undefined;
  /** The built web console served at `/` (default: `console/dist` of this checkout). */
  consoleDir?: string | undefined;
  /** Where the environment variables are read (default `process.env`). */
  env?: NodeJS.ProcessEnv | undefined;
}

/** A listening server. */
export interface RunningServer {
  /** Base URL, such as `http://127.0.0.1:8080`. */
  url: string;
  local: LocalGallery;
  /** Stops accepting connections, lets in-flight requests finish (up to 10 s), then closes the gallery. */
  close(): Promise<void>;
}

const DEFAULT_PORT = 8080;
const DEFAULT_HOST = '127.0.0.1';
const DRAIN_MS = 10_000;

/** One JSON object per line: easy to read, easy to ship to a log collector. */
export const jsonLineLogger: HttpLogger = {
  info(message, ...extra) {
    process.stdout.write(
      `${JSON.stringify({ level: 'info', time: new Date().toISOString(), message, ...fields(extra) })}\n`,
    );
  },
  error(message, ...extra) {
    process.stderr.write(
      `${JSON.stringify({ level: 'error', time: new Date().toISOString(), message, ...fields(extra) })}\n`,
    );
  },
};

function fields(extra: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of extra) {
    if (item instanceof Error) out.error = { name: item.name, message: item.message, stack: item.stack };
    else if (item && typeof item === 'object') {
      for (const [k, v] of Object.entries(item)) {
        out[k] = v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v;
      }
    }
  }
  return out;
}

/**
 * Starts the one-machine HTTP server: opens the data directory and the models (loaded before listening, so the
 * first request is not slow and a broken installation fails here), serves the HTTP app, and logs one line with
 * the URL, the data directory, the gallery's size and whether an API key is required.
 *
 * @throws FaceprintError INVALID_ARGUMENT for a bad port; an Error with the listen error's `code` (EADDRINUSE,
 *   EACCES, EADDRNOTAVAIL) and a one-sentence message when the address cannot be used.
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const port = options.port ?? portFromEnv(env.FACEPRINT_PORT) ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `The port must be a whole number from 0 to 65535, not ${port}.`,
    );
  }
  const host = options.host ?? (env.FACEPRINT_HOST || DEFAULT_HOST);
  // Fails closed: a key list that parses to nothing stops the server instead of turning authentication off.
  const apiKeys = checkApiKeys(options.apiKeys ?? parseApiKeyList(env.FACEPRINT_API_KEYS));
  const logger = options.logger ?? jsonLineLogger;
  const analysisWorkers =
    options.analysisWorkers ?? wholeFromEnv('FACEPRINT_ANALYSIS_WORKERS', env) ?? availableParallelism();
  // Fails closed too: a ceiling that makes no sense stops the server.
  const memoryCeilingMb =
    options.admission?.memoryCeilingMb ?? parseMemoryCeilingMb(env.FACEPRINT_MEMORY_CEILING_MB);

  const local = await openLocalGallery({
    dataDir: options.dataDir,
    threads: options.threads,
    calibration: options.calibration,
    analysisWorkers,
    onWorkerLost: (why) => logger.error(why),
  });
  let server: Server | undefined;
  try {
    // The pool's threads warmed their own models; the in-process pipeline is only for videos then.
    if (analysisWorkers === 0) await local.pipeline.warmUp();
    const videos = new LocalVideoJobs(local.dataDir.paths.videos, local.gallery, local.pipeline);
    const resumed = await videos.resume();
    if (resumed > 0) logger.info(`${resumed} video job(s) interrupted by the last stop queued again`);
    const app = createApp({
      gallery: local.gallery,
      apiKeys,
      maxBodyBytes: options.maxBodyBytes,
      logger,
      followUp: local.followUp,
      videos,
      cameras: local.cameras,
      consoleDir: options.consoleDir ?? fileURLToPath(new URL('../../console/dist', import.meta.url)),
    });
    // The CLI (or another server) may enrol or delete in the same data directory: the index follows the
    // database's change feed before every request (two cheap SELECTs when nothing changed). Pipeline requests
    // are admitted a few at a time behind a bounded queue (503 when it is full).
    const admission = new Admission({
      concurrency: analysisWorkers || undefined,
      ...options.admission,
      memoryCeilingMb,
    });
    const fetch = admission.wrap(async (request: Request) => {
      await local.gallery.ensureFresh();
      return app.fetch(request);
    });
    server = await listen(fetch, port, host);
    const address = server.address() as AddressInfo;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    const stats = local.gallery.stats();
    logger.info(
      `Faceprint listening on ${url} (data ${local.dataDir.paths.root}; ${stats.subjects} subjects, ${stats.templates} templates; API key ${apiKeys.length > 0 ? 'required' : 'not required'}; ${analysisWorkers} analysis workers, memory ceiling ${memoryCeilingMb} MiB)`,
    );
    const running = { url, local, videos, close: closer(server, local) };
    try {
      await options.onStarted?.(local);
    } catch (error) {
      await running.close();
      throw error;
    }
    return running;
  } catch (error) {
    if (!server) await local.close();
    throw error;
  }
}

function wholeFromEnv(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const value = env[name];
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new FaceprintError('INVALID_ARGUMENT', `${name} must be a whole number, not "${value}".`);
  }
  return n;
}

function portFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port)) {
    throw new FaceprintError('INVALID_ARGUMENT', `FACEPRINT_PORT must be a whole number, not "${value}".`);
  }
  return port;
}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'no such address on this machine',
};

function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  port: number,
  host: string,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    // No createServer option, so @hono/node-server makes a plain node:http server.
    const server = serve({ fetch, port, hostname: host }) as Server;
    answerClientErrors(server);
    const onError = (error: NodeJS.ErrnoException) => {
      const why = LISTEN_ERRORS[error.code ?? ''];
      reject(
        why
          ? Object.assign(new Error(`Cannot listen on ${host}:${port}: ${why}.`), { code: error.code })
          : error,
      );
    };
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

function closer(server: Server, local: LocalGallery): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        // Keep-alive connections would hold close() open: end the idle ones now, the busy ones after the drain.
        const timer = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      await local.close();
    })();
    return closing;
  };
}
