/**
 * Builds short test videos with the real FFmpeg: LFW photos (scaled) moving across a textured background, raw RGB
 * frames piped into the encoder. Nothing is downloaded and nothing of the shared data is copied into the project.
 */
import { spawn, spawnSync } from 'node:child_process';
import sharp from 'sharp';

/** Whether an `ffmpeg` is on the PATH (or FACEPRINT_FFMPEG); tests skip, saying why, without one. */
export function hasFfmpeg(): boolean {
  const ok =
    spawnSync(process.env.FACEPRINT_FFMPEG || 'ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
  if (!ok)
    console.warn('SKIP: ffmpeg is not installed (apt-get install ffmpeg); the video tests are skipped.');
  return ok;
}

export interface Actor {
  photo: string;
  /** Side of the pasted photo, px (an LFW photo's face is about 45% of its side). */
  size: number;
  from: { x: number; y: number };
  to: { x: number; y: number };
  /** Visible from/until this fraction of the clip (default 0 … 1). */
  enter?: number;
  leave?: number;
}

export interface ClipSpec {
  width: number;
  height: number;
  fps: number;
  seconds: number;
  actors: Actor[];
  /** Multiply every pixel (a dark camera), 1 = unchanged. */
  gain?: number;
  /** FFmpeg output arguments (default H.264 in MP4). */
  codecArgs?: string[];
  /** Encode to stdout instead of a file (returns the bytes). */
}

function background(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const v = 90 + (((x >> 5) + (y >> 5)) % 2) * 40;
      data[i] = v;
      data[i + 1] = v + 10;
      data[i + 2] = v - 20;
    }
  return data;
}

/** Renders every frame of a clip as raw RGB. */
export async function renderFrames(spec: ClipSpec): Promise<Uint8Array[]> {
  const { width, height, fps, seconds } = spec;
  const sprites = await Promise.all(
    spec.actors.map(async (a) => ({
      actor: a,
      data: new Uint8Array(await sharp(a.photo).resize(a.size, a.size).removeAlpha().raw().toBuffer()),
    })),
  );
  const base = background(width, height);
  const count = Math.round(fps * seconds);
  const frames: Uint8Array[] = [];
  for (let f = 0; f < count; f++) {
    const t = count === 1 ? 0 : f / (count - 1);
    const frame = new Uint8Array(base);
    for (const { actor, data } of sprites) {
      if (t < (actor.enter ?? 0) || t > (actor.leave ?? 1)) continue;
      const ox = Math.round(actor.from.x + (actor.to.x - actor.from.x) * t);
      const oy = Math.round(actor.from.y + (actor.to.y - actor.from.y) * t);
      for (let y = 0; y < actor.size; y++) {
        const fy = oy + y;
        if (fy < 0 || fy >= height) continue;
        for (let x = 0; x < actor.size; x++) {
          const fx = ox + x;
          if (fx < 0 || fx >= width) continue;
          const s = (y * actor.size + x) * 3;
          const d = (fy * width + fx) * 3;
          frame[d] = data[s]!;
          frame[d + 1] = data[s + 1]!;
          frame[d + 2] = data[s + 2]!;
        }
      }
    }
    if (spec.gain !== undefined && spec.gain !== 1)
      for (let i = 0; i < frame.length; i++) frame[i] = Math.min(255, frame[i]! * spec.gain);
    frames.push(frame);
  }
  return frames;
}

/** Encodes raw frames with FFmpeg into `path`. */
export async function encodeFrames(
  frames: Uint8Array[],
  spec: Pick<ClipSpec, 'width' | 'height' | 'fps' | 'codecArgs'>,
  path: string,
): Promise<void> {
  const args = [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${spec.width}x${spec.height}`,
    '-r',
    String(spec.fps),
    '-i',
    'pipe:0',
    ...(spec.codecArgs ?? ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p']),
    path,
  ];
  const child = spawn(process.env.FACEPRINT_FFMPEG || 'ffmpeg', args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const done = new Promise<number | null>((resolve) => child.once('close', resolve));
  for (const frame of frames) {
    if (!child.stdin.write(frame)) await new Promise((r) => child.stdin.once('drain', r));
  }
  child.stdin.end();
  const code = await done;
  if (code !== 0) throw new Error(`ffmpeg failed to encode ${path}: ${stderr}`);
}

/** Renders and encodes a clip. */
export async function makeClip(spec: ClipSpec, path: string): Promise<void> {
  await encodeFrames(await renderFrames(spec), spec, path);
}

/** Runs ffmpeg with arguments and returns its exit code (for fixtures made by FFmpeg alone). */
export function ffmpeg(args: string[]): number | null {
  return spawnSync(
    process.env.FACEPRINT_FFMPEG || 'ffmpeg',
    ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args],
    {
      stdio: 'ignore',
    },
  ).status;
}

/** Frame count of a video, decoded to the end by FFmpeg (null when it cannot be decoded). */
export function countFrames(path: string): number | null {
  const r = spawnSync(
    process.env.FACEPRINT_FFMPEG || 'ffmpeg',
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      path,
      '-map',
      '0:v:0',
      '-f',
      'null',
      '-',
      '-stats',
    ],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) return null;
  const m = /frame=\s*(\d+)/.exec(`${r.stderr}`.split('\r').pop() ?? '');
  const all = [...`${r.stderr}`.matchAll(/frame=\s*(\d+)/g)];
  return Number(all[all.length - 1]?.[1] ?? m?.[1] ?? 0);
}
