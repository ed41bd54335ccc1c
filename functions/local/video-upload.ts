/**
 * Videos dropped into the uploads folder: recognised by extension and run through the video workflow, with the
 * result JSON and the annotated MP4 for `results/`. Wiring only (the watcher calls this from one hook).
 */
import { rm } from 'node:fs/promises';
import { extname } from 'node:path';
import type { UploadFolder } from '../adapters/local/upload-folder.ts';
import { FfmpegFrameSource } from '../adapters/video/ffmpeg-source.ts';
import { FfmpegVideoWriter } from '../adapters/video/ffmpeg-writer.ts';
import { isFaceprintError } from '../core/errors.ts';
import { failedIngestEvent } from '../core/ingest/ingest.ts';
import type { IngestLedger } from '../core/ingest/ports.ts';
import { auditSink, galleryMatcher } from '../core/video/gallery-matcher.ts';
import { processVideo } from '../core/video/video-job.ts';
import type { VideoResult } from '../core/video/video-types.ts';
import type { LocalGallery } from './composition.ts';

const VIDEO_EXTENSIONS = new Set([
  '.mp4',
  '.m4v',
  '.mov',
  '.mkv',
  '.avi',
  '.webm',
  '.ts',
  '.mts',
  '.mjpeg',
  '.mjpg',
]);

/** Whether an upload is a video (by its extension; the content is checked when it is decoded). */
export function isVideoUpload(name: string): boolean {
  return VIDEO_EXTENSIONS.has(extname(name).toLowerCase());
}

export type VideoUploadOutcome =
  | { ok: true; result: VideoResult; annotatedPath: string }
  | { ok: false; error: { code: string; message: string } };

/** Processes one uploaded video; the annotated MP4 is written to `annotatedPath` (removed on failure). */
export async function processVideoUpload(
  local: LocalGallery,
  path: string,
  name: string,
  annotatedPath: string,
): Promise<VideoUploadOutcome> {
  try {
    const { result } = await processVideo(
      new FfmpegFrameSource(path, { label: `The video ${name}` }),
      {
        pipeline: local.pipeline,
        matcher: galleryMatcher(local.gallery),
        events: [auditSink(local.gallery)],
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
 * A video dropped into the uploads folder, through the same claim → process → record → settle steps as an image
 * (`core/ingest/workflow.ts`), with the video job as the processing step: `results/<name>.json` (the tracks and
 * their decisions) beside `<name>.annotated.mp4`, or the reason in `failed/`.
 */
export async function ingestVideoUpload(
  name: string,
  deps: { local: LocalGallery; folder: UploadFolder; ledger: IngestLedger; maxAttempts: number },
): Promise<{ status: 'processed' | 'refused' | 'duplicate' | 'busy' | 'ignored' }> {
  const { folder, ledger } = deps;
  const found = await folder.version(name);
  folder.forget(name);
  if ('gone' in found) return { status: 'ignored' };
  const refuse = async (version: string | undefined, error: { code: string; message: string }) => {
    const recorded = await folder.refuse(name, version, failedIngestEvent(name, version ?? '', error));
    if (version !== undefined) await ledger.fail(name, version, `${error.code}: ${error.message}`);
    await recorded.settle();
    return { status: 'refused' as const };
  };
  if ('unreadable' in found) return refuse(undefined, { code: 'UNREADABLE', message: found.unreadable });
  const { version } = found;
  const claim = await ledger.claim(name, version);
  if (!claim.acquired) {
    if (claim.state === 'claimed') return { status: 'busy' };
    await folder.duplicate(name, version, claim.state);
    return { status: 'duplicate' };
  }
  const attempts = claim.attempts ?? 1;
  if (attempts > deps.maxAttempts) {
    const message = `Processing failed or was interrupted ${attempts - 1} times; the upload is set aside.`;
    return refuse(version, { code: 'PROCESSING_ABANDONED', message });
  }
  const scratch = folder.scratchPath(name, '.annotated.mp4');
  const outcome = await processVideoUpload(deps.local, folder.processingPath(name), name, scratch);
  if (!outcome.ok) return refuse(version, outcome.error);
  const recorded = await folder.recordVideo(name, version, outcome.result, scratch);
  await ledger.complete(name, version, recorded.resultRef);
  await recorded.settle();
  return { status: 'processed' };
}
