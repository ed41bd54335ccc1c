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
 * cancellation of waiting entries.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { errorResponse } from '../handlers/http/errors.ts';

export interface AdmissionOptions {
  /** Pipeline requests running at once (default: the number of cores). */
  concurrency?: number | undefined;
  /** Requests waiting for a slot before new ones are refused (default: 10 per slot, ~2 s of work on a quiet machine). */
  queueLength?: number | undefined;
  /** Seconds a refused client is told to wait (default 1). */
  retryAfterSeconds?: number | undefined;
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
  private running = 0;
  private readonly waiting: { start: () => void; signal: AbortSignal }[] = [];
  /** Counters for the load benchmark and the health of the gate. */
  readonly counts = { admitted: 0, refused: 0, abandoned: 0 };

  constructor(options: AdmissionOptions = {}) {
    this.concurrency = Math.max(1, Math.trunc(options.concurrency ?? availableParallelism()));
    this.queueLength = Math.max(0, Math.trunc(options.queueLength ?? this.concurrency * 10));
    this.retryAfter = String(Math.max(1, Math.round(options.retryAfterSeconds ?? 1)));
  }

  /** Requests running and waiting now. */
  load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Wraps a fetch handler: pipeline requests go through the gate, everything else straight through. */
  wrap(fetch: (request: Request) => Promise<Response>): (request: Request) => Promise<Response> {
    return async (request) => {
      if (!isPipelineRequest(request.method, new URL(request.url).pathname)) return fetch(request);
      if (this.running >= this.concurrency) {
        if (this.waiting.length >= this.queueLength) {
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
      try {
        return await fetch(request);
      } finally {
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
    const { status, body } = errorResponse(
      'OVERLOADED',
      `The server is busy (${this.concurrency} analyses running, ${this.queueLength} waiting); try again in ${this.retryAfter} s.`,
    );
    return new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', 'retry-after': this.retryAfter },
    });
  }
}
