/**
 * The local server's video routes on the real server, FFmpeg and models: upload a clip built from LFW photos,
 * follow the asynchronous job to its tracks, download the annotated MP4 and a best-face thumbnail; a corrupt
 * upload ends as a failed job with a machine-readable code and a plain sentence; a restarted server still answers
 * for its jobs and runs again the one it was interrupted in.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../functions/local/server.ts';
import { startUploadWatcher } from '../../functions/local/upload-watcher.ts';
import { hasData, LFW, lfwPhoto, read } from '../support/data.ts';
import { finishedVideoJob, startQuietServer } from '../support/local-server.ts';
import { countFrames, hasFfmpeg, makeClip } from '../support/video.ts';

const READY = hasData(LFW) && hasFfmpeg();
let root = '';
let server: RunningServer | undefined;

const job = (id: string) => finishedVideoJob<Record<string, unknown> & { status: string }>(server!.url, id);

describe.skipIf(!READY)('POST /videos', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'faceprint-video-http-'));
    server = await startQuietServer(join(root, 'data'));
    const res = await fetch(`${server.url}/subjects?id=colin&name=Colin_Powell`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: read(lfwPhoto('Colin_Powell', 1)),
    });
    expect(res.status).toBe(201);
    await makeClip(
      {
        width: 480,
        height: 270,
        fps: 10,
        seconds: 2,
        actors: [
          { photo: lfwPhoto('Colin_Powell', 2), size: 140, from: { x: 10, y: 60 }, to: { x: 320, y: 70 } },
        ],
      },
      join(root, 'clip.mp4'),
    );
  });

  afterAll(async () => {
    await server?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('runs an asynchronous job: status, tracks, the annotated video and thumbnails', async () => {
    const res = await fetch(`${server!.url}/videos?name=clip.mp4`, {
      method: 'POST',
      headers: { 'content-type': 'video/mp4' },
      body: await readFile(join(root, 'clip.mp4')),
    });
    expect(res.status).toBe(202);
    const submitted = (await res.json()) as { id: string; status: string };
    expect(['queued', 'running']).toContain(submitted.status);
    const done = (await job(submitted.id)) as {
      status: string;
      result: { tracks: { id: number; decision: { subjectId: string } }[]; frames: number };
      files: { annotated: string; thumbnails: Record<string, string> };
    };
    expect(done.status).toBe('done');
    expect(done.result.frames).toBe(20);
    expect(done.result.tracks.map((t) => t.decision.subjectId)).toEqual(['colin']);
    const video = await fetch(`${server!.url}${done.files.annotated}`);
    expect(video.headers.get('content-type')).toBe('video/mp4');
    const bytes = new Uint8Array(await video.arrayBuffer());
    expect(new TextDecoder().decode(bytes.subarray(4, 8))).toBe('ftyp');
    const thumb = await fetch(`${server!.url}${Object.values(done.files.thumbnails)[0]}`);
    const jpeg = new Uint8Array(await thumb.arrayBuffer());
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
  });

  it('a corrupt upload fails with a code and a sentence; unknown jobs and files are 404', async () => {
    const res = await fetch(`${server!.url}/videos`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from('not a video '.repeat(100)),
    });
    const { id } = (await res.json()) as { id: string };
    const failed = (await job(id)) as { status: string; error: { code: string; message: string } };
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('INVALID_VIDEO');
    expect(failed.error.message).toMatch(/^The video upload .*\.$/);
    expect(failed.error.message).not.toMatch(/Invalid data|0x|input/);
    expect((await fetch(`${server!.url}/videos/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await fetch(`${server!.url}/videos/${id}/annotated.mp4`)).status).toBe(404);
  });

  it('answers for its jobs after a restart, and runs again a job the restart interrupted', async () => {
    const submit = async (name: string) => {
      const res = await fetch(`${server!.url}/videos?name=${name}`, {
        method: 'POST',
        headers: { 'content-type': 'video/mp4' },
        body: await readFile(join(root, 'clip.mp4')),
      });
      return ((await res.json()) as { id: string }).id;
    };
    const finished = await submit('before.mp4');
    expect((await job(finished)).status).toBe('done');
    // A job the last process was running when it stopped: its folder holds the input and a "running" status.
    const interrupted = crypto.randomUUID();
    const folder = join(server!.local.dataDir.paths.videos, interrupted);
    await mkdir(folder);
    await copyFile(join(root, 'clip.mp4'), join(folder, 'input'));
    const createdAt = new Date().toISOString();
    await writeFile(
      join(folder, 'job.json'),
      JSON.stringify({ id: interrupted, name: 'cut-off.mp4', status: 'running', createdAt }),
    );
    await server!.close();
    server = await startQuietServer(join(root, 'data'));
    const again = (await job(finished)) as { status: string; name: string; result: { frames: number } };
    expect(again).toMatchObject({ status: 'done', name: 'before.mp4', result: { frames: 20 } });
    const resumed = (await job(interrupted)) as {
      status: string;
      name: string;
      createdAt: string;
      result: { tracks: { decision: { subjectId: string } }[] };
    };
    expect(resumed).toMatchObject({ status: 'done', name: 'cut-off.mp4', createdAt });
    expect(resumed.result.tracks.map((t) => t.decision.subjectId)).toEqual(['colin']);
  });

  it('a video dropped into the uploads folder: results/<name>.json with the tracks and an annotated MP4', async () => {
    const local = server!.local;
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const watcher = startUploadWatcher(local, { pollIntervalMs: 50, logger: quiet });
    try {
      await copyFile(join(root, 'clip.mp4'), join(local.dataDir.paths.uploads, 'door-camera.mp4'));
      await new Promise((r) => setTimeout(r, 200));
      await watcher.drain();
    } finally {
      await watcher.stop();
    }
    const results = local.dataDir.paths.results;
    const result = JSON.parse(await readFile(join(results, 'door-camera.mp4.json'), 'utf8')) as {
      tracks: { decision: { subjectId: string } }[];
    };
    expect(result.tracks.map((t) => t.decision.subjectId)).toEqual(['colin']);
    expect(countFrames(join(results, 'door-camera.mp4.annotated.mp4'))).toBe(20);
  });
});
