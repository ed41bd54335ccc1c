/**
 * The local store of record on SQLite (better-sqlite3): the schema and its migrations, subjects, templates, the
 * audit log and the change feed the index is derived from. One cohesive adapter — every table lives in one file
 * because `user_version` is one number per database — which is why it runs past 400 lines.
 */
import Database from 'better-sqlite3';
import type { DecisionAuditEntry, FaceTemplate, Subject, TemplateVariant } from '../../core/domain.ts';
import { FaceprintError } from '../../core/errors.ts';
import type { FaceStore, Page, TemplateChanges, TemplateFeed } from '../../core/gallery/ports.ts';
import type { Box, FaceQuality } from '../../core/types.ts';
import { encodeCursor, readCursor } from './sqlite-rows.ts';

/** A better-sqlite3 connection. */
export type SqliteDatabase = Database.Database;

/** How a local database connection is opened. */
export interface SqliteOpenOptions {
  /** How long a writer waits for another connection's write lock before failing with SQLITE_BUSY. */
  busyTimeoutMs?: number | undefined;
  /**
   * `FULL` (default) makes every committed write survive a power cut; `NORMAL` is faster and, in WAL mode,
   * can only lose the last commits (never corrupt the database).
   */
  synchronous?: 'NORMAL' | 'FULL' | undefined;
}

/** The schema version this code writes; a database with a higher `user_version` is refused. */
export const SCHEMA_VERSION = 4;

// One entry per schema version, applied in order. Every local table (the ingest ledger's too) lives here
// because `user_version` is a single number per database file.
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE subjects (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX subjects_by_created ON subjects (created_at, id);

  -- AUTOINCREMENT: seq is never reused, even after deletes, so "templates after seq N" stays correct.
  CREATE TABLE templates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    subject_id TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    box TEXT NOT NULL,
    quality TEXT NOT NULL,
    embedding BLOB NOT NULL CHECK (length(embedding) > 0 AND length(embedding) % 4 = 0),
    variant TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX templates_by_subject ON templates (subject_id, seq);

  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    operation TEXT NOT NULL,
    source TEXT NOT NULL,
    entry TEXT NOT NULL
  );
  -- seq is the rowid, which every index carries: this one also serves ORDER BY at, seq.
  CREATE INDEX audit_by_at ON audit (at);
  CREATE INDEX audit_by_operation ON audit (operation, at);
  CREATE INDEX audit_by_source ON audit (source);

  CREATE TABLE ingest_ledger (
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'done', 'failed')),
    claimed_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    result_ref TEXT,
    reason TEXT,
    PRIMARY KEY (key, fingerprint)
  );
  `,
  // 2: the change feed's deletion counter. Every process derives its index from the templates' seq and this
  // counter: a deletion by one process makes every other rebuild its index. A counter, not a log of ids, so
  // that nothing names an erased subject.
  `
  CREATE TABLE feed_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    deletions INTEGER NOT NULL
  );
  INSERT INTO feed_state (id, deletions) VALUES (1, 0);
  CREATE TRIGGER subject_removed AFTER DELETE ON subjects BEGIN
    UPDATE feed_state SET deletions = deletions + 1 WHERE id = 1;
  END;
  `,
  // 3: the enrolment thumbnail (a small JPEG of the aligned face) on each photo's original template; it
  // goes with the template row, so deleting a subject erases it by the same cascade.
  `
  ALTER TABLE templates ADD COLUMN thumbnail BLOB;
  `,
  // 4: unknown persons with their sightings, and the review queue with reviewers' negatives
  // (sqlite-unknown-store.ts, sqlite-review-store.ts). IF NOT EXISTS: databases of the first builds created
  // these tables outside the migrations.
  `
  CREATE TABLE IF NOT EXISTS unknowns (
    id TEXT PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    sighting_count INTEGER NOT NULL DEFAULT 0,
    promoted_to TEXT
  );
  CREATE INDEX IF NOT EXISTS unknowns_by_recent ON unknowns (last_seen_at, id);
  CREATE INDEX IF NOT EXISTS unknowns_by_count ON unknowns (sighting_count, id);
  CREATE TABLE IF NOT EXISTS sightings (
    id TEXT PRIMARY KEY NOT NULL,
    unknown_id TEXT REFERENCES unknowns (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    camera TEXT,
    operation TEXT NOT NULL,
    face_index INTEGER NOT NULL,
    box TEXT NOT NULL,
    quality TEXT NOT NULL,
    quality_score REAL NOT NULL,
    embedding BLOB NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    audit_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    crop BLOB NOT NULL
  );
  CREATE INDEX IF NOT EXISTS sightings_by_unknown ON sightings (unknown_id, at);
  CREATE INDEX IF NOT EXISTS sightings_by_expiry ON sightings (expires_at);

  CREATE TABLE IF NOT EXISTS reviews (
    id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected')),
    created_at TEXT NOT NULL,
    subject_id TEXT,
    review TEXT NOT NULL,
    embedding BLOB,
    crop BLOB
  );
  CREATE INDEX IF NOT EXISTS reviews_by_status ON reviews (status, created_at, id);
  CREATE INDEX IF NOT EXISTS reviews_by_created ON reviews (created_at, id);
  CREATE INDEX IF NOT EXISTS reviews_by_subject ON reviews (subject_id);
  CREATE TABLE IF NOT EXISTS negatives (
    id TEXT PRIMARY KEY NOT NULL,
    subject_id TEXT NOT NULL,
    embedding BLOB NOT NULL,
    review_id TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS negatives_by_subject ON negatives (subject_id);
  `,
];

/**
 * Sets the connection pragmas (WAL, busy timeout, foreign keys) and brings the schema up to
 * {@link SCHEMA_VERSION}. Safe to call on every open and from several processes at once.
 */
export function prepareSqliteDatabase(db: SqliteDatabase, options: SqliteOpenOptions = {}): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
  db.pragma('foreign_keys = ON');
  // Deleted and rewritten rows are overwritten, not merely unlinked: erasure of a face or a name is real.
  db.pragma('secure_delete = ON');

  const readVersion = () => db.pragma('user_version', { simple: true }) as number;
  if (readVersion() > SCHEMA_VERSION) throw newerSchema(db, readVersion());
  if (readVersion() === SCHEMA_VERSION) return;
  // IMMEDIATE takes the write lock first, so two processes opening a new file at once migrate it once.
  db.transaction(() => {
    const version = readVersion();
    if (version > SCHEMA_VERSION) throw newerSchema(db, version);
    for (let next = version; next < SCHEMA_VERSION; next++) db.exec(MIGRATIONS[next] ?? '');
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

function newerSchema(db: SqliteDatabase, version: number): Error {
  return new Error(
    `Database ${db.name} has schema version ${version}, newer than this Faceprint's ${SCHEMA_VERSION}; upgrade Faceprint.`,
  );
}

/** Opens (creating if needed) a local database file and prepares it with {@link prepareSqliteDatabase}. */
/**
 * The connection a store works on: a path is opened (and owned: the store closes it); an open connection is
 * prepared and borrowed (its opener closes it).
 */
export function adoptSqliteDatabase(
  database: string | SqliteDatabase,
  options: SqliteOpenOptions = {},
): { db: SqliteDatabase; owned: boolean } {
  if (typeof database === 'string') return { db: openSqliteDatabase(database, options), owned: true };
  prepareSqliteDatabase(database, options);
  return { db: database, owned: false };
}

export function openSqliteDatabase(path: string, options: SqliteOpenOptions = {}): SqliteDatabase {
  const db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
  try {
    prepareSqliteDatabase(db, options);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** A template with its insertion sequence number (for incremental index rebuilds). */
export interface SequencedTemplate {
  seq: number;
  template: FaceTemplate;
}

interface SubjectRow {
  id: string;
  name: string;
  metadata: string;
  created_at: string;
}

interface TemplateRow {
  seq: number;
  id: string;
  subject_id: string;
  source: string;
  box: string;
  quality: string;
  embedding: Buffer;
  variant: string;
  model_id: string;
  model_version: string;
  created_at: string;
}

interface AuditRow {
  seq: number;
  at: string;
  entry: string;
}

const TEMPLATE_COLUMNS =
  'seq, id, subject_id, source, box, quality, embedding, variant, model_id, model_version, created_at';

function prepareStatements(db: SqliteDatabase) {
  return {
    insertSubject: db.prepare<[string, string, string, string]>(
      'INSERT INTO subjects (id, name, metadata, created_at) VALUES (?, ?, ?, ?)',
    ),
    insertTemplate: db.prepare<
      [string, string, string, string, string, Buffer, string, string, string, string, Buffer | null]
    >(
      `INSERT INTO templates (id, subject_id, source, box, quality, embedding, variant, model_id, model_version,
         created_at, thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    templateThumbnail: db
      .prepare<[string, string], Buffer | null>(
        'SELECT thumbnail FROM templates WHERE subject_id = ? AND id = ?',
      )
      .pluck(),
    firstThumbnail: db
      .prepare<[string], Buffer>(
        'SELECT thumbnail FROM templates WHERE subject_id = ? AND thumbnail IS NOT NULL ORDER BY seq LIMIT 1',
      )
      .pluck(),
    subjectExists: db.prepare<[string], number>('SELECT 1 FROM subjects WHERE id = ?').pluck(),
    getSubject: db.prepare<[string], SubjectRow>('SELECT * FROM subjects WHERE id = ?'),
    firstSubjects: db.prepare<[number], SubjectRow>('SELECT * FROM subjects ORDER BY created_at, id LIMIT ?'),
    subjectsAfter: db.prepare<[string, string, number], SubjectRow>(
      'SELECT * FROM subjects WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?',
    ),
    deleteSubject: db.prepare<[string]>('DELETE FROM subjects WHERE id = ?'),
    deletions: db.prepare<[], number>('SELECT deletions FROM feed_state WHERE id = 1').pluck(),
    allTemplates: db.prepare<[], TemplateRow>(`SELECT ${TEMPLATE_COLUMNS} FROM templates ORDER BY seq`),
    subjectTemplates: db.prepare<[string], TemplateRow>(
      `SELECT ${TEMPLATE_COLUMNS} FROM templates WHERE subject_id = ? ORDER BY seq`,
    ),
    templatesAfter: db.prepare<[number, number], TemplateRow>(
      `SELECT ${TEMPLATE_COLUMNS} FROM templates WHERE seq > ? ORDER BY seq LIMIT ?`,
    ),
    maxTemplateSeq: db.prepare<[], number>('SELECT coalesce(max(seq), 0) FROM templates').pluck(),
    countTemplates: db
      .prepare<[string], number>('SELECT count(*) FROM templates WHERE subject_id = ?')
      .pluck(),
    insertAudit: db.prepare<[string, string, string, string, string]>(
      `INSERT INTO audit (id, at, operation, source, entry) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING`,
    ),
    latestAudit: db.prepare<[number], AuditRow>(
      'SELECT seq, at, entry FROM audit ORDER BY at DESC, seq DESC LIMIT ?',
    ),
    auditBefore: db.prepare<[string, number, number], AuditRow>(
      'SELECT seq, at, entry FROM audit WHERE (at, seq) < (?, ?) ORDER BY at DESC, seq DESC LIMIT ?',
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/**
 * {@link FaceStore} on an embedded SQLite database (the local mode's system of record).
 *
 * Writes run in `BEGIN IMMEDIATE` transactions, so several processes can share one database file: a writer
 * waits up to the busy timeout for another's lock instead of failing.
 */
export class SqliteFaceStore implements FaceStore, TemplateFeed {
  /** The connection; pass it to `SqliteIngestLedger` to share the file. */
  readonly db: SqliteDatabase;
  readonly #ownsDb: boolean;
  readonly #stmts: Statements;
  readonly #createSubject: Database.Transaction<(subject: Subject, templates: FaceTemplate[]) => void>;
  readonly #addTemplates: Database.Transaction<(subjectId: string, templates: FaceTemplate[]) => void>;
  readonly #appendAudit: Database.Transaction<(entries: DecisionAuditEntry[]) => void>;

  /**
   * @param database A file path (opened and owned by this store) or an open connection (prepared, but
   *   left open by {@link close}: its opener closes it).
   */
  constructor(database: string | SqliteDatabase, options: SqliteOpenOptions = {}) {
    const { db, owned } = adoptSqliteDatabase(database, options);
    this.db = db;
    this.#ownsDb = owned;
    this.#stmts = prepareStatements(this.db);

    this.#createSubject = this.db.transaction((subject: Subject, templates: FaceTemplate[]) => {
      try {
        this.#stmts.insertSubject.run(subject.id, subject.name, toJson(subject.metadata), subject.createdAt);
      } catch (error) {
        if (sqliteCode(error) === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new FaceprintError('SUBJECT_EXISTS', `Subject ${subject.id} already exists.`, {
            subjectId: subject.id,
          });
        }
        throw error;
      }
      this.#insertTemplates(templates);
    });
    this.#addTemplates = this.db.transaction((subjectId: string, templates: FaceTemplate[]) => {
      if (this.#stmts.subjectExists.get(subjectId) === undefined) throw subjectNotFound(subjectId);
      this.#insertTemplates(templates);
    });
    this.#appendAudit = this.db.transaction((entries: DecisionAuditEntry[]) => {
      for (const entry of entries) {
        this.#stmts.insertAudit.run(entry.id, entry.at, entry.operation, entry.source, toJson(entry));
      }
    });
  }

  /** Closes the connection when this store opened it (see the constructor). */
  close(): void {
    if (this.#ownsDb && this.db.open) this.db.close();
  }

  async createSubject(subject: Subject, templates: FaceTemplate[]): Promise<void> {
    checkTemplates(subject.id, templates);
    this.#createSubject.immediate(subject, templates);
  }

  async addTemplates(subjectId: string, templates: FaceTemplate[]): Promise<void> {
    checkTemplates(subjectId, templates);
    this.#addTemplates.immediate(subjectId, templates);
  }

  async getSubject(id: string): Promise<Subject | undefined> {
    const row = this.#stmts.getSubject.get(id);
    return row === undefined ? undefined : toSubject(row);
  }

  async listSubjects(options: { limit: number; cursor?: string | undefined }): Promise<Page<Subject>> {
    const limit = checkLimit(options.limit);
    let rows: SubjectRow[];
    if (options.cursor === undefined) {
      rows = this.#stmts.firstSubjects.all(limit + 1);
    } else {
      const [createdAt, id] = decodeCursor(options.cursor, 's', 'string', 'string');
      rows = this.#stmts.subjectsAfter.all(createdAt, id, limit + 1);
    }
    const items = rows.slice(0, limit).map(toSubject);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > limit && last ? encodeCursor(['s', last.createdAt, last.id]) : undefined,
    };
  }

  /** Deletes some templates of one subject in one transaction (the re-embedding drops the old pack's). */
  async deleteTemplates(subjectId: string, templateIds: string[]): Promise<number> {
    const remove = this.db.prepare<[string, string]>('DELETE FROM templates WHERE subject_id = ? AND id = ?');
    return this.db.transaction(() =>
      templateIds.reduce((n, id) => n + remove.run(subjectId, id).changes, 0),
    )();
  }

  async deleteSubject(id: string): Promise<boolean> {
    // One statement: the cascade to templates and the change-feed trigger happen inside its transaction.
    return this.#stmts.deleteSubject.run(id).changes > 0;
  }

  /**
   * The change feed (`TemplateFeed`): templates inserted after `cursor`, read in one snapshot of the database.
   * The cursor is `<template seq>.<deletions>`; after any deletion (or with a cursor from another database)
   * the answer is everything, `full`, so the reader rebuilds without the deleted subjects.
   */
  async changesSince(cursor: string | undefined): Promise<TemplateChanges> {
    return this.#changesSince(cursor);
  }

  async listTemplates(subjectId?: string): Promise<FaceTemplate[]> {
    const rows =
      subjectId === undefined ? this.#stmts.allTemplates.all() : this.#stmts.subjectTemplates.all(subjectId);
    return rows.map(toTemplate);
  }

  async subjectNames(ids: readonly string[]): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    const unique = [...new Set(ids)];
    // Bound the number of host parameters per statement (SQLite allows 32,766; a page of candidates is far less).
    for (let i = 0; i < unique.length; i += 500) {
      const slice = unique.slice(i, i + 500);
      const rows = this.db
        .prepare<string[], { id: string; name: string }>(
          `SELECT id, name FROM subjects WHERE id IN (${slice.map(() => '?').join(', ')})`,
        )
        .all(...slice);
      for (const row of rows) names.set(row.id, row.name);
    }
    return names;
  }

  async getThumbnail(subjectId: string, templateId?: string): Promise<Uint8Array | undefined> {
    const blob =
      templateId === undefined
        ? this.#stmts.firstThumbnail.get(subjectId)
        : this.#stmts.templateThumbnail.get(subjectId, templateId);
    return blob ? new Uint8Array(blob) : undefined;
  }

  async countTemplates(subjectId: string): Promise<number> {
    return this.#stmts.countTemplates.get(subjectId) ?? 0;
  }

  /** Appends audit rows in one transaction. Re-appending an id already logged is a no-op (safe retries). */
  async appendAudit(entries: DecisionAuditEntry[]): Promise<void> {
    this.#appendAudit.immediate(entries);
  }

  /** Audit rows newest first (by `at`, then by insertion order). */
  async listAudit(options: {
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<DecisionAuditEntry>> {
    const limit = checkLimit(options.limit);
    let rows: AuditRow[];
    if (options.cursor === undefined) {
      rows = this.#stmts.latestAudit.all(limit + 1);
    } else {
      const [at, seq] = decodeCursor(options.cursor, 'a', 'string', 'number');
      rows = this.#stmts.auditBefore.all(at, seq, limit + 1);
    }
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((row) => fromJson<DecisionAuditEntry>(row.entry)),
      nextCursor: rows.length > limit && last ? encodeCursor(['a', last.at, last.seq]) : undefined,
    };
  }

  /**
   * Templates inserted after sequence number `seq` (0 = from the start), in insertion order, at most
   * `limit` of them. Deletions are not reported here: a subject deleted after an index was built must be
   * removed from that index separately.
   */
  async templatesAfter(seq: number, limit = Number.MAX_SAFE_INTEGER): Promise<SequencedTemplate[]> {
    if (!Number.isSafeInteger(seq) || seq < 0) {
      throw new FaceprintError('INVALID_ARGUMENT', 'seq must be a non-negative integer.', { seq });
    }
    return this.#stmts.templatesAfter
      .all(seq, checkLimit(limit))
      .map((row) => ({ seq: row.seq, template: toTemplate(row) }));
  }

  /** The highest sequence number among stored templates, or 0 when there are none. */
  async maxTemplateSeq(): Promise<number> {
    return this.#stmts.maxTemplateSeq.get() ?? 0;
  }

  readonly #changesSince = (cursor: string | undefined): TemplateChanges =>
    this.db.transaction((): TemplateChanges => {
      const topTemplate = this.#stmts.maxTemplateSeq.get() ?? 0;
      const deletions = this.#stmts.deletions.get() ?? 0;
      const next = `${topTemplate}.${deletions}`;
      const [templateSeq, seenDeletions] = parseFeedCursor(cursor);
      if (templateSeq === undefined || templateSeq > topTemplate || seenDeletions !== deletions) {
        return {
          cursor: next,
          full: true,
          added: this.#stmts.allTemplates.all().map(toTemplate),
          removedSubjects: [],
        };
      }
      return {
        cursor: next,
        full: false,
        // One read transaction: these rows are exactly those up to `topTemplate`, whatever commits meanwhile.
        added: this.#stmts.templatesAfter.all(templateSeq, Number.MAX_SAFE_INTEGER).map(toTemplate),
        removedSubjects: [],
      };
    })();

  #insertTemplates(templates: FaceTemplate[]): void {
    for (const t of templates) {
      try {
        this.#stmts.insertTemplate.run(
          t.id,
          t.subjectId,
          t.source,
          toJson(t.box),
          toJson(t.quality),
          // A view of exactly the embedding's bytes; SQLite copies them when binding.
          Buffer.from(t.embedding.buffer, t.embedding.byteOffset, t.embedding.byteLength),
          t.variant,
          t.model.id,
          t.model.version,
          t.createdAt,
          t.thumbnail
            ? Buffer.from(t.thumbnail.buffer, t.thumbnail.byteOffset, t.thumbnail.byteLength)
            : null,
        );
      } catch (error) {
        if (sqliteCode(error) === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new FaceprintError('INVALID_ARGUMENT', `Template ${t.id} already exists.`, {
            templateId: t.id,
          });
        }
        throw error;
      }
    }
  }
}

function subjectNotFound(subjectId: string): FaceprintError {
  return new FaceprintError('SUBJECT_NOT_FOUND', `Subject ${subjectId} does not exist.`, { subjectId });
}

function checkTemplates(subjectId: string, templates: FaceTemplate[]): void {
  for (const t of templates) {
    if (t.subjectId !== subjectId) {
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        `Template ${t.id} belongs to ${t.subjectId}, not ${subjectId}.`,
        {
          templateId: t.id,
        },
      );
    }
    if (!(t.embedding instanceof Float32Array) || t.embedding.length === 0) {
      throw new FaceprintError('INVALID_ARGUMENT', `Template ${t.id} has no Float32Array embedding.`, {
        templateId: t.id,
      });
    }
  }
}

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new FaceprintError('INVALID_ARGUMENT', 'limit must be a positive integer.', { limit });
  }
  return limit;
}

function sqliteCode(error: unknown): string | undefined {
  return error instanceof Database.SqliteError ? error.code : undefined;
}

function toSubject(row: SubjectRow): Subject {
  return {
    id: row.id,
    name: row.name,
    metadata: fromJson<Record<string, string>>(row.metadata),
    createdAt: row.created_at,
  };
}

function toTemplate(row: TemplateRow): FaceTemplate {
  const blob = row.embedding;
  // Copy into a fresh, aligned buffer: the driver's Buffer may sit at any offset of a shared allocation.
  const embedding = new Float32Array(blob.byteLength / 4);
  new Uint8Array(embedding.buffer).set(blob);
  return {
    id: row.id,
    subjectId: row.subject_id,
    source: row.source,
    box: fromJson<Box>(row.box),
    quality: fromJson<FaceQuality>(row.quality),
    embedding,
    variant: row.variant as TemplateVariant,
    model: { id: row.model_id, version: row.model_version },
    createdAt: row.created_at,
  };
}

// JSON has no NaN or ±Infinity (a decision's margin or similarity may be one); keep them as tagged objects.
const NON_FINITE = '$nonFinite';

function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? { [NON_FINITE]: String(v) } : v,
  );
}

function fromJson<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const tag = (v as Record<string, unknown>)[NON_FINITE];
      if (keys.length === 1 && typeof tag === 'string') return Number(tag);
    }
    return v;
  }) as T;
}

function decodeCursor<A extends 'string' | 'number', B extends 'string' | 'number'>(
  cursor: string,
  kind: string,
  first: A,
  second: B,
): [A extends 'string' ? string : number, B extends 'string' ? string : number] {
  const [a, b] = readCursor(cursor, kind, 2);
  if (typeof a !== first || typeof b !== second || (second === 'number' && !Number.isSafeInteger(b))) {
    throw new FaceprintError('INVALID_ARGUMENT', 'The cursor is not valid.', { cursor });
  }
  return [a, b] as [A extends 'string' ? string : number, B extends 'string' ? string : number];
}

/** `<template seq>.<deletions>`, or undefineds for anything else. */
function parseFeedCursor(cursor: string | undefined): [number | undefined, number | undefined] {
  const match = cursor === undefined ? null : /^(\d+)\.(\d+)$/.exec(cursor);
  if (!match) return [undefined, undefined];
  return [Number(match[1]), Number(match[2])];
}
