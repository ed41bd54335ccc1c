/**
 * The data behind the web console, on the real SQLite store: enrolment thumbnails (stored with the original
 * template, never loaded with the index's templates, erased with the subject, added to an older database by
 * migration) and the filtered, paged read of the audit log (`queryDecisions`), whose pages never skip or repeat.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, SqliteFaceStore } from '../../functions/adapters/local/sqlite-face-store.ts';
import { MAX_SCANNED_PER_PAGE, queryDecisions } from '../../functions/core/audit/decisions.ts';
import type { DecisionAuditEntry, DecisionKind, FaceTemplate } from '../../functions/core/domain.ts';

let dir: string;
let store: SqliteFaceStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faceprint-console-data-'));
  store = new SqliteFaceStore(path.join(dir, 'faceprint.db'));
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const quality = {
  score: 0.9,
  reasons: [],
  brightness: 100,
  contrast: 40,
  sharpness: 200,
  interOcularPx: 40,
  detectionScore: 0.99,
  yaw: 0,
  pitch: 0,
  roll: 0,
};

function template(id: string, subjectId: string, thumbnail?: Uint8Array): FaceTemplate {
  return {
    id,
    subjectId,
    source: `${id}.jpg`,
    box: { x: 0, y: 0, width: 50, height: 50 },
    quality,
    embedding: new Float32Array([0.6, 0.8]),
    variant: thumbnail ? 'original' : 'blur',
    model: { id: 'm', version: '1' },
    createdAt: '2026-01-01T00:00:00.000Z',
    thumbnail,
  };
}

const subject = (id: string) => ({ id, name: id, metadata: {}, createdAt: '2026-01-01T00:00:00.000Z' });

describe('enrolment thumbnails in the SQLite store', () => {
  it('keeps them with the original template, finds the first, and erases them with the subject', async () => {
    const first = new Uint8Array([0xff, 0xd8, 1, 2, 3]);
    const second = new Uint8Array([0xff, 0xd8, 9]);
    await store.createSubject(subject('ann'), [template('t1', 'ann', first), template('t1b', 'ann')]);
    await store.addTemplates('ann', [template('t2', 'ann', second)]);
    expect(await store.getThumbnail('ann')).toEqual(first);
    expect(await store.getThumbnail('ann', 't2')).toEqual(second);
    expect(await store.getThumbnail('ann', 't1b')).toBeUndefined();
    expect(await store.getThumbnail('ann', 'nope')).toBeUndefined();
    // Another subject's template id does not leak through someone else's path.
    await store.createSubject(subject('bob'), []);
    expect(await store.getThumbnail('bob', 't1')).toBeUndefined();
    // The index's reads never carry the JPEG.
    expect((await store.listTemplates()).every((t) => t.thumbnail === undefined)).toBe(true);
    await store.deleteSubject('ann');
    expect(await store.getThumbnail('ann')).toBeUndefined();
    const rows = store.db.prepare('SELECT count(*) AS n FROM templates WHERE thumbnail IS NOT NULL').get();
    expect(rows).toEqual({ n: 0 });
  });

  it('adds the column to a database of the previous schema version', () => {
    const file = path.join(dir, 'old.db');
    const old = new SqliteFaceStore(file);
    old.db.exec('ALTER TABLE templates DROP COLUMN thumbnail');
    // Version 2: the schema before migration 3 added the thumbnail column (the later ones run again too).
    old.db.pragma('user_version = 2');
    old.close();
    const reopened = new SqliteFaceStore(file);
    const columns = reopened.db.prepare('PRAGMA table_info(templates)').all() as { name: string }[];
    expect(columns.map((c) => c.name)).toContain('thumbnail');
    expect(reopened.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    reopened.close();
  });
});

function entry(i: number, kind: DecisionKind, source: string): DecisionAuditEntry {
  return {
    id: `e${i}`,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    operation: i % 5 === 0 ? 'verify' : 'identify',
    source,
    faceIndex: 0,
    box: { x: 0, y: 0, width: 1, height: 1 },
    quality,
    decision: {
      kind,
      subjectId: kind === 'unknown' ? undefined : 's',
      similarity: 0.5,
      threshold: 0.5,
      margin: 0,
      confidence: 0.5,
      candidates: [],
    },
    model: { id: 'm', version: '1' },
    calibration: 'c',
  };
}

describe('queryDecisions', () => {
  const kinds: DecisionKind[] = ['match', 'unknown', 'ambiguous'];
  const all = Array.from({ length: 250 }, (_, i) =>
    entry(i, kinds[i % 7 === 0 ? 2 : i % 2]!, i % 3 === 0 ? `uploads/Door/${i}.jpg` : `http:req-${i}`),
  );
  const newestFirst = [...all].reverse();

  async function walk(filter: Parameters<typeof queryDecisions>[1], limit: number): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await queryDecisions(store, filter, { limit, cursor });
      expect(page.items.length).toBeLessThanOrEqual(limit);
      ids.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    return ids;
  }

  it('pages through every match of a filter, newest first, without skipping or repeating', async () => {
    await store.appendAudit(all);
    const expected = newestFirst
      .filter((e) => e.decision.kind === 'match' && e.source.toLowerCase().includes('uploads/door/'))
      .map((e) => e.id);
    expect(expected.length).toBeGreaterThan(20);
    expect(await walk({ decision: 'match', source: 'UPLOADS/door/' }, 7)).toEqual(expected);
    expect(await walk({}, 33)).toEqual(newestFirst.map((e) => e.id));
    expect(await walk({ operation: 'verify' }, 10)).toEqual(
      newestFirst.filter((e) => e.operation === 'verify').map((e) => e.id),
    );
  });

  it('bounds by time: from is inclusive, to exclusive', async () => {
    await store.appendAudit(all);
    const from = all[100]!.at;
    const to = all[110]!.at;
    expect(await walk({ from, to }, 4)).toEqual(newestFirst.slice(140, 150).map((e) => e.id));
  });

  it('reads a bounded number of rows per call and hands back a cursor to go on', async () => {
    const many = Array.from({ length: MAX_SCANNED_PER_PAGE + 150 }, (_, i) =>
      entry(i, i === 0 ? 'ambiguous' : 'match', 'cam'),
    );
    await store.appendAudit(many);
    const first = await queryDecisions(store, { decision: 'ambiguous' }, { limit: 5 });
    expect(first.items).toEqual([]);
    expect(first.nextCursor).toBeDefined();
    const second = await queryDecisions(
      store,
      { decision: 'ambiguous' },
      { limit: 5, cursor: first.nextCursor },
    );
    expect(second.items.map((e) => e.id)).toEqual(['e0']);
    expect(second.nextCursor).toBeUndefined();
  });

  it('refuses a cursor it did not hand out', async () => {
    for (const cursor of ['not a cursor', 'e30', Buffer.from('{"o":-1}').toString('base64url')]) {
      await expect(queryDecisions(store, {}, { limit: 5, cursor })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
  });
});
