import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSnapshotStore } from '../../functions/adapters/local/file-snapshot-store.ts';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faceprint-snapshot-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe('FileSnapshotStore', () => {
  it('returns undefined while no snapshot exists', async () => {
    expect(await new FileSnapshotStore(path.join(dir, 'missing', 'gallery.fpidx')).load()).toBeUndefined();
  });

  it('saves and loads bytes exactly, creating the parent directory', async () => {
    const file = path.join(dir, 'index', 'gallery.fpidx');
    const store = new FileSnapshotStore(file);
    const data = bytes(100_003, 7);
    await store.save(data);
    const loaded = await store.load();
    expect(loaded).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(loaded ?? [])).toEqual(Buffer.from(data));
    expect(fs.readdirSync(path.dirname(file))).toEqual(['gallery.fpidx']);
  });

  it('saves only the bytes of a view into a larger buffer', async () => {
    const store = new FileSnapshotStore(path.join(dir, 'snap'));
    const backing = bytes(64, 1);
    await store.save(backing.subarray(8, 24));
    expect(Buffer.from((await store.load()) ?? [])).toEqual(Buffer.from(backing.subarray(8, 24)));
  });

  it('replaces the previous snapshot and leaves no temporary files', async () => {
    const file = path.join(dir, 'snap');
    const store = new FileSnapshotStore(file);
    await store.save(bytes(1000, 1));
    await store.save(bytes(10, 2));
    await store.save(new Uint8Array(0));
    expect((await store.load())?.byteLength).toBe(0);
    await store.save(bytes(10, 3));
    expect(Buffer.from((await store.load()) ?? [])).toEqual(Buffer.from(bytes(10, 3)));
    expect(fs.readdirSync(dir)).toEqual(['snap']);
  });

  it('lets readers see whole snapshots only while concurrent saves race', async () => {
    const file = path.join(dir, 'snap');
    const store = new FileSnapshotStore(file);
    const versions = [bytes(200_000, 1), bytes(50_000, 2), bytes(300_000, 3), bytes(1, 4)];
    await store.save(versions[0] ?? new Uint8Array());
    const asKeys = new Set(versions.map((v) => Buffer.from(v).toString('base64')));

    const saves = Promise.all(
      Array.from({ length: 20 }, (_, i) => store.save(versions[i % versions.length] ?? new Uint8Array())),
    );
    const reads: string[] = [];
    for (let i = 0; i < 20; i++) reads.push(Buffer.from((await store.load()) ?? []).toString('base64'));
    await saves;
    for (const read of reads) expect(asKeys.has(read)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['snap']);
  });

  it('keeps the old snapshot and removes its temporary file when the rename fails', async () => {
    const file = path.join(dir, 'snap');
    const store = new FileSnapshotStore(file);
    await store.save(bytes(10, 1));
    // A directory where the file should be: the rename fails after the temporary file was written.
    const blocked = new FileSnapshotStore(path.join(dir, 'blocked'));
    fs.mkdirSync(path.join(dir, 'blocked', 'child'), { recursive: true });
    await expect(blocked.save(bytes(10, 2))).rejects.toThrow();
    expect(fs.readdirSync(dir).sort()).toEqual(['blocked', 'snap']);
    expect(Buffer.from((await store.load()) ?? [])).toEqual(Buffer.from(bytes(10, 1)));
  });
});
