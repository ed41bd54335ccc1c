/**
 * A live camera: runs the video workflow on a stream, and when the stream drops or cannot be reached, opens it
 * again after an exponential backoff (1 s, 2 s, 4 s … capped at 30 s; reset after a connection that delivered
 * frames), until stopped or out of retries.
 */
import { isFaceprintError } from '../errors.ts';
import type { FrameSource } from './frames.ts';
import type { Aggregation } from './track-evidence.ts';
import { processVideo, type VideoJobDeps } from './video-job.ts';
import type { VideoResult } from './video-types.ts';

export interface WatchOptions {
  deps: VideoJobDeps;
  /** Makes a fresh source for each connection attempt. */
  open: () => FrameSource;
  label: string;
  aggregation?: Aggregation;
  /** Attempts after a failure before giving up (Infinity: never). */
  maxRetries: number;
  /** First backoff delay, ms (doubles each failed attempt). */
  backoffMs?: number;
  maxBackoffMs?: number;
  signal?: AbortSignal | undefined;
  log?: (line: string) => void;
  /** Called with each connection's result (tracks of that connection). */
  onSession?: (result: VideoResult) => void;
}

/** Why `watch` stopped. */
export interface WatchEnd {
  sessions: number;
  frames: number;
  reason: 'stopped' | 'retries-exhausted';
  lastError?: string | undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Watches a stream until `signal` aborts or `maxRetries` consecutive attempts fail. */
export async function watch(options: WatchOptions): Promise<WatchEnd> {
  const log = options.log ?? (() => undefined);
  const first = options.backoffMs ?? 1000;
  const cap = options.maxBackoffMs ?? 30_000;
  let failures = 0;
  let sessions = 0;
  let frames = 0;
  let lastError: string | undefined;
  while (!options.signal?.aborted) {
    const source = options.open();
    let delivered = 0;
    try {
      const { result } = await processVideo(source, options.deps, options.label, {
        aggregation: options.aggregation,
        signal: options.signal,
      });
      sessions++;
      delivered = result.frames;
      frames += result.frames;
      options.onSession?.(result);
      lastError = result.reason;
      if (options.signal?.aborted) break;
      log(
        `${options.label}: connection ended after ${result.frames} frame(s)${result.reason ? `: ${result.reason}` : ''}`,
      );
    } catch (error) {
      await source.close();
      if (!isFaceprintError(error)) throw error;
      lastError = error.message;
      log(`${options.label}: ${error.message} (${error.code})`);
    }
    failures = delivered > 0 ? 1 : failures + 1;
    if (failures > options.maxRetries) return { sessions, frames, reason: 'retries-exhausted', lastError };
    const delay = Math.min(cap, first * 2 ** (failures - 1));
    log(`${options.label}: reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${failures})`);
    await sleep(delay, options.signal);
  }
  return { sessions, frames, reason: 'stopped', lastError };
}
