/**
 * Videos dropped into the uploads folder: recognised by extension (the core's rule) and run through the video workflow, with the
 * result JSON and the annotated MP4 for `results/`. Wiring only (the watcher calls this from one hook).
 */
import { rm } from 'node:fs/promises';
import type { UploadFolder } from '../adapters/local/upload-folder.ts';
import { FfmpegFrameSource } from '../adapters/video/ffmpeg-source.ts';
import { FfmpegVideoWriter } from '../adapters/video/ffmpeg-writer.ts';
import { uploadAuditKey } from '../core/domain.ts';
import { isFaceprintError } from '../core/errors.ts';
import type { IngestLedger } from '../core/ingest/ports.ts';
import { processUpload, type UploadOutcome } from '../core/ingest/workflow.ts';
import { auditSink, galleryMatcher } from '../core/video/gallery-matcher.ts';
import { isVideoUpload as isVideo } from '../core/video/sniff.ts';
import { processVideo } from '../core/video/video-job.ts';
import type { VideoResult } from '../core/video/video-types.ts';
import type { LocalGallery } from './composition.ts';

/**
 * Whether an upload is a video: the core's rule (`core/video/sniff.ts`, shared with the AWS ingest function), by
 * name here (the content is checked when it is decoded).
 */
export function isVideoUpload(name: string): boolean {
  return isVideo(name);
}

export type VideoUploadOutcome =
  | { ok: true; result: VideoResult; annotatedPath: string }
  | { ok: false; error: { code: string; message: string } };

/**
 * Processes one uploaded video; the annotated MP4 is written to `annotatedPath` (removed on failure). Its track
 * decisions are audited under `auditKey` (`uploadAuditKey`), so a retried upload records each of them once.
 */
export async function processVideoUpload(
  local: LocalGallery,
  path: string,
  name: string,
  annotatedPath: string,
  auditKey: string,
): Promise<VideoUploadOutcome> {
  try {
    const { result } = await processVideo(
      new FfmpegFrameSource(path, { label: `The video ${name}` }),
      {
        pipeline: local.pipeline,
        matcher: galleryMatcher(local.gallery),
        events: [auditSink(local.gallery, auditKey)],
      },
      name,
      { annotate: new FfmpegVideoWriter(annotatedPath) },
    );
    return { ok: true, result, annotatedPath };
  } catch (error) {
    await rm(annotatedPath, { force: true });
    if (!isFaceprintError(error)) throw error;
    return { ok: false, error: { code: error.code, message: error.message } };
  }
}

/**
 * A video dropped into the uploads folder, through the core's upload workflow (`processUpload`: the same claim,
 * refusals, ledger and settling as an image) with the video job as its processing step: `results/<name>.json`
 * (the tracks and their decisions) beside `<name>.annotated.mp4`, or the reason in `failed/`.
 */
export function ingestVideoUpload(
  name: string,
  deps: { local: LocalGallery; folder: UploadFolder; ledger: IngestLedger; maxAttempts: number },
): Promise<UploadOutcome> {
  const { folder } = deps;
  return processUpload(name, {
    source: folder,
    sink: folder,
    ledger: deps.ledger,
    maxAttempts: deps.maxAttempts,
    process: async (_name, version) => {
      // The decoder reads the file itself: the bytes kept while fingerprinting are not needed.
      folder.forget(name);
      const scratch = folder.scratchPath(name, '.annotated.mp4');
      const outcome = await processVideoUpload(
        deps.local,
        folder.processingPath(name),
        name,
        scratch,
        uploadAuditKey(name, version),
      );
      if (!outcome.ok) return { ok: false, error: outcome.error };
      const recorded = await folder.recordVideo(name, version, outcome.result, scratch);
      return { ok: true, recorded, detail: `${outcome.result.tracks.length} track(s)` };
    },
  });
}
