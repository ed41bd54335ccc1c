/**
 * Track events on the EventBridge bus (`TrackEventSink`): `detail-type` `Faceprint Track`, the event (its
 * `type` is `track.started`, `track.identified`, `track.unknown` or `track.ended`) as the detail, up to ten
 * entries per PutEvents. A refused entry throws, so the job fails and is retried (the events are then sent
 * again: at least once, as EventBridge itself delivers them).
 */
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { TrackEvent, TrackEventSink } from '../../core/video/events.ts';

/** `detail-type` of the track events on the bus. */
export const TRACK_DETAIL_TYPE = 'Faceprint Track';

/** Largest detail sent (EventBridge allows 256 KB per entry, envelope included). */
const MAX_DETAIL_BYTES = 240_000;

function detailOf(event: TrackEvent): string {
  const json = JSON.stringify(event);
  if (Buffer.byteLength(json) <= MAX_DETAIL_BYTES) return json;
  // The evidence is what can grow; the decision and the track's times stay.
  return JSON.stringify({ ...event, track: event.track ? { ...event.track, evidence: [] } : undefined });
}

export class EventBridgeTrackSink implements TrackEventSink {
  constructor(
    private readonly options: { events: Pick<EventBridgeClient, 'send'>; eventBus: string; source: string },
  ) {}

  async publish(events: TrackEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += 10) {
      const chunk = events.slice(i, i + 10);
      const result = await this.options.events.send(
        new PutEventsCommand({
          Entries: chunk.map((event) => ({
            EventBusName: this.options.eventBus,
            Source: this.options.source,
            DetailType: TRACK_DETAIL_TYPE,
            Detail: detailOf(event),
          })),
        }),
      );
      if ((result.FailedEntryCount ?? 0) > 0) {
        const failed = result.Entries?.find((e) => e.ErrorCode);
        throw new Error(`PutEvents refused a track event: ${failed?.ErrorCode}: ${failed?.ErrorMessage}`);
      }
    }
  }
}
