import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteFaceStore } from '../../functions/adapters/local/sqlite-face-store.ts';
import { SqliteIngestLedger } from '../../functions/adapters/local/sqlite-ingest-ledger.ts';

let dir: string;
let dbPath: string;
let clock: number;
const closers: Array<{ close(): void }> = [];

function ledger(options: { staleAfterMs?: number } = {}, file = dbPath): SqliteIngestLedger {
  const l = new SqliteIngestLedger(file, { now: () => clock, ...options });
  closers.push(l);
  return l;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faceprint-ledger-'));
  dbPath = path.join(dir, 'faceprint.db');
  clock = 1_700_000_000_000;
});

afterEach(() => {
  for (const c of closers.splice(0)) c.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('SqliteIngestLedger', () => {
  it('claims a new key once; a redelivery sees the claim', async () => {
    const l = ledger();
    expect(await l.claim('uploads/a.jpg', 'etag-1')).toEqual({
      state: 'claimed',
      firstClaim: true,
      acquired: true,
      attempts: 1,
    });
    expect(await l.claim('uploads/a.jpg', 'etag-1')).toEqual({
      state: 'claimed',
      firstClaim: false,
      acquired: false,
      attempts: 1,
    });
  });

  it('reports done with its result after complete, for every later redelivery', async () => {
    const l = ledger();
    await l.claim('k', 'f');
    clock += 10;
    await l.complete('k', 'f', 'results/k.json');
    for (let i = 0; i < 2; i++) {
      expect(await l.claim('k', 'f')).toMatchObject({ state: 'done', firstClaim: false, acquired: false });
    }
    expect(await l.get('k', 'f')).toEqual({
      key: 'k',
      fingerprint: 'f',
      state: 'done',
      claimedAt: clock - 10,
      updatedAt: clock,
      attempts: 1,
      resultRef: 'results/k.json',
      reason: undefined,
    });
  });

  it('reports failed with its reason after fail', async () => {
    const l = ledger();
    await l.claim('k', 'f');
    await l.fail('k', 'f', 'NO_FACE');
    expect(await l.claim('k', 'f')).toMatchObject({ state: 'failed', firstClaim: false, acquired: false });
    expect(await l.get('k', 'f')).toMatchObject({ state: 'failed', reason: 'NO_FACE', resultRef: undefined });
  });

  it('treats the same key with a new fingerprint (a replaced file) as new work', async () => {
    const l = ledger();
    await l.claim('uploads/a.jpg', 'sha-old');
    await l.complete('uploads/a.jpg', 'sha-old', 'r1');
    expect(await l.claim('uploads/a.jpg', 'sha-new')).toMatchObject({
      state: 'claimed',
      firstClaim: true,
      acquired: true,
    });
    // The old version's record is untouched.
    expect(await l.get('uploads/a.jpg', 'sha-old')).toMatchObject({ state: 'done', resultRef: 'r1' });
    expect(await l.get('uploads/a.jpg', 'sha-new')).toMatchObject({ state: 'claimed' });
  });

  it('re-claims a stale claim (crash mid-processing) with firstClaim=false and state claimed', async () => {
    const l = ledger({ staleAfterMs: 60_000 });
    await l.claim('k', 'f');
    clock += 59_999;
    expect(await l.claim('k', 'f')).toMatchObject({ state: 'claimed', firstClaim: false, acquired: false });
    clock += 1;
    expect(await l.claim('k', 'f')).toEqual({
      state: 'claimed',
      firstClaim: false,
      acquired: true,
      attempts: 2,
    });
    // The take-over restarts the stale clock: an immediate redelivery does not take it over again.
    expect(await l.claim('k', 'f')).toMatchObject({ acquired: false, attempts: 2 });
    expect(await l.get('k', 'f')).toMatchObject({ claimedAt: clock, attempts: 2 });
  });

  it('never re-claims finished work, however old', async () => {
    const l = ledger({ staleAfterMs: 1000 });
    await l.claim('done', 'f');
    await l.complete('done', 'f', 'r');
    await l.claim('failed', 'f');
    await l.fail('failed', 'f', 'boom');
    clock += 10_000_000;
    expect(await l.claim('done', 'f')).toMatchObject({ state: 'done', acquired: false });
    expect(await l.claim('failed', 'f')).toMatchObject({ state: 'failed', acquired: false });
  });

  it('keeps done final when a late fail arrives', async () => {
    const l = ledger({ staleAfterMs: 1000 });
    await l.claim('k', 'f');
    clock += 5000;
    await l.claim('k', 'f'); // taken over by a second processor
    await l.complete('k', 'f', 'r2');
    await l.fail('k', 'f', 'first processor timed out');
    expect(await l.get('k', 'f')).toMatchObject({ state: 'done', resultRef: 'r2', reason: undefined });
  });

  it('records complete and fail for keys that were never claimed', async () => {
    const l = ledger();
    await l.complete('a', 'f', 'r');
    await l.fail('b', 'f', 'why');
    expect(await l.get('a', 'f')).toMatchObject({ state: 'done', resultRef: 'r' });
    expect(await l.get('b', 'f')).toMatchObject({ state: 'failed', reason: 'why' });
    expect(await l.get('c', 'f')).toBeUndefined();
  });

  it('gives exactly one first claim across connections and survives a reopen', async () => {
    const a = ledger();
    const b = ledger();
    const results = await Promise.all([a.claim('k', 'f'), b.claim('k', 'f'), a.claim('k', 'f')]);
    expect(results.filter((r) => r.firstClaim)).toHaveLength(1);
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
    await b.complete('k', 'f', 'r');
    a.close();
    b.close();
    expect(await ledger().claim('k', 'f')).toMatchObject({ state: 'done', firstClaim: false });
  });

  it('shares a database connection with the face store', async () => {
    const store = new SqliteFaceStore(dbPath);
    closers.push(store);
    const l = new SqliteIngestLedger(store.db);
    await l.claim('k', 'f');
    await store.createSubject(
      { id: 's', name: 'S', metadata: {}, createdAt: '2025-01-01T00:00:00.000Z' },
      [],
    );
    l.close(); // does not close the borrowed connection
    expect(store.db.open).toBe(true);
    expect(await store.getSubject('s')).toBeDefined();
    expect(await new SqliteIngestLedger(store.db).get('k', 'f')).toMatchObject({ state: 'claimed' });
  });
});
