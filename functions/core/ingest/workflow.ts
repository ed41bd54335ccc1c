/**
 * The upload workflow, written once for every entry point: an image dropped into S3 (`uploads/`), into the local
 * uploads folder, or named by a Batch manifest travels the same steps —
 *
 *   look up its version → claim (key, version) in the ledger → read it → identify every face → record the
 *   detection (and publish it) → settle the ledger → settle the upload (local mode: move the file)
 *
 * — through the ports of `ports.ts`. A redelivered upload finds its claim settled and is not processed again; a
 * crash between record and settle is taken over (the ledger's stale claim) and recorded once more under the same
 * key, so there is one record and, with the audit key, one audit row per face. Errors are sorted by
 * `ERROR_BLAME` (`core/errors.ts`): the upload's own faults become a `failed` record, never retried; the
 * operator's are thrown for the caller's retry policy (SQS redelivery and its DLQ, the watcher's retry).
 *
 * Enrolment uploads (`gallery/<subject>/<file>` in S3) use the same claim-and-read steps with another last step
 * ({@link enrolUpload}).
 */
import { uploadAuditKey } from '../domain.ts';
import { blameOf, type FaceprintErrorCode, isFaceprintError } from '../errors.ts';
import type { GalleryService } from '../gallery/service.ts';
import { holdClaim, isClaimLost } from './claim-heartbeat.ts';
import { failedIngestEvent, type IngestEvent, ingestImage } from './ingest.ts';
import type {
  DetectionSink,
  IngestLedger,
  IngestState,
  LedgerClaim,
  RecordedDetection,
  UploadSource,
} from './ports.ts';

/** What happened to one upload. Unexpected (operator) errors are thrown instead. */
export type UploadOutcome =
  | { status: 'processed'; detail: string; event?: IngestEvent | undefined }
  | { status: 'refused'; code: string; message: string; event?: IngestEvent | undefined }
  | { status: 'duplicate'; state: IngestState }
  | { status: 'busy' }
  | { status: 'ignored'; reason: string };

/** Codes the workflow itself gives to uploads refused before they were identified. */
export type WorkflowRefusal =
  | 'NOT_FOUND'
  | 'IMAGE_TOO_LARGE'
  | 'SUPERSEDED'
  | 'PROCESSING_ABANDONED'
  | 'UNREADABLE'
  | 'INVALID_KEY';

/** What {@link ingestUpload} works with. */
export interface IngestUploadDeps<Ref> {
  source: UploadSource<Ref>;
  ledger: IngestLedger;
  sink: DetectionSink<Ref>;
  /** The gallery, with a current index (asked for only once the upload is claimed and read). */
  gallery: () => Promise<GalleryService>;
  /**
   * Claims after which an upload is set aside as `PROCESSING_ABANDONED` instead of tried again, so that a file that
   * crashes the process cannot crash it at every start. Default: no limit (SQS's redrive policy decides in AWS).
   */
  maxAttempts?: number | undefined;
  now?: (() => Date) | undefined;
}

/** What {@link enrolUpload} works with. */
export interface EnrolUploadDeps<Ref> {
  source: UploadSource<Ref>;
  ledger: IngestLedger;
  /** Enrols the photo; throws a FaceprintError to refuse it (input or state blame), anything else to retry. */
  enrol(bytes: Uint8Array, metadata: Record<string, string>): Promise<{ resultRef: string; detail: string }>;
  /** Set when the upload cannot be enrolled whatever it holds (a bad key): claimed and refused unread. */
  invalid?: { code: 'INVALID_KEY'; message: string } | undefined;
  onRefused?: ((code: string, message: string) => void) | undefined;
}

const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Settles the ledger between recording and settling the upload; releases the record's reservation if it throws. */
async function settleLedger(recorded: RecordedDetection, settle: () => Promise<void>): Promise<void> {
  try {
    await settle();
  } catch (error) {
    recorded.abandon();
    throw error;
  }
  await recorded.settle();
}

type Claimed =
  | { version: string; bytes: Uint8Array; metadata: Record<string, string>; claim: LedgerClaim }
  | { outcome: UploadOutcome };

/**
 * The steps every upload shares: version, claim, (abandon after too many attempts), read. Returns the bytes to
 * work on, or the outcome when there is nothing to do; refusals are settled through `refuse`.
 */
async function claimAndRead<Ref>(
  ref: Ref,
  deps: {
    source: UploadSource<Ref>;
    ledger: IngestLedger;
    maxAttempts?: number | undefined;
    duplicate?: ((version: string, state: 'done' | 'failed') => Promise<void>) | undefined;
    refuse: (version: string | undefined, code: string, message: string) => Promise<UploadOutcome>;
    invalid?: { code: WorkflowRefusal; message: string } | undefined;
    /** False for uploads processed from where they are (a video read by its decoder): claimed, not read. */
    readBytes?: boolean | undefined;
  },
): Promise<Claimed> {
  const key = deps.source.keyOf(ref);
  const found = await deps.source.version(ref);
  if ('gone' in found) return { outcome: { status: 'ignored', reason: 'the upload no longer exists' } };
  if ('unreadable' in found) return { outcome: await deps.refuse(undefined, 'UNREADABLE', found.unreadable) };
  const { version } = found;
  const claim = await deps.ledger.claim(key, version);
  if (!claim.acquired) {
    if (claim.state === 'claimed') return { outcome: { status: 'busy' } };
    await deps.duplicate?.(version, claim.state);
    return { outcome: { status: 'duplicate', state: claim.state } };
  }
  if (deps.invalid) return { outcome: await deps.refuse(version, deps.invalid.code, deps.invalid.message) };
  const attempts = claim.attempts ?? 1;
  if (deps.maxAttempts !== undefined && attempts > deps.maxAttempts) {
    const message = `Processing failed or was interrupted ${attempts - 1} times; the upload is set aside.`;
    return { outcome: await deps.refuse(version, 'PROCESSING_ABANDONED', message) };
  }
  if (deps.readBytes === false) return { version, bytes: new Uint8Array(0), metadata: {}, claim };
  const read = await deps.source.read(ref, version);
  if ('gone' in read) {
    return {
      outcome: await deps.refuse(version, 'NOT_FOUND', 'The upload was deleted before it was processed.'),
    };
  }
  if ('tooLarge' in read) {
    const message = `The upload is ${MB(read.tooLarge)}; the limit is ${MB(read.limit)}.`;
    return { outcome: await deps.refuse(version, 'IMAGE_TOO_LARGE', message) };
  }
  if ('replaced' in read) {
    // Overwritten since its notification: the new version has a notification (and a claim) of its own.
    const message = `The upload was replaced (version ${read.replaced}) before it was processed.`;
    return { outcome: await deps.refuse(version, 'SUPERSEDED', message) };
  }
  return { version, bytes: read.bytes, metadata: read.metadata, claim };
}

/**
 * Ingests one upload exactly once: claim, read, identify every face, record and publish the detection, settle.
 * A corrupt or unreadable image is a `failed` record (the upload's fault), not an error; an operator error (a
 * missing model, a corrupt index, a bug) is thrown with the claim left open, so the caller's retry takes it over.
 */
export async function ingestUpload<Ref>(ref: Ref, deps: IngestUploadDeps<Ref>): Promise<UploadOutcome> {
  const { source, ledger, sink } = deps;
  const key = source.keyOf(ref);
  const now = deps.now ?? (() => new Date());
  const claimed = await claimAndRead(ref, sharedSteps(ref, deps));
  if ('outcome' in claimed) return claimed.outcome;
  const { version, bytes } = claimed;
  const gallery = await deps.gallery();
  const event = await ingestImage(gallery, { key, bytes, auditKey: uploadAuditKey(key, version) }, now);
  const recorded = await sink.record(ref, version, event, bytes);
  if (event.status === 'processed') {
    await settleLedger(recorded, () => ledger.complete(key, version, recorded.resultRef));
    const { faces, matches } = event.summary;
    return { status: 'processed', detail: `${faces} faces, ${matches} matches`, event };
  }
  const error = event.error ?? { code: 'FAILED', message: 'The image could not be processed.' };
  await settleLedger(recorded, () => ledger.fail(key, version, `${error.code}: ${error.message}`));
  return { status: 'refused', code: error.code, message: error.message, event };
}

/** The claim-and-read steps of an upload recorded through a sink, with its refusals settled through it. */
function sharedSteps<Ref>(
  ref: Ref,
  deps: Pick<IngestUploadDeps<Ref>, 'source' | 'ledger' | 'sink' | 'maxAttempts' | 'now'>,
) {
  const { source, ledger, sink } = deps;
  const key = source.keyOf(ref);
  const now = deps.now ?? (() => new Date());
  return {
    source,
    ledger,
    maxAttempts: deps.maxAttempts,
    duplicate: sink.duplicate
      ? (version: string, state: 'done' | 'failed') => sink.duplicate!(ref, version, state)
      : undefined,
    refuse: async (version: string | undefined, code: string, message: string): Promise<UploadOutcome> => {
      const event = failedIngestEvent(key, version ?? '', { code, message }, now());
      const recorded = await sink.refuse(ref, version, event);
      // Without a version (unreadable) there is no claim to settle: the upload is only set aside.
      await settleLedger(recorded, async () => {
        if (version !== undefined) await ledger.fail(key, version, `${code}: ${message}`);
      });
      return { status: 'refused', code, message, event };
    },
  };
}

/** What a custom processing step of {@link processUpload} answers: a record to settle, or the upload's fault. */
export type ProcessedUpload =
  | { ok: true; recorded: RecordedDetection; detail: string }
  | { ok: false; error: { code: string; message: string } };

/**
 * The same workflow as {@link ingestUpload} with another processing step in place of "read, identify, record":
 * an upload processed from where it is (a video, decoded from its file by FFmpeg). Claim, refusals, the
 * ledger and settling are the workflow's; `process` records its own result through the sink's adapter.
 *
 * The claim is held while `process` runs (`claim-heartbeat.ts`: renewed where the ledger can, released when
 * `process` throws). When it was taken over all the same, `process`'s signal aborts, nothing may be recorded
 * (`process` checks the signal before it records) and the outcome is `busy`: the other worker has the upload.
 */
export async function processUpload<Ref>(
  ref: Ref,
  deps: Omit<IngestUploadDeps<Ref>, 'gallery'> & {
    process: (ref: Ref, version: string, signal: AbortSignal) => Promise<ProcessedUpload>;
    /** A renewal of the claim failed (it is tried again); for the caller's log. */
    onRenewalError?: ((error: unknown) => void) | undefined;
  },
): Promise<UploadOutcome> {
  const steps = sharedSteps(ref, deps);
  const claimed = await claimAndRead(ref, { ...steps, readBytes: false });
  if ('outcome' in claimed) return claimed.outcome;
  const key = deps.source.keyOf(ref);
  let result: ProcessedUpload;
  try {
    result = await holdClaim(
      deps.ledger,
      { key, fingerprint: claimed.version, claim: claimed.claim },
      (signal) => deps.process(ref, claimed.version, signal),
      deps.onRenewalError,
    );
  } catch (error) {
    if (isClaimLost(error)) return { status: 'busy' };
    throw error;
  }
  if (!result.ok) return steps.refuse(claimed.version, result.error.code, result.error.message);
  await settleLedger(result.recorded, () =>
    deps.ledger.complete(key, claimed.version, result.recorded.resultRef),
  );
  return { status: 'processed', detail: result.detail };
}

/**
 * Enrols one uploaded photo exactly once (AWS: `gallery/<subjectId>/<file>`): claim, read, enrol, settle. A photo
 * the gallery refuses (no face, several faces, low quality, unreadable…) is settled as failed, not retried.
 */
export async function enrolUpload<Ref>(ref: Ref, deps: EnrolUploadDeps<Ref>): Promise<UploadOutcome> {
  const { source, ledger } = deps;
  const key = source.keyOf(ref);
  const refuse = async (
    version: string | undefined,
    code: string,
    message: string,
  ): Promise<UploadOutcome> => {
    if (version !== undefined) await ledger.fail(key, version, `${code}: ${message}`);
    deps.onRefused?.(code, message);
    return { status: 'refused', code, message };
  };
  const claimed = await claimAndRead(ref, { source, ledger, refuse, invalid: deps.invalid });
  if ('outcome' in claimed) return claimed.outcome;
  const { version, bytes, metadata } = claimed;
  try {
    const { resultRef, detail } = await deps.enrol(bytes, metadata);
    await ledger.complete(key, version, resultRef);
    return { status: 'processed', detail };
  } catch (error) {
    if (!isFaceprintError(error) || blameOf(error) === 'operator') throw error;
    return refuse(version, error.code satisfies FaceprintErrorCode, error.message);
  }
}
