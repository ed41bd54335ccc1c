/** The gallery as the video workflow's ports: an identity matcher and an audit-log sink for track events. */
import { randomUUID } from 'node:crypto';
import { stableAuditId } from '../domain.ts';
import type { GalleryService } from '../gallery/service.ts';
import { EMBEDDING_MODEL } from '../pipeline/pipeline.ts';
import { auditEntriesOf, type TrackEvent, type TrackEventSink } from './events.ts';
import type { IdentityMatcher } from './track-evidence.ts';

/** Searches the gallery's index with the gallery's calibrated thresholds. */
export function galleryMatcher(gallery: GalleryService): IdentityMatcher {
  const names = new Map<string, string | undefined>();
  const { calibration } = gallery.config;
  return {
    search: (embedding, k) => gallery.searchEmbedding(embedding, k),
    nameOf: async (id) => {
      if (!names.has(id)) names.set(id, await gallery.subjectName(id));
      return names.get(id);
    },
    policy: { threshold: calibration.threshold, ambiguityMargin: calibration.ambiguityMargin },
    calibrationId: calibration.id,
  };
}

/**
 * Writes `track.identified`, `track.unknown` and `track.ended` (with their decisions) to the audit log. With an
 * `auditKey` naming the run's input (a video job, an uploaded object and its version), each event's row id is
 * derived from it, the event type, the track and the frame, so a run repeated over the same input (after a
 * restart, or by a worker that took a lost claim over) records each decision once; without one (the CLI, where
 * every run is a new analysis), ids are random.
 */
export function auditSink(gallery: GalleryService, auditKey?: string): TrackEventSink {
  const id = (event: TrackEvent) =>
    auditKey === undefined
      ? randomUUID()
      : stableAuditId(auditKey, `${event.type}#track-${event.trackId}#frame-${event.frameIndex}`);
  return {
    publish: (events) =>
      gallery.appendAudit(
        auditEntriesOf(
          events.filter((e) => e.type !== 'track.started'),
          { model: EMBEDDING_MODEL, calibration: gallery.config.calibration.id, id },
        ),
      ),
  };
}
