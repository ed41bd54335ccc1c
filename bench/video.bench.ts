/**
 * Video benchmark: end-to-end frames per second (decode → faces → tracks → decisions) and real-time factor for
 * clips built here with FFmpeg from LFW photos (1280×720 at 30 fps with 1 and 3 faces moving; 1920×1080 at
 * 15 fps with 1 face), with the per-stage split, against the targets (≥ 30 fps at 720p; real time at 1080p/15).
 * Also the decoder alone. Needs `../shared/data/lfw-dev` and `ffmpeg`; without them, prints why and exits 0.
 * Run with `npx tsx bench/video.bench.ts` (or `npm run bench`); `FACEPRINT_BENCH_SECONDS` sets the clip length.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FfmpegFrameSource } from '../functions/adapters/video/ffmpeg-source.ts';
import type { OnnxBackend } from '../functions/core/pipeline/models.ts';
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
  /** CPU time of this Node process (JavaScript and ONNX Runtime) per frame, in ms. */
  nodeCpuMs: number;
  /** CPU time of the FFmpeg child per frame when decoding alone, in ms (NaN where /proc is absent). */
  decoderCpuMs: number;
  /** 1-minute load average before and after the case. */
  load: [number, number];
  /**
   * CPU ms of one whole-frame ULFD run measured just before the case: 3.1 ms on this machine when quiet
   * (../shared/MODELS.md), so the ratio says how much a busy machine inflates the CPU figures of the row.
   */
  referenceMs: number;
}

/** CPU ms per ULFD run on a blank input (the median of 15 after 3 warm-up runs). */
async function referenceRunMs(backend: OnnxBackend): Promise<number> {
  const input = new Float32Array(3 * 240 * 320);
  const samples: number[] = [];
  for (let i = 0; i < 18; i++) {
    const start = process.cpuUsage();
    await backend.run('ulfd-rfb320', input, [1, 3, 240, 320]);
    const used = process.cpuUsage(start);
    if (i >= 3) samples.push((used.user + used.system) / 1000);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
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

/** CPU seconds a process has used so far (utime + stime from /proc), or NaN. */
function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** The decoder alone: frames per second, and the FFmpeg child's CPU ms per frame (read just before it ends). */
async function decodeOnly(path: string): Promise<{ fps: number; cpuMs: number }> {
  const source = new FfmpegFrameSource(path);
  const t = performance.now();
  let n = 0;
  let cpu = Number.NaN;
  for await (const _ of source.frames()) {
    n++;
    cpu = processCpuSeconds(source.pid);
  }
  return { fps: n / ((performance.now() - t) / 1000), cpuMs: (cpu * 1000) / Math.max(1, n) };
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
      const loadBefore = loadavg()[0]!;
      const referenceMs = await referenceRunMs(local.pipeline.backend);
      const decoder = await decodeOnly(path);
      const cpu = process.cpuUsage();
      const { result } = await processVideo(
        new FfmpegFrameSource(path),
        { pipeline: local.pipeline, matcher: galleryMatcher(local.gallery) },
        c.name,
      );
      const used = process.cpuUsage(cpu);
      rows.push({
        clip: c.name,
        target: c.target,
        result,
        decodeOnlyFps: decoder.fps,
        nodeCpuMs: (used.user + used.system) / 1000 / Math.max(1, result.frames),
        decoderCpuMs: decoder.cpuMs,
        load: [loadBefore, loadavg()[0]!],
        referenceMs,
      });
    }
    return rows;
  } finally {
    await local.close();
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * Frames per second the two cores could sustain from CPU time alone: the Node process (one thread of JavaScript
 * and ONNX Runtime) and the FFmpeg child run in parallel, so the slower of one core for Node and two cores for
 * both bounds it. A projection for a quiet machine, printed beside the measured (shared-machine) fps.
 */
export function cpuBoundFps(row: Pick<VideoBenchRow, 'nodeCpuMs' | 'decoderCpuMs'>): number {
  const decoder = Number.isFinite(row.decoderCpuMs) ? row.decoderCpuMs : 0;
  return Math.min(1000 / row.nodeCpuMs, 2000 / (row.nodeCpuMs + decoder));
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
      'Node CPU ms/frame',
      'decoder CPU ms/frame',
      'CPU-bound fps (2 cores)',
      'load avg',
      'ULFD reference CPU ms (1.5 quiet)',
      'decoder alone fps',
      ...STAGES.map((s) => `${s} ms/frame`),
      'full scans',
    ],
    rows.map((row) => {
      const { clip, target, result, decodeOnlyFps } = row;
      return [
        clip,
        String(result.frames),
        String(result.tracks.length),
        result.fps.toFixed(1),
        result.realTimeFactor.toFixed(2),
        target,
        row.nodeCpuMs.toFixed(1),
        Number.isFinite(row.decoderCpuMs) ? row.decoderCpuMs.toFixed(1) : 'n/a',
        cpuBoundFps(row).toFixed(1),
        `${row.load[0].toFixed(1)}–${row.load[1].toFixed(1)}`,
        row.referenceMs.toFixed(1),
        decodeOnlyFps.toFixed(0),
        ...STAGES.map((s) => (result.timings[s] / Math.max(1, result.frames)).toFixed(1)),
        `${result.fullScans}/${result.frames}`,
      ];
    }),
    [
      false,
      true,
      true,
      true,
      true,
      false,
      true,
      true,
      true,
      false,
      true,
      true,
      ...STAGES.map(() => true),
      true,
    ],
  );
}

export const VIDEO_NOTE =
  'End to end: FFmpeg decode through a pipe (3 frames read ahead), the whole-frame ULFD pass every frame, the ' +
  'full detector (fine pyramid, BlazeFace) once a second of video (every 30th frame at 30 fps, 15th at 15 fps) ' +
  'and on scene changes, the full detector in a window around each track the whole-frame pass missed, a ' +
  "track's face described (landmarks, pose, quality) in one frame of 3 once its best 5 are full, embeddings " +
  "only for faces that enter a track's best 5, one ONNX thread per model. fps and stage times are " +
  'wall-clock (decode = waiting for the next frame from FFmpeg) and follow the ' +
  "machine's load; CPU ms/frame are CPU time (Node: JavaScript + ONNX Runtime; decoder: the FFmpeg child " +
  'decoding alone), and "CPU-bound fps" is what two otherwise idle cores sustain from them: ' +
  'min(1000 / Node, 2000 / (Node + decoder)). A busy machine inflates CPU time too (shared caches and cores): ' +
  'the ULFD reference column, 1.5 ms on this machine when quiet (session 25; 3.1 ms in earlier sessions), says by how much.';

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await runVideoBench();
  if (rows) console.log(`${videoMarkdown(rows)}\n\n${VIDEO_NOTE}`);
}
