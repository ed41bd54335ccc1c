/**
 * The evaluation's worker threads: the thread side (one single-threaded pipeline per thread, answering one
 * image request at a time) and the main side that spreads the cache misses over them. This module is the entry
 * point of its own threads, started through tsx's loader (see {@link workerBootstrap}).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type AnalyzeOptions, FacePipeline } from '../core/pipeline/pipeline.ts';
import { type Degradation, parseDegradation } from './degrade.ts';
import { embedImage } from './embed-image.ts';
import type { Embedded, Job, WorkerRequest } from './types.ts';

interface WorkerInit {
  faceprintEvalWorker: true;
  options: AnalyzeOptions;
  degrade: Record<string, Degradation>;
  referenceIod?: number | undefined;
  pad: number;
}

if (!isMainThread && (workerData as WorkerInit | undefined)?.faceprintEvalWorker === true && parentPort) {
  const init = workerData as WorkerInit;
  const port = parentPort;
  const pipeline = new FacePipeline({ threads: 1 });
  port.on('message', (request: WorkerRequest | 'exit') => {
    if (request === 'exit') {
      void pipeline.dispose().then(() => port.close());
      return;
    }
    const degradation = init.degrade[request.degrade] ?? parseDegradation(request.degrade);
    void embedImage(pipeline, init.options, degradation, init.referenceIod, init.pad, request).then(
      (result) => {
        const transfer = result.embedding ? [result.embedding.buffer as ArrayBuffer] : [];
        port.postMessage({ id: request.id, result }, transfer);
      },
    );
  });
}

/** Source that starts a worker thread on this very module, with tsx's loader registered in that thread. */
function workerBootstrap(): string {
  const require = createRequire(import.meta.url);
  const tsxDir = dirname(require.resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  const self = new URL(import.meta.url);
  self.search = '';
  return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(self.href)}); });`;
}

/** Embeds `misses` across `count` worker threads, handing each result to `store` as it arrives. */
export function runWorkers<M extends { job: Job; seed: number }>(
  misses: M[],
  count: number,
  options: AnalyzeOptions,
  degradations: Map<string, Degradation>,
  referenceIod: number | undefined,
  pad: number,
  store: (miss: M, result: Embedded) => void,
): Promise<void> {
  const init: WorkerInit = {
    faceprintEvalWorker: true,
    options,
    degrade: Object.fromEntries(degradations),
    referenceIod,
    pad,
  };
  const bootstrap = workerBootstrap();
  let next = 0;
  let finished = 0;
  return new Promise<void>((resolvePromise, reject) => {
    const threads: Worker[] = [];
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      for (const t of threads) void t.terminate();
      reject(error);
    };
    // Two requests in flight per worker keep it busy while the main thread stores results.
    const send = (worker: Worker) => {
      if (next >= misses.length) return;
      const id = next++;
      const miss = misses[id] as M;
      const request: WorkerRequest = {
        id,
        path: miss.job.path,
        select: miss.job.select,
        degrade: miss.job.degrade,
        seed: miss.seed,
        variants: miss.job.variants,
      };
      worker.postMessage(request);
    };
    for (let w = 0; w < count; w++) {
      const worker = new Worker(bootstrap, { eval: true, workerData: init });
      threads.push(worker);
      worker.on('message', (message: { id: number; result: Embedded }) => {
        store(misses[message.id] as M, message.result);
        finished += 1;
        if (finished === misses.length) {
          for (const t of threads) t.postMessage('exit');
          resolvePromise();
        } else {
          send(worker);
        }
      });
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (code !== 0 && finished < misses.length)
          fail(new Error(`An evaluation worker exited with code ${code}.`));
      });
      send(worker);
      send(worker);
    }
  });
}
