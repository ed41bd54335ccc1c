import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDataDir } from '../../functions/adapters/local/data-dir.ts';
import { SCHEMA_VERSION, SqliteFaceStore } from '../../functions/adapters/local/sqlite-face-store.ts';
import type { DecisionAuditEntry, FaceTemplate, Subject } from '../../functions/core/domain.ts';
import { isFaceprintError } from '../../functions/core/errors.ts';

const storeModule = fileURLToPath(
  new URL('../../functions/adapters/local/sqlite-face-store.ts', import.meta.url),
);

let dir: string;
let dbPath: string;
const opened: SqliteFaceStore[] = [];

function open(file = dbPath): SqliteFaceStore {
  const store = new SqliteFaceStore(file);
  opened.push(store);
  return store;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faceprint-store-'));
  dbPath = path.join(dir, 'faceprint.db');
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function subject(id: string, createdAt = '2025-01-01T00:00:00.000Z'): Subject {
  return { id, name: `Name ${id}`, metadata: { team: 'blue', note: 'ü ✓' }, createdAt };
}

let nextValue = 1;
function embedding(length = 512): Float32Array {
  // Awkward values (subnormals, negative zero's neighbour, large magnitudes) to catch any lossy encoding.
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = Math.sin(nextValue++ * 12.9898) * 10 ** ((i % 9) - 4);
  values[0] = 1.401298464324817e-45;
  return values;
}

function template(id: string, subjectId: string, emb = embedding()): FaceTemplate {
  return {
    id,
    subjectId,
    source: `${id}.jpg`,
    box: { x: 10.5, y: 20, width: 64, height: 80 },
    quality: {
      score: 0.8,
      reasons: ['LOW_BRIGHTNESS'],
      brightness: 40.25,
      contrast: 12,
      sharpness: 300.125,
      interOcularPx: 30,
      detectionScore: 0.99,
      yaw: -3.5,
      pitch: 2,
      roll: 0.1,
    },
    embedding: emb,
    variant: 'original',
    model: { id: 'arcface', version: '1.0' },
    createdAt: '2025-01-01T00:00:00.000Z',
  };
}

function audit(id: string, at: string, margin = 0.05): DecisionAuditEntry {
  return {
    id,
    at,
    operation: 'identify',
    source: `req-${id}`,
    faceIndex: 0,
    box: { x: 1, y: 2, width: 3, height: 4 },
    quality: template('q', 's').quality,
    decision: {
      kind: 'unknown',
      subjectId: undefined,
      similarity: 0.2,
      threshold: 0.45,
      margin,
      confidence: 0.1,
      candidates: [{ subjectId: 's1', similarity: 0.2, templateId: 't1' }],
    },
    model: { id: 'arcface', version: '1.0' },
    calibration: 'cal-1',
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFaceprintError(error) ? error.code : error).toBe(code);
}

describe('SqliteFaceStore', () => {
  it('opens a new file with WAL, foreign keys and the current schema version', () => {
    const store = open();
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(Number(store.db.pragma('busy_timeout', { simple: true }))).toBeGreaterThan(0);
  });

  it('refuses a database written by a newer schema', () => {
    const raw = new Database(dbPath);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => open()).toThrow(/newer/);
  });

  it('creates, gets and counts subjects with their templates', async () => {
    const store = open();
    const t1 = template('t1', 'alice');
    const t2 = { ...template('t2', 'alice'), variant: 'dark' as const };
    await store.createSubject(subject('alice'), [t1, t2]);

    expect(await store.getSubject('alice')).toEqual(subject('alice'));
    expect(await store.getSubject('nobody')).toBeUndefined();
    expect(await store.countTemplates('alice')).toBe(2);
    expect(await store.countTemplates('nobody')).toBe(0);
    const templates = await store.listTemplates('alice');
    expect(templates).toEqual([t1, t2]);
    expect(templates[0]?.embedding).toBeInstanceOf(Float32Array);
  });

  it('throws SUBJECT_EXISTS for a taken id and writes none of the new templates', async () => {
    const store = open();
    await store.createSubject(subject('alice'), [template('t1', 'alice')]);
    await expectCode(store.createSubject(subject('alice'), [template('t2', 'alice')]), 'SUBJECT_EXISTS');
    expect((await store.listTemplates()).map((t) => t.id)).toEqual(['t1']);
  });

  it('adds templates to an existing subject and throws SUBJECT_NOT_FOUND otherwise', async () => {
    const store = open();
    await store.createSubject(subject('alice'), [template('t1', 'alice')]);
    await store.addTemplates('alice', [template('t2', 'alice'), template('t3', 'alice')]);
    expect((await store.listTemplates('alice')).map((t) => t.id)).toEqual(['t1', 't2', 't3']);

    await expectCode(store.addTemplates('bob', [template('t4', 'bob')]), 'SUBJECT_NOT_FOUND');
    await expectCode(store.addTemplates('bob', []), 'SUBJECT_NOT_FOUND');
    expect(await store.countTemplates('bob')).toBe(0);
  });

  it('rejects templates that belong to another subject', async () => {
    const store = open();
    await expectCode(store.createSubject(subject('alice'), [template('t1', 'bob')]), 'INVALID_ARGUMENT');
    expect(await store.getSubject('alice')).toBeUndefined();
  });

  it('rolls back a createSubject whose second template violates a constraint', async () => {
    const store = open();
    await store.createSubject(subject('alice'), [template('taken', 'alice')]);
    // The second template reuses an existing template id: UNIQUE fails after the subject row and the
    // first template were inserted.
    await expectCode(
      store.createSubject(subject('bob'), [template('fresh', 'bob'), template('taken', 'bob')]),
      'INVALID_ARGUMENT',
    );
    expect(await store.getSubject('bob')).toBeUndefined();
    expect((await store.listTemplates()).map((t) => t.id)).toEqual(['taken']);
    expect(await store.countTemplates('bob')).toBe(0);
  });

  it('rolls back an addTemplates whose second template repeats the first', async () => {
    const store = open();
    await store.createSubject(subject('alice'), [template('t1', 'alice')]);
    await expectCode(
      store.addTemplates('alice', [template('t2', 'alice'), template('t2', 'alice')]),
      'INVALID_ARGUMENT',
    );
    expect(await store.countTemplates('alice')).toBe(1);
  });

  it('deletes a subject together with its templates', async () => {
    const store = open();
    await store.createSubject(subject('alice'), [template('a1', 'alice'), template('a2', 'alice')]);
    await store.createSubject(subject('bob'), [template('b1', 'bob')]);

    expect(await store.deleteSubject('alice')).toBe(true);
    expect(await store.deleteSubject('alice')).toBe(false);
    expect(await store.getSubject('alice')).toBeUndefined();
    expect(await store.countTemplates('alice')).toBe(0);
    expect((await store.listTemplates()).map((t) => t.id)).toEqual(['b1']);
    const orphans = store.db
      .prepare("SELECT count(*) FROM templates WHERE subject_id = 'alice'")
      .pluck()
      .get();
    expect(orphans).toBe(0);
    // The id is free again.
    await store.createSubject(subject('alice'), []);
    expect(await store.getSubject('alice')).toBeDefined();
  });

  it('pages through subjects ordered by (createdAt, id)', async () => {
    const store = open();
    // Several subjects share a timestamp so the id tie-break matters; insertion order is shuffled.
    for (const i of [4, 0, 6, 2, 5, 1, 3]) {
      await store.createSubject(subject(`s${i}`, `2025-01-0${1 + Math.floor(i / 3)}T00:00:00.000Z`), []);
    }
    const expected = ['s0', 's1', 's2', 's3', 's4', 's5', 's6'];

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.listSubjects({ limit: 3, cursor });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((s) => s.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    expect(seen).toEqual(expected);
    expect(pages).toBe(3);

    // Exactly a multiple of the page size: the last full page has no cursor.
    const all = await store.listSubjects({ limit: 7 });
    expect(all.items.map((s) => s.id)).toEqual(expected);
    expect(all.nextCursor).toBeUndefined();
    expect((await store.listSubjects({ limit: 1 })).nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('keeps paging correctly when subjects are added or removed between pages', async () => {
    const store = open();
    for (const id of ['a', 'b', 'c', 'd']) await store.createSubject(subject(id), []);
    const first = await store.listSubjects({ limit: 2 });
    await store.deleteSubject('b');
    await store.createSubject(subject('e'), []);
    const second = await store.listSubjects({ limit: 2, cursor: first.nextCursor });
    expect(first.items.map((s) => s.id)).toEqual(['a', 'b']);
    expect(second.items.map((s) => s.id)).toEqual(['c', 'd']);
    expect(second.nextCursor).toBeDefined();
  });

  it('rejects bad cursors and limits with INVALID_ARGUMENT', async () => {
    const store = open();
    await store.appendAudit([audit('x', '2025-01-01T00:00:00.000Z'), audit('y', '2025-01-01T00:00:00.000Z')]);
    const auditCursor = (await store.listAudit({ limit: 1 })).nextCursor;
    expect(auditCursor).toBeDefined();

    const bad = [
      'not a cursor!',
      '',
      Buffer.from('{"oops":').toString('base64url'),
      Buffer.from('["s", 1, 2]').toString('base64url'),
      Buffer.from('["s", "2025", "a", "extra"]').toString('base64url'),
      auditCursor,
    ];
    for (const cursor of bad) await expectCode(store.listSubjects({ limit: 2, cursor }), 'INVALID_ARGUMENT');
    await expectCode(
      store.listAudit({ limit: 2, cursor: Buffer.from('["a", "2025", 1.5]').toString('base64url') }),
      'INVALID_ARGUMENT',
    );
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      await expectCode(store.listSubjects({ limit }), 'INVALID_ARGUMENT');
      await expectCode(store.listAudit({ limit }), 'INVALID_ARGUMENT');
    }
  });

  it('survives a reopen with the same subjects and byte-identical embeddings', async () => {
    const store = open();
    // An embedding that is a view at an odd offset of a larger buffer: only its own bytes must be stored.
    const backing = new ArrayBuffer(4 * 600);
    const view = new Float32Array(backing, 4 * 7, 512);
    view.set(embedding());
    new Float32Array(backing).fill(99, 0, 7);
    const templates = [template('t1', 'alice', view), template('t2', 'alice', embedding(128))];
    await store.createSubject(subject('alice'), templates);
    await store.createSubject(subject('bob'), [template('t3', 'bob')]);
    store.close();

    const reopened = open();
    expect(await reopened.getSubject('alice')).toEqual(subject('alice'));
    expect((await reopened.listSubjects({ limit: 10 })).items.map((s) => s.id)).toEqual(['alice', 'bob']);
    const loaded = await reopened.listTemplates('alice');
    expect(loaded.map((t) => t.embedding.length)).toEqual([512, 128]);
    for (const [i, original] of templates.entries()) {
      const got = loaded[i]?.embedding;
      expect(got).toBeDefined();
      if (!got) continue;
      expect(got.byteOffset).toBe(0);
      expect(got.buffer.byteLength).toBe(got.byteLength);
      expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength)).toEqual(
        Buffer.from(original.embedding.buffer, original.embedding.byteOffset, original.embedding.byteLength),
      );
    }
    expect(loaded[0]?.box).toEqual(templates[0]?.box);
    expect(loaded[0]?.quality).toEqual(templates[0]?.quality);
  });

  it('exposes insertion sequence numbers for incremental index rebuilds', async () => {
    const store = open();
    expect(await store.maxTemplateSeq()).toBe(0);
    await store.createSubject(subject('alice'), [template('a1', 'alice'), template('a2', 'alice')]);
    const mark = await store.maxTemplateSeq();
    await store.createSubject(subject('bob'), [template('b1', 'bob')]);
    await store.addTemplates('alice', [template('a3', 'alice')]);

    const after = await store.templatesAfter(mark);
    expect(after.map((s) => s.template.id)).toEqual(['b1', 'a3']);
    expect(after.every((s) => s.seq > mark)).toBe(true);
    expect(after[1]?.seq).toBe(await store.maxTemplateSeq());
    expect((await store.templatesAfter(0, 2)).map((s) => s.template.id)).toEqual(['a1', 'a2']);
    expect((await store.listTemplates()).map((t) => t.id)).toEqual(['a1', 'a2', 'b1', 'a3']);

    // Sequence numbers are never reused, even after the newest template is deleted.
    const top = await store.maxTemplateSeq();
    await store.deleteSubject('alice');
    await store.createSubject(subject('carol'), [template('c1', 'carol')]);
    const [c1] = await store.templatesAfter(top);
    expect(c1?.template.id).toBe('c1');
    expect(c1?.seq).toBeGreaterThan(top);
    await expectCode(store.templatesAfter(-1), 'INVALID_ARGUMENT');
  });

  it('appends audit rows and lists them newest first across pages', async () => {
    const store = open();
    await store.appendAudit([
      audit('e1', '2025-01-01T00:00:01.000Z'),
      audit('e3', '2025-01-01T00:00:03.000Z', Number.POSITIVE_INFINITY),
      audit('e2a', '2025-01-01T00:00:02.000Z'),
    ]);
    await store.appendAudit([
      audit('e2b', '2025-01-01T00:00:02.000Z'),
      audit('e4', '2025-01-01T00:00:04.000Z'),
    ]);
    await store.appendAudit([]);
    // Re-appending a logged id is a no-op.
    await store.appendAudit([audit('e1', '2025-01-01T00:00:01.000Z')]);

    const seen: DecisionAuditEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listAudit({ limit: 2, cursor });
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    // Same `at`: the later insertion is newer.
    expect(seen.map((e) => e.id)).toEqual(['e4', 'e3', 'e2b', 'e2a', 'e1']);
    expect(seen[4]).toEqual(audit('e1', '2025-01-01T00:00:01.000Z'));
    expect(seen[1]?.decision.margin).toBe(Number.POSITIVE_INFINITY);
    expect('subjectId' in (seen[0]?.decision ?? {})).toBe(false);

    const row = store.db.prepare("SELECT operation, source FROM audit WHERE id = 'e3'").get();
    expect(row).toEqual({ operation: 'identify', source: 'req-e3' });
  });

  it('lets two connections on the same file write at the same time', async () => {
    const a = open();
    const b = open();
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      writes.push(a.createSubject(subject(`a${i}`), [template(`ta${i}`, `a${i}`)]));
      writes.push(b.createSubject(subject(`b${i}`), [template(`tb${i}`, `b${i}`)]));
    }
    await Promise.all(writes);
    expect((await a.listSubjects({ limit: 100 })).items).toHaveLength(40);
    expect(await b.maxTemplateSeq()).toBe(40);
  });

  it('waits for another process holding the write lock instead of failing (busy_timeout)', async () => {
    open().close(); // create the schema first
    const holder = new Database(dbPath);
    holder.exec('BEGIN IMMEDIATE');
    holder.prepare("INSERT INTO subjects VALUES ('held', 'Held', '{}', '2025-01-01T00:00:00.000Z')").run();

    const children = ['p', 'q'].map((prefix) => runChild(prefix, 25));
    try {
      // Both children have opened the store and are about to write into the held lock.
      await Promise.all(children.map((c) => c.ready));
      await new Promise((r) => setTimeout(r, 500));
      expect(await Promise.race([...children.map((c) => c.exit), 'blocked'])).toBe('blocked');
      holder.exec('COMMIT');
      expect(await Promise.all(children.map((c) => c.exit))).toEqual([0, 0]);
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
    }
    const store = open();
    const ids = (await store.listSubjects({ limit: 100 })).items.map((s) => s.id);
    expect(ids).toHaveLength(51);
    expect(ids).toContain('held');
    expect(await store.maxTemplateSeq()).toBe(50);
  });
});

/** Runs a child Node process that writes `count` subjects through its own SqliteFaceStore. */
function runChild(prefix: string, count: number): { ready: Promise<void>; exit: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', childScript(prefix, count)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`child ${prefix} exited (${code}) before it was ready`)));
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { ready, exit };
}

function childScript(prefix: string, count: number): string {
  return `
    const { SqliteFaceStore } = await import(${JSON.stringify(pathToFileURL(storeModule).href)});
    const store = new SqliteFaceStore(${JSON.stringify(dbPath)}, { busyTimeoutMs: 20000 });
    process.stdout.write('ready\\n');
    for (let i = 0; i < ${count}; i++) {
      const id = ${JSON.stringify(prefix)} + i;
      await store.createSubject(
        { id, name: id, metadata: {}, createdAt: new Date().toISOString() },
        [{ id: 't' + id, subjectId: id, source: 'x', box: { x: 0, y: 0, width: 1, height: 1 },
           quality: {}, embedding: new Float32Array([i, 1, 2]), variant: 'original',
           model: { id: 'm', version: '1' }, createdAt: new Date().toISOString() }],
      );
    }
    store.close();
  `;
}

describe('openDataDir', () => {
  it('creates the layout and shares one database between the stores', async () => {
    const root = path.join(dir, 'data');
    const data = openDataDir(root);
    try {
      for (const p of [data.paths.uploads, data.paths.results, data.paths.failed, data.paths.processing]) {
        expect(fs.statSync(p).isDirectory()).toBe(true);
      }
      expect(data.paths.database).toBe(path.join(root, 'faceprint.db'));
      expect(data.paths.indexSnapshot).toBe(path.join(root, 'index', 'gallery.fpidx'));
      expect(fs.statSync(path.dirname(data.paths.indexSnapshot)).isDirectory()).toBe(true);
      expect(data.faceStore.db).toBe(data.ledger.db);
      await data.faceStore.createSubject(subject('alice'), []);
      await data.ledger.claim('uploads/a.jpg', 'sha-1');
      expect(await data.snapshots.load()).toBeUndefined();
    } finally {
      data.close();
    }
    expect(data.db.open).toBe(false);
    // Reopening an existing directory keeps its data.
    const again = openDataDir(root);
    try {
      expect(await again.faceStore.getSubject('alice')).toBeDefined();
      expect((await again.ledger.claim('uploads/a.jpg', 'sha-1')).firstClaim).toBe(false);
    } finally {
      again.close();
    }
  });

  it('defaults to FACEPRINT_DATA_DIR or ./.faceprint', async () => {
    const { defaultDataDir } = await import('../../functions/adapters/local/data-dir.ts');
    expect(defaultDataDir({}, '/srv/app')).toBe(path.resolve('/srv/app', '.faceprint'));
    expect(defaultDataDir({ FACEPRINT_DATA_DIR: '' }, '/srv/app')).toBe(
      path.resolve('/srv/app', '.faceprint'),
    );
    expect(defaultDataDir({ FACEPRINT_DATA_DIR: 'data' }, '/srv/app')).toBe(path.resolve('/srv/app', 'data'));
    expect(defaultDataDir({ FACEPRINT_DATA_DIR: '/var/fp' }, '/srv/app')).toBe(path.resolve('/var/fp'));
  });
});
