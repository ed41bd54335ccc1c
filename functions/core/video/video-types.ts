/** Value types of a video job's result. Plain data: safe to serialise as JSON. */
import type { Box, FaceQuality } from '../types.ts';
import type { VideoInfo } from './frames.ts';
import type { TrackDecision } from './track-evidence.ts';

/** One kept face of a track, as evidence. */
export interface EvidenceFace {
  frameIndex: number;
  timestampMs: number;
  box: Box;
  quality: FaceQuality;
  /** This face's own similarity to the track's decided (or best) subject. */
  similarity: number | undefined;
}

/** One person seen in a video. */
export interface TrackSummary {
  id: number;
  firstFrame: number;
  lastFrame: number;
  firstMs: number;
  lastMs: number;
  /** Frames in which the face was detected. */
  hits: number;
  /** Faces embedded for this track (the fast path embeds only new or better faces). */
  embedded: number;
  /** Continued from a lost track by appearance. */
  relinked: boolean;
  decision: TrackDecision | undefined;
  /** Decisions made over the track's life (the last one is `decision`). */
  decisions: number;
  /** Best-K faces, best quality first. */
  evidence: EvidenceFace[];
}

export type VideoStage =
  | 'decode'
  | 'detect'
  | 'landmarks'
  | 'align'
  | 'quality'
  | 'enhance'
  | 'embed'
  | 'track'
  | 'decide'
  | 'annotate';

export interface VideoProgress {
  frames: number;
  /** Video time reached, ms. */
  positionMs: number;
  /** Frames processed per wall-clock second so far. */
  fps: number;
  /** Video seconds per wall-clock second so far (≥ 1: keeps up with real time). */
  realTimeFactor: number;
  activeTracks: number;
  tracks: number;
}

export interface VideoResult {
  source: string;
  info: VideoInfo;
  frames: number;
  /** Video time covered, ms. */
  durationMs: number;
  /** Wall-clock time of the job, ms. */
  elapsedMs: number;
  fps: number;
  realTimeFactor: number;
  /** False when the video could not be read to the end (truncated, dropped stream, stopped); see `reason`. */
  complete: boolean;
  reason?: string | undefined;
  /** Confirmed tracks, in order of appearance. */
  tracks: TrackSummary[];
  /** Milliseconds per stage, summed over the job. */
  timings: Record<VideoStage, number>;
  /** Frames on which the full detector pyramid ran (the rest used the fast path). */
  fullScans: number;
  calibration: string;
  model: { id: string; version: string };
}
