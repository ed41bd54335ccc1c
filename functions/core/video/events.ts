/** Track events: what a video job tells the audit log and, in AWS, the event bus, as it happens. */
import type { DecisionAuditEntry } from '../domain.ts';
import type { ModelRef } from '../types.ts';
import type { TrackDecision } from './track-evidence.ts';
import type { TrackSummary } from './video-types.ts';

export type TrackEventType = 'track.started' | 'track.identified' | 'track.unknown' | 'track.ended';

export interface TrackEvent {
  type: TrackEventType;
  /** Wall-clock time of the event (ISO-8601). */
  at: string;
  /** The video or stream (file name, object key, redacted URL). */
  source: string;
  trackId: number;
  /** Position in the video. */
  frameIndex: number;
  timestampMs: number;
  /** The track's decision when the event was raised (absent on `track.started` before any face was embedded). */
  decision?: TrackDecision | undefined;
  /** For `track.identified` / `track.unknown`: true when this replaces an earlier decision of the same track. */
  revised?: boolean | undefined;
  /** For `track.ended`: the whole track. */
  track?: TrackSummary | undefined;
}

/** Where track events go (audit log, event bus, NDJSON on stdout). Implementations must not throw on a slow sink. */
export interface TrackEventSink {
  publish(events: TrackEvent[]): Promise<void>;
}

/**
 * The audit-log rows of track events that carry a decision: `operation` is the event type, `source` names the
 * video and the track (`video.mp4#track-3`), and `faceIndex` is the track id.
 */
export function auditEntriesOf(
  events: readonly TrackEvent[],
  context: { model: ModelRef; calibration: string; id: (event: TrackEvent) => string },
): DecisionAuditEntry[] {
  return events.flatMap((event) => {
    const decision = event.decision;
    const face = event.track?.evidence[0] ?? undefined;
    if (!decision || !face) return [];
    return [
      {
        id: context.id(event),
        at: event.at,
        operation: event.type,
        source: `${event.source}#track-${event.trackId}`,
        faceIndex: event.trackId,
        box: face.box,
        quality: face.quality,
        decision: {
          kind: decision.kind,
          subjectId: decision.subjectId,
          similarity: decision.similarity,
          threshold: decision.threshold,
          margin: decision.margin,
          confidence: decision.confidence,
          candidates: decision.candidates,
        },
        model: context.model,
        calibration: context.calibration,
      },
    ];
  });
}
