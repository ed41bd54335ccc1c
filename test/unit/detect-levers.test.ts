import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DETECT_OPTIONS, type RawDetection } from '../../functions/core/pipeline/detect.ts';
import {
  DEFAULT_SECOND_LOOK,
  denoiseFrame,
  parseSecondLook,
  thresholdsForFrame,
  wantsSecondLook,
} from '../../functions/core/pipeline/detect-levers.ts';
import { decodeImage, type RgbImage } from '../../functions/core/pipeline/image.ts';
import { FacePipeline, resolveOptions } from '../../functions/core/pipeline/pipeline.ts';
import { noiseSigma } from '../../functions/core/pipeline/restore.ts';
import { videoAnalyzeOptions } from '../../functions/core/video/video-job.ts';
import { degradeImage, parseDegradation } from '../../functions/eval/degrade.ts';
import { hasData, LFW, lfwPhoto } from '../support/data.ts';

const detection = (side: number): RawDetection => ({
  box: { x: 0, y: 0, width: side, height: side },
  score: 0.9,
  detector: 'ulfd',
});
const look = { denoise: 0, thresholdScale: 1, upscale: 2, smallFaceSide: 0 };

describe('detection levers: the pure parts', () => {
  it('lowers both thresholds only on frames that needed the lighting stretch', () => {
    const lowered = thresholdsForFrame(DEFAULT_DETECT_OPTIONS, true, 0.5);
    expect(lowered.ulfdScoreThreshold).toBeCloseTo(DEFAULT_DETECT_OPTIONS.ulfdScoreThreshold * 0.5);
    expect(lowered.blazefaceScoreThreshold).toBeCloseTo(DEFAULT_DETECT_OPTIONS.blazefaceScoreThreshold * 0.5);
    expect(thresholdsForFrame(DEFAULT_DETECT_OPTIONS, false, 0.5)).toBe(DEFAULT_DETECT_OPTIONS);
    expect(thresholdsForFrame(DEFAULT_DETECT_OPTIONS, true, undefined)).toBe(DEFAULT_DETECT_OPTIONS);
  });

  it('looks again on an empty frame, and on small faces only when asked to', () => {
    expect(wantsSecondLook([], look)).toBe(true);
    expect(wantsSecondLook([detection(20)], look)).toBe(false);
    expect(wantsSecondLook([detection(20)], { ...look, smallFaceSide: 40 })).toBe(true);
    // The shipped look: only a frame that needed the lighting stretch (dark or flat) is looked at again.
    expect(wantsSecondLook([], DEFAULT_SECOND_LOOK, false)).toBe(false);
    expect(wantsSecondLook([], DEFAULT_SECOND_LOOK, true)).toBe(true);
    expect(wantsSecondLook([], look, false)).toBe(true);
    expect(wantsSecondLook([detection(20), detection(60)], { ...look, smallFaceSide: 40 })).toBe(false);
  });

  it('denoises a noisy frame (and returns the frame itself for σ 0)', () => {
    const data = new Uint8Array(64 * 64 * 3);
    let seed = 1;
    for (let i = 0; i < data.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      data[i] = 100 + (seed % 40);
    }
    const frame: RgbImage = { width: 64, height: 64, data };
    expect(denoiseFrame(frame, 0)).toBe(frame);
    expect(noiseSigma(denoiseFrame(frame, 1.5))).toBeLessThan(noiseSigma(frame) / 3);
  });

  it('parses --second-look specs and rejects nonsense with a sentence', () => {
    expect(parseSecondLook('denoise:1.5,threshold:0.7,upscale:2')).toEqual({
      denoise: 1.5,
      thresholdScale: 0.7,
      upscale: 2,
      smallFaceSide: 0,
    });
    expect(parseSecondLook('none')).toBeUndefined();
    // The shipped look's flag: only frames that needed the lighting stretch.
    expect(parseSecondLook('denoise:1.5,threshold:0.7,stretched')).toEqual({
      ...DEFAULT_SECOND_LOOK,
    });
    expect(parseSecondLook('denoise:1.5')?.stretchedOnly).toBeUndefined();
    expect(() => parseSecondLook('threshold:1.5')).toThrow(/\(0, 1\]/);
    expect(() => parseSecondLook('upscale:9')).toThrow(/\[1, 4\]/);
    expect(() => parseSecondLook('sharpen:2')).toThrow(/is not denoise/);
  });
});

describe.runIf(hasData(LFW))('the second look on a synthetic frame (real detectors)', () => {
  const pipeline = new FacePipeline({ threads: 1 });
  afterAll(() => pipeline.dispose());

  /** A 400×300 textured frame with one LFW face pasted `size` px wide, its top-left corner at (190, 140). */
  async function frameWithFace(size: number): Promise<Buffer> {
    const crop = await sharp(lfwPhoto('Aaron_Eckhart', 1))
      .extract({ left: 65, top: 60, width: 120, height: 130 })
      .resize(size, Math.round((size * 130) / 120))
      .toBuffer();
    const noise = Buffer.alloc(400 * 300 * 3);
    let seed = 12345;
    for (let i = 0; i < noise.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      noise[i] = 60 + (seed % 140);
    }
    return sharp(noise, { raw: { width: 400, height: 300, channels: 3 } })
      .composite([{ input: crop, left: 190, top: 140 }])
      .png()
      .toBuffer();
  }
  const near = (size: number) => (box: { x: number; y: number; width: number; height: number }) =>
    Math.hypot(box.x + box.width / 2 - (190 + size / 2), box.y + box.height / 2 - (140 + (size * 65) / 120)) <
    size / 2;

  it('finds a 12 px face that the first pass misses, by looking again at twice the scale', async () => {
    const frame = await frameWithFace(12);
    const first = await pipeline.analyze(frame, {
      embed: false,
      pose: false,
      detect: { secondLook: undefined },
    });
    expect(first.faces.some((f) => near(12)(f.box))).toBe(false);
    const second = await pipeline.analyze(frame, { embed: false, pose: false, detect: { secondLook: look } });
    expect(second.faces.filter((f) => near(12)(f.box))).toHaveLength(1);
  });

  it('changes nothing where the first pass found the face', async () => {
    const frame = await frameWithFace(40);
    const first = await pipeline.analyze(frame, {
      embed: false,
      pose: false,
      detect: { secondLook: undefined },
    });
    const second = await pipeline.analyze(frame, { embed: false, pose: false, detect: { secondLook: look } });
    expect(first.faces.some((f) => near(40)(f.box))).toBe(true);
    expect(second.faces.map((f) => f.box)).toEqual(first.faces.map((f) => f.box));
  });
});

describe.runIf(hasData(LFW))('the shipped second look (pipeline fp5)', () => {
  const pipeline = new FacePipeline({ threads: 1 });
  afterAll(() => pipeline.dispose());

  it('finds the face of a CCTV-degraded photo that the first pass loses, and video frames do not look again', async () => {
    // Aaron Pena's first photo through the `cctv` profile (seed 1): dark, blurred, small, noisy, H.264-blocky.
    const photo = await decodeImage(new Uint8Array(readFileSync(lfwPhoto('Aaron_Pena', 1))));
    const frame = await degradeImage(photo, parseDegradation('cctv'), { seed: 1 });
    const without = await pipeline.analyzeImage(
      frame,
      resolveOptions({ embed: false, pose: false, detect: { secondLook: undefined } }),
    );
    expect(without).toHaveLength(0);
    const shipped = await pipeline.analyzeImage(frame, resolveOptions({ embed: false, pose: false }));
    expect(shipped).toHaveLength(1);
    const box = shipped[0]!.box;
    // The labelled person is the face at the centre of LFW's 250×250 frame.
    expect(Math.hypot(box.x + box.width / 2 - 125, box.y + box.height / 2 - 125)).toBeLessThan(40);
    expect(videoAnalyzeOptions().detect.secondLook).toBeUndefined();
    expect(videoAnalyzeOptions({ detect: { secondLook: DEFAULT_SECOND_LOOK } }).detect.secondLook).toEqual(
      DEFAULT_SECOND_LOOK,
    );
    const video = await pipeline.analyzeImage(frame, videoAnalyzeOptions());
    expect(video).toHaveLength(0);
  });
});
