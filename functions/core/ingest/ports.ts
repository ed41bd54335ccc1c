/**
 * The ports of the upload workflow (`workflow.ts`): what it needs from the world outside the core to take an
 * upload exactly once (the ledger), read it (the upload source) and record its outcome (the detection sink).
 * AWS implements them with DynamoDB, S3 and EventBridge (`functions/adapters/aws/`), local mode with SQLite and
 * the uploads/results/failed folders (`functions/adapters/local/`).
 */
import type { IngestEvent } from './ingest.ts';

export type IngestState = 'claimed' | 'done' | 'failed';

/** The answer of {@link IngestLedger.claim}. */
export interface LedgerClaim {
  state: IngestState;
  firstClaim: boolean;
  acquired: boolean;
  /** How many times the upload was claimed, this claim included, where the ledger counts them. */
  attempts?: number | undefined;
}

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
  claim(key: string, fingerprint: string): Promise<LedgerClaim>;
  complete(key: string, fingerprint: string, resultRef: string): Promise<void>;
  fail(key: string, fingerprint: string, reason: string): Promise<void>;
  /**
   * Keeps `claim` from going stale while a long job runs (`claim-heartbeat.ts`); false when the claim is no
   * longer this holder's (it was taken over, or settled). Optional: ledgers without it only expire claims.
   */
  renew?(key: string, fingerprint: string, claim: LedgerClaim): Promise<boolean>;
  /** Gives `claim` up at once (the job failed), so the retry takes it without waiting for the stale window. */
  release?(key: string, fingerprint: string, claim: LedgerClaim): Promise<void>;
  /** How often {@link renew} must be called to keep a claim: a fraction of the stale window. */
  readonly renewEveryMs?: number | undefined;
}

/** What an upload source says about an upload's current version, before anything is read. */
export type VersionLookup =
  | { version: string }
  | { gone: true }
  /** It exists but cannot be read at all (local mode: a permission problem): set aside without a claim. */
  | { unreadable: string };

/** An upload's bytes, or why there are none. */
export type UploadRead =
  | { bytes: Uint8Array; metadata: Record<string, string> }
  | { gone: true }
  | { tooLarge: number; limit: number }
  /** Overwritten since its version was looked up: the new version is an upload of its own. */
  | { replaced: string };

/** Where uploads come from: an S3 bucket, or the local uploads folder. */
export interface UploadSource<Ref> {
  /** The key the ledger and the records name the upload by (object key, file name). */
  keyOf(ref: Ref): string;
  /** The upload's current version (ETag, sha256): its identity in the ledger together with its key. */
  version(ref: Ref): Promise<VersionLookup>;
  /** Reads the upload as of `version`, refusing (without reading it) one larger than the source's limit. */
  read(ref: Ref, version: string): Promise<UploadRead>;
}

/**
 * A detection recorded but not yet settled. The workflow settles the ledger between the two steps, so that a
 * crash in between finds the upload `done` (or `failed`) and only the local move is left to finish.
 */
export interface RecordedDetection {
  /** Where the record is (a DynamoDB key, a results file), kept in the ledger. */
  resultRef: string;
  /** Finishes after the ledger was settled (local mode: moves the original beside its result). */
  settle(): Promise<void>;
  /** Releases what `record` reserved when the ledger could not be settled (the upload will be retried). */
  abandon(): void;
}

/** Where the outcome of an upload goes: DynamoDB + EventBridge in AWS, `results/` and `failed/` locally. */
export interface DetectionSink<Ref> {
  /**
   * Records an upload's event, processed or failed, durably (and publishes it where there is a bus), under its
   * key and `version`. `bytes` are the upload's (local mode draws the annotated copy from them).
   */
  record(ref: Ref, version: string, event: IngestEvent, bytes: Uint8Array): Promise<RecordedDetection>;
  /**
   * An upload refused before it was identified (gone, too large, replaced, abandoned after too many attempts).
   * AWS keeps these in the ledger only; local mode writes the reason beside the file it sets aside. `version` is
   * undefined when the upload could not even be read for one.
   */
  refuse(ref: Ref, version: string | undefined, event: IngestEvent): Promise<RecordedDetection>;
  /** An upload the ledger had already settled (a redelivery): local mode moves the file beside its earlier result. */
  duplicate?(ref: Ref, version: string, state: 'done' | 'failed'): Promise<void>;
}
