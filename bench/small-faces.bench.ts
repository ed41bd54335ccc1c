/**
 * Small-face recall of the detector's fine pyramid level against its cost: 24 synthetic frames (1280×720 and
 * 1920×1080; a noisy and a checker-textured background; brightness 1, 0.3 and 0.15; two placements), each with
 * 8 LFW faces 24–84 px wide, 192 faces in all. For each fine-level mode it prints the faces found, the ULFD and
 * BlazeFace runs and the detector's CPU time per frame. The same frames as the tile-gate experiment in
 * docs/accuracy.md ("Speed work"), which was an uncommitted script; this one is reproducible.
 * Needs `../shared/data/lfw-dev`; without it, prints why and exits 0.
 * Run with `npm run bench:small-faces` (`FACEPRINT_BENCH_MODES=level,tiles,gate:0.06` picks modes; see modeOptions).
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import {
  DEFAULT_DETECT_OPTIONS,
  type DetectOptions,
  detectFaces,
} from '../functions/core/pipeline/detect.ts';
import { decodeImage, type RgbImage } from '../functions/core/pipeline/image.ts';
import { CountingBackend } from '../test/support/counting-backend.ts';
import { LFW, lfwPhoto } from '../test/support/data.ts';
import { countFound, MOSAIC_PEOPLE, type PastedFace } from '../test/support/mosaic.ts';
import { markdownTable } from './pipeline.bench.ts';

const PEOPLE = MOSAIC_PEOPLE;
const SIZES = [24, 32, 40, 48, 56, 64, 76, 84];

export interface SmallFaceFrame {
  name: string;
  image: RgbImage;
  faces: PastedFace[];
}

function background(width: number, height: number, kind: 'noise' | 'checker'): Buffer {
  const data = Buffer.alloc(width * height * 3);
  let seed = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const noise = seed % 30;
      // Checker: 24 px squares of two greys, a texture with many edges (tiles, fabric, brickwork).
      const base = kind === 'noise' ? 110 : ((x / 24) ^ (y / 24)) & 1 ? 150 : 90;
      const v = base + noise;
      const i = (y * width + x) * 3;
      data[i] = v;
      data[i + 1] = v;
      data[i + 2] = v;
    }
  }
  return data;
}

/** The 24 frames: every size × background × brightness × placement. */
export async function buildSmallFaceFrames(): Promise<SmallFaceFrame[]> {
  const frames: SmallFaceFrame[] = [];
  for (const [width, height] of [
    [1280, 720],
    [1920, 1080],
  ] as const) {
    for (const kind of ['noise', 'checker'] as const) {
      const bg = background(width, height, kind);
      for (const placement of [0, 1]) {
        const composites: { input: Buffer; left: number; top: number }[] = [];
        const faces: PastedFace[] = [];
        for (let i = 0; i < PEOPLE.length; i++) {
          const size = SIZES[(i + placement * 3) % SIZES.length]!;
          const crop = await sharp(lfwPhoto(PEOPLE[i]!, 1))
            .extract({ left: 65, top: 60, width: 120, height: 130 })
            .resize(size, Math.round(size * (130 / 120)))
            .toBuffer();
          const cellW = width / 4;
          const cellH = height / 2;
          const jitter = placement === 0 ? 0 : 0.3;
          const left = Math.round((i % 4) * cellW + cellW * (0.2 + jitter + ((i * 37) % 30) / 100));
          const top = Math.round(Math.floor(i / 4) * cellH + cellH * (0.2 + jitter + ((i * 53) % 30) / 100));
          composites.push({ input: crop, left, top });
          faces.push({ cx: left + size / 2, cy: top + (size * (130 / 120)) / 2, size });
        }
        const jpeg = await sharp(bg, { raw: { width, height, channels: 3 } })
          .composite(composites)
          .jpeg({ quality: 90 })
          .toBuffer();
        for (const brightness of [1, 0.3, 0.15]) {
          const bytes =
            brightness === 1
              ? jpeg
              : await sharp(jpeg).linear(brightness, 0).jpeg({ quality: 90 }).toBuffer();
          frames.push({
            name: `${width}×${height} ${kind} ×${brightness} p${placement}`,
            image: await decodeImage(bytes),
            faces,
          });
        }
      }
    }
  }
  return frames;
}

export interface SmallFaceRow {
  mode: string;
  found: number;
  total: number;
  /** Found faces per frame group (1280×720 / 1920×1080). */
  found720: number;
  found1080: number;
  /** Detections that match no pasted face (phantoms on the background). */
  phantoms: number;
  ulfdRuns: number;
  /** ULFD input pixels per frame, in megapixels. */
  ulfdMpxPerFrame: number;
  blazeRuns: number;
  /** Runs of the front-camera BlazeFace that confirms fine-level finds. */
  confirmRuns: number;
  cpuMsPerFrame: number;
}

/** Runs the detector in one mode over every frame. */
export async function measureMode(
  backend: CountingBackend,
  frames: SmallFaceFrame[],
  mode: string,
  options: Partial<DetectOptions>,
): Promise<SmallFaceRow> {
  backend.reset();
  let found = 0;
  let found720 = 0;
  let found1080 = 0;
  let cpu = 0;
  let phantoms = 0;
  for (const frame of frames) {
    const start = process.cpuUsage();
    const detections = await detectFaces(backend, frame.image, { ...DEFAULT_DETECT_OPTIONS, ...options });
    const used = process.cpuUsage(start);
    cpu += (used.user + used.system) / 1000;
    const n = countFound(
      frame.faces,
      detections.map((d) => d.box),
    );
    found += n;
    phantoms += detections.filter(
      (d) =>
        countFound(frame.faces, [d.box]) === 0 &&
        !frame.faces.some(
          (f) => Math.hypot(d.box.x + d.box.width / 2 - f.cx, d.box.y + d.box.height / 2 - f.cy) < f.size,
        ),
    ).length;
    if (frame.image.width === 1280) found720 += n;
    else found1080 += n;
  }
  return {
    mode,
    found,
    total: frames.reduce((s, f) => s + f.faces.length, 0),
    found720,
    found1080,
    phantoms,
    ulfdRuns: backend.runs.get('ulfd-rfb320') ?? 0,
    ulfdMpxPerFrame: (backend.pixels.get('ulfd-rfb320') ?? 0) / 1e6 / frames.length,
    blazeRuns: backend.runs.get('blazeface-back') ?? 0,
    confirmRuns: backend.runs.get('blazeface-front') ?? 0,
    cpuMsPerFrame: cpu / frames.length,
  };
}

/**
 * A mode name as the command line takes it: `level` (the default: the fine level in one run, a few for a large
 * one), `tiles` (the level's overlapping 320×240 tiles, as the detector ran it before session 25, here as a
 * rolling scan of one slice), `gate:<score>` (tiles only where the whole-frame pass responds).
 */
export function modeOptions(mode: string): Partial<DetectOptions> {
  if (mode === 'level' || mode === 'grid') return { tileGate: 0 };
  if (mode === 'tiles') return { tileGate: 0, tileSlice: { index: 0, count: 1 } };
  const gate = /^gate:([\d.]+)$/.exec(mode);
  if (gate) return { tileGate: Number(gate[1]) };
  throw new Error(`Unknown mode ${mode}: use level, tiles or gate:<score>.`);
}

export async function runSmallFaceBench(modes: string[]): Promise<SmallFaceRow[] | undefined> {
  if (!existsSync(LFW)) {
    process.stderr.write('Small-face benchmark skipped: needs ../shared/data/lfw-dev.\n');
    return undefined;
  }
  const frames = await buildSmallFaceFrames();
  const backend = new CountingBackend({ threads: 1 });
  try {
    await backend.warmUp(['ulfd-rfb320', 'blazeface-back', 'blazeface-front']);
    const rows: SmallFaceRow[] = [];
    for (const mode of modes) {
      const row = await measureMode(backend, frames, mode, modeOptions(mode));
      process.stderr.write(`  ${mode}: ${row.found}/${row.total}, load ${loadavg()[0]!.toFixed(1)}\n`);
      rows.push(row);
    }
    return rows;
  } finally {
    await backend.dispose();
  }
}

export function smallFaceMarkdown(rows: SmallFaceRow[]): string {
  return markdownTable(
    [
      'fine level',
      'faces found (of 192)',
      '1280×720 (of 96)',
      '1920×1080 (of 96)',
      'phantoms',
      'ULFD runs',
      'ULFD Mpx/frame',
      'BlazeFace runs',
      'confirmations',
      'detector CPU ms/frame',
    ],
    rows.map((r) => [
      r.mode,
      String(r.found),
      String(r.found720),
      String(r.found1080),
      String(r.phantoms),
      String(r.ulfdRuns),
      r.ulfdMpxPerFrame.toFixed(2),
      String(r.blazeRuns),
      String(r.confirmRuns),
      r.cpuMsPerFrame.toFixed(1),
    ]),
    [false, true, true, true, true, true, true, true, true, true],
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const modes = (process.env.FACEPRINT_BENCH_MODES ?? 'level,tiles,gate:0.06')
    .split(',')
    .map((m) => m.trim());
  const rows = await runSmallFaceBench(modes);
  if (rows)
    console.log(
      `${smallFaceMarkdown(rows)}\n\n24 frames, 8 LFW faces each (24–84 px), one ONNX thread; load average ` +
        `${loadavg()[0]!.toFixed(1)} at the end.`,
    );
}
