/**
 * Video end to end with the real FFmpeg and the real models: clips built here from LFW photos (faces moving across
 * a background, a dark variant, two people crossing, a stranger), enrolled identities from other photos of the
 * same people, then tracks, identities, the annotated MP4, track events in the audit log, and every bad input.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FfmpegFrameSource } from '../../functions/adapters/video/ffmpeg-source.ts';
import { FfmpegVideoWriter } from '../../functions/adapters/video/ffmpeg-writer.ts';
import { isFaceprintError } from '../../functions/core/errors.ts';
import type { TrackEvent } from '../../functions/core/video/events.ts';
import { auditSink, galleryMatcher } from '../../functions/core/video/gallery-matcher.ts';
import { processVideo } from '../../functions/core/video/video-job.ts';
import { type LocalGallery, openLocalGallery } from '../../functions/local/composition.ts';
import { hasData, LFW, lfwPhoto, read } from '../support/data.ts';
import { countFrames, ffmpeg, hasFfmpeg, makeClip } from '../support/video.ts';

const READY = hasData(LFW) && hasFfmpeg();
const W = 640;
const H = 360;
const FPS = 10;

let root = '';
let local: LocalGallery | undefined;
const clip = (name: string) => join(root, name);

/** One person walking left to right. */
const walker = (person: string, n: number) => ({
  photo: lfwPhoto(person, n),
  size: 160,
  from: { x: 10, y: 110 },
  to: { x: 470, y: 80 },
});

async function run(path: string, options: Parameters<typeof processVideo>[3] = {}) {
  const events: TrackEvent[] = [];
  const source = new FfmpegFrameSource(path, { stallTimeoutMs: 20_000 });
  const { result, crops } = await processVideo(
    source,
    {
      pipeline: local!.pipeline,
      matcher: galleryMatcher(local!.gallery),
      events: [auditSink(local!.gallery), { publish: async (e) => void events.push(...e) }],
    },
    path,
    options,
  );
  expect(source.childExited).toBe(true);
  return { result, crops, events };
}

async function expectRefused(path: string, code: string) {
  const source = new FfmpegFrameSource(path, { stallTimeoutMs: 5000 });
  const error = await source.open().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFaceprintError(error), String(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  // One plain sentence, no FFmpeg wording.
  expect((error as Error).message).toMatch(/^The (video|stream) .*\.$/);
  expect((error as Error).message).not.toMatch(/moov|Invalid data|0x|Decoder/);
  expect(source.childExited).toBe(true);
}

describe.skipIf(!READY)('video files', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'faceprint-video-'));
    local = await openLocalGallery({ dataDir: join(root, 'data'), threads: 1 });
    for (const [id, person] of [
      ['colin', 'Colin_Powell'],
      ['donald', 'Donald_Rumsfeld'],
    ] as const) {
      await local.gallery.createSubject(
        { id, name: person },
        { bytes: read(lfwPhoto(person, 1)), source: `${person}_0001.jpg`, takeLargest: true },
      );
    }
    const base = { width: W, height: H, fps: FPS, seconds: 3 };
    await makeClip({ ...base, actors: [walker('Colin_Powell', 2)] }, clip('walk.mp4'));
    await makeClip({ ...base, actors: [walker('Colin_Powell', 2)], gain: 0.3 }, clip('dark.mp4'));
    await makeClip(
      {
        ...base,
        actors: [
          { photo: lfwPhoto('Colin_Powell', 2), size: 150, from: { x: 0, y: 90 }, to: { x: 490, y: 90 } },
          {
            photo: lfwPhoto('Donald_Rumsfeld', 2),
            size: 150,
            from: { x: 490, y: 120 },
            to: { x: 0, y: 120 },
          },
        ],
      },
      clip('cross.mp4'),
    );
    await makeClip({ ...base, seconds: 2, actors: [walker('George_W_Bush', 2)] }, clip('stranger.mp4'));
  });

  afterAll(async () => {
    await local?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('one person walking: one track, the right identity, evidence, events and an annotated MP4 that decodes', async () => {
    const annotated = clip('walk.annotated.mp4');
    const { result, crops, events } = await run(clip('walk.mp4'), {
      annotate: new FfmpegVideoWriter(annotated),
    });
    expect(result.complete).toBe(true);
    expect(result.frames).toBe(30);
    expect(result.info).toMatchObject({ width: W, height: H, codec: 'h264', fps: FPS });
    expect(result.tracks).toHaveLength(1);
    const [track] = result.tracks;
    expect(track!.decision).toMatchObject({ kind: 'match', subjectId: 'colin', aggregation: 'quality-mean' });
    expect(track!.decision!.similarity).toBeGreaterThanOrEqual(track!.decision!.threshold);
    expect(track!.evidence.length).toBeGreaterThan(0);
    expect(track!.evidence.length).toBeLessThanOrEqual(5);
    expect(track!.evidence.every((f) => f.similarity !== undefined && f.timestampMs >= 0)).toBe(true);
    // Only new or better faces were embedded.
    expect(track!.embedded).toBeLessThan(track!.hits);
    expect(crops.get(track!.id)?.[0]).toMatchObject({ width: 112, height: 112 });
    expect(events.map((e) => e.type)).toEqual(['track.started', 'track.identified', 'track.ended']);
    const audit = (await local!.dataDir.faceStore.listAudit({ limit: 50 })).items;
    const rows = audit.filter((a) => a.source === `${clip('walk.mp4')}#track-${track!.id}`);
    expect(rows.map((r) => r.operation).sort()).toEqual(['track.ended', 'track.identified']);
    expect(rows.every((r) => r.decision.subjectId === 'colin' && r.calibration.length > 0)).toBe(true);
    expect((await stat(annotated)).size).toBeGreaterThan(1000);
    expect(countFrames(annotated)).toBe(30);
    expect(result.fullScans).toBeLessThan(result.frames);
  });

  it('the dark variant still gives one track of the same person', async () => {
    const { result } = await run(clip('dark.mp4'));
    expect(result.tracks).toHaveLength(1);
    expect(result.tracks[0]!.decision).toMatchObject({ kind: 'match', subjectId: 'colin' });
  });

  it('two people crossing: two tracks, both identities, no identity switch', async () => {
    const { result } = await run(clip('cross.mp4'));
    expect(result.tracks).toHaveLength(2);
    const ids = result.tracks.map((t) => t.decision?.subjectId).sort();
    expect(ids).toEqual(['colin', 'donald']);
    for (const t of result.tracks) {
      // Every kept face of a track is closest to that track's own person: nothing of the other leaked in.
      expect(t.evidence.every((f) => (f.similarity ?? 0) >= t.decision!.threshold - 0.15)).toBe(true);
    }
    expect(result.tracks.every((t) => t.lastFrame - t.firstFrame >= 25)).toBe(true);
  });

  it('an unenrolled face is unknown', async () => {
    const { result, events } = await run(clip('stranger.mp4'));
    expect(result.tracks).toHaveLength(1);
    expect(result.tracks[0]!.decision?.kind).toBe('unknown');
    expect(events.some((e) => e.type === 'track.unknown')).toBe(true);
  });

  it('a run repeated over the same input (a job resumed after a restart) records each decision once', async () => {
    const keyedRun = () =>
      processVideo(
        new FfmpegFrameSource(clip('stranger.mp4'), { stallTimeoutMs: 20_000 }),
        {
          pipeline: local!.pipeline,
          matcher: galleryMatcher(local!.gallery),
          events: [auditSink(local!.gallery, 'video-job:rerun')],
        },
        'rerun.mp4',
      );
    const rows = async () =>
      (await local!.dataDir.faceStore.listAudit({ limit: 500 })).items
        .filter((a) => a.source.startsWith('rerun.mp4#track-'))
        .map((a) => a.id)
        .sort();
    await keyedRun();
    const first = await rows();
    expect(first.length).toBeGreaterThan(0);
    await keyedRun();
    expect(await rows()).toEqual(first);
  });

  it('bad input: zero-length, corrupt, truncated header, audio-only, unsupported codec, missing file', async () => {
    await writeFile(clip('empty.mp4'), new Uint8Array(0));
    await expectRefused(clip('empty.mp4'), 'INVALID_VIDEO');
    await writeFile(clip('noise.mp4'), Buffer.from('this is not a video at all, just some text'.repeat(50)));
    await expectRefused(clip('noise.mp4'), 'INVALID_VIDEO');
    const whole = await readFile(clip('walk.mp4'));
    await writeFile(clip('cut.mp4'), whole.subarray(0, Math.floor(whole.length / 3)));
    await expectRefused(clip('cut.mp4'), 'INVALID_VIDEO');
    expect(
      ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', clip('audio.m4a')]),
    ).toBe(0);
    await expectRefused(clip('audio.m4a'), 'NO_VIDEO_STREAM');
    // An AVI whose codec tag FFmpeg does not know.
    expect(
      ffmpeg([
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=320x240:rate=10',
        '-t',
        '1',
        '-c:v',
        'mpeg4',
        clip('m4.avi'),
      ]),
    ).toBe(0);
    const avi = Buffer.from(await readFile(clip('m4.avi')));
    for (let i = 0; i < 4096; i++)
      if (avi.toString('latin1', i, i + 4) === 'FMP4') avi.write('ZZZZ', i, 'latin1');
    await writeFile(clip('unknown-codec.avi'), avi);
    await expectRefused(clip('unknown-codec.avi'), 'UNSUPPORTED_VIDEO');
    const missing = new FfmpegFrameSource(clip('nothing-here.mp4'));
    await expect(missing.open()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('a truncated file gives a partial result with the reason; a frame size change is scaled, not a crash', async () => {
    // A Matroska file states its length, so a cut one is reported as partial, with what was read.
    // Every frame a keyframe, so that half the bytes hold about half the frames.
    expect(
      ffmpeg(['-i', clip('walk.mp4'), '-c:v', 'libx264', '-preset', 'veryfast', '-g', '1', clip('walk.mkv')]),
    ).toBe(0);
    const mkv = await readFile(clip('walk.mkv'));
    await writeFile(clip('half.mkv'), mkv.subarray(0, Math.floor(mkv.length / 2)));
    const { result } = await run(clip('half.mkv'));
    expect(result.complete).toBe(false);
    expect(result.reason).toMatch(/before its stated length|could not be decoded to the end/);
    expect(result.frames).toBeGreaterThan(5);
    expect(result.frames).toBeLessThan(30);
    expect(result.tracks.map((t) => t.decision?.subjectId)).toEqual(['colin']);

    for (const [name, size] of [
      ['a.ts', '320x240'],
      ['b.ts', '480x270'],
    ] as const)
      expect(
        ffmpeg([
          '-f',
          'lavfi',
          '-i',
          `testsrc2=size=${size}:rate=10`,
          '-t',
          '1',
          '-c:v',
          'libx264',
          '-f',
          'mpegts',
          clip(name),
        ]),
      ).toBe(0);
    await writeFile(
      clip('sizes.ts'),
      Buffer.concat([await readFile(clip('a.ts')), await readFile(clip('b.ts'))]),
    );
    const source = new FfmpegFrameSource(clip('sizes.ts'));
    const info = await source.open();
    let frames = 0;
    for await (const frame of source.frames()) {
      expect(frame.image.width * frame.image.height * 3).toBe(frame.image.data.length);
      expect(frame.image.width).toBe(info.width);
      frames++;
    }
    expect(frames).toBe(20);
    expect(source.childExited).toBe(true);
  });

  it('stopping early (a consumer break) kills the FFmpeg child', async () => {
    const source = new FfmpegFrameSource(clip('walk.mp4'));
    for await (const frame of source.frames()) {
      if (frame.index === 2) break;
    }
    await source.close();
    expect(source.childExited).toBe(true);
    expect(source.end().complete).toBe(false);
  });
});
