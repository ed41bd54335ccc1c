/**
 * The upload workflow's ports in local mode, over a data directory's folders: the source is `processing/`
 * (where the watcher moves each new file of `uploads/`), versioned by sha256; the sink settles each file beside
 * its outcome:
 *
 * - processed: `results/<name>.json` (the `IngestEvent`), `results/<name>.annotated.jpg`, then the original
 *   moved to `results/<name>`;
 * - failed or refused: `failed/<name>.reason.json` (`{ code, message, key, sha256, at }`), then the original
 *   moved to `failed/<name>`.
 *
 * Names already taken get a numeric suffix (`photo-1.jpg`); nothing is overwritten or deleted. Sidecars are
 * written before the ledger is settled and the original moves after, so a crash in between leaves a sidecar for
 * this very (name, sha256) that the next run reuses.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream, existsSync, readFileSync } from 'node:fs';
import { copyFile, readFile, rename, stat, unlink } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { identifyAnnotations } from '../../core/gallery/annotations.ts';
import { type IngestEvent, sha256Hex } from '../../core/ingest/ingest.ts';
import type {
  DetectionSink,
  RecordedDetection,
  UploadRead,
  UploadSource,
  VersionLookup,
} from '../../core/ingest/ports.ts';
import { annotateImage } from '../../core/pipeline/annotate.ts';
import { writeFileAtomic } from './atomic-file.ts';
import type { DataDirPaths } from './data-dir.ts';
import type { SqliteIngestLedger } from './sqlite-ingest-ledger.ts';

/** Where the folder writes its one line per file (and its warnings). */
export interface UploadFolderLogger {
  info(line: string): void;
  warn(line: string): void;
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

/** Whether a name is one of this module's temporary files (left by a crash mid-write: garbage). */
export function isTemporaryName(name: string): boolean {
  return name.startsWith('.fp-') && name.endsWith('.tmp');
}

/** Writes a file beside its final name (a hidden temporary name a restart can clean up), then renames it. */
function writeAtomic(dir: string, name: string, data: string | Uint8Array): Promise<void> {
  return writeFileAtomic(join(dir, name), data, tmpPathFor(dir, name));
}

/** Renames a file; across file systems (a symlinked `uploads/`), copies then deletes the original. */
export async function moveFile(from: string, toDir: string, name: string): Promise<void> {
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

/** The first line of an error's message, for a log line. */
export function errorText(error: unknown): string {
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

const RESULT_SIDECARS = ['.json', '.annotated.jpg'];
const REASON_SIDECARS = ['.reason.json'];

/** The uploads folder of one data directory as the workflow's source (files in `processing/`) and sink. */
export class UploadFolder implements UploadSource<string>, DetectionSink<string> {
  /** Result/failure paths chosen but not yet written, so that two workers never pick the same one. */
  private readonly reserved = new Set<string>();
  /** Bytes read while fingerprinting, kept for the read that follows the claim. */
  private readonly pending = new Map<string, { version: string; bytes: Uint8Array }>();
  /** When each file's processing started, for its log line. */
  private readonly started = new Map<string, number>();

  constructor(
    private readonly paths: DataDirPaths,
    private readonly ledger: Pick<SqliteIngestLedger, 'get'>,
    private readonly maxBytes: number,
    private readonly logger: UploadFolderLogger,
  ) {}

  keyOf(name: string): string {
    return name;
  }

  async version(name: string): Promise<VersionLookup> {
    const path = join(this.paths.processing, name);
    this.started.set(name, performance.now());
    try {
      // A huge file (a video dropped by mistake) is fingerprinted from a stream and refused, not read into memory.
      if ((await stat(path)).size > this.maxBytes) return { version: await hashFile(path) };
      const bytes = await readFile(path);
      const version = sha256Hex(bytes);
      this.pending.set(name, { version, bytes });
      return { version };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { gone: true };
      // Without its bytes there is no fingerprint to record in the ledger; it is set aside with the reason.
      return { unreadable: errorText(error) };
    }
  }

  async read(name: string, version: string): Promise<UploadRead> {
    const kept = this.pending.get(name);
    this.pending.delete(name);
    if (kept?.version === version) return { bytes: kept.bytes, metadata: {} };
    const path = join(this.paths.processing, name);
    try {
      const size = (await stat(path)).size;
      if (size > this.maxBytes) return { tooLarge: size, limit: this.maxBytes };
      const bytes = await readFile(path);
      const now = sha256Hex(bytes);
      return now === version ? { bytes, metadata: {} } : { replaced: now };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { gone: true };
      throw error;
    }
  }

  async record(
    name: string,
    version: string,
    event: IngestEvent,
    bytes: Uint8Array,
  ): Promise<RecordedDetection> {
    if (event.status === 'failed') return this.refuse(name, version, event);
    const { results } = this.paths;
    const slot = this.reserveSlot(results, name, RESULT_SIDECARS, event.sha256);
    try {
      await writeAtomic(results, `${slot}.json`, `${JSON.stringify(event, null, 2)}\n`);
      try {
        const annotated = await annotateImage(bytes, identifyAnnotations(event.faces));
        await writeAtomic(results, `${slot}.annotated.jpg`, annotated);
      } catch (error) {
        // The decision is what matters; a picture that cannot be drawn must not lose it.
        this.logger.warn(`upload ${name}: no annotated image (${errorText(error)})`);
      }
    } catch (error) {
      this.release(results, slot, RESULT_SIDECARS);
      throw error;
    }
    const { faces, matches, unknowns, ambiguous } = event.summary;
    return this.settling(
      name,
      results,
      slot,
      RESULT_SIDECARS,
      `${this.rel(join(results, `${slot}.json`))}`,
      () => `${faces} face(s), ${matches} match(es), ${unknowns} unknown, ${ambiguous} ambiguous`,
    );
  }

  async refuse(name: string, version: string | undefined, event: IngestEvent): Promise<RecordedDetection> {
    const { failed } = this.paths;
    const sha256 = version ?? '';
    const error = event.error ?? { code: 'FAILED', message: 'Unknown failure.' };
    const slot = this.reserveSlot(failed, name, REASON_SIDECARS, sha256);
    try {
      const reason = { code: error.code, message: error.message, key: name, sha256, at: event.processedAt };
      await writeAtomic(failed, `${slot}.reason.json`, `${JSON.stringify(reason, null, 2)}\n`);
    } catch (cause) {
      this.release(failed, slot, REASON_SIDECARS);
      throw cause;
    }
    const target = this.rel(join(failed, slot));
    return this.settling(
      name,
      failed,
      slot,
      REASON_SIDECARS,
      target,
      () => `failed ${error.code} (${error.message})`,
    );
  }

  /** Drops the bytes kept from fingerprinting (a video, processed from its file instead). */
  forget(name: string): void {
    this.pending.delete(name);
  }

  /** Where a file being processed is. */
  processingPath(name: string): string {
    return join(this.paths.processing, name);
  }

  /** A hidden scratch file beside a file being processed (e.g. an annotated video being written). */
  scratchPath(name: string, suffix: string): string {
    return join(this.paths.processing, `.${name}${suffix}`);
  }

  /** A processed video: its result JSON and annotated MP4 (moved from `scratch`) in `results/`. */
  async recordVideo(
    name: string,
    version: string,
    result: { tracks: readonly unknown[] },
    scratch: string,
  ): Promise<RecordedDetection> {
    const { results } = this.paths;
    const sidecars = ['.json', '.annotated.mp4'];
    const slot = this.reserveSlot(results, name, sidecars, version);
    try {
      await writeAtomic(
        results,
        `${slot}.json`,
        `${JSON.stringify({ key: name, sha256: version, ...result }, null, 2)}\n`,
      );
      if (existsSync(scratch)) await moveFile(scratch, results, `${slot}.annotated.mp4`);
    } catch (error) {
      this.release(results, slot, sidecars);
      throw error;
    }
    const target = this.rel(join(results, `${slot}.json`));
    return this.settling(
      name,
      results,
      slot,
      sidecars,
      target,
      () => `video, ${result.tracks.length} track(s)`,
    );
  }

  /** A file the ledger already settled: moved beside its earlier result, not processed again. */
  async duplicate(name: string, version: string, state: 'done' | 'failed'): Promise<void> {
    this.pending.delete(name);
    const record = await this.ledger.get(name, version);
    const dir = state === 'done' ? this.paths.results : this.paths.failed;
    const sidecars = state === 'done' ? RESULT_SIDECARS : REASON_SIDECARS;
    const slot = this.reserveSlot(dir, name, sidecars, version);
    try {
      const reasonPath = join(dir, `${slot}.reason.json`);
      if (state === 'failed' && !existsSync(reasonPath)) {
        const [, code = 'FAILED', message = record?.reason ?? ''] =
          /^([A-Z_]+): (.*)$/s.exec(record?.reason ?? '') ?? [];
        const reason = { code, message, key: name, sha256: version, at: new Date().toISOString() };
        await writeAtomic(dir, `${slot}.reason.json`, `${JSON.stringify(reason, null, 2)}\n`);
      }
      await moveFile(join(this.paths.processing, name), dir, slot);
    } finally {
      this.release(dir, slot, sidecars);
    }
    const earlier = record?.resultRef ? ` (${record.resultRef})` : '';
    this.logger.info(
      `upload ${name}: already ${state}${earlier}, not processed again → ${this.rel(join(dir, slot))}`,
    );
  }

  /** The record's second half: once the ledger is settled, the original moves into its slot. */
  private settling(
    name: string,
    dir: string,
    slot: string,
    sidecars: string[],
    target: string,
    summary: () => string,
  ): RecordedDetection {
    return {
      resultRef: target,
      settle: async () => {
        try {
          await moveFile(join(this.paths.processing, name), dir, slot);
        } finally {
          this.release(dir, slot, sidecars);
        }
        const ms = Math.round(performance.now() - (this.started.get(name) ?? performance.now()));
        this.started.delete(name);
        this.logger.info(`upload ${name}: ${summary()}, ${ms} ms → ${target}`);
      },
      abandon: () => this.release(dir, slot, sidecars),
    };
  }

  private rel(path: string): string {
    return relative(this.paths.root, path);
  }

  /**
   * Picks the name under which a settled file goes into `dir`: the first of `name`, `name-1`, … whose original and
   * sidecars are all free, or whose sidecar was already written for this (key, sha256) but whose original is
   * missing (a crash between the two).
   */
  private reserveSlot(dir: string, name: string, sidecars: string[], sha256: string): string {
    for (let n = 0; ; n++) {
      const slot = withSuffix(name, n);
      const files = [slot, ...sidecars.map((s) => slot + s)].map((f) => join(dir, f));
      if (files.some((f) => this.reserved.has(f))) continue;
      const [original, sidecar] = files;
      if (existsSync(original!)) continue;
      const taken = files.slice(1).filter((f) => existsSync(f));
      if (taken.length > 0 && !(sidecar && existsSync(sidecar) && sidecarMatches(sidecar, name, sha256)))
        continue;
      for (const f of files) this.reserved.add(f);
      return slot;
    }
  }

  private release(dir: string, slot: string, sidecars: string[]): void {
    for (const f of [slot, ...sidecars.map((s) => slot + s)]) this.reserved.delete(join(dir, f));
  }
}
