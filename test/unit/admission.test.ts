/**
 * Issue 13, finding 4: overload must have a floor. Pipeline requests are admitted a few at a time behind a
 * bounded queue; a full queue answers at once 503 OVERLOADED with Retry-After; a waiting client that leaves
 * frees its place; cheap routes are never queued. (The app behind the gate is a stand-in fetch that holds each
 * request until released: the gate's behaviour does not depend on what runs behind it.)
 */
import { describe, expect, it } from 'vitest';
import {
  Admission,
  ANALYSIS_RESERVE_MB,
  DEFAULT_MEMORY_CEILING_MB,
  isPipelineRequest,
  parseMemoryCeilingMb,
} from '../../functions/local/admission.ts';

function held() {
  const releases: (() => void)[] = [];
  let started = 0;
  const fetch = (request: Request) =>
    new Promise<Response>((resolve) => {
      started++;
      releases.push(() => resolve(new Response(new URL(request.url).pathname)));
    });
  return { fetch, releases, started: () => started };
}

const post = (path: string, signal?: AbortSignal) =>
  new Request(`http://127.0.0.1${path}`, { method: 'POST', body: 'x', signal });
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('admission control', () => {
  it('knows which requests run the pipeline', () => {
    expect(isPipelineRequest('POST', '/identify')).toBe(true);
    expect(isPipelineRequest('POST', '/subjects/joy/faces')).toBe(true);
    expect(isPipelineRequest('GET', '/subjects')).toBe(false);
    expect(isPipelineRequest('GET', '/health')).toBe(false);
  });

  it('runs at most `concurrency`, queues at most `queueLength`, refuses the rest with 503 + Retry-After', async () => {
    const gate = new Admission({ concurrency: 2, queueLength: 1, retryAfterSeconds: 2 });
    const app = held();
    const fetch = gate.wrap(app.fetch);
    const a = fetch(post('/identify'));
    const b = fetch(post('/identify'));
    const c = fetch(post('/identify'));
    await tick();
    expect(app.started()).toBe(2);
    expect(gate.load()).toEqual({ running: 2, waiting: 1 });
    const refused = await fetch(post('/detect'));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(await refused.json()).toMatchObject({ error: { code: 'OVERLOADED' } });
    // Cheap routes pass even now.
    const health = gate.wrap(async () => new Response('ok'));
    expect(await (await health(new Request('http://127.0.0.1/health'))).text()).toBe('ok');
    app.releases[0]!();
    await a;
    await tick();
    expect(app.started()).toBe(3); // the queued one took the freed slot
    app.releases[1]!();
    app.releases[2]!();
    await Promise.all([b, c]);
    expect(gate.load()).toEqual({ running: 0, waiting: 0 });
    expect(gate.counts).toMatchObject({ admitted: 3, refused: 1 });
  });

  it('a waiting client that disconnects leaves the queue and never runs', async () => {
    const gate = new Admission({ concurrency: 1, queueLength: 5 });
    const app = held();
    const fetch = gate.wrap(app.fetch);
    const first = fetch(post('/identify'));
    const controller = new AbortController();
    const gone = fetch(post('/identify', controller.signal));
    await tick();
    expect(gate.load().waiting).toBe(1);
    controller.abort();
    expect((await gone).status).toBe(503);
    expect(gate.load().waiting).toBe(0);
    app.releases[0]!();
    await first;
    expect(app.started()).toBe(1);
    expect(gate.counts.abandoned).toBe(1);
  });

  it('bounds the queue by expected wait, from the measured time per request, not only by count', async () => {
    const gate = new Admission({ concurrency: 1, queueLength: 10, maxWaitMs: 100 });
    const app = held();
    const fetch = gate.wrap(app.fetch);
    const running = fetch(post('/identify'));
    await tick();
    // Before anything finished there is no estimate: the count alone bounds the queue.
    expect(gate.expectedWaitMs()).toBe(0);
    gate.recordServiceTime(60);
    const queued = fetch(post('/identify')); // waits ~60 ms: admitted to the queue
    await tick();
    expect(gate.load()).toEqual({ running: 1, waiting: 1 });
    const refused = await fetch(post('/identify')); // would wait ~120 ms > 100 ms
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(gate.counts.refused).toBe(1);
    app.releases[0]!();
    await running;
    await tick();
    app.releases[1]!();
    expect((await queued).status).toBe(200);
  });

  it('refuses pipeline requests with 503 + Retry-After before RSS reaches the memory ceiling', async () => {
    let rssMb = 700;
    const gate = new Admission({ concurrency: 2, memoryCeilingMb: 1024, rss: () => rssMb * 2 ** 20 });
    const app = held();
    const fetch = gate.wrap(app.fetch);
    const accepted = fetch(post('/identify'));
    await tick();
    expect(app.started()).toBe(1);
    rssMb = 1024 - ANALYSIS_RESERVE_MB + 1;
    const refused = await fetch(post('/identify'));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('OVERLOADED');
    expect(body.error.message).toMatch(/memory ceiling .*1024 MiB/);
    // Cheap routes still answer.
    const health = gate.wrap(async () => new Response('ok'));
    expect((await health(new Request('http://127.0.0.1/health'))).status).toBe(200);
    expect(app.started()).toBe(1);
    expect(gate.counts.refusedForMemory).toBe(1);
    app.releases[0]!();
    await accepted;
  });

  it('reads the memory ceiling from the environment, failing closed on nonsense', () => {
    expect(parseMemoryCeilingMb(undefined)).toBe(DEFAULT_MEMORY_CEILING_MB);
    expect(parseMemoryCeilingMb('2048')).toBe(2048);
    for (const bad of ['lots', '100', '1.5e3x', '-1']) {
      expect(() => parseMemoryCeilingMb(bad)).toThrow(/FACEPRINT_MEMORY_CEILING_MB/);
    }
  });
});
