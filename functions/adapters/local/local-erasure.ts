/**
 * Erasure in local mode (issue 13): after a subject's rows are deleted, the traces it leaves elsewhere in the
 * data directory are taken out by the policy of `core/gallery/erasure.ts`, and SQLite is made to forget:
 *
 * - `secure_delete` is on for the connection, so deleted and rewritten rows are overwritten with zeros in the
 *   database pages instead of lingering in free space;
 * - audit rows that mention the subject are rewritten without it (the decision stays);
 * - `results/` entries of uploads where a face was decided as the subject are removed (the photo, its annotated
 *   copy and the JSON: the decision survives, redacted, in the audit log), with their ingest-ledger rows; result
 *   JSONs where the subject was only a candidate are rewritten without it. `failed/` holds uploads that were
 *   never identified, so no decision about anyone: nothing there names a subject;
 * - videos (`results/` of videos dropped into the uploads folder, and the jobs of `POST /videos` under
 *   `videos/<job>/`) are kept, with the subject's tracks anonymised in their result JSON by `redactTracks` (the
 *   decision stays; subject id, name and evidence boxes go) and the best-face thumbnails of those tracks
 *   (`track-<id>.jpg`, showing only the subject) removed. The annotated MP4 is kept: it draws boxes in the
 *   decision's colour and the track id, never a name. The ledger rows of kept videos stay;
 * - a `wal_checkpoint(TRUNCATE)` copies the zeroed pages into the database file and empties the WAL, which
 *   would otherwise keep the old page images.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { DecisionAuditEntry } from '../../core/domain.ts';
import {
  type ErasureReport,
  redactAuditEntry,
  redactFaces,
  redactTracks,
  type StoredFace,
  type StoredTrack,
  type SubjectEraser,
} from '../../core/gallery/erasure.ts';
import { writeFileAtomic } from './atomic-file.ts';

interface Paths {
  root: string;
  results: string;
  /** The video jobs of `POST /videos`, one folder each (`result.json`, `track-<id>.jpg`, …). */
  videos?: string | undefined;
}

/** The {@link SubjectEraser} of a data directory. */
export class LocalSubjectEraser implements SubjectEraser {
  constructor(
    private readonly db: Database,
    private readonly paths: Paths,
  ) {
    // `secure_delete` is on for every connection (prepareSqliteDatabase): what a delete frees is overwritten.
  }

  async eraseTraces(subjectId: string): Promise<Omit<ErasureReport, 'subjectId' | 'templates'>> {
    const auditRowsRedacted = this.redactAudit(subjectId);
    const { removed, redacted, uploads } = await this.eraseResults(subjectId);
    const videos = await this.eraseVideoJobs(subjectId);
    removed.push(...videos.removed);
    redacted.push(...videos.redacted);
    let ledgerRows = 0;
    const forget = this.db.prepare<[string, string]>(
      'DELETE FROM ingest_ledger WHERE key = ? AND fingerprint = ?',
    );
    for (const u of uploads) ledgerRows += forget.run(u.key, u.sha256).changes;
    // busy = 1 when a reader (another process) kept the checkpoint from finishing; it is retried at the next one.
    const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    return {
      auditRowsRedacted,
      filesRemoved: removed,
      filesRedacted: redacted,
      ledgerRows,
      storageCompacted: result?.busy === 0,
    };
  }

  private redactAudit(subjectId: string): number {
    const rows = this.db
      .prepare<[string], { seq: number; entry: string }>(
        'SELECT seq, entry FROM audit WHERE instr(entry, ?) > 0',
      )
      .all(JSON.stringify(subjectId));
    const update = this.db.prepare<[string, string, number]>(
      'UPDATE audit SET source = ?, entry = ? WHERE seq = ?',
    );
    let count = 0;
    this.db
      .transaction(() => {
        for (const row of rows) {
          const redacted = redactAuditEntry(JSON.parse(row.entry) as DecisionAuditEntry, subjectId);
          if (!redacted) continue;
          update.run(redacted.source, JSON.stringify(redacted), row.seq);
          count++;
        }
      })
      .immediate();
    return count;
  }

  private async eraseResults(
    subjectId: string,
  ): Promise<{ removed: string[]; redacted: string[]; uploads: { key: string; sha256: string }[] }> {
    const removed: string[] = [];
    const redacted: string[] = [];
    const uploads: { key: string; sha256: string }[] = [];
    const dir = this.paths.results;
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
      const path = join(dir, name);
      let event: { key?: string; sha256?: string; faces?: StoredFace[]; tracks?: StoredTrack[] };
      try {
        event = JSON.parse(await readFile(path, 'utf8'));
      } catch {
        continue;
      }
      if (Array.isArray(event.tracks)) {
        // A video's result: kept, its tracks rewritten (this folder holds no thumbnails).
        if (await this.redactVideoResult(path, event as { tracks: StoredTrack[] }, subjectId))
          redacted.push(relative(this.paths.root, path));
        continue;
      }
      if (!Array.isArray(event.faces)) continue;
      const result = redactFaces(event.faces, subjectId);
      if (result.own) {
        const slot = name.slice(0, -'.json'.length);
        for (const file of [slot, `${slot}.annotated.jpg`, name]) {
          const target = join(dir, file);
          if (!existsSync(target)) continue;
          await unlink(target);
          removed.push(relative(this.paths.root, target));
        }
        if (event.key && event.sha256) uploads.push({ key: event.key, sha256: event.sha256 });
      } else if (result.changed) {
        await writeFileAtomic(
          path,
          `${JSON.stringify({ ...event, faces: result.faces }, null, 2)}\n`,
          join(dir, `.fp-${name}.${process.pid}.erase.tmp`),
        );
        redacted.push(relative(this.paths.root, path));
      }
    }
    return { removed, redacted, uploads };
  }

  /** Rewrites a video result JSON without the subject; returns the subject's own track ids, or undefined. */
  private async redactVideoResult(
    path: string,
    result: { tracks: StoredTrack[] },
    subjectId: string,
  ): Promise<number[] | undefined> {
    const { tracks, own, changed } = redactTracks(result.tracks, subjectId);
    if (!changed) return undefined;
    await writeFileAtomic(
      path,
      `${JSON.stringify({ ...result, tracks }, null, 2)}\n`,
      join(dirname(path), `.fp-${basename(path)}.${process.pid}.erase.tmp`),
    );
    return own;
  }

  /** `videos/<job>/result.json` rewritten, and the thumbnails of the subject's tracks removed. */
  private async eraseVideoJobs(subjectId: string): Promise<{ removed: string[]; redacted: string[] }> {
    const removed: string[] = [];
    const redacted: string[] = [];
    const root = this.paths.videos;
    if (!root) return { removed, redacted };
    for (const job of await readdir(root).catch(() => [] as string[])) {
      const path = join(root, job, 'result.json');
      let result: { tracks?: StoredTrack[] };
      try {
        result = JSON.parse(await readFile(path, 'utf8'));
      } catch {
        // Queued, running or failed: no result yet. A job running while the subject is deleted matches no one
        // from then on, but may write a decision it made before (see the README, Reliability).
        continue;
      }
      if (!Array.isArray(result.tracks)) continue;
      const own = await this.redactVideoResult(path, result as { tracks: StoredTrack[] }, subjectId);
      if (!own) continue;
      redacted.push(relative(this.paths.root, path));
      for (const id of own) {
        const thumbnail = join(root, job, `track-${id}.jpg`);
        if (!existsSync(thumbnail)) continue;
        await unlink(thumbnail);
        removed.push(relative(this.paths.root, thumbnail));
      }
    }
    return { removed, redacted };
  }
}
