/**
 * Holding a ledger claim through a long job (a video in AWS Batch). A claim counts as a crashed worker's once it
 * is older than the ledger's stale window, so a job longer than that window would be taken over by a duplicate
 * job while it still runs. While the job runs, the claim is renewed every `renewEveryMs` (a fraction of the
 * window); a job that fails gives its claim up at once, so the retry need not wait for the window to pass; and a
 * job whose claim was taken over all the same (it could not renew in time) is told so through its abort signal
 * and must not record anything: the worker that took the claim over records the upload instead.
 *
 * @module
 */
import type { IngestLedger, LedgerClaim } from './ports.ts';

/** The reason of the abort signal when the claim was taken over: the job's result must not be recorded. */
export class ClaimLostError extends Error {
  constructor(readonly key: string) {
    super(`The claim on ${key} was taken over by another worker; this attempt records nothing.`);
    this.name = 'ClaimLostError';
  }
}

/** Whether an error (or an abort reason) is {@link ClaimLostError}. */
export function isClaimLost(error: unknown): error is ClaimLostError {
  return error instanceof ClaimLostError;
}

/**
 * Runs `work` while holding the claim: renews it on the ledger's cadence, aborts `work`'s signal with a
 * {@link ClaimLostError} when a renewal finds the claim no longer this holder's, and releases the claim when
 * `work` throws (any error but the claim's loss). A ledger without `renew` only runs `work`. A renewal that fails
 * (a network error) is reported to `onRenewalError` and tried again at the next tick.
 *
 * @returns what `work` returned; throws what it threw, or {@link ClaimLostError} when the claim was lost.
 */
export async function holdClaim<T>(
  ledger: IngestLedger,
  claim: { key: string; fingerprint: string; claim: LedgerClaim },
  work: (signal: AbortSignal) => Promise<T>,
  onRenewalError: (error: unknown) => void = () => undefined,
): Promise<T> {
  const { key, fingerprint } = claim;
  const controller = new AbortController();
  const renew = ledger.renew?.bind(ledger);
  const every = ledger.renewEveryMs;
  let renewing: Promise<void> = Promise.resolve();
  const timer =
    renew && every !== undefined && every > 0
      ? setInterval(() => {
          // One renewal at a time: a slow one is not overtaken by the next.
          renewing = renewing.then(async () => {
            if (controller.signal.aborted) return;
            try {
              if (!(await renew(key, fingerprint, claim.claim))) controller.abort(new ClaimLostError(key));
            } catch (error) {
              // Retried at the next tick: with renewals a fraction of the window apart, one miss loses nothing.
              onRenewalError(error);
            }
          });
        }, every)
      : undefined;
  timer?.unref?.();
  const stop = async () => {
    if (timer) clearInterval(timer);
    await renewing;
  };
  try {
    const result = await work(controller.signal);
    await stop();
    if (controller.signal.aborted) throw controller.signal.reason;
    return result;
  } catch (error) {
    // No renewal may follow the release (it would make the claim fresh again).
    await stop();
    if (!controller.signal.aborted && !isClaimLost(error)) {
      await ledger.release?.(key, fingerprint, claim.claim).catch(() => undefined);
    }
    throw controller.signal.aborted ? controller.signal.reason : error;
  }
}
