/**
 * Live streams against servers this test runs itself on 127.0.0.1: FFmpeg's own MPEG-TS-over-TCP output (a camera
 * that drops and comes back), a port where nothing listens, and a TCP server that accepts and never sends a byte.
 * `watch` must reconnect with backoff, decide each connection's people, give up cleanly, and leak no FFmpeg child.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FfmpegFrameSource } from '../../functions/adapters/video/ffmpeg-source.ts';
import { galleryMatcher } from '../../functions/core/video/gallery-matcher.ts';
import type { VideoResult } from '../../functions/core/video/video-types.ts';
import { watch } from '../../functions/core/video/watch.ts';
import { type LocalGallery, openLocalGallery } from '../../functions/local/composition.ts';
import { hasData, LFW, lfwPhoto, read } from '../support/data.ts';
import { hasFfmpeg, makeClip } from '../support/video.ts';

const READY = hasData(LFW) && hasFfmpeg();
let root = '';
let local: LocalGallery | undefined;
const sources: FfmpegFrameSource[] = [];
const servers: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** FFmpeg as a one-client camera: streams the clip in real time over TCP, then exits (the "drop"). */
function serve(clip: string, port: number): ChildProcess {
  const child = spawn(
    process.env.FACEPRINT_FFMPEG || 'ffmpeg',
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-i',
      clip,
      '-c',
      'copy',
      '-f',
      'mpegts',
      `tcp://127.0.0.1:${port}?listen=1`,
    ],
    { stdio: 'ignore' },
  );
  servers.push(child);
  return child;
}

function track(source: FfmpegFrameSource): FfmpegFrameSource {
  sources.push(source);
  return source;
}

describe.skipIf(!READY)('live streams', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'faceprint-stream-'));
    local = await openLocalGallery({ dataDir: join(root, 'data'), threads: 1 });
    await local.gallery.createSubject(
      { id: 'colin', name: 'Colin_Powell' },
      { bytes: read(lfwPhoto('Colin_Powell', 1)), source: 'Colin_Powell_0001.jpg', takeLargest: true },
    );
    await makeClip(
      {
        width: 640,
        height: 360,
        fps: 10,
        seconds: 2,
        actors: [
          { photo: lfwPhoto('Colin_Powell', 2), size: 160, from: { x: 20, y: 100 }, to: { x: 400, y: 90 } },
        ],
        codecArgs: [
          '-c:v',
          'libx264',
          '-preset',
          'veryfast',
          '-g',
          '5',
          '-pix_fmt',
          'yuv420p',
          '-f',
          'mpegts',
        ],
      },
      join(root, 'camera.ts'),
    );
  });

  afterAll(async () => {
    for (const s of servers) if (s.exitCode === null) s.kill('SIGKILL');
    await local?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('a camera that drops and comes back: watch reconnects with backoff and decides both connections', async () => {
    const port = await freePort();
    serve(join(root, 'camera.ts'), port);
    const sessions: VideoResult[] = [];
    const log: string[] = [];
    const controller = new AbortController();
    const end = await watch({
      open: () => track(new FfmpegFrameSource(`tcp://127.0.0.1:${port}`, { stallTimeoutMs: 5000 })),
      label: 'camera',
      deps: { pipeline: local!.pipeline, matcher: galleryMatcher(local!.gallery) },
      maxRetries: 6,
      backoffMs: 200,
      maxBackoffMs: 800,
      signal: controller.signal,
      log: (line) => log.push(line),
      onSession: (result) => {
        sessions.push(result);
        // The camera comes back a moment after the drop; after the second connection, stop watching.
        if (sessions.length === 1) setTimeout(() => serve(join(root, 'camera.ts'), port), 300);
        else controller.abort();
      },
    });
    expect(end.reason).toBe('stopped');
    expect(sessions).toHaveLength(2);
    for (const s of sessions) {
      expect(s.info.live).toBe(true);
      expect(s.complete).toBe(false);
      expect(s.frames).toBeGreaterThan(10);
      expect(s.tracks.map((t) => t.decision?.subjectId)).toEqual(['colin']);
    }
    expect(log.some((l) => /reconnecting in/.test(l))).toBe(true);
    expect(sources.every((s) => s.childExited)).toBe(true);
  });

  it('a stream that never connects: a clear error, and watch gives up after its retries', async () => {
    const port = await freePort();
    const source = track(new FfmpegFrameSource(`tcp://127.0.0.1:${port}`, { stallTimeoutMs: 3000 }));
    await expect(source.open()).rejects.toMatchObject({ code: 'STREAM_UNAVAILABLE' });
    const started = Date.now();
    const end = await watch({
      open: () => track(new FfmpegFrameSource(`tcp://127.0.0.1:${port}`, { stallTimeoutMs: 3000 })),
      label: 'nothing',
      deps: { pipeline: local!.pipeline, matcher: galleryMatcher(local!.gallery) },
      maxRetries: 2,
      backoffMs: 100,
    });
    expect(end).toMatchObject({ reason: 'retries-exhausted', sessions: 0, frames: 0 });
    expect(end.lastError).toMatch(/could not be reached/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(sources.every((s) => s.childExited)).toBe(true);
  });

  it('a server that accepts and never sends: the stall timeout ends it, no hung process', async () => {
    const held: Socket[] = [];
    const silent: Server = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const source = track(new FfmpegFrameSource(`tcp://127.0.0.1:${port}`, { stallTimeoutMs: 1500 }));
      const started = Date.now();
      const error = await source.open().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'STREAM_UNAVAILABLE' });
      expect(Date.now() - started).toBeLessThan(8000);
      expect(source.childExited).toBe(true);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
