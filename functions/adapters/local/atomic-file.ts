import { open, rename, unlink } from 'node:fs/promises';

/**
 * Writes `data` to `target` so that readers, and a crash, see all of it or nothing: it goes to `tmp` (created
 * exclusively, owner-only), is fsynced, then renamed over `target`. The temporary file is removed on failure.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, tmp: string): Promise<void> {
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, target);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}
