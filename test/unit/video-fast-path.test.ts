import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { type DecodedImage, decodeImage } from '../../functions/core/pipeline/image.ts';
import { FacePipeline, type Stage } from '../../functions/core/pipeline/pipeline.ts';
import { fastMinFaceSize, searchAroundTracks } from '../../functions/core/video/fast-path.ts';
import { videoAnalyzeOptions } from '../../functions/core/video/video-job.ts';
import { CountingBackend } from '../support/counting-backend.ts';
import { hasData, LFW, lfwPhoto } from '../support/data.ts';

const backend = new CountingBackend({ threads: 1 });
const pipeline = new FacePipeline(backend);
afterAll(() => pipeline.dispose());

const timings = (): Record<Stage, number> => ({
  decode: 0,
  detect: 0,
  landmarks: 0,
  align: 0,
  quality: 0,
  enhance: 0,
  embed: 0,
});

/** A 1280×720 grey frame, with an LFW face pasted 120 px wide at (600, 300) when `withFace`. */
async function frame(withFace: boolean): Promise<DecodedImage> {
  const grey = sharp({
    create: { width: 1280, height: 720, channels: 3, background: { r: 120, g: 120, b: 120 } },
  });
  const face = await sharp(lfwPhoto('Colin_Powell', 2))
    .extract({ left: 65, top: 60, width: 120, height: 130 })
    .toBuffer();
  const jpeg = await (withFace ? grey.composite([{ input: face, left: 600, top: 300 }]) : grey)
    .jpeg({ quality: 90 })
    .toBuffer();
  return decodeImage(jpeg);
}

describe.runIf(hasData(LFW))('the video fast path', () => {
  // A video's full scan: the shipped options as processVideo resolves them (no second look).
  const analyze = videoAnalyzeOptions();
  const fast = {
    ...analyze,
    detect: {
      ...analyze.detect,
      detector: 'ulfd' as const,
      minFaceSize: fastMinFaceSize(1280, 720),
      searchPadded: false,
    },
  };

  it('costs one ULFD run on an empty frame between full scans, where the full detector costs many', async () => {
    const image = await frame(false);
    backend.reset();
    expect(await pipeline.analyzeImage(image, fast, timings())).toEqual([]);
    expect(Object.fromEntries(backend.runs)).toEqual({ 'ulfd-rfb320': 1 });
    const fastPixels = backend.pixels.get('ulfd-rfb320') ?? 0;
    backend.reset();
    await pipeline.analyzeImage(image, analyze, timings());
    // Whole frame + the fine level + the padded second look, and BlazeFace on both.
    expect(backend.runs.get('ulfd-rfb320') ?? 0).toBeGreaterThan(2);
    expect(backend.pixels.get('ulfd-rfb320') ?? 0).toBeGreaterThan(5 * fastPixels);
    expect(backend.runs.get('blazeface-back') ?? 0).toBeGreaterThanOrEqual(2);
  });

  it('finds a face the whole-frame pass did not report in one window around its track, without a pyramid', async () => {
    const image = await frame(true);
    const track = { x: 595, y: 300, width: 125, height: 135 };
    backend.reset();
    const faces = await searchAroundTracks(pipeline, image, [track], [], analyze, timings());
    expect(faces).toHaveLength(1);
    const box = faces[0]!.box;
    expect(Math.abs(box.x + box.width / 2 - 660)).toBeLessThan(25);
    expect(Math.abs(box.y + box.height / 2 - 365)).toBeLessThan(30);
    // One whole-window pass per detector: no tiles, no padded copy.
    expect(backend.runs.get('ulfd-rfb320')).toBe(1);
    expect(backend.runs.get('blazeface-back')).toBe(1);
    // A face already found is not searched for again (only the faces it adds are returned).
    backend.reset();
    expect(
      await searchAroundTracks(
        pipeline,
        image,
        [track],
        faces.map((f) => f.box),
        analyze,
        timings(),
      ),
    ).toEqual([]);
    expect(backend.runs.size).toBe(0);
  });
});
