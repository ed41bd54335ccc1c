/**
 * Erasure of a subject seen in videos, local mode (issue 10 / 13): on the real server, FFmpeg and models, a clip
 * of two enrolled people (Colin Powell above, Donald Rumsfeld below, never crossing) is processed as a
 * `POST /videos` job and as a video dropped into the uploads folder; then `DELETE /subjects/colin`. The videos
 * are kept, Colin's track is anonymised (decision kept; id, name and evidence boxes gone), his best-face
 * thumbnail is removed, Donald's track keeps its identity but loses Colin as a candidate, and no file of the data
 * directory names Colin any more.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERASED } from '../../functions/core/gallery/erasure.ts';
import type { RunningServer } from '../../functions/local/server.ts';
import { startUploadWatcher } from '../../functions/local/upload-watcher.ts';
import { hasData, LFW, lfwPhoto, read } from '../support/data.ts';
import { finishedVideoJob, startQuietServer } from '../support/local-server.ts';
import { hasFfmpeg, makeClip } from '../support/video.ts';

const READY = hasData(LFW) && hasFfmpeg();

interface Track {
  id: number;
  decision: { kind: string; subjectId: string; subjectName?: string; candidates: { subjectId: string }[] };
  evidence: { box: { width: number } }[];
}
interface Job {
  status: string;
  result: { tracks: Track[] };
  files: { thumbnails: Record<string, string> };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe.skipIf(!READY)('erasure of a subject seen in videos (local mode)', () => {
  let root = '';
  let server: RunningServer | undefined;
  const url = (path: string) => `${server!.url}${path}`;

  const job = (id: string) => finishedVideoJob<Job>(server!.url, id, 900);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'faceprint-video-erasure-'));
    server = await startQuietServer(join(root, 'data'));
    for (const [id, person] of [
      ['colin', 'Colin_Powell'],
      ['donald', 'Donald_Rumsfeld'],
    ]) {
      const res = await fetch(url(`/subjects?id=${id}&name=${person}`), {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: read(lfwPhoto(person!, 1)),
      });
      expect(res.status).toBe(201);
    }
    await makeClip(
      {
        width: 480,
        height: 270,
        fps: 10,
        seconds: 2,
        actors: [
          { photo: lfwPhoto('Colin_Powell', 2), size: 120, from: { x: 10, y: 5 }, to: { x: 340, y: 10 } },
          {
            photo: lfwPhoto('Donald_Rumsfeld', 2),
            size: 120,
            from: { x: 340, y: 145 },
            to: { x: 10, y: 140 },
          },
        ],
      },
      join(root, 'two-people.mp4'),
    );
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('anonymises the subject’s tracks, removes their thumbnails and keeps the videos and the other person', async () => {
    const data = server!.local.dataDir.paths;
    // The same clip as a job and through the uploads folder.
    const res = await fetch(url('/videos?name=two-people.mp4'), {
      method: 'POST',
      headers: { 'content-type': 'video/mp4' },
      body: await readFile(join(root, 'two-people.mp4')),
    });
    const { id } = (await res.json()) as { id: string };
    const before = await job(id);
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const watcher = startUploadWatcher(server!.local, { pollIntervalMs: 50, logger: quiet });
    try {
      await copyFile(join(root, 'two-people.mp4'), join(data.uploads, 'lobby.mp4'));
      await new Promise((r) => setTimeout(r, 200));
      await watcher.drain();
    } finally {
      await watcher.stop();
    }
    expect(before.status).toBe('done');
    const who = (tracks: Track[]) => tracks.map((t) => t.decision.subjectId).sort();
    expect(who(before.result.tracks)).toEqual(['colin', 'donald']);
    const colinTrack = before.result.tracks.find((t) => t.decision.subjectId === 'colin')!;
    const donaldTrack = before.result.tracks.find((t) => t.decision.subjectId === 'donald')!;
    expect(donaldTrack.decision.candidates.map((c) => c.subjectId)).toContain('colin');
    const colinThumb = before.files.thumbnails[String(colinTrack.id)]!;
    const donaldThumb = before.files.thumbnails[String(donaldTrack.id)]!;
    expect((await fetch(url(colinThumb))).status).toBe(200);
    const lobby = JSON.parse(await readFile(join(data.results, 'lobby.mp4.json'), 'utf8')) as {
      tracks: Track[];
    };
    expect(who(lobby.tracks)).toEqual(['colin', 'donald']);

    const erased = await fetch(url('/subjects/colin'), { method: 'DELETE' });
    expect(erased.status).toBe(204);

    const after = await job(id);
    for (const tracks of [
      after.result.tracks,
      (JSON.parse(await readFile(join(data.results, 'lobby.mp4.json'), 'utf8')) as { tracks: Track[] })
        .tracks,
    ]) {
      expect(who(tracks)).toEqual([ERASED, 'donald']);
      const anonymous = tracks.find((t) => t.decision.subjectId === ERASED)!;
      // The decision stays (what the system did), the person and where their face was go.
      expect(anonymous.decision.kind).toBe('match');
      expect(anonymous.evidence.length).toBeGreaterThan(0);
      expect(anonymous.evidence.every((f) => f.box.width === 0)).toBe(true);
      const other = tracks.find((t) => t.decision.subjectId === 'donald')!;
      expect(other.decision.candidates.map((c) => c.subjectId)).not.toContain('colin');
      expect(other.evidence.every((f) => f.box.width > 0)).toBe(true);
    }
    expect(Object.keys(after.files.thumbnails)).toEqual([String(donaldTrack.id)]);
    expect(filesUnder(join(data.videos, id)).map((f) => relative(data.videos, f))).not.toContain(
      join(id, `track-${colinTrack.id}.jpg`),
    );
    expect((await fetch(url(colinThumb))).status).toBe(404);
    expect((await fetch(url(donaldThumb))).status).toBe(200);
    // The videos themselves are kept.
    expect((await fetch(url(`/videos/${id}/annotated.mp4`))).status).toBe(200);
    expect(statSync(join(data.results, 'lobby.mp4')).size).toBeGreaterThan(0);

    // Nothing under the data directory names Colin any more (the audit rows were redacted too).
    const naming = filesUnder(data.root).filter((f) => {
      const text = readFileSync(f);
      return text.includes('"colin"') || text.includes('Colin_Powell');
    });
    expect(naming.map((f) => relative(data.root, f))).toEqual([]);
  }, 180_000);
});
