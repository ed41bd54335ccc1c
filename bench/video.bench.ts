/**
 * Video benchmark: end-to-end frames per second (decode → faces → tracks → decisions) and real-time factor for
 * clips built here with FFmpeg from LFW photos (1280×720 at 30 fps with 1 and 3 faces moving; 1920×1080 at
 * 15 fps with 1 face), with the per-stage split, against the targets (≥ 30 fps at 720p; real time at 1080p/15).
 * Also the decoder alone. Needs `../shared/data/lfw-dev` and `ffmpeg`; without them, prints why and exits 0.
 * Run with `npx tsx bench/video.bench.ts` (or `npm run bench`); `FACEPRINT_BENCH_SECONDS` sets the clip length.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FfmpegFrameSource } from '../functions/adapters/video/ffmpeg-source.ts';
import { galleryMatcher } from '../functions/core/video/gallery-matcher.ts';
import { processVideo } from '../functions/core/video/video-job.ts';
import type { VideoResult, VideoStage } from '../functions/core/video/video-types.ts';
import { openLocalGallery } from '../functions/local/composition.ts';
import { LFW, lfwPhoto, read } from '../test/support/data.ts';
import { hasFfmpeg, makeClip } from '../test/support/video.ts';
import { markdownTable } from './pipeline.bench.ts';

const SECONDS = Number(process.env.FACEPRINT_BENCH_SECONDS) || 6;
const PEOPLE = ['Colin_Powell', 'Donald_Rumsfeld', 'Gerhard_Schroeder'] as const;
const STAGES: VideoStage[] = [
  'decode',
  'detect',
  'landmarks',
  'align',
  'quality',
  'enhance',
  'embed',
  'track',
  'decide',
];

export interface VideoBenchRow {
  clip: string;
  target: string;
  result: VideoResult;
  decodeOnlyFps: number;
}

interface Case {
  name: string;
  width: number;
  height: number;
  fps: number;
  faces: number;
  target: string;
}

const CASES: Case[] = [
  { name: '1280×720 @ 30 fps, 1 face', width: 1280, height: 720, fps: 30, faces: 1, target: '≥ 30 fps' },
  { name: '1280×720 @ 30 fps, 3 faces', width: 1280, height: 720, fps: 30, faces: 3, target: '≥ 30 fps' },
  { name: '1920×1080 @ 15 fps, 1 face', width: 1920, height: 1080, fps: 15, faces: 1, target: 'RTF ≥ 1.0' },
];

async function decodeOnly(path: string): Promise<number> {
  const source = new FfmpegFrameSource(path);
  const t = performance.now();
  let n = 0;
  for await (const _ of source.frames()) n++;
  return n / ((performance.now() - t) / 1000);
}

/** Runs every case; undefined (with the reason on stderr) without the data or FFmpeg. */
export async function runVideoBench(): Promise<VideoBenchRow[] | undefined> {
  if (!existsSync(LFW) || !hasFfmpeg()) {
    process.stderr.write('Video benchmark skipped: needs ../shared/data/lfw-dev and ffmpeg.\n');
    return undefined;
  }
  const root = await mkdtemp(join(tmpdir(), 'faceprint-video-bench-'));
  const local = await openLocalGallery({ dataDir: join(root, 'data'), threads: 1 });
  try {
    for (const person of PEOPLE)
      await local.gallery.createSubject(
        { id: person, name: person },
        { bytes: read(lfwPhoto(person, 1)), source: person, takeLargest: true },
      );
    const rows: VideoBenchRow[] = [];
    for (const c of CASES) {
      const size = Math.round(c.height * 0.35);
      const path = join(root, `${c.width}x${c.height}-${c.faces}.mp4`);
      await makeClip(
        {
          width: c.width,
          height: c.height,
          fps: c.fps,
          seconds: SECONDS,
          actors: PEOPLE.slice(0, c.faces).map((person, i) => ({
            photo: lfwPhoto(person, 2),
            size,
            from: { x: Math.round(c.width * 0.05) + i * size, y: Math.round(c.height * 0.1) + i * 40 },
            to: { x: Math.round(c.width * 0.45) + i * size, y: Math.round(c.height * 0.3) + i * 20 },
          })),
        },
        path,
      );
      process.stderr.write(`  ${c.name}…\n`);
      const decodeOnlyFps = await decodeOnly(path);
      const { result } = await processVideo(
        new FfmpegFrameSource(path),
        { pipeline: local.pipeline, matcher: galleryMatcher(local.gallery) },
        c.name,
      );
      rows.push({ clip: c.name, target: c.target, result, decodeOnlyFps });
    }
    return rows;
  } finally {
    await local.close();
    await rm(root, { recursive: true, force: true });
  }
}

export function videoMarkdown(rows: VideoBenchRow[]): string {
  return markdownTable(
    [
      'clip',
      'frames',
      'tracks',
      'fps',
      'real-time factor',
      'target',
      'decoder alone fps',
      ...STAGES.map((s) => `${s} ms/frame`),
      'full scans',
    ],
    rows.map(({ clip, target, result, decodeOnlyFps }) => [
      clip,
      String(result.frames),
      String(result.tracks.length),
      result.fps.toFixed(1),
      result.realTimeFactor.toFixed(2),
      target,
      decodeOnlyFps.toFixed(0),
      ...STAGES.map((s) => (result.timings[s] / Math.max(1, result.frames)).toFixed(1)),
      `${result.fullScans}/${result.frames}`,
    ]),
    [false, true, true, true, true, false, true, ...STAGES.map(() => true), true],
  );
}

export const VIDEO_NOTE =
  'End to end: FFmpeg decode through a pipe, whole-frame detector every frame, the fine pyramid every 10th frame ' +
  'and on scene changes, fine windows around small predicted tracks, embeddings only for faces that enter a ' +
  "track's best 5, one ONNX thread per model. Stage times are wall-clock ms per frame in the Node process " +
  '(decode = waiting for the next frame from FFmpeg).';

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await runVideoBench();
  if (rows) console.log(`${videoMarkdown(rows)}\n\n${VIDEO_NOTE}`);
}
