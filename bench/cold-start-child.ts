/**
 * The child process of `npm run bench:cold`: a cold container that imports the api handler (`--handler`, a path)
 * and answers two `POST /identify` requests with the photo `--photo`, then prints one JSON line of timings.
 *
 * For the bundled handler this file is itself bundled by esbuild and run by plain `node`, as Lambda's runtime
 * runs the image's handler: no TypeScript loader, no source maps (under tsx, Node computes source-map line tables
 * for the 2.7 MB bundle and routes every import through tsx's loader thread, which the image never pays). For
 * `--source` it runs under tsx, which then compiles the handler's TypeScript.
 *
 * The handler's init phase marks when its index and its models were ready (`faceprint:cold-start:*`,
 * `AwsRuntime.prepareColdStart`); they are reported in ms since the handler's import began.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { lambdaContext, restEvent } from '../test/support/lambda-events.ts';

/** Milliseconds from the process's start (Node's own start-up) to this module's first line. */
const nodeStartMs = performance.now();

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : undefined;
  if (!value) throw new Error(`cold-start child: --${name} is required`);
  return value;
}

type Handler = typeof import('../functions/handlers/api.ts')['handler'];

const cpuMs = () => {
  const cpu = process.cpuUsage();
  return (cpu.user + cpu.system) / 1000;
};

process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
const photo = readFileSync(arg('photo'));
const event = () => restEvent('POST', '/identify', { bytes: photo, contentType: 'image/jpeg' });
const cpuAtStart = cpuMs();
const t0 = performance.now();
const api = (await import(pathToFileURL(arg('handler')).href)) as { handler: Handler };
const t1 = performance.now();
const cpuAfterInit = cpuMs();
const first = await api.handler(event(), lambdaContext('faceprint-api'));
const t2 = performance.now();
const cpuAfterFirst = cpuMs();
const second = await api.handler(event(), lambdaContext('faceprint-api'));
const t3 = performance.now();
if (first.statusCode !== 200 || second.statusCode !== 200) throw new Error(`identify: ${first.body}`);
const marks: Record<string, number> = {};
for (const mark of performance.getEntriesByType('mark')) {
  const name = mark.name.replace(/^faceprint:cold-start:/, '');
  if (name !== mark.name) marks[name] = mark.startTime - t0;
}
const firstFaces = (JSON.parse(first.body) as { faces: { decision?: unknown }[] }).faces;
process.stdout.write(
  JSON.stringify({
    nodeStartMs,
    importMs: t1 - t0,
    indexReadyMs: marks.index,
    modelsReadyMs: marks.models,
    firstMs: t2 - t1,
    secondMs: t3 - t2,
    importCpuMs: cpuAfterInit - cpuAtStart,
    firstCpuMs: cpuAfterFirst - cpuAfterInit,
    cpuMs: cpuMs(),
    faces: firstFaces.length,
    firstBody: first.body,
  }),
);
