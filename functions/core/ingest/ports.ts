/**
 * The ports of the upload workflow (`ingest.ts`): what it needs from the world outside the core to take an
 * upload exactly once and record its outcome.
 */

export type IngestState = 'claimed' | 'done' | 'failed';

/**
 * Remembers which uploads were processed, so a redelivered S3 event or a restart of the upload-folder
 * watcher never processes the same object twice.
 */
export interface IngestLedger {
  /**
   * Claims `key` (with a content fingerprint such as an ETag or sha256) for processing. The caller processes the
   * upload exactly when `acquired` is true: a first claim, or the take-over of a claim gone stale (a crash
   * mid-processing). Otherwise `state` says what is recorded: `claimed` (someone is on it), `done` or `failed`.
   */
  claim(
    key: string,
    fingerprint: string,
  ): Promise<{ state: IngestState; firstClaim: boolean; acquired: boolean }>;
  complete(key: string, fingerprint: string, resultRef: string): Promise<void>;
  fail(key: string, fingerprint: string, reason: string): Promise<void>;
}
