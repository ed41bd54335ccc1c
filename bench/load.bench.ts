/**
 * `npm run bench:load`: the local server under overload, on loopback only and bounded in time. Five seed
 * subjects are enrolled in a temporary data directory; `--clients` clients (default 50) then post a seed photo
 * to /identify back to back for `--seconds` (default 60) while /health is timed every 200 ms and the
 * process's RSS is sampled. Prints the figures against the targets of issue 13 (0 errors other than explicit
 * 503s, p99 of accepted requests ≤ 2 s, RSS ≤ 1 GB, /health < 50 ms).
 * Options: --clients N --seconds S --concurrency N (admitted at once; default the cores) --queue N.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../functions/local/server.ts';
import { hasData, read, SEED, SEED_PEOPLE, seedPhoto } from '../test/support/data.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '60' },
    concurrency: { type: 'string' },
    queue: { type: 'string' },
  },
});
const clients = Number(values.clients);
const seconds = Number(values.seconds);
if (!hasData(SEED)) {
  console.log(`bench:load needs the seed sample at ${SEED}; it is absent, nothing measured.`);
  process.exit(0);
}

const dataDir = mkdtempSync(join(tmpdir(), 'faceprint-load-'));
const quiet = { info: () => undefined, error: () => undefined };
const server = await startServer({
  port: 0,
  host: '127.0.0.1',
  dataDir,
  apiKeys: [],
  logger: quiet,
  env: {},
  admission: {
    concurrency: values.concurrency === undefined ? undefined : Number(values.concurrency),
    queueLength: values.queue === undefined ? undefined : Number(values.queue),
  },
});
try {
  for (const person of SEED_PEOPLE) {
    await server.local.gallery.createSubject(
      { id: person, name: person },
      {
        bytes: read(seedPhoto(person, 1)),
        source: `${person}-1.jpg`,
      },
    );
  }
  const probes = SEED_PEOPLE.map((p) => read(seedPhoto(p, 2)));
  const accepted: number[] = [];
  const statuses = new Map<number, number>();
  let failures = 0;
  const health: number[] = [];
  let rssMax = process.memoryUsage().rss;
  const rssStart = rssMax;
  const until = performance.now() + seconds * 1000;

  const client = async (n: number) => {
    let i = n;
    while (performance.now() < until) {
      const started = performance.now();
      try {
        const res = await fetch(`${server.url}/identify`, {
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
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    const started = performance.now();
    try {
      await (await fetch(`${server.url}/health`)).arrayBuffer();
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
  console.log(`bench:load — ${clients} clients × ${seconds} s, 5 subjects, loopback`);
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
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
