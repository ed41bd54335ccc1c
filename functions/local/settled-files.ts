/**
 * When a file in the uploads folder is complete, and when a failed one deserves another try.
 *
 * **Settled.** A file is taken only once it has stopped changing: its size and modification time are the same
 * at two polls in a row and have not changed for the settle period (default {@link DEFAULT_SETTLE_MS}), judged
 * by its mtime or, for a clock that disagrees, by how long this watcher has seen it unchanged. A writer that may
 * pause longer than the settle period (a slow network copy) should use the **`.partial` → rename** convention:
 * write `photo.jpg.partial` (also `.tmp`, `.part`, `.crdownload`, `.download`; such names are never taken) and
 * rename it to `photo.jpg` when complete.
 *
 * **Changed after failing.** A file taken while still being written fails (a truncated image) and moves to
 * `failed/`; a writer that still holds it open keeps writing there. A file in `failed/` whose content changed
 * after its failure (its mtime is later than its reason file's `at`, and its sha256 differs from the one
 * recorded) is moved back to `uploads/` once it has settled, to be tried again; its old reason file is kept as
 * `<name>.reason.superseded.json`.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

/** Default settle period: a file must hold still this long before it is taken. */
export const DEFAULT_SETTLE_MS = 2000;

/** Decides, poll after poll, which files have stopped changing. */
export class SettleTracker {
  private seen = new Map<string, { stamp: string; since: number }>();

  constructor(readonly settleMs: number = DEFAULT_SETTLE_MS) {}

  /**
   * Records one observation of `name`; true when it has settled: the same size and mtime as at the previous
   * observation, and unchanged for the settle period (by its mtime, or by this tracker's own clock).
   */
  observe(name: string, size: number, mtimeMs: number, now = Date.now()): boolean {
    const stamp = `${size}:${mtimeMs}`;
    const before = this.seen.get(name);
    if (before?.stamp !== stamp) {
      this.seen.set(name, { stamp, since: now });
      return false;
    }
    return now - mtimeMs >= this.settleMs || now - before.since >= this.settleMs;
  }

  /** Forgets every name not in `present` (files taken or removed). */
  keepOnly(present: ReadonlySet<string>): void {
    for (const name of this.seen.keys()) if (!present.has(name)) this.seen.delete(name);
  }

  forget(name: string): void {
    this.seen.delete(name);
  }
}

const REASON = '.reason.json';

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Looks for files in `failedDir` that changed after they failed (see the module comment) and moves each one,
 * once settled, back to `uploadsDir` under its original name. Returns the names moved back.
 */
export class FailedFileRetrier {
  private readonly tracker: SettleTracker;
  /** Failed files found unchanged (same sha256): their stamp, so they are not hashed at every poll. */
  private readonly unchanged = new Map<string, string>();

  constructor(
    private readonly failedDir: string,
    private readonly uploadsDir: string,
    settleMs: number = DEFAULT_SETTLE_MS,
  ) {
    this.tracker = new SettleTracker(settleMs);
  }

  async poll(now = Date.now()): Promise<string[]> {
    const names = await readdir(this.failedDir).catch(() => [] as string[]);
    const present = new Set(names);
    const moved: string[] = [];
    for (const name of names) {
      if (name.startsWith('.') || !present.has(`${name}${REASON}`)) continue;
      const path = join(this.failedDir, name);
      let size: number;
      let mtimeMs: number;
      try {
        const stat = await lstat(path);
        if (!stat.isFile()) continue;
        ({ size, mtimeMs } = stat);
      } catch {
        continue;
      }
      const stamp = `${size}:${mtimeMs}`;
      if (this.unchanged.get(name) === stamp) continue;
      let reason: { at?: unknown; sha256?: unknown; key?: unknown };
      try {
        reason = JSON.parse(await readFile(join(this.failedDir, `${name}${REASON}`), 'utf8'));
      } catch {
        continue;
      }
      const failedAt = typeof reason.at === 'string' ? Date.parse(reason.at) : Number.NaN;
      if (!(mtimeMs > failedAt)) {
        this.unchanged.set(name, stamp);
        continue;
      }
      if (!this.tracker.observe(name, size, mtimeMs, now)) continue;
      if ((await sha256Of(path).catch(() => reason.sha256)) === reason.sha256) {
        this.unchanged.set(name, stamp);
        continue;
      }
      const key = typeof reason.key === 'string' && reason.key ? reason.key : name;
      const back = join(this.uploadsDir, key);
      if (
        await lstat(back).then(
          () => true,
          () => false,
        )
      )
        continue; // a file of that name is waiting: later
      await rename(
        join(this.failedDir, `${name}${REASON}`),
        join(this.failedDir, `${name}.reason.superseded.json`),
      );
      await rename(path, back);
      this.tracker.forget(name);
      moved.push(key);
    }
    this.tracker.keepOnly(present);
    for (const name of this.unchanged.keys()) if (!present.has(name)) this.unchanged.delete(name);
    return moved;
  }
}
