import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IndexSnapshotStore } from '../../core/gallery/ports.ts';
import { writeFileAtomic } from './atomic-file.ts';

/**
 * {@link IndexSnapshotStore} in one local file. `save` writes a temporary file next to it, syncs it and
 * renames it over the target, so a reader (or a crash) sees either the old snapshot or the new one.
 */
export class FileSnapshotStore implements IndexSnapshotStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** The snapshot's bytes, or undefined when no snapshot has been saved. */
  /** Changes whenever another process (or this one) replaces the snapshot: its mtime and size. */
  async version(): Promise<string | undefined> {
    try {
      const info = await stat(this.path);
      return `${info.mtimeMs}:${info.size}:${info.ino}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async load(): Promise<Uint8Array | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Atomically replaces the snapshot with `bytes` (creating the parent directory if needed). */
  async save(bytes: Uint8Array): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    // Unique per process and call, so concurrent savers never write into each other's file.
    const tmp = `${this.path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFileAtomic(this.path, bytes, tmp);
    await syncDirectory(dir);
  }
}

// Makes the rename itself durable. Some platforms (Windows) cannot open or sync a directory; skip there.
async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(dir, 'r');
  } catch (error) {
    if (isUnsupportedDirSync(error)) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!isUnsupportedDirSync(error)) throw error;
  } finally {
    await handle.close();
  }
}

function isUnsupportedDirSync(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'EISDIR' || code === 'EPERM' || code === 'EINVAL' || code === 'EACCES';
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}
