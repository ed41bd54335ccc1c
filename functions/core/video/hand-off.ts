/**
 * Handing a video upload to a long-running worker (AWS Batch: Lambda's 15-minute limit is too short for a long
 * video, and one video keeps every core busy). The ingest side claims the upload in the ingest ledger like any
 * upload, submits one job through the {@link VideoJobQueue} port and settles the claim `done` with the job's
 * reference: a redelivered notification finds it settled and submits nothing. The worker then processes the
 * video under its own ledger key ({@link videoLedgerKey}), so that a job submitted twice (a crash between
 * submitting and settling) still processes the video once.
 */
import type { DetectionSink, IngestLedger, UploadSource } from '../ingest/ports.ts';
import { processUpload, type UploadOutcome } from '../ingest/workflow.ts';

/** One video for the worker: where it is and the version (ETag) that was claimed. */
export interface VideoJobRequest {
  kind: 'video';
  bucket: string;
  key: string;
  version: string;
}

/** Where video jobs are submitted (AWS: the Batch feed queue). */
export interface VideoJobQueue {
  /** Submits one job; resolves with a reference to it (a manifest key, a message id). */
  submit(request: VideoJobRequest): Promise<{ jobRef: string }>;
}

/** The ledger key under which the worker processes a handed-off video (the upload's own key is the hand-off's). */
export function videoLedgerKey(key: string): string {
  return `${key}#video`;
}

/** The `resultRef` of a handed-off upload in the ledger. */
export function handedOffRef(jobRef: string): string {
  return `HANDED-OFF#${jobRef}`;
}

/**
 * Hands one video upload to the worker exactly once, through the upload workflow (`processUpload`: the same
 * claim, refusals and settling as an image). The upload is claimed, not read: its bytes travel to the worker.
 *
 * @param request - the job for this upload at the claimed version.
 */
export function handOffVideo<Ref>(
  ref: Ref,
  deps: {
    source: UploadSource<Ref>;
    ledger: IngestLedger;
    sink: DetectionSink<Ref>;
    queue: VideoJobQueue;
    request: (ref: Ref, version: string) => VideoJobRequest;
  },
): Promise<UploadOutcome> {
  return processUpload(ref, {
    source: deps.source,
    ledger: deps.ledger,
    sink: deps.sink,
    process: async (_ref, version) => {
      const { jobRef } = await deps.queue.submit(deps.request(ref, version));
      return {
        ok: true,
        recorded: {
          resultRef: handedOffRef(jobRef),
          settle: async () => undefined,
          abandon: () => undefined,
        },
        detail: `video handed off (${jobRef})`,
      };
    },
  });
}
