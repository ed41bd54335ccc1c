/**
 * Video jobs of the one-machine mode: an upload becomes a file in `<data>/videos/<id>/`, processed in the
 * background one job at a time (a video keeps both cores busy), with status, progress, tracks, the annotated
 * video and best-face thumbnails as results. Wiring only: the work is `processVideo` in the core.
 *
 * Each job's status is also kept in its folder (`job.json`, replaced atomically at every status change), so a
 * restarted server still answers for every job: finished ones from their files, and jobs a restart interrupted
 * are queued again from their kept input ({@link LocalVideoJobs.resume}).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FfmpegFrameSource } from '../adapters/video/ffmpeg-source.ts';
import { FfmpegVideoWriter } from '../adapters/video/ffmpeg-writer.ts';
import { isFaceprintError } from '../core/errors.ts';
import type { GalleryService } from '../core/gallery/service.ts';
import { encodeImage, resizeImage } from '../core/pipeline/image.ts';
import type { FacePipeline } from '../core/pipeline/pipeline.ts';
import type { TrackEventSink } from '../core/video/events.ts';
import { auditSink, galleryMatcher } from '../core/video/gallery-matcher.ts';
import type { VideoJobsPort, VideoJobView } from '../core/video/jobs.ts';
import { processVideo, type TrackCrops } from '../core/video/video-job.ts';
import type { VideoResult } from '../core/video/video-types.ts';

const FILE_NAME = /^(annotated\.mp4|track-\d{1,6}\.jpg)$/;
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JOB_FILE = 'job.json';

/** The kept part of a job's view: what it is and how it ended (progress and results live elsewhere). */
type KeptJob = Pick<VideoJobView, 'id' | 'name' | 'status' | 'createdAt' | 'error'>;

function isKeptJob(value: unknown): value is KeptJob {
  const job = value as Partial<KeptJob> | null;
  return (
    typeof job?.id === 'string' &&
    typeof job.name === 'string' &&
    typeof job.createdAt === 'string' &&
    (job.status === 'queued' || job.status === 'running' || job.status === 'done' || job.status === 'failed')
  );
}

/** Writes each track's best aligned crop as a 224-px JPEG thumbnail; returns the file names by track id. */
export async function writeThumbnails(dir: string, crops: TrackCrops): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [id, list] of crops) {
    const best = list[0];
    if (!best) continue;
    const name = `track-${id}.jpg`;
    await writeFile(join(dir, name), await encodeImage(await resizeImage(best, 224, 224), 'jpeg'));
    out[String(id)] = name;
  }
  return out;
}

export class LocalVideoJobs implements VideoJobsPort {
  private readonly jobs = new Map<string, VideoJobView>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly root: string,
    private readonly gallery: GalleryService,
    private readonly pipeline: FacePipeline,
    private readonly events: TrackEventSink[] = [],
  ) {}

  async submit(bytes: Uint8Array, name: string): Promise<VideoJobView> {
    const id = randomUUID();
    const dir = join(this.root, id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'input'), bytes);
    const job: VideoJobView = { id, name, status: 'queued', createdAt: new Date().toISOString() };
    await this.keep(job);
    this.enqueue(job);
    return job;
  }

  /**
   * Reads back the jobs kept in the folder (after a restart): finished and failed ones are answered again, and
   * jobs that were queued or running when the last process stopped are queued again from their kept input (audit
   * rows are keyed by the job, so the decisions the interrupted run had already recorded are not written twice).
   * A folder without a readable `job.json` (a crash inside `submit`) is left alone. Returns how many were queued
   * again.
   */
  async resume(): Promise<number> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    let queued = 0;
    for (const id of names.sort()) {
      if (!JOB_ID.test(id) || this.jobs.has(id)) continue;
      const kept = await readFile(join(this.root, id, JOB_FILE), 'utf8')
        .then((text) => JSON.parse(text) as unknown)
        .catch(() => undefined);
      if (!isKeptJob(kept) || kept.id !== id) continue;
      const job: VideoJobView = { ...kept };
      if (job.status === 'queued' || job.status === 'running') {
        job.status = 'queued';
        this.enqueue(job);
        queued++;
      } else this.jobs.set(id, job);
    }
    return queued;
  }

  private enqueue(job: VideoJobView): void {
    this.jobs.set(job.id, job);
    this.queue = this.queue.then(() => this.run(job, join(this.root, job.id)));
  }

  /** Replaces the job's `job.json` atomically (a reader never sees half of it). */
  private async keep(job: VideoJobView): Promise<void> {
    const kept: KeptJob = {
      id: job.id,
      name: job.name,
      status: job.status,
      createdAt: job.createdAt,
      ...(job.error ? { error: job.error } : {}),
    };
    const path = join(this.root, job.id, JOB_FILE);
    await writeFile(`${path}.tmp`, JSON.stringify(kept));
    await rename(`${path}.tmp`, path);
  }

  private async run(job: VideoJobView, dir: string): Promise<void> {
    job.status = 'running';
    try {
      await this.keep(job);
      const { result, crops } = await processVideo(
        new FfmpegFrameSource(join(dir, 'input'), { label: `The video ${job.name}` }),
        {
          pipeline: this.pipeline,
          matcher: galleryMatcher(this.gallery),
          events: [auditSink(this.gallery, `video-job:${job.id}`), ...this.events],
        },
        job.name,
        {
          annotate: new FfmpegVideoWriter(join(dir, 'annotated.mp4')),
          onProgress: (p) => {
            job.progress = p;
          },
        },
      );
      await writeThumbnails(dir, crops);
      await writeFile(join(dir, 'result.json'), JSON.stringify(result));
      // The result and files are read back from the folder on every `get`: erasing a subject rewrites them.
      job.status = 'done';
    } catch (error) {
      job.status = 'failed';
      job.error = isFaceprintError(error)
        ? { code: error.code, message: error.message }
        : { code: 'INTERNAL', message: 'The video could not be processed because of an internal error.' };
    }
    // A status that cannot be kept (disk full) still answers from memory; the next start runs the job again.
    await this.keep(job).catch(() => undefined);
  }

  async get(id: string): Promise<VideoJobView | undefined> {
    const job = this.jobs.get(id);
    if (job?.status !== 'done') return job;
    const dir = join(this.root, id);
    const result = JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as VideoResult;
    const thumbnails: Record<string, string> = {};
    for (const name of await readdir(dir)) {
      const track = /^track-(\d{1,6})\.jpg$/.exec(name)?.[1];
      if (track) thumbnails[track] = `/videos/${id}/${name}`;
    }
    return { ...job, result, files: { annotated: `/videos/${id}/annotated.mp4`, thumbnails } };
  }

  async file(id: string, name: string): Promise<string | undefined> {
    const job = this.jobs.get(id);
    if (job?.status !== 'done' || !FILE_NAME.test(name)) return undefined;
    const path = join(this.root, id, name);
    return (await stat(path).catch(() => undefined))?.isFile() ? path : undefined;
  }

  idle(): Promise<void> {
    return this.queue;
  }
}

/** Reads a result file (for the HTTP download). */
export function readResultFile(path: string): Promise<Buffer> {
  return readFile(path);
}
