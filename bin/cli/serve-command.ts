import { parseArgs } from 'node:util';
import { jsonLineLogger, startServer } from '../../functions/local/server.ts';
import { startUploadWatcher, type UploadWatcher } from '../../functions/local/upload-watcher.ts';
import { EXIT, intOption, UsageError } from './common.ts';

const USAGE = `Usage: faceprint serve [--port N] [--host H] [--data-dir D] [--api-key K]... [--threads N] [--no-watch]

Serves the HTTP API (OpenAPI document at /openapi.json) and watches <data-dir>/uploads/ (each image dropped there
is identified like an S3 upload: results/<name>.json plus an annotated image; failures go to failed/) until
interrupted (Ctrl-C or SIGTERM).
  --port N        TCP port (default FACEPRINT_PORT, else 8080)
  --host H        interface (default FACEPRINT_HOST, else 127.0.0.1; 0.0.0.0 for every interface)
  --data-dir D    data directory (default FACEPRINT_DATA_DIR, else ./.faceprint)
  --api-key K     require this key in the x-api-key header; repeat for several (default FACEPRINT_API_KEYS)
  --threads N     ONNX Runtime threads per model (default 1; 0 = all cores)
  --no-watch      do not watch the uploads/ folder
The face analysis runs on FACEPRINT_ANALYSIS_WORKERS worker threads (default one per core); pipeline requests
are refused with 503 while the process is near FACEPRINT_MEMORY_CEILING_MB (default 1024).
`;

/** `faceprint serve`: runs the HTTP server until SIGINT or SIGTERM, then shuts it down gracefully. */
export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'api-key': { type: 'string', multiple: true },
      threads: { type: 'string' },
      'no-watch': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const port = values.port === undefined ? undefined : intOption(values.port, 'port', 0);
  if (port !== undefined && port > 65535) throw new UsageError(`--port must be at most 65535, not ${port}.`);
  const apiKeys = values['api-key'];
  if (apiKeys?.some((k) => k.trim() === '')) throw new UsageError('--api-key must not be empty.');

  // Subscribe before starting: a signal during the (slow) model loading must still stop the server cleanly.
  let stop: () => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    const onSignal = (signal: string) => resolve(signal);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    stop = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  });
  let server: Awaited<ReturnType<typeof startServer>>;
  let watcher: UploadWatcher | undefined;
  try {
    server = await startServer({
      onStarted: (local) => {
        if (values['no-watch']) return;
        watcher = startUploadWatcher(local, {
          logger: { info: jsonLineLogger.info, warn: jsonLineLogger.error, error: jsonLineLogger.error },
        });
        jsonLineLogger.info(
          `Watching ${local.dataDir.paths.uploads} for images (results in ${local.dataDir.paths.results})`,
        );
      },
      port,
      host: values.host,
      dataDir: values['data-dir'],
      apiKeys,
      threads: values.threads === undefined ? undefined : intOption(values.threads, 'threads', 1),
    });
  } catch (error) {
    stop();
    // A port in use or not allowed is a problem with the command line, not inside Faceprint.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UsageError((error as Error).message);
    }
    throw error;
  }
  const signal = await stopped;
  stop();
  process.stderr.write(`faceprint: ${signal}: shutting down\n`);
  // The watcher first: it must finish the file in hand before the gallery closes under it.
  await watcher?.stop();
  await server.close();
  return EXIT.ok;
}
