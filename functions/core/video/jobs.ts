/** The asynchronous video-job port the HTTP routes use (local mode: `functions/local/video-jobs.ts`). */
import type { VideoProgress, VideoResult } from './video-types.ts';

export type VideoJobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface VideoJobView {
  id: string;
  name: string;
  status: VideoJobStatus;
  createdAt: string;
  progress?: VideoProgress | undefined;
  result?: VideoResult | undefined;
  error?: { code: string; message: string } | undefined;
  /** Relative URLs of the downloadable results, once done. */
  files?: { annotated: string; thumbnails: Record<string, string> } | undefined;
}

/** What the HTTP routes need from video jobs. */
/** Submits videos, reports their jobs, hands out result files. */
export interface VideoJobsPort {
  submit(bytes: Uint8Array, name: string): Promise<VideoJobView>;
  /** The job as it stands; a finished job's result is read from where it is kept (erasure may rewrite it). */
  get(id: string): Promise<VideoJobView | undefined>;
  /** Path of a result file (`annotated.mp4`, `track-<n>.jpg`) of a finished job, or undefined. */
  file(id: string, name: string): Promise<string | undefined>;
  /** Resolves when every submitted job has finished. */
  idle(): Promise<void>;
}
