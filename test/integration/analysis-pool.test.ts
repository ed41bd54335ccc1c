/**
 * Issue 13, finding 4: the face analysis runs on a pool of worker threads, not on the server's event loop. The
 * pool runs the same core pipeline (same faces, same embeddings), a queued job whose caller left never reaches
 * a thread, and a thread that dies fails its job with a clear ANALYSIS_FAILED (not a hang) and is replaced.
 * Real threads, real models; the crash is injected (the thread exits abruptly, as a native crash would end it).
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFaceprintError } from '../../functions/core/errors.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { AnalysisPool } from '../../functions/local/analysis-pool.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';

const haveSeed = hasData(SEED);
let pool: AnalysisPool;
let slow: Buffer;

beforeAll(async () => {
  pool = await AnalysisPool.start({ size: 1, threadsPerWorker: 1 });
  // A large flat frame: no face, but a few seconds of detector tiles at the pixel budget.
  slow = await sharp({ create: { width: 1600, height: 1600, channels: 3, background: '#888' } })
    .png()
    .toBuffer();
}, 60_000);
afterAll(() => pool.dispose());

const code = (error: unknown) => (isFaceprintError(error) ? error.code : String(error));

describe.runIf(haveSeed)('analysis pool', () => {
  it('runs the same pipeline on its thread: same faces and embeddings as in-process', async () => {
    const bytes = read(seedPhoto('joy', 1));
    const before = pool.counts.ran;
    const pooled = await pool.analyze(bytes);
    expect(pool.counts.ran).toBe(before + 1);
    const local = new FacePipeline({ threads: 1 });
    try {
      const direct = await local.analyze(bytes);
      expect(pooled.faces.length).toBe(direct.faces.length);
      expect(pooled.faces.length).toBeGreaterThan(0);
      const a = pooled.faces[0]!.embedding;
      const b = direct.faces[0]!.embedding;
      expect(a).toBeInstanceOf(Float32Array);
      let dot = 0;
      for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
      expect(dot).toBeGreaterThan(0.9999);
      expect(pool.model).toEqual(local.model);
      expect(pool.embeddingSize).toBe(local.embeddingSize);
    } finally {
      await local.dispose();
    }
  }, 60_000);

  it("never runs a queued job whose caller left; the thread's job is not disturbed", async () => {
    const running = pool.analyze(slow);
    const leaving = new AbortController();
    const queued = pool.analyze(read(seedPhoto('wendy', 1)), { signal: leaving.signal });
    expect(pool.load()).toMatchObject({ busy: 1, queued: 1 });
    const ranBefore = pool.counts.ran;
    leaving.abort();
    expect(code(await queued.catch((e: unknown) => e))).toBe('CANCELLED');
    expect(pool.load().queued).toBe(0);
    await running;
    expect(pool.counts.ran).toBe(ranBefore);
    expect(pool.counts.cancelledQueued).toBe(1);
  }, 60_000);

  it('stops a running job when its caller leaves, keeping the thread', async () => {
    const leaving = new AbortController();
    const job = pool.analyze(slow, { signal: leaving.signal });
    setTimeout(() => leaving.abort(), 100);
    const started = performance.now();
    expect(code(await job.catch((e: unknown) => e))).toBe('CANCELLED');
    expect(pool.counts.threadsLost).toBe(0);
    expect((await pool.analyze(read(seedPhoto('joy', 1)))).faces.length).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it('fails the job of a thread that dies with ANALYSIS_FAILED, and replaces the thread', async () => {
    const lost: string[] = [];
    const crashing = await AnalysisPool.start({ size: 1, onWorkerLost: (why) => lost.push(why) });
    try {
      const job = crashing.analyze(slow);
      const next = crashing.analyze(read(seedPhoto('joy', 1)));
      await new Promise((r) => setTimeout(r, 50));
      crashing.crashOneWorker();
      const error = await job.catch((e: unknown) => e);
      expect(code(error)).toBe('ANALYSIS_FAILED');
      expect((error as Error).message).toMatch(/stopped unexpectedly/);
      // The queued job runs on the replacement thread.
      expect((await next).faces.length).toBeGreaterThan(0);
      expect(crashing.counts.threadsLost).toBe(1);
      expect(lost[0]).toMatch(/exit 70/);
      expect(crashing.load().ready).toBe(1);
    } finally {
      await crashing.dispose();
    }
  }, 90_000);
});
