/**
 * The frame-source port: where decoded video frames come from (an FFmpeg child process for files and live
 * streams, a folder of stills). The core never spawns a process; adapters implement this.
 */
import type { RgbImage } from '../pipeline/image.ts';

/** What a source knows about its video before the first frame. */
export interface VideoInfo {
  /** Frame size of every frame delivered (a size change mid-stream is scaled to this size by the decoder). */
  width: number;
  height: number;
  /** Frames per second delivered (after `every` subsampling); 0 when unknown. */
  fps: number;
  /** Source frame rate as the container states it; 0 when unknown. */
  sourceFps: number;
  /** Seconds, when the container states it (files); undefined for live streams. */
  durationSeconds: number | undefined;
  /** Codec name as the decoder reports it (`h264`, `hevc`, `vp9`, `mjpeg`, `image`…). */
  codec: string;
  /** True for live streams (no end, no duration). */
  live: boolean;
}

/** One decoded frame. */
export interface VideoFrame {
  /** 0-based ordinal among the frames delivered. */
  index: number;
  /** Presentation time in milliseconds from the start of the source (or of the first still). */
  timestampMs: number;
  image: RgbImage;
}

/** How a source ended: normally, or early with the reason (a truncated file, a dropped stream). */
export interface SourceEnd {
  complete: boolean;
  /** One sentence, when `complete` is false. */
  reason?: string | undefined;
  /** The decoder's own last error line, for the logs (never shown as the user-facing reason). */
  detail?: string | undefined;
}

/**
 * A stream of frames. `frames()` may be iterated once; `close()` stops the decoder at once (no child process
 * outlives it) and is safe to call at any time, more than once.
 */
export interface FrameSource {
  /** Resolves when the first frame's geometry is known; rejects with a FaceprintError for unreadable input. */
  open(): Promise<VideoInfo>;
  frames(): AsyncIterable<VideoFrame>;
  /** After iteration: how it ended. */
  end(): SourceEnd;
  close(): Promise<void>;
}

/** Options every source accepts. */
export interface FrameSourceOptions {
  /** Deliver every Nth frame only (1 = all); skipped frames are decoded but never converted or copied. */
  every?: number | undefined;
  /** Start this many seconds into the source (a cheap keyframe seek). */
  startSeconds?: number | undefined;
  /** Stop after this many seconds of video (files: a 10-hour file can be cut short). */
  maxSeconds?: number | undefined;
  /** Give up when no frame arrives for this long (connect and stall timeout), in ms. */
  stallTimeoutMs?: number | undefined;
}
