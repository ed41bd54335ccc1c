/**
 * Bounded work per request: a processing deadline and a cancellation signal, checked between the pipeline's
 * steps (each detector tile, each face), so a request that would run long, or whose client has gone, stops
 * within one step (tens of milliseconds) instead of running to the end.
 *
 * @module
 */
import { FaceprintError } from '../errors.ts';

/** What bounds one analysis. */
export interface WorkLimit {
  /** Milliseconds the analysis may take from its start; 0 or absent: no deadline. */
  deadlineMs?: number | undefined;
  /** Aborted when the work is no longer wanted (the HTTP client disconnected). */
  signal?: AbortSignal | undefined;
}

/** A started clock over a {@link WorkLimit}; {@link WorkBudget.check} throws once it is spent. */
export class WorkBudget {
  private readonly until: number;

  constructor(private readonly limit: WorkLimit = {}) {
    this.until = limit.deadlineMs ? performance.now() + limit.deadlineMs : Number.POSITIVE_INFINITY;
  }

  /** A budget that never runs out. */
  static readonly NONE = new WorkBudget();

  /**
   * @throws FaceprintError CANCELLED when the signal was aborted, PROCESSING_TIMEOUT past the deadline.
   */
  check(): void {
    if (this.limit.signal?.aborted) {
      throw new FaceprintError('CANCELLED', 'The analysis was cancelled because its caller went away.');
    }
    if (performance.now() > this.until) {
      const seconds = (this.limit.deadlineMs ?? 0) / 1000;
      throw new FaceprintError(
        'PROCESSING_TIMEOUT',
        `Analysing this image took longer than the ${seconds.toLocaleString('en')} s limit; send a smaller image or one with fewer faces.`,
        { deadlineMs: this.limit.deadlineMs },
      );
    }
  }
}
