/**
 * Multi-object face tracker in the manner of ByteTrack (Zhang et al. 2022): a Kalman motion model per track,
 * IoU association solved as an assignment problem (Hungarian algorithm, `munkres-js`), a second pass that lets
 * low-score detections keep existing tracks alive, birth after `minHits` consecutive hits, death after
 * `maxLostFrames` frames unseen, and appearance re-linking: a new face whose embedding matches a recently lost
 * track continues that track instead of starting a new one (a person who walked behind a pillar).
 *
 * No npm package does this: `node-moving-things-tracker` is IoU + Munkres without a motion model, a second pass
 * or appearance; so the association logic is here and only the assignment step is a library.
 */
import computeMunkres from 'munkres-js';
import { cosineSimilarity } from '../pipeline/embed.ts';
import { iou } from '../pipeline/geometry.ts';
import type { Box } from '../types.ts';
import { BoxKalman } from './kalman.ts';

export interface TrackerOptions {
  /** Detections at or above this score take part in the first pass and may start tracks. */
  highScore: number;
  /** Smallest IoU between a predicted track box and a detection for the first (high-score) pass. */
  matchIou: number;
  /** Smallest IoU for the second pass (low-score detections, tracks still unmatched). */
  lowMatchIou: number;
  /** Consecutive hits before a track is confirmed (reported, decided, evented). */
  minHits: number;
  /** Frames a confirmed track may go unseen before it ends. */
  maxLostFrames: number;
  /** Cosine similarity of embeddings above which a new face continues a lost track. */
  relinkSimilarity: number;
}

export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = {
  highScore: 0.75,
  matchIou: 0.2,
  lowMatchIou: 0.35,
  minHits: 3,
  maxLostFrames: 30,
  relinkSimilarity: 0.55,
};

export interface TrackerDetection {
  box: Box;
  score: number;
}

export type TrackState = 'tentative' | 'confirmed' | 'lost' | 'ended';

/** A tracked face, as the tracker sees it (no identity: that is the aggregator's job). */
export interface TrackedObject {
  id: number;
  state: TrackState;
  /** Box after the last correction (or prediction while lost). */
  box: Box;
  hits: number;
  /** Frame index of the first and the last hit. */
  firstFrame: number;
  lastFrame: number;
  /** Frames since the last hit. */
  missed: number;
  /** Whether this track was continued from a lost one by appearance. */
  relinked: boolean;
  /** Appearance for re-linking (the aggregated embedding), set by the caller. */
  appearance?: Float32Array | undefined;
}

/** What one frame's update did. */
export interface TrackerUpdate {
  /** For each detection of the frame, the track it now belongs to, or undefined (unmatched low-score box). */
  assignments: (TrackedObject | undefined)[];
  /** Tracks confirmed in this frame. */
  confirmed: TrackedObject[];
  /** Tracks that ended in this frame (lost too long, or never confirmed). */
  ended: TrackedObject[];
  /** Tracks continued from a lost one by appearance in this frame. */
  relinked: TrackedObject[];
}

/** Looks up an embedding for a detection, only when a re-link is possible (embedding costs ~10 ms). */
export type AppearanceOf = (detectionIndex: number) => Promise<Float32Array | undefined>;

interface Internal extends TrackedObject {
  kalman: BoxKalman;
}

/** Tracks faces across frames. One instance per video or stream; not safe for concurrent `update` calls. */
export class FaceTracker {
  readonly options: TrackerOptions;
  private tracks: Internal[] = [];
  private nextId = 1;

  constructor(options: Partial<TrackerOptions> = {}) {
    this.options = { ...DEFAULT_TRACKER_OPTIONS, ...options };
  }

  /** Tracks still alive (tentative, confirmed or lost). */
  active(): TrackedObject[] {
    return [...this.tracks];
  }

  /** Predicted boxes of live tracks for the next frame (for searching fine tiles only where faces are expected). */
  predictedBoxes(): Box[] {
    return this.tracks.filter((t) => t.state !== 'tentative').map((t) => t.box);
  }

  /**
   * Advances every track one frame and associates this frame's detections.
   *
   * @param appearanceOf Called for unmatched high-score detections while lost tracks with an appearance exist.
   */
  async update(
    frameIndex: number,
    detections: readonly TrackerDetection[],
    appearanceOf?: AppearanceOf,
  ): Promise<TrackerUpdate> {
    const o = this.options;
    for (const t of this.tracks) t.box = t.kalman.predict(1);
    const assignments: (TrackedObject | undefined)[] = detections.map(() => undefined);
    const confirmed: TrackedObject[] = [];
    const relinked: TrackedObject[] = [];
    const high = detections.flatMap((d, i) => (d.score >= o.highScore ? [i] : []));
    const low = detections.flatMap((d, i) => (d.score < o.highScore ? [i] : []));

    const hit = (track: Internal, detectionIndex: number) => {
      const detection = detections[detectionIndex]!;
      track.box = track.kalman.update(detection.box);
      track.hits++;
      track.lastFrame = frameIndex;
      track.missed = 0;
      if (track.state === 'lost') track.state = 'confirmed';
      if (track.state === 'tentative' && track.hits >= o.minHits) {
        track.state = 'confirmed';
        confirmed.push(track);
      }
      assignments[detectionIndex] = track;
    };

    // Pass 1: high-score detections against confirmed and lost tracks.
    const established = this.tracks.filter((t) => t.state === 'confirmed' || t.state === 'lost');
    const first = associate(established, high, detections, o.matchIou);
    for (const [t, d] of first.pairs) hit(t, d);
    // Pass 2: low-score detections keep confirmed (not lost) tracks alive through a blurred or dark frame.
    const stillTracked = first.unmatchedTracks.filter((t) => t.state === 'confirmed');
    const second = associate(stillTracked, low, detections, o.lowMatchIou);
    for (const [t, d] of second.pairs) hit(t, d);
    // Pass 3: tentative tracks against the high-score detections left.
    const tentative = this.tracks.filter((t) => t.state === 'tentative');
    const third = associate(tentative, first.unmatchedDetections, detections, o.matchIou);
    for (const [t, d] of third.pairs) hit(t, d);

    const ended: TrackedObject[] = [];
    const matched = new Set<Internal>([...first.pairs, ...second.pairs, ...third.pairs].map(([t]) => t));
    for (const t of this.tracks) {
      if (matched.has(t)) continue;
      t.missed++;
      if (t.state === 'tentative') t.state = 'ended';
      else if (t.state === 'confirmed') t.state = 'lost';
      if (t.state === 'lost' && t.missed > o.maxLostFrames) t.state = 'ended';
      if (t.state === 'ended') ended.push(t);
    }

    // Births, or re-links of lost tracks by appearance.
    for (const d of third.unmatchedDetections) {
      const lost = this.tracks.filter((t) => t.state === 'lost' && t.appearance && !matched.has(t));
      let continued: Internal | undefined;
      if (lost.length > 0 && appearanceOf) {
        const embedding = await appearanceOf(d);
        if (embedding) {
          let best = o.relinkSimilarity;
          for (const t of lost) {
            const s = cosineSimilarity(embedding, t.appearance!);
            if (s >= best) {
              best = s;
              continued = t;
            }
          }
        }
      }
      if (continued) {
        continued.kalman = new BoxKalman(detections[d]!.box);
        continued.relinked = true;
        matched.add(continued);
        hit(continued, d);
        relinked.push(continued);
        continue;
      }
      const box = detections[d]!.box;
      const track: Internal = {
        id: this.nextId++,
        state: 'tentative',
        box,
        hits: 0,
        firstFrame: frameIndex,
        lastFrame: frameIndex,
        missed: 0,
        relinked: false,
        kalman: new BoxKalman(box),
      };
      this.tracks.push(track);
      hit(track, d);
      if (o.minHits <= 1 && track.state === 'tentative') {
        track.state = 'confirmed';
        confirmed.push(track);
      }
    }
    this.tracks = this.tracks.filter((t) => t.state !== 'ended');
    return { assignments, confirmed, ended, relinked };
  }

  /** Ends every live track (end of video); returns the confirmed and lost ones. */
  finish(): TrackedObject[] {
    const ended = this.tracks.filter((t) => t.state === 'confirmed' || t.state === 'lost');
    for (const t of this.tracks) t.state = 'ended';
    this.tracks = [];
    return ended;
  }
}

/** Optimal IoU assignment of `tracks` to the detections `candidates` (indices), gated by `minIou`. */
function associate(
  tracks: Internal[],
  candidates: number[],
  detections: readonly TrackerDetection[],
  minIou: number,
): { pairs: [Internal, number][]; unmatchedTracks: Internal[]; unmatchedDetections: number[] } {
  if (tracks.length === 0 || candidates.length === 0) {
    return { pairs: [], unmatchedTracks: [...tracks], unmatchedDetections: [...candidates] };
  }
  const overlaps = tracks.map((t) => candidates.map((d) => iou(t.box, detections[d]!.box)));
  const cost = overlaps.map((row) => row.map((v) => (v >= minIou ? 1 - v : 1)));
  const pairs: [Internal, number][] = [];
  const usedTracks = new Set<number>();
  const usedDetections = new Set<number>();
  for (const [r, c] of computeMunkres(cost)) {
    if (r >= tracks.length || c >= candidates.length) continue;
    if ((overlaps[r]?.[c] ?? 0) < minIou) continue;
    pairs.push([tracks[r]!, candidates[c]!]);
    usedTracks.add(r);
    usedDetections.add(c);
  }
  return {
    pairs,
    unmatchedTracks: tracks.filter((_, i) => !usedTracks.has(i)),
    unmatchedDetections: candidates.filter((_, i) => !usedDetections.has(i)),
  };
}
