/** The one-machine server as the integration tests start it, and the poll of a video job until it ends. */
import { type RunningServer, startServer } from '../../functions/local/server.ts';

/** The local server on a free loopback port over `dataDir`: no API keys, nothing logged, no environment. */
export function startQuietServer(dataDir: string): Promise<RunningServer> {
  return startServer({
    port: 0,
    host: '127.0.0.1',
    dataDir,
    apiKeys: [],
    logger: { info: () => undefined, error: () => undefined },
    env: {},
  });
}

/** Polls `GET /videos/{id}` every 100 ms until the job is done or failed (at most `tries` times). */
export async function finishedVideoJob<T extends { status: string }>(
  baseUrl: string,
  id: string,
  tries = 600,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const body = (await (await fetch(`${baseUrl}/videos/${id}`)).json()) as T;
    if (body.status === 'done' || body.status === 'failed') return body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the video job did not finish');
}
