import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  createReadStream,
  existsSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { copyFile, lstat, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { writeFileAtomic } from '../adapters/local/atomic-file.ts';
import { SqliteIngestLedger } from '../adapters/local/sqlite-ingest-ledger.ts';
import type { IdentifiedFace } from '../core/gallery/service.ts';
import { INGEST_EVENT_VERSION, type IngestEvent, ingestImage, sha256Hex } from '../core/ingest/ingest.ts';
import { type Annotation, annotateImage } from '../core/pipeline/annotate.ts';
import { DEFAULT_DECODE_LIMITS } from '../core/pipeline/image.ts';
import type { LocalGallery } from './composition.ts';
import { isVideoUpload, processVideoUpload } from './video-upload.ts';

/** Where the watcher writes its one line per file (and its warnings). */
export interface UploadWatcherLogger {
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
}

/** Options of {@link startUploadWatcher}. */
export interface UploadWatcherOptions {
  /** How often `uploads/` is listed (default 500 ms). A file is taken once its size held across two polls. */
  pollIntervalMs?: number | undefined;
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
/** Codes that blame the installation, not the upload: retried like a thrown error, not recorded as failed. */
const NOT_THE_FILES_FAULT = new Set([
  'MODEL_UNAVAILABLE',
  'MODEL_MISMATCH',
  'INDEX_CORRUPT',
  'INDEX_INCOMPATIBLE',
]);
const LOCK_NAME = '.watcher.lock';
/** Data directories watched by this process (a second watcher on one folder would race the first). */
const watchedHere = new Set<string>();

/** Whether a name in `uploads/` is a candidate at all. */
export function isUploadName(name: string): boolean {
  return !name.startsWith('.') && !PARTIAL.test(name);
}

/** Boxes and labels for identified faces: name and similarity for a match, else "unknown" or "ambiguous". */
export function identifyAnnotations(faces: readonly IdentifiedFace[]): Annotation[] {
  return faces.map((face) => {
    const { decision } = face;
    const label =
      decision.kind === 'match'
        ? `${decision.subjectName ?? decision.subjectId ?? '?'} ${decision.similarity.toFixed(2)}`
        : decision.kind;
    return { box: face.box, landmarks: face.landmarks, label, kind: decision.kind };
  });
}

/** `photo.jpg`, `photo-1.jpg`, `photo-2.jpg`, … */
function withSuffix(name: string, n: number): string {
  if (n === 0) return name;
  const ext = extname(name);
  return `${name.slice(0, name.length - ext.length)}-${n}${ext}`;
}

/** A temporary name beside `path`, hidden and recognisable so that a restart can remove leftovers. */
function tmpPathFor(dir: string, name: string): string {
  return join(dir, `.fp-${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes a file beside its final name (a hidden temporary name a restart can clean up), then renames it. */
function writeAtomic(dir: string, name: string, data: string | Uint8Array): Promise<void> {
  return writeFileAtomic(join(dir, name), data, tmpPathFor(dir, name));
}

/** Renames a file; across file systems (a symlinked `uploads/`), copies then deletes the original. */
async function moveFile(from: string, toDir: string, name: string): Promise<void> {
  const to = join(toDir, name);
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    const tmp = tmpPathFor(toDir, name);
    await copyFile(from, tmp, constants.COPYFILE_EXCL);
    await rename(tmp, to);
    await unlink(from);
  }
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function errorText(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}

/** Whether a sidecar JSON (result or reason) was written for this very (key, sha256). */
function sidecarMatches(path: string, key: string, sha256: string): boolean {
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as { key?: unknown; sha256?: unknown };
    return json.key === key && json.sha256 === sha256;
  } catch {
    return false;
  }
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
 * its size holds still across two polls; hidden files and `*.tmp`/`*.part` partial writes are ignored) is moved to
 * `processing/`, claimed in the ingest ledger by (file name, sha256), identified with {@link ingestImage}, and
 * settled:
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

  /** Upload name → size and mtime at the previous poll. */
  let seen = new Map<string, string>();
  /** Names in `processing/` waiting for a worker, with whether their claim may be taken over. */
  const queue: { name: string; takeOver: boolean }[] = [];
  /** Names queued or being worked on. */
  const active = new Set<string>();
  /** Names in `processing/` to look at again later. */
  const later = new Map<string, { at: number; takeOver: boolean }>();
  /** Result/failure paths chosen but not yet written, so that two workers never pick the same one. */
  const reserved = new Set<string>();
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
  const rel = (path: string) => relative(paths.root, path);

  /**
   * Picks the name under which a settled file goes into `dir`: the first of `name`, `name-1`, … whose original and
   * sidecars are all free, or whose sidecar was already written for this (key, sha256) but whose original is
   * missing (a crash between the two).
   */
  function reserveSlot(dir: string, name: string, sidecars: string[], sha256: string): string {
    for (let n = 0; ; n++) {
      const slot = withSuffix(name, n);
      const files = [slot, ...sidecars.map((s) => slot + s)].map((f) => join(dir, f));
      if (files.some((f) => reserved.has(f))) continue;
      const [original, sidecar] = files;
      if (existsSync(original!)) continue;
      const taken = files.slice(1).filter((f) => existsSync(f));
      if (taken.length > 0 && !(sidecar && existsSync(sidecar) && sidecarMatches(sidecar, name, sha256)))
        continue;
      for (const f of files) reserved.add(f);
      return slot;
    }
  }
  function release(dir: string, slot: string, sidecars: string[]): void {
    for (const f of [slot, ...sidecars.map((s) => slot + s)]) reserved.delete(join(dir, f));
  }

  async function settleFailure(
    name: string,
    sha256: string,
    error: { code: string; message: string },
    started: number,
    record = true,
  ): Promise<IngestEvent> {
    const sidecars = ['.reason.json'];
    const slot = reserveSlot(paths.failed, name, sidecars, sha256);
    try {
      const reason = {
        code: error.code,
        message: error.message,
        key: name,
        sha256,
        at: new Date().toISOString(),
      };
      await writeAtomic(paths.failed, `${slot}.reason.json`, `${JSON.stringify(reason, null, 2)}\n`);
      if (record) await ledger.fail(name, sha256, `${error.code}: ${error.message}`);
      await moveFile(join(paths.processing, name), paths.failed, slot);
    } finally {
      release(paths.failed, slot, sidecars);
    }
    const target = rel(join(paths.failed, slot));
    logger.info(
      `upload ${name}: failed ${error.code} (${error.message}), ${Math.round(performance.now() - started)} ms → ${target}`,
    );
    return {
      version: INGEST_EVENT_VERSION,
      key: name,
      sha256,
      processedAt: new Date().toISOString(),
      status: 'failed',
      error,
      summary: { faces: 0, matches: 0, unknowns: 0, ambiguous: 0 },
      faces: [],
    };
  }

  async function settleResult(
    name: string,
    bytes: Uint8Array,
    event: IngestEvent,
    started: number,
  ): Promise<void> {
    const sidecars = ['.json', '.annotated.jpg'];
    const slot = reserveSlot(paths.results, name, sidecars, event.sha256);
    try {
      await writeAtomic(paths.results, `${slot}.json`, `${JSON.stringify(event, null, 2)}\n`);
      try {
        const annotated = await annotateImage(bytes, identifyAnnotations(event.faces));
        await writeAtomic(paths.results, `${slot}.annotated.jpg`, annotated);
      } catch (error) {
        // The decision is what matters; a picture that cannot be drawn must not lose it.
        logger.warn(`upload ${name}: no annotated image (${errorText(error)})`);
      }
      // Recorded before the original moves: a crash in between finds it `done` and only finishes the move.
      await ledger.complete(name, event.sha256, rel(join(paths.results, `${slot}.json`)));
      await moveFile(join(paths.processing, name), paths.results, slot);
    } finally {
      release(paths.results, slot, sidecars);
    }
    const { faces, matches, unknowns, ambiguous } = event.summary;
    logger.info(
      `upload ${name}: ${faces} face(s), ${matches} match(es), ${unknowns} unknown, ${ambiguous} ambiguous, ` +
        `${Math.round(performance.now() - started)} ms → ${rel(join(paths.results, `${slot}.json`))}`,
    );
  }

  /** A file the ledger already settled: moved beside its earlier result, not processed again. */
  async function settleDuplicate(name: string, sha256: string, state: 'done' | 'failed'): Promise<void> {
    const record = await ledger.get(name, sha256);
    const dir = state === 'done' ? paths.results : paths.failed;
    const sidecars = state === 'done' ? ['.json', '.annotated.jpg'] : ['.reason.json'];
    const slot = reserveSlot(dir, name, sidecars, sha256);
    try {
      const reasonPath = join(dir, `${slot}.reason.json`);
      if (state === 'failed' && !existsSync(reasonPath)) {
        const [, code = 'FAILED', message = record?.reason ?? ''] =
          /^([A-Z_]+): (.*)$/s.exec(record?.reason ?? '') ?? [];
        const reason = { code, message, key: name, sha256, at: new Date().toISOString() };
        await writeAtomic(dir, `${slot}.reason.json`, `${JSON.stringify(reason, null, 2)}\n`);
      }
      await moveFile(join(paths.processing, name), dir, slot);
    } finally {
      release(dir, slot, sidecars);
    }
    const earlier = record?.resultRef ? ` (${record.resultRef})` : '';
    logger.info(`upload ${name}: already ${state}${earlier}, not processed again → ${rel(join(dir, slot))}`);
  }

  /** A video upload (video-upload.ts): `results/<name>.json` (the video result) and `<name>.annotated.mp4`. */
  async function settleVideo(
    name: string,
    sha256: string,
    started: number,
  ): Promise<IngestEvent | undefined> {
    const scratch = join(paths.processing, `.${name}.annotated.mp4`);
    const outcome = await processVideoUpload(local, join(paths.processing, name), name, scratch);
    if (!outcome.ok) return settleFailure(name, sha256, outcome.error, started);
    const sidecars = ['.json', '.annotated.mp4'];
    const slot = reserveSlot(paths.results, name, sidecars, sha256);
    try {
      await writeAtomic(paths.results, `${slot}.json`, `${JSON.stringify(outcome.result, null, 2)}\n`);
      await moveFile(scratch, paths.results, `${slot}.annotated.mp4`);
      await ledger.complete(name, sha256, rel(join(paths.results, `${slot}.json`)));
      await moveFile(join(paths.processing, name), paths.results, slot);
    } finally {
      release(paths.results, slot, sidecars);
    }
    logger.info(
      `upload ${name}: video, ${outcome.result.tracks.length} track(s) → ${rel(join(paths.results, `${slot}.json`))}`,
    );
    return undefined;
  }

  /** Processes one file of `processing/`; returns the event to report, if it was processed or failed now. */
  async function work(name: string, takeOver: boolean): Promise<IngestEvent | undefined> {
    const path = join(paths.processing, name);
    const started = performance.now();
    let bytes: Buffer | undefined;
    let sha256: string;
    let size = 0;
    try {
      // A huge file (a video dropped by mistake) is fingerprinted from a stream and refused, not read into memory.
      size = (await stat(path)).size;
      if (size > maxBytes) sha256 = await hashFile(path);
      else {
        bytes = await readFile(path);
        sha256 = sha256Hex(bytes);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      // Without its bytes there is no fingerprint to record in the ledger; set it aside with the reason.
      return settleFailure(name, '', { code: 'UNREADABLE', message: errorText(error) }, started, false);
    }
    let claim = await ledger.claim(name, sha256);
    if (!claim.acquired && claim.state === 'claimed' && takeOver) {
      claim = await takeOverLedger.claim(name, sha256);
    }
    if (!claim.acquired) {
      if (claim.state === 'claimed') {
        // Someone else holds a live claim: look again later, when it is settled or stale.
        warnOnce(`upload ${name}: claimed elsewhere; waiting`);
        later.set(name, { at: Date.now() + Math.max(retryDelayMs, pollIntervalMs), takeOver: false });
        return undefined;
      }
      await settleDuplicate(name, sha256, claim.state);
      return undefined;
    }
    if (claim.attempts > maxAttempts) {
      const message = `Processing failed or was interrupted ${claim.attempts - 1} times; the file is set aside.`;
      return settleFailure(name, sha256, { code: 'PROCESSING_ABANDONED', message }, started);
    }
    if (isVideoUpload(name)) return settleVideo(name, sha256, started);
    if (!bytes) {
      const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
      const message = `The file is ${mb(size)}; the limit is ${mb(maxBytes)}.`;
      return settleFailure(name, sha256, { code: 'IMAGE_TOO_LARGE', message }, started);
    }
    const event = await ingestImage(local.gallery, { key: name, bytes });
    if (event.status === 'processed') {
      await settleResult(name, bytes, event, started);
      return event;
    }
    const error = event.error ?? { code: 'FAILED', message: 'Unknown failure.' };
    if (NOT_THE_FILES_FAULT.has(error.code)) throw new Error(`${error.message} (${error.code})`);
    await settleFailure(name, sha256, error, started);
    return event;
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
    const current = new Map<string, string>();
    for (const name of await listFiles(paths.uploads)) {
      let stamp: string;
      try {
        const stat = await lstat(join(paths.uploads, name));
        stamp = `${stat.size}:${stat.mtimeMs}`;
      } catch {
        continue; // gone meanwhile
      }
      if (seen.get(name) !== stamp || active.has(name) || existsSync(join(paths.processing, name))) {
        // Still being written, or a file of that name is still being processed: next time.
        current.set(name, stamp);
        continue;
      }
      active.add(name);
      try {
        await moveFile(join(paths.uploads, name), paths.processing, name);
      } catch (error) {
        active.delete(name);
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          warnOnce(`upload ${name}: cannot move to processing/: ${errorText(error)}`);
          current.set(name, stamp);
        }
        continue;
      }
      active.delete(name);
      enqueue(name, false);
    }
    seen = current;
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
      const leftovers = names.filter((n) => n.startsWith('.fp-') && n.endsWith('.tmp'));
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
