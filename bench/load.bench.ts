/**
 * `npm run bench:load`: the real local server (`faceprint serve`, a separate process with its analysis worker
 * pool) under overload, on loopback only and bounded in time. Five seed subjects are enrolled over HTTP in a
 * temporary data directory; `--clients` clients (default 50) then post a seed photo to /identify back to back
 * for `--seconds` (default 60) while /health is timed every 200 ms, and the server's RSS (all its threads) and
 * the machine's load average are sampled. Prints the figures against the targets of issue 13 (0 errors other
 * than explicit 503s, p99 of accepted requests ≤ 2 s, RSS ≤ 1 GB, /health < 50 ms), with the load average: on
 * a shared machine the figures are measured under that load.
 * Options: --clients N --seconds S --workers N (analysis threads; default the cores) --memory-mb N (ceiling).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { hasData, read, SEED, SEED_PEOPLE, seedPhoto } from '../test/support/data.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '60' },
    workers: { type: 'string' },
    'memory-mb': { type: 'string' },
  },
});
const clients = Number(values.clients);
const seconds = Number(values.seconds);
if (!Number.isInteger(clients) || clients < 1 || !(seconds > 0 && seconds <= 600)) {
  console.error('bench:load: --clients must be a whole number ≥ 1 and --seconds from 1 to 600.');
  process.exit(2);
}
if (!hasData(SEED)) {
  console.log(`bench:load needs the seed sample at ${SEED}; it is absent, nothing measured.`);
  process.exit(0);
}

const ROOT = resolve(import.meta.dirname, '..');
const freePort = () =>
  new Promise<number>((done, fail) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
    probe.on('error', fail);
  });

/** Resident set of a process in bytes (Linux /proc; the worker threads are part of it). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

const dataDir = mkdtempSync(join(tmpdir(), 'faceprint-load-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const child: ChildProcess = spawn(
  process.execPath,
  [join(ROOT, 'bin', 'faceprint.js'), 'serve', '--port', String(port), '--data-dir', dataDir, '--no-watch'],
  {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      ...(values.workers ? { FACEPRINT_ANALYSIS_WORKERS: values.workers } : {}),
      ...(values['memory-mb'] ? { FACEPRINT_MEMORY_CEILING_MB: values['memory-mb'] } : {}),
    },
  },
);
// Bounded in time whatever happens: start-up, the run, the clients' 30 s time-outs and a margin.
const watchdog = setTimeout(
  () => {
    console.error('bench:load: over its time bound; stopping the server.');
    child.kill('SIGKILL');
    process.exit(1);
  },
  (seconds + 240) * 1000,
);
watchdog.unref();

try {
  const upBy = performance.now() + 180_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`The server exited with code ${child.exitCode}.`);
    if (performance.now() > upBy) throw new Error('The server did not start within 180 s.');
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const person of SEED_PEOPLE) {
    const res = await fetch(`${url}/subjects?id=${person}&name=${person}&takeLargest=true`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: read(seedPhoto(person, 1)),
    });
    if (res.status !== 201)
      throw new Error(`Enrolling ${person} answered ${res.status}: ${await res.text()}`);
  }
  const pid = child.pid as number;
  const probes = SEED_PEOPLE.map((p) => read(seedPhoto(p, 2)));
  const accepted: number[] = [];
  const statuses = new Map<number, number>();
  let failures = 0;
  const health: number[] = [];
  let rssMax = rssOf(pid);
  const rssStart = rssMax;
  const loads: number[] = [];
  const until = performance.now() + seconds * 1000;

  const client = async (n: number) => {
    let i = n;
    while (performance.now() < until) {
      const started = performance.now();
      try {
        const res = await fetch(`${url}/identify`, {
          method: 'POST',
          headers: { 'content-type': 'image/jpeg' },
          body: probes[i++ % probes.length],
          signal: AbortSignal.timeout(30_000),
        });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) accepted.push(performance.now() - started);
        else if (res.status === 503) await new Promise((r) => setTimeout(r, 200 + Math.random() * 300));
      } catch {
        failures++;
      }
    }
  };
  const sampler = setInterval(async () => {
    rssMax = Math.max(rssMax, rssOf(pid));
    loads.push(loadavg()[0] ?? 0);
    const started = performance.now();
    try {
      await (await fetch(`${url}/health`)).arrayBuffer();
      health.push(performance.now() - started);
    } catch {
      failures++;
    }
  }, 200);
  await Promise.all(Array.from({ length: clients }, (_, n) => client(n)));
  clearInterval(sampler);

  const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  };
  const other = [...statuses].filter(([s]) => s !== 200 && s !== 503).reduce((a, [, n]) => a + n, 0);
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const mean = loads.reduce((a, b) => a + b, 0) / Math.max(1, loads.length);
  console.log(
    `bench:load — ${clients} clients × ${seconds} s, 5 subjects, loopback, server pid ${pid} (own process)`,
  );
  console.log(
    `machine: ${availableParallelism()} cores; 1-min load average during the run mean ${mean.toFixed(1)}, max ${Math.max(...loads).toFixed(1)} — figures measured under that load`,
  );
  console.log('| figure | measured | target |');
  console.log('| --- | ---: | ---: |');
  console.log(
    `| accepted (200) | ${statuses.get(200) ?? 0} (${((statuses.get(200) ?? 0) / seconds).toFixed(1)}/s) | |`,
  );
  console.log(`| refused (503 + Retry-After) | ${statuses.get(503) ?? 0} | |`);
  console.log(`| other errors and client time-outs | ${other + failures} | 0 |`);
  console.log(
    `| accepted p50 / p95 / p99 | ${q(accepted, 0.5).toFixed(0)} / ${q(accepted, 0.95).toFixed(0)} / ${q(accepted, 0.99).toFixed(0)} ms | p99 ≤ 2,000 ms |`,
  );
  console.log(`| RSS start / max | ${mb(rssStart)} / ${mb(rssMax)} | ≤ 1,024 MiB |`);
  console.log(
    `| /health p50 / max (${health.length} samples) | ${q(health, 0.5).toFixed(1)} / ${Math.max(...health).toFixed(1)} ms | < 50 ms |`,
  );
} finally {
  if (child.exitCode === null) {
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
}
