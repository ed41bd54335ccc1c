/**
 * Issue 13, finding 4, end to end: the server analyses on its worker pool, so `/health` answers while an
 * analysis runs (on the event loop it would wait for it), a full queue answers 503 with Retry-After, and a
 * thread that dies under a request gives that request a 503 ANALYSIS_FAILED while the next one succeeds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisPool } from '../../functions/local/analysis-pool.ts';
import { type RunningServer, startServer } from '../../functions/local/server.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';

const haveSeed = hasData(SEED);
let server: RunningServer;
let dataDir: string;
let slow: Buffer;
const errors: string[] = [];
const logger = { info() {}, error: (message: string) => errors.push(message) };

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'faceprint-pool-'));
  server = await startServer({
    port: 0,
    dataDir,
    apiKeys: [],
    logger,
    env: {},
    analysisWorkers: 1,
    admission: { queueLength: 0, retryAfterSeconds: 3 },
  });
  slow = await sharp({ create: { width: 1600, height: 1600, channels: 3, background: '#888' } })
    .jpeg()
    .toBuffer();
}, 90_000);
afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const identify = (bytes: Buffer) =>
  fetch(`${server.url}/identify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytes });

describe.runIf(haveSeed)('server on the analysis pool', () => {
  it('answers /health during an analysis and refuses past the queue with 503 + Retry-After', async () => {
    let identified = false;
    const busy = identify(slow).then((r) => {
      identified = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    const refused = await identify(read(seedPhoto('joy', 1)));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('3');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('OVERLOADED');
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(identified).toBe(false); // /health did not wait for the analysis
    expect((await busy).status).toBe(200);
  }, 90_000);

  it('gives the request of a thread that dies a 503 ANALYSIS_FAILED, and serves the next one', async () => {
    const pool = server.local.analyser as AnalysisPool;
    const doomed = identify(slow);
    await new Promise((r) => setTimeout(r, 300));
    pool.crashOneWorker();
    const response = await doomed;
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('ANALYSIS_FAILED');
    expect(body.error.message).not.toMatch(/exit|worker_threads|at /);
    expect(errors.some((e) => /analysis thread stopped/.test(e))).toBe(true);
    const next = await identify(read(seedPhoto('joy', 1)));
    expect(next.status).toBe(200);
  }, 90_000);
});
