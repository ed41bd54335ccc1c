/**
 * Admission control of the local server (issue 13, finding 4): the requests that run the face pipeline
 * (identify, verify, detect, enrolment) are admitted a few at a time — as many as there are cores — behind a
 * bounded queue; when the queue is full the server answers at once `503 OVERLOADED` with `Retry-After`, instead
 * of letting latency and memory grow without a floor. A queued request whose client disconnects leaves the
 * queue (and an admitted one is cancelled by the pipeline's signal checks). Cheap routes (`/health`, listings,
 * `/openapi.json`) are never queued, so they answer quickly under any load.
 *
 * Written here rather than taken from a library: it is a counter and a FIFO, tied to the request's abort
 * signal and to our error body; the packages that do this (p-limit, p-queue) have no bounded rejection or
 * cancellation of waiting entries. The same gate holds memory below a configured ceiling (RSS checked per
 * pipeline request).
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { FaceprintError } from '../core/errors.ts';
import { errorResponse } from '../handlers/http/errors.ts';

/** Default memory ceiling of the server process (RSS), in MiB: the target of 1 GB. */
export const DEFAULT_MEMORY_CEILING_MB = 1024;
/**
 * Room kept below the ceiling for one more analysis: an image at the 8.3 Mpx pixel budget decodes to 25 MB of
 * RGB, and detection's pyramid and tiles add a few times that.
 */
export const ANALYSIS_RESERVE_MB = 128;

/**
 * Reads `FACEPRINT_MEMORY_CEILING_MB`: absent → the default; anything but a whole number of at least 256 (the
 * models alone take about that) fails closed.
 *
 * @throws FaceprintError INVALID_ARGUMENT with one sentence.
 */
export function parseMemoryCeilingMb(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_MEMORY_CEILING_MB;
  const mb = Number(value);
  if (!Number.isInteger(mb) || mb < 256) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `FACEPRINT_MEMORY_CEILING_MB must be a whole number of MiB, at least 256, not "${value}".`,
    );
  }
  return mb;
}

export interface AdmissionOptions {
  /** Pipeline requests running at once (default: the number of cores). */
  concurrency?: number | undefined;
  /** Requests waiting for a slot before new ones are refused (default: 10 per slot, ~2 s of work on a quiet machine). */
  queueLength?: number | undefined;
  /** Seconds a refused client is told to wait (default 1). */
  retryAfterSeconds?: number | undefined;
  /**
   * The process's memory ceiling in MiB (default {@link DEFAULT_MEMORY_CEILING_MB}): a pipeline request is
   * refused (503) while RSS is within {@link ANALYSIS_RESERVE_MB} of it, so RSS stays below it.
   */
  memoryCeilingMb?: number | undefined;
  /** Reads the process's resident set size in bytes (default `process.memoryUsage.rss`; tests replace it). */
  rss?: (() => number) | undefined;
  /**
   * Longest expected wait in the queue, in ms (default 1,000): a request is refused when the requests ahead of
   * it, at the recently measured time per request, would keep it waiting longer. A count alone lets waits grow
   * with the machine's load (ten per slot is 2 s on a quiet machine, 17 s on a contended one).
   */
  maxWaitMs?: number | undefined;
}

/** Routes that run the face pipeline: POST on these paths. */
const HEAVY = [/^\/identify$/, /^\/verify$/, /^\/detect$/, /^\/subjects$/, /^\/subjects\/[^/]+\/faces$/];

/** Whether a request runs the face pipeline (and so must be admitted). */
export function isPipelineRequest(method: string, path: string): boolean {
  return method === 'POST' && HEAVY.some((p) => p.test(path));
}

/** A gate in front of the app's fetch: bounded concurrency, bounded queue, 503 when full. */
export class Admission {
  readonly concurrency: number;
  readonly queueLength: number;
  private readonly retryAfter: string;
  readonly memoryCeilingMb: number;
  private readonly rss: () => number;
  readonly maxWaitMs: number;
  /** Moving average of an admitted request's duration (ms); undefined until one has finished. */
  private serviceMs: number | undefined;
  private running = 0;
  private readonly waiting: { start: () => void; signal: AbortSignal }[] = [];
  /** Counters for the load benchmark and the health of the gate. */
  readonly counts = { admitted: 0, refused: 0, refusedForMemory: 0, abandoned: 0 };

  constructor(options: AdmissionOptions = {}) {
    this.concurrency = Math.max(1, Math.trunc(options.concurrency ?? availableParallelism()));
    this.queueLength = Math.max(0, Math.trunc(options.queueLength ?? this.concurrency * 10));
    this.retryAfter = String(Math.max(1, Math.round(options.retryAfterSeconds ?? 1)));
    this.memoryCeilingMb = options.memoryCeilingMb ?? DEFAULT_MEMORY_CEILING_MB;
    this.rss = options.rss ?? (() => process.memoryUsage.rss());
    this.maxWaitMs = options.maxWaitMs ?? 1000;
  }

  /** The expected wait of a request queued now, from the measured time per request; 0 before any finished. */
  expectedWaitMs(): number {
    return this.serviceMs === undefined ? 0 : ((this.waiting.length + 1) * this.serviceMs) / this.concurrency;
  }

  /** Feeds one admitted request's duration into the moving average. */
  recordServiceTime(ms: number): void {
    this.serviceMs = this.serviceMs === undefined ? ms : 0.8 * this.serviceMs + 0.2 * ms;
  }

  /** Requests running and waiting now. */
  load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Wraps a fetch handler: pipeline requests go through the gate, everything else straight through. */
  wrap(fetch: (request: Request) => Promise<Response>): (request: Request) => Promise<Response> {
    return async (request) => {
      if (!isPipelineRequest(request.method, new URL(request.url).pathname)) return fetch(request);
      const rssMb = this.rss() / 2 ** 20;
      if (rssMb + ANALYSIS_RESERVE_MB >= this.memoryCeilingMb) {
        this.counts.refusedForMemory++;
        return this.refuse(
          `The server is near its memory ceiling (${Math.round(rssMb)} of ${this.memoryCeilingMb} MiB in use); try again in ${this.retryAfter} s.`,
        );
      }
      if (this.running >= this.concurrency) {
        if (this.waiting.length >= this.queueLength || this.expectedWaitMs() > this.maxWaitMs) {
          this.counts.refused++;
          return this.overloaded();
        }
        const admitted = await this.wait(request.signal);
        if (!admitted) {
          this.counts.abandoned++;
          return this.overloaded();
        }
      } else {
        this.running++;
      }
      this.counts.admitted++;
      const started = performance.now();
      try {
        return await fetch(request);
      } finally {
        this.recordServiceTime(performance.now() - started);
        this.release();
      }
    };
  }

  /** Resolves true when a slot was handed over, false when the client left first. */
  private wait(signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const entry = {
        signal,
        start: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(true);
        },
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(entry);
        if (at >= 0) this.waiting.splice(at, 1);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter (running stays the same), or is freed.
    if (next) next.start();
    else this.running--;
  }

  private overloaded(): Response {
    return this.refuse(
      `The server is busy (${this.concurrency} analyses running, ${this.waiting.length} waiting); try again in ${this.retryAfter} s.`,
    );
  }

  private refuse(message: string): Response {
    const { status, body } = errorResponse('OVERLOADED', message);
    return new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', 'retry-after': this.retryAfter },
    });
  }
}
