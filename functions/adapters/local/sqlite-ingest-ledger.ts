import type { Transaction } from 'better-sqlite3';
import type { IngestLedger, IngestState } from '../../core/ingest/ports.ts';
import { adoptSqliteDatabase, type SqliteDatabase, type SqliteOpenOptions } from './sqlite-face-store.ts';

/** Options of {@link SqliteIngestLedger}. */
export interface SqliteIngestLedgerOptions extends SqliteOpenOptions {
  /**
   * A claim still in state `claimed` this long after it was taken is presumed abandoned (its processor
   * crashed) and may be claimed again. Default 15 minutes; `Infinity` never re-claims.
   */
  staleAfterMs?: number | undefined;
  /** Clock in epoch milliseconds (tests). */
  now?: (() => number) | undefined;
}

/**
 * What {@link SqliteIngestLedger.claim} returns: the port's `state` and `firstClaim`, plus `acquired`.
 *
 * | situation                                   | state     | firstClaim | acquired |
 * | ------------------------------------------- | --------- | ---------- | -------- |
 * | never seen (or a new fingerprint for a key) | `claimed` | true       | true     |
 * | stale claim taken over (crash mid-work)     | `claimed` | false      | true     |
 * | claim in progress elsewhere, not yet stale  | `claimed` | false      | false    |
 * | already finished                            | `done` / `failed` | false | false |
 *
 * Process the object exactly when `acquired` is true. Through the bare port, a stale take-over and a live
 * claim look the same (`claimed`, not first).
 */
export interface ClaimResult {
  state: IngestState;
  firstClaim: boolean;
  /** True when this call holds the claim now and the caller should process the object. */
  acquired: boolean;
  /** How many times the (key, fingerprint) has been claimed, this claim included when acquired. */
  attempts: number;
}

/** One row of the ledger. */
export interface IngestRecord {
  key: string;
  fingerprint: string;
  state: IngestState;
  /** Epoch milliseconds of the latest claim. */
  claimedAt: number;
  /** Epoch milliseconds of the latest change. */
  updatedAt: number;
  attempts: number;
  resultRef: string | undefined;
  reason: string | undefined;
}

interface LedgerRow {
  key: string;
  fingerprint: string;
  state: IngestState;
  claimed_at: number;
  updated_at: number;
  attempts: number;
  result_ref: string | null;
  reason: string | null;
}

const DEFAULT_STALE_AFTER_MS = 15 * 60 * 1000;

/**
 * {@link IngestLedger} in the local SQLite database. Rows are keyed by (key, fingerprint): the same key with
 * a different fingerprint (the file was replaced) is new work, while a redelivery of the same content
 * reports the recorded state.
 *
 * `done` is final: a late {@link fail} (from a processor whose stale claim was taken over and completed by
 * another) does not overwrite it.
 */
export class SqliteIngestLedger implements IngestLedger {
  readonly db: SqliteDatabase;
  readonly #ownsDb: boolean;
  readonly #staleAfterMs: number;
  readonly #now: () => number;
  readonly #stmts: ReturnType<typeof prepareStatements>;
  readonly #claim: Transaction<(key: string, fingerprint: string) => ClaimResult>;

  /**
   * @param database A file path (opened and owned by this ledger) or an open connection, for example a
   *   `SqliteFaceStore`'s `db` to share its file (left open by {@link close}).
   */
  constructor(database: string | SqliteDatabase, options: SqliteIngestLedgerOptions = {}) {
    const { db, owned } = adoptSqliteDatabase(database, options);
    this.db = db;
    this.#ownsDb = owned;
    this.#staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.#now = options.now ?? Date.now;
    this.#stmts = prepareStatements(this.db);
    this.#claim = this.db.transaction((key: string, fingerprint: string): ClaimResult => {
      const now = this.#now();
      if (this.#stmts.insertClaim.run(key, fingerprint, now, now).changes === 1) {
        return { state: 'claimed', firstClaim: true, acquired: true, attempts: 1 };
      }
      const row = this.#stmts.get.get(key, fingerprint);
      if (row === undefined) throw new Error(`Ingest ledger row ${key} vanished during a claim.`);
      if (row.state === 'claimed' && now - row.claimed_at >= this.#staleAfterMs) {
        this.#stmts.reclaim.run(now, now, key, fingerprint);
        return { state: 'claimed', firstClaim: false, acquired: true, attempts: row.attempts + 1 };
      }
      return { state: row.state, firstClaim: false, acquired: false, attempts: row.attempts };
    });
  }

  /** Closes the connection when this ledger opened it (see the constructor). */
  close(): void {
    if (this.#ownsDb && this.db.open) this.db.close();
  }

  /**
   * Atomically claims (key, fingerprint). See {@link ClaimResult} for what each answer means; in short,
   * process the object when `acquired` is true. A claim older than `staleAfterMs` that never reached `done`
   * or `failed` is taken over, answering `state: 'claimed'` with `firstClaim: false`.
   */
  async claim(key: string, fingerprint: string): Promise<ClaimResult> {
    // IMMEDIATE: the insert, the read and the take-over happen under one write lock across processes.
    return this.#claim.immediate(key, fingerprint);
  }

  /** Records success. Also records it when the key was never claimed. */
  async complete(key: string, fingerprint: string, resultRef: string): Promise<void> {
    const now = this.#now();
    this.#stmts.complete.run(key, fingerprint, now, now, resultRef);
  }

  /** Records failure, unless the (key, fingerprint) is already `done`. */
  async fail(key: string, fingerprint: string, reason: string): Promise<void> {
    const now = this.#now();
    this.#stmts.fail.run(key, fingerprint, now, now, reason);
  }

  /** The recorded row, or undefined when (key, fingerprint) was never seen. */
  async get(key: string, fingerprint: string): Promise<IngestRecord | undefined> {
    const row = this.#stmts.get.get(key, fingerprint);
    return row === undefined ? undefined : toRecord(row);
  }
}

function prepareStatements(db: SqliteDatabase) {
  return {
    insertClaim: db.prepare<[string, string, number, number]>(
      `INSERT INTO ingest_ledger (key, fingerprint, state, claimed_at, updated_at, attempts)
       VALUES (?, ?, 'claimed', ?, ?, 1) ON CONFLICT DO NOTHING`,
    ),
    get: db.prepare<[string, string], LedgerRow>(
      'SELECT * FROM ingest_ledger WHERE key = ? AND fingerprint = ?',
    ),
    reclaim: db.prepare<[number, number, string, string]>(
      `UPDATE ingest_ledger SET claimed_at = ?, updated_at = ?, attempts = attempts + 1
       WHERE key = ? AND fingerprint = ? AND state = 'claimed'`,
    ),
    complete: db.prepare<[string, string, number, number, string]>(
      `INSERT INTO ingest_ledger (key, fingerprint, state, claimed_at, updated_at, attempts, result_ref)
       VALUES (?, ?, 'done', ?, ?, 1, ?)
       ON CONFLICT (key, fingerprint) DO UPDATE
         SET state = 'done', updated_at = excluded.updated_at, result_ref = excluded.result_ref, reason = NULL`,
    ),
    fail: db.prepare<[string, string, number, number, string]>(
      `INSERT INTO ingest_ledger (key, fingerprint, state, claimed_at, updated_at, attempts, reason)
       VALUES (?, ?, 'failed', ?, ?, 1, ?)
       ON CONFLICT (key, fingerprint) DO UPDATE
         SET state = 'failed', updated_at = excluded.updated_at, reason = excluded.reason
         WHERE state <> 'done'`,
    ),
  };
}

function toRecord(row: LedgerRow): IngestRecord {
  return {
    key: row.key,
    fingerprint: row.fingerprint,
    state: row.state,
    claimedAt: row.claimed_at,
    updatedAt: row.updated_at,
    attempts: row.attempts,
    resultRef: row.result_ref ?? undefined,
    reason: row.reason ?? undefined,
  };
}
