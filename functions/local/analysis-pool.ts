/**
 * The face analysis off the event loop (issue 13, finding 4): a fixed pool of worker threads, one per core by
 * default, each with its own single-threaded pipeline (`analysis-worker.ts`), behind the core's
 * {@link FaceAnalyser} port. The server's event loop only parses requests, searches the index and writes the
 * store, so `/health` and listings answer at once however busy the analysis is.
 *
 * - ONNX Runtime threads: `threadsPerWorker × size ≤ cores` (default one intra-op thread per worker).
 * - Admission (`admission.ts`) bounds the requests in front of the pool; the pool's own FIFO only holds the
 *   few jobs a request issues at once (an enrolment's variants) and what the uploads folder hands it.
 * - Cancellation: a job whose signal aborts while queued never reaches a thread; a running one is told to stop
 *   and the pipeline's own checks end it within one step (the thread and its loaded models stay).
 * - A thread that dies (a crash, an out-of-memory abort) fails its job with ANALYSIS_FAILED (HTTP 503, retried
 *   by ingest) and is replaced; the others keep working.
 *
 * Written here rather than with piscina or tinypool (both checked): they cancel a running task by terminating
 * its thread, which here throws away the thread's loaded ONNX sessions (a reload of every model per client
 * that disconnects), and they have no notion of a thread that is started but still loading its models.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FaceprintError, type FaceprintErrorCode } from '../core/errors.ts';
import type { FaceAnalyser } from '../core/pipeline/analyser.ts';
import type { RgbImage } from '../core/pipeline/image.ts';
import type { OnnxBackendOptions } from '../core/pipeline/models.ts';
import type { AnalyzeOptionsInput, AnalyzeResult } from '../core/pipeline/pipeline.ts';
import type { ModelRef } from '../core/types.ts';
import type { AnalysisWorkerInit, FromWorker, ToWorker, WireError } from './analysis-worker.ts';

export interface AnalysisPoolOptions {
  /** Worker threads (default: the number of cores). */
  size?: number | undefined;
  /** ONNX Runtime intra-op threads per worker (default: cores ÷ size, at least 1). */
  threadsPerWorker?: number | undefined;
  /** Where each worker's pipeline finds its models (model pack, execution providers). */
  backend?: Omit<OnnxBackendOptions, 'threads'> | undefined;
  /** Told when a thread dies and is replaced (the server logs it). */
  onWorkerLost?: ((why: string) => void) | undefined;
}

type Job = {
  id: number;
  message: ToWorker & { id: number };
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  signal?: AbortSignal | undefined;
  onAbort?: (() => void) | undefined;
};

interface Thread {
  worker: Worker;
  ready: boolean;
  job: Job | undefined;
  lastError?: string | undefined;
}

/** Source that starts a thread on `analysis-worker.ts` with tsx's loader registered in that thread. */
function workerSource(): string {
  const require = createRequire(import.meta.url);
  const api = pathToFileURL(
    join(dirname(require.resolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs'),
  );
  const entry = new URL('./analysis-worker.ts', import.meta.url);
  return `import(${JSON.stringify(api.href)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
}

const cancelled = () =>
  new FaceprintError('CANCELLED', 'The analysis was cancelled because its caller went away.');

/** A pool of analysis threads; start it with {@link AnalysisPool.start}. */
export class AnalysisPool implements FaceAnalyser {
  readonly size: number;
  readonly threadsPerWorker: number;
  /** What the pool did: jobs run, jobs dropped from the queue by their caller, threads lost and replaced. */
  readonly counts = { ran: 0, cancelledQueued: 0, cancelledRunning: 0, threadsLost: 0 };
  private readonly threads: Thread[] = [];
  private readonly queue: Job[] = [];
  private readonly source = workerSource();
  private readonly init: AnalysisWorkerInit;
  private nextId = 0;
  private disposed = false;
  private modelRef: ModelRef | undefined;
  private dim = 0;

  private constructor(private readonly options: AnalysisPoolOptions) {
    const cores = availableParallelism();
    this.size = Math.max(1, Math.trunc(options.size ?? cores));
    this.threadsPerWorker = Math.max(
      1,
      Math.trunc(options.threadsPerWorker ?? Math.floor(cores / this.size)),
    );
    if (this.threadsPerWorker * this.size > Math.max(cores, this.size)) {
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        `${this.size} analysis workers × ${this.threadsPerWorker} ONNX threads each is more than this machine's ${cores} cores; lower one of them.`,
      );
    }
    this.init = {
      faceprintAnalysisWorker: true,
      backend: { ...options.backend, threads: this.threadsPerWorker },
    };
  }

  /**
   * Starts `size` threads and resolves once every one has loaded and warmed its models.
   *
   * @throws FaceprintError (the thread's own, e.g. MODEL_UNAVAILABLE) when a thread cannot load its models.
   */
  static async start(options: AnalysisPoolOptions = {}): Promise<AnalysisPool> {
    const pool = new AnalysisPool(options);
    try {
      await Promise.all(Array.from({ length: pool.size }, () => pool.spawn()));
    } catch (error) {
      await pool.dispose();
      throw error;
    }
    return pool;
  }

  get model(): ModelRef {
    if (!this.modelRef) throw new Error('The analysis pool is not started.');
    return this.modelRef;
  }

  get embeddingSize(): number {
    return this.dim;
  }

  /** Threads ready, busy, and jobs waiting. */
  load(): { ready: number; busy: number; queued: number } {
    const ready = this.threads.filter((t) => t.ready);
    return { ready: ready.length, busy: ready.filter((t) => t.job).length, queued: this.queue.length };
  }

  /** Every thread warmed its models before {@link AnalysisPool.start} resolved. */
  warmUp(): Promise<void> {
    return Promise.resolve();
  }

  analyze(bytes: Uint8Array, options: AnalyzeOptionsInput = {}): Promise<AnalyzeResult> {
    const { signal, ...rest } = options;
    return this.submit({ type: 'analyze', id: 0, bytes, options: rest }, signal) as Promise<AnalyzeResult>;
  }

  embedCrops(crops: RgbImage[], flip = false): Promise<Float32Array[]> {
    return this.submit({ type: 'embed', id: 0, crops, flip }) as Promise<Float32Array[]>;
  }

  /** Fault injection: ends a busy thread (else any) abruptly, as a native crash would. */
  crashOneWorker(): void {
    const thread = this.threads.find((t) => t.ready && t.job) ?? this.threads.find((t) => t.ready);
    thread?.worker.postMessage({ type: 'crash' } satisfies ToWorker);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const job of this.queue.splice(0)) this.fail(job, 'ANALYSIS_FAILED', 'The server is shutting down.');
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    this.threads.length = 0;
  }

  private submit(message: ToWorker & { id: number }, signal?: AbortSignal): Promise<unknown> {
    if (this.disposed) {
      return Promise.reject(new FaceprintError('ANALYSIS_FAILED', 'The analysis pool is closed.'));
    }
    if (signal?.aborted) return Promise.reject(cancelled());
    return new Promise((resolve, reject) => {
      const id = ++this.nextId;
      const job: Job = { id, message: { ...message, id }, resolve, reject, signal };
      if (signal) {
        job.onAbort = () => {
          const at = this.queue.indexOf(job);
          if (at >= 0) {
            // Never reaches a thread.
            this.queue.splice(at, 1);
            this.counts.cancelledQueued++;
            reject(cancelled());
            return;
          }
          const thread = this.threads.find((t) => t.job === job);
          if (thread) {
            this.counts.cancelledRunning++;
            thread.worker.postMessage({ type: 'cancel', id } satisfies ToWorker);
          }
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const thread of this.threads) {
      if (!thread.ready || thread.job) continue;
      const job = this.queue.shift();
      if (!job) return;
      thread.job = job;
      this.counts.ran++;
      thread.worker.postMessage(job.message);
    }
  }

  private settle(job: Job): void {
    if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
  }

  private fail(job: Job, code: FaceprintErrorCode, message: string): void {
    this.settle(job);
    job.reject(new FaceprintError(code, message));
  }

  /** Starts one thread; resolves when it is ready, rejects when it cannot load its models. */
  private spawn(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const worker = new Worker(this.source, { eval: true, workerData: this.init });
      const thread: Thread = { worker, ready: false, job: undefined };
      this.threads.push(thread);
      let started = false;
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'ready':
            started = true;
            thread.ready = true;
            this.modelRef ??= message.model;
            this.dim ||= message.embeddingSize;
            resolve();
            this.dispatch();
            break;
          case 'start-failed':
            started = true;
            reject(fromWire(message.error));
            void worker.terminate();
            break;
          case 'done':
          case 'error': {
            const job = thread.job;
            if (!job || job.id !== message.id) break;
            thread.job = undefined;
            this.settle(job);
            if (message.type === 'done') job.resolve(message.result);
            else job.reject(fromWire(message.error));
            this.dispatch();
            break;
          }
        }
      });
      worker.on('error', (error) => {
        thread.lastError = error.message;
      });
      worker.on('exit', (code) => {
        const at = this.threads.indexOf(thread);
        if (at >= 0) this.threads.splice(at, 1);
        if (!started) {
          started = true;
          reject(new FaceprintError('ANALYSIS_FAILED', `An analysis thread could not start (exit ${code}).`));
        }
        if (this.disposed || !thread.ready) return;
        this.counts.threadsLost++;
        const why = `An analysis thread stopped (exit ${code}${thread.lastError ? `: ${thread.lastError}` : ''}); it is being replaced.`;
        this.options.onWorkerLost?.(why);
        if (thread.job) {
          this.fail(
            thread.job,
            'ANALYSIS_FAILED',
            'The thread analysing this image stopped unexpectedly; try again.',
          );
        }
        this.replace();
      });
    });
  }

  /** Replaces a lost thread; a replacement that cannot load its models is retried a second later. */
  private replace(): void {
    if (this.disposed) return;
    this.spawn().catch((error: unknown) => {
      // With no thread left, the queue would wait for ever: fail it now, and keep trying to replace.
      if (this.load().ready === 0) {
        const why = error instanceof Error ? error.message : String(error);
        for (const job of this.queue.splice(0)) {
          this.fail(job, 'ANALYSIS_FAILED', `No analysis thread is available (${why}).`);
        }
      }
      setTimeout(() => this.replace(), 1000).unref();
    });
  }
}

function fromWire(error: WireError): Error {
  if (error.code) return new FaceprintError(error.code as FaceprintErrorCode, error.message, error.details);
  return new Error(error.message);
}
