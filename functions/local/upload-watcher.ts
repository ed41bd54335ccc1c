/**
 * The uploads folder's watcher: polling and queueing only. It moves each new file of `uploads/` into
 * `processing/` once it holds still, and runs the core's upload workflow (`core/ingest/workflow.ts`) on it with the
 * folder's adapters (`adapters/local/upload-folder.ts`) — the same steps an S3 upload takes in AWS.
 */
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SqliteIngestLedger } from '../adapters/local/sqlite-ingest-ledger.ts';
import { errorText, isTemporaryName, moveFile, UploadFolder } from '../adapters/local/upload-folder.ts';
import type { IngestEvent } from '../core/ingest/ingest.ts';
import type { IngestLedger } from '../core/ingest/ports.ts';
import { ingestUpload } from '../core/ingest/workflow.ts';
import { DEFAULT_DECODE_LIMITS } from '../core/pipeline/image.ts';
import type { LocalGallery } from './composition.ts';
import { DEFAULT_SETTLE_MS, FailedFileRetrier, SettleTracker } from './settled-files.ts';
import { ingestVideoUpload, isVideoUpload } from './video-upload.ts';

/** Where the watcher writes its one line per file (and its warnings). */
export interface UploadWatcherLogger {
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
}

/** Options of {@link startUploadWatcher}. */
export interface UploadWatcherOptions {
  /** How often `uploads/` is listed (default 500 ms). */
  pollIntervalMs?: number | undefined;
  /**
   * How long a file must hold still (size and mtime) before it is taken (default 2 s; see `settled-files.ts`,
   * which also documents the `.partial` → rename convention and the retry of files changed after failing).
   */
  settleMs?: number | undefined;
  /** Files processed at once (default 2). */
  concurrency?: number | undefined;
  /** Called with each event once its result (or failure) is on disk and in the ledger. */
  onEvent?: ((event: IngestEvent) => void) | undefined;
  /** Default: the console. */
  logger?: UploadWatcherLogger | undefined;
  /** Wait before retrying a file whose processing threw (a bug or a broken model; default 5 s). */
  retryDelayMs?: number | undefined;
  /**
   * Claims of one file after which it is set aside in `failed/` (code `PROCESSING_ABANDONED`) instead of being
   * tried again: a file that crashes the process must not crash it at every start (default 3).
   */
  maxAttempts?: number | undefined;
}

/** A running upload watcher. */
export interface UploadWatcher {
  /**
   * Stops polling, lets the files being processed finish, and releases the folder. Files queued but not started
   * stay in `processing/` for the next start.
   */
  stop(): Promise<void>;
  /** Resolves when `uploads/` holds nothing to process and nothing is in flight; rejects if stopped first. */
  drain(): Promise<void>;
}

/** Names that are not (yet) uploads: hidden files and partial writes of common tools. */
const PARTIAL = /\.(tmp|part|partial|crdownload|download)$/i;
const LOCK_NAME = '.watcher.lock';
/** Data directories watched by this process (a second watcher on one folder would race the first). */
const watchedHere = new Set<string>();

/** Whether a name in `uploads/` is a candidate at all. */
export function isUploadName(name: string): boolean {
  return !name.startsWith('.') && !PARTIAL.test(name);
}

/**
 * Takes the watcher lock of a data directory: one watcher per folder, so that whatever it finds in
 * `processing/` at start was left by a crash, not by a live colleague.
 */
function takeLock(processingDir: string): string {
  const path = join(processingDir, LOCK_NAME);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let pid = Number.NaN;
    try {
      pid = Number(readFileSync(path, 'utf8').trim());
    } catch {
      // Vanished meanwhile: try again.
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new Error(`Another upload watcher (pid ${pid}) is already watching ${processingDir}.`);
    }
    // A dead owner (or an earlier watcher of this process that was never stopped): take the lock over.
    try {
      unlinkSync(path);
    } catch {
      // Someone else removed it first.
    }
  }
  throw new Error(`Could not take the upload watcher lock ${path}.`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Watches a data directory's `uploads/` folder, the one-machine stand-in for the S3 trigger. Each new file (once
 * its size and mtime have held still for the settle period, see `settled-files.ts`; hidden files and
 * `*.tmp`/`*.part` partial writes are ignored) is moved to `processing/` and run through the core's upload workflow
 * (`ingestUpload`): claimed in the ingest ledger by (file name, sha256), identified, and settled by
 * {@link UploadFolder}:
 *
 * - processed: `results/<name>.json` (the {@link IngestEvent}), `results/<name>.annotated.jpg`, and the original
 *   moved to `results/<name>`;
 * - failed (an unreadable image, …): the original in `failed/<name>` with `failed/<name>.reason.json`
 *   (`{ code, message, key, sha256, at }`), and the ledger marks it failed.
 *
 * Names already taken get a numeric suffix (`photo-1.jpg`); nothing is overwritten or deleted. A file whose
 * (name, sha256) the ledger already knows as done or failed is moved beside its earlier result without being
 * processed again. Files left in `processing/` by a crash are taken over at the next start. Only one watcher may
 * watch a data directory at a time (a lock file in `processing/`); starting a second throws.
 */
export function startUploadWatcher(local: LocalGallery, options: UploadWatcherOptions = {}): UploadWatcher {
  const { paths, ledger, db } = local.dataDir;
  const pollIntervalMs = Math.max(10, options.pollIntervalMs ?? 500);
  const concurrency = Math.max(1, Math.trunc(options.concurrency ?? 2));
  const retryDelayMs = Math.max(0, options.retryDelayMs ?? 5000);
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const logger = options.logger ?? console;
  const maxBytes = local.gallery.config.analyze.limits?.maxBytes ?? DEFAULT_DECODE_LIMITS.maxBytes;

  if (watchedHere.has(paths.root)) throw new Error(`${paths.root} is already being watched by this process.`);
  const lockPath = takeLock(paths.processing);
  watchedHere.add(paths.root);
  // A second view of the same ledger that treats any open claim as stale: used only for files this watcher owns
  // (left by a crash, or whose processing threw), keeping the connection's pragmas as they were.
  const takeOverLedger = new SqliteIngestLedger(db, {
    staleAfterMs: 0,
    busyTimeoutMs: db.pragma('busy_timeout', { simple: true }) as number,
    synchronous: db.pragma('synchronous', { simple: true }) === 1 ? 'NORMAL' : 'FULL',
  });
  /** The ledger for a file this watcher owns: an open claim on it is taken over. */
  const takingOver: IngestLedger = {
    claim: async (key, fingerprint) => {
      const claim = await ledger.claim(key, fingerprint);
      return !claim.acquired && claim.state === 'claimed' ? takeOverLedger.claim(key, fingerprint) : claim;
    },
    complete: (key, fingerprint, resultRef) => ledger.complete(key, fingerprint, resultRef),
    fail: (key, fingerprint, reason) => ledger.fail(key, fingerprint, reason),
  };
  const folder = new UploadFolder(paths, ledger, maxBytes, logger);

  // Issue 13: settle period and retry of failed files that changed afterwards live in settled-files.ts.
  const settle = new SettleTracker(options.settleMs ?? DEFAULT_SETTLE_MS);
  const retrier = new FailedFileRetrier(paths.failed, paths.uploads, options.settleMs ?? DEFAULT_SETTLE_MS);
  /** Names in `processing/` waiting for a worker, with whether their claim may be taken over. */
  const queue: { name: string; takeOver: boolean }[] = [];
  /** Names queued or being worked on. */
  const active = new Set<string>();
  /** Names in `processing/` to look at again later. */
  const later = new Map<string, { at: number; takeOver: boolean }>();
  const workers = new Set<Promise<void>>();
  const drainWaiters: { after: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  const warned = new Set<string>();
  let pollSeq = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();

  const warnOnce = (line: string) => {
    if (warned.has(line)) return;
    warned.add(line);
    logger.warn(line);
  };
  /** Processes one file of `processing/`; returns the event to report, if it was processed or failed now. */
  async function work(name: string, takeOver: boolean): Promise<IngestEvent | undefined> {
    const ledgerFor = takeOver ? takingOver : ledger;
    if (isVideoUpload(name)) {
      const video = await ingestVideoUpload(name, { local, folder, ledger: ledgerFor, maxAttempts });
      if (video.status === 'busy')
        later.set(name, { at: Date.now() + Math.max(retryDelayMs, pollIntervalMs), takeOver: false });
      return undefined;
    }
    const outcome = await ingestUpload(name, {
      source: folder,
      sink: folder,
      ledger: ledgerFor,
      gallery: async () => local.gallery,
      maxAttempts,
    });
    if (outcome.status === 'busy') {
      // Someone else holds a live claim: look again later, when it is settled or stale.
      warnOnce(`upload ${name}: claimed elsewhere; waiting`);
      later.set(name, { at: Date.now() + Math.max(retryDelayMs, pollIntervalMs), takeOver: false });
      return undefined;
    }
    return outcome.status === 'processed' || outcome.status === 'refused' ? outcome.event : undefined;
  }

  function report(event: IngestEvent): void {
    try {
      options.onEvent?.(event);
    } catch (error) {
      logger.warn(`upload ${event.key}: onEvent threw: ${errorText(error)}`);
    }
  }

  function pump(): void {
    while (!stopped && workers.size < concurrency) {
      const next = queue.shift();
      if (!next) return;
      const { name, takeOver } = next;
      const run = work(name, takeOver)
        .then((event) => {
          if (event) report(event);
        })
        .catch((error: unknown) => {
          // The file stays in processing/ with its claim; it is taken over after a pause, and set aside once
          // it has used up its attempts.
          logger.error(`upload ${name}: processing failed, will retry: ${errorText(error)}`);
          later.set(name, { at: Date.now() + retryDelayMs, takeOver: true });
        })
        .finally(() => {
          active.delete(name);
          workers.delete(run);
          pump();
        });
      workers.add(run);
    }
  }

  function enqueue(name: string, takeOver: boolean): void {
    active.add(name);
    queue.push({ name, takeOver });
  }

  async function listFiles(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => isUploadName(e.name))
      .filter((e) => {
        if (e.isFile()) return true;
        warnOnce(`upload ${e.name}: not a regular file; ignored`);
        return false;
      })
      .map((e) => e.name)
      .sort();
  }

  /** One look at `processing/` and `uploads/`; returns whether there was nothing left to do. */
  async function pollOnce(): Promise<boolean> {
    let pending = 0;
    const now = Date.now();
    for (const name of await listFiles(paths.processing)) {
      if (active.has(name)) continue;
      const retry = later.get(name);
      if (retry && retry.at > now) {
        pending++;
        continue;
      }
      later.delete(name);
      // Not ours and not scheduled: left by the previous run (we hold the lock), so its claim is ours to take over.
      enqueue(name, retry ? retry.takeOver : true);
    }
    for (const name of later.keys()) if (!existsSync(join(paths.processing, name))) later.delete(name);
    for (const name of await retrier.poll())
      logger.info(`upload ${name}: changed after it failed; trying again`);
    const current = new Set<string>();
    for (const name of await listFiles(paths.uploads)) {
      let settled: boolean;
      try {
        const stat = await lstat(join(paths.uploads, name));
        settled = settle.observe(name, stat.size, stat.mtimeMs);
      } catch {
        continue; // gone meanwhile
      }
      if (!settled || active.has(name) || existsSync(join(paths.processing, name))) {
        // Still being written, or a file of that name is still being processed: next time.
        current.add(name);
        continue;
      }
      active.add(name);
      try {
        await moveFile(join(paths.uploads, name), paths.processing, name);
      } catch (error) {
        active.delete(name);
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          warnOnce(`upload ${name}: cannot move to processing/: ${errorText(error)}`);
          current.add(name);
        }
        continue;
      }
      active.delete(name);
      enqueue(name, false);
    }
    settle.keepOnly(current);
    pump();
    return pending === 0 && current.size === 0 && active.size === 0;
  }

  async function tick(): Promise<void> {
    const seq = ++pollSeq;
    let idle = false;
    try {
      idle = await pollOnce();
    } catch (error) {
      warnOnce(`upload watcher: cannot list ${paths.uploads} or ${paths.processing}: ${errorText(error)}`);
    }
    if (idle) {
      for (const waiter of drainWaiters.filter((w) => w.after < seq)) {
        drainWaiters.splice(drainWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
    if (!stopped) {
      timer = setTimeout(() => {
        polling = tick();
      }, pollIntervalMs);
    }
  }

  // Our own temporary files from a crash mid-write are garbage (the files they were copies of are still in
  // place); they go before the first poll, so that none of this run's can be mistaken for one.
  polling = Promise.all(
    [paths.processing, paths.results, paths.failed].map(async (dir) => {
      const names = await readdir(dir).catch(() => []);
      const leftovers = names.filter(isTemporaryName);
      await Promise.all(leftovers.map((n) => unlink(join(dir, n)).catch(() => undefined)));
    }),
  ).then(tick);

  return {
    drain() {
      if (stopped) return Promise.reject(new Error('The upload watcher is stopped.'));
      return new Promise<void>((resolve, reject) => drainWaiters.push({ after: pollSeq, resolve, reject }));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await polling;
      clearTimeout(timer);
      await Promise.allSettled([...workers]);
      for (const waiter of drainWaiters.splice(0)) {
        waiter.reject(new Error('The upload watcher was stopped before the folder drained.'));
      }
      try {
        unlinkSync(lockPath);
      } catch {
        // Already gone.
      }
      watchedHere.delete(paths.root);
    },
  };
}
