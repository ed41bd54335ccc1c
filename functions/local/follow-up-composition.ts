/**
 * Local mode's unknown persons and review queue: SQLite stores on the data directory's database, configured by
 * `FACEPRINT_REVIEW` (all | below:<similarity> | watch:<id>,… | off) and `FACEPRINT_UNKNOWN_RETENTION_DAYS`
 * (default 30). Nonsense in either fails closed at start.
 */
import type { DataDir } from '../adapters/local/data-dir.ts';
import { SqliteReviewStore } from '../adapters/local/sqlite-review-store.ts';
import { SqliteUnknownStore } from '../adapters/local/sqlite-unknown-store.ts';
import { composeFollowUp, type FollowUpParts } from '../core/unknowns/compose.ts';

export type { FollowUpParts } from '../core/unknowns/compose.ts';

export function openLocalFollowUp(
  dataDir: DataDir,
  calibrationId: string,
  now?: () => Date,
  env: NodeJS.ProcessEnv = process.env,
): FollowUpParts {
  return composeFollowUp({
    unknowns: new SqliteUnknownStore(dataDir.db),
    reviews: new SqliteReviewStore(dataDir.db),
    audit: dataDir.faceStore,
    calibrationId: () => calibrationId,
    config: { retentionDays: env.FACEPRINT_UNKNOWN_RETENTION_DAYS, reviewRule: env.FACEPRINT_REVIEW },
    now,
  });
}
