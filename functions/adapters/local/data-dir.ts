import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ApproximateIndexing, parseCrossover } from '../../core/search/tiered-index.ts';
import { fileApproximateIndexing } from './ann-file-store.ts';
import { FilePhotoStore } from './file-photo-store.ts';
import { FileSnapshotStore } from './file-snapshot-store.ts';
import { LocalSubjectEraser } from './local-erasure.ts';
import {
  openSqliteDatabase,
  type SqliteDatabase,
  SqliteFaceStore,
  type SqliteOpenOptions,
} from './sqlite-face-store.ts';
import { SqliteIngestLedger, type SqliteIngestLedgerOptions } from './sqlite-ingest-ledger.ts';

/** Where each part of the local mode's state lives inside a data directory. */
export interface DataDirPaths {
  root: string;
  /** SQLite database: subjects, templates, audit log, ingest ledger. */
  database: string;
  indexDir: string;
  /** The vector index snapshot. */
  indexSnapshot: string;
  /** Drop images here for the folder watcher. */
  uploads: string;
  /** One result file per processed upload. */
  results: string;
  /** Uploads that could not be processed. */
  failed: string;
  /** Uploads being processed right now. */
  processing: string;
  /** Video jobs of `POST /videos`, one folder each. */
  videos: string;
}

/** An opened data directory. */
export interface DataDir {
  paths: DataDirPaths;
  db: SqliteDatabase;
  faceStore: SqliteFaceStore;
  ledger: SqliteIngestLedger;
  /** Takes a deleted subject's traces out of the audit log and `results/` (issue 13: erasure). */
  eraser: LocalSubjectEraser;
  snapshots: FileSnapshotStore;
  /** The HNSW graph beside the snapshot past `FACEPRINT_ANN_CROSSOVER`; undefined when set to `off`. */
  approximate: ApproximateIndexing | undefined;
  /** The enrolment photos (`photos/`), which `gallery reembed` re-embeds with another model pack. */
  photos: FilePhotoStore;
  /** Closes the database connection (the stores share it). */
  close(): void;
}

/** Options of {@link openDataDir}. */
export interface OpenDataDirOptions extends SqliteOpenOptions {
  staleAfterMs?: SqliteIngestLedgerOptions['staleAfterMs'];
  /** Overrides `FACEPRINT_ANN_CROSSOVER` (templates from which the HNSW graph answers, or `off`). */
  annCrossover?: string | undefined;
}

/** `FACEPRINT_DATA_DIR`, or `./.faceprint`, resolved against `cwd`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const fromEnv = env.FACEPRINT_DATA_DIR;
  return resolve(cwd, fromEnv !== undefined && fromEnv !== '' ? fromEnv : '.faceprint');
}

/** The layout of a data directory rooted at `root` (resolved against the working directory). */
export function dataDirPaths(root: string): DataDirPaths {
  const abs = resolve(root);
  const indexDir = join(abs, 'index');
  return {
    root: abs,
    database: join(abs, 'faceprint.db'),
    indexDir,
    indexSnapshot: join(indexDir, 'gallery.fpidx'),
    uploads: join(abs, 'uploads'),
    results: join(abs, 'results'),
    failed: join(abs, 'failed'),
    processing: join(abs, 'processing'),
    videos: join(abs, 'videos'),
  };
}

/**
 * Creates the data directory's layout if missing and opens its stores on one shared database connection.
 * Several processes may open the same directory: SQLite (WAL) arbitrates their writes.
 */
export function openDataDir(path: string = defaultDataDir(), options: OpenDataDirOptions = {}): DataDir {
  const paths = dataDirPaths(path);
  // Read before anything is created: a nonsense setting fails closed.
  const crossover = parseCrossover(options.annCrossover ?? process.env.FACEPRINT_ANN_CROSSOVER);
  // Owner-only: the directory holds face embeddings, which are biometric data. (Applies to new directories.)
  for (const dir of [
    paths.root,
    paths.indexDir,
    paths.uploads,
    paths.results,
    paths.failed,
    paths.processing,
  ]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  // Create the database file owner-only too; SQLite gives its -wal and -shm files the same mode.
  closeSync(openSync(paths.database, 'a', 0o600));
  const db = openSqliteDatabase(paths.database, options);
  try {
    const faceStore = new SqliteFaceStore(db, options);
    const ledger = new SqliteIngestLedger(db, options);
    return {
      paths,
      db,
      faceStore,
      ledger,
      eraser: new LocalSubjectEraser(db, paths),
      snapshots: new FileSnapshotStore(paths.indexSnapshot),
      approximate: crossover === 'off' ? undefined : fileApproximateIndexing(paths.indexDir, crossover),
      photos: new FilePhotoStore(join(paths.root, 'photos')),
      close: () => {
        if (db.open) db.close();
      },
    };
  } catch (error) {
    db.close();
    throw error;
  }
}
