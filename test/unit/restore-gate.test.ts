import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, type RgbImage } from '../../functions/core/pipeline/image.ts';
import { FacePipeline, largestFace, resolveOptions } from '../../functions/core/pipeline/pipeline.ts';
import {
  blockiness,
  type CropRestoration,
  DEFAULT_RESTORE_GATE,
  gatedStrength,
  gateOpens,
  measureCropDegradation,
  parseRestoration,
  restoreBeforeEnhance,
} from '../../functions/core/pipeline/restore.ts';
import { degradeImage, parseDegradation } from '../../functions/eval/degrade.ts';
import { hasData, LFW, lfwPhoto } from '../support/data.ts';

/** A smooth, face-sized scene (no block grid, no noise): sinusoids over a gradient. */
function scene(width = 128, height = 128, gain = 1): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const v = 60 + 50 * Math.sin(x / 6.3) * Math.cos(y / 8.1) + 0.5 * x + 0.3 * y;
      const i = (y * width + x) * 3;
      data[i] = Math.round(v * gain);
      data[i + 1] = Math.round(v * 0.9 * gain);
      data[i + 2] = Math.round(v * 0.8 * gain);
    }
  return { width, height, data };
}

async function jpeg(image: RgbImage, quality: number): Promise<RgbImage> {
  const bytes = await sharp(Buffer.from(image.data), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .jpeg({ quality })
    .toBuffer();
  return decodeImage(bytes);
}

function withNoise(image: RgbImage, sigma: number): RgbImage {
  let seed = 7;
  const uniform = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed + 1) / 0x80000001;
  };
  const data = image.data.map((v) => {
    const n = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    return Math.max(0, Math.min(255, Math.round(v + sigma * n)));
  });
  return { ...image, data };
}

/** The image moved `by` px up and left (the top-left `by` rows and columns dropped). */
function shift(image: RgbImage, by: number): RgbImage {
  const width = image.width - by;
  const height = image.height - by;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    data.set(
      image.data.subarray(((y + by) * image.width + by) * 3, ((y + by) * image.width + image.width) * 3),
      y * width * 3,
    );
  return { width, height, data };
}

const whole = (image: RgbImage) => ({ x: 0, y: 0, width: image.width, height: image.height });
const gated: CropRestoration = { mode: 'gaussian', strength: 1.5, when: 'gated' };

describe('blockiness (the gate’s compression measure)', () => {
  it('is near 0 on an uncompressed scene, bright or dark, and high once it is JPEG-compressed', async () => {
    expect(blockiness(scene())).toBeLessThan(0.05);
    expect(blockiness(scene(128, 128, 0.25))).toBeLessThan(0.1);
    expect(blockiness(await jpeg(scene(), 20))).toBeGreaterThan(DEFAULT_RESTORE_GATE.blockiness);
    expect(blockiness(await jpeg(scene(128, 128, 0.25), 20))).toBeGreaterThan(
      DEFAULT_RESTORE_GATE.blockiness,
    );
  });

  it('sees the 4×4 blocks of the H.264-like quantiser and ignores a grid it is not aligned with', async () => {
    const h264 = await degradeImage(scene(), parseDegradation('h264:34'), { seed: 1 });
    expect(blockiness(h264)).toBeGreaterThan(DEFAULT_RESTORE_GATE.blockiness);
    const compressed = await jpeg(scene(), 20);
    // The same JPEG shifted by 3 px (as a face warped out of its frame would be): its block edges now fall
    // inside the frame's 8×8 cells.
    const shifted = shift(compressed, 3);
    expect(blockiness(shifted)).toBeLessThan(blockiness(compressed) / 2);
  });
});

describe('the noise-gated restoration (restoreBeforeEnhance, when: gated)', () => {
  it('restores a dark JPEG crop that will be enhanced', async () => {
    const frame = await jpeg(scene(112, 112, 0.25), 20);
    const restored = restoreBeforeEnhance(frame, true, gated, () =>
      measureCropDegradation(frame, whole(frame), frame),
    );
    expect(restored).not.toBe(frame);
    expect(Buffer.compare(Buffer.from(restored.data), Buffer.from(frame.data))).not.toBe(0);
  });

  it('restores a dark crop with strong sensor noise even without blocks', () => {
    const frame = withNoise(scene(112, 112, 0.4), 8);
    const measured = measureCropDegradation(frame, whole(frame), frame);
    expect(measured.blockiness).toBeLessThan(DEFAULT_RESTORE_GATE.blockiness);
    expect(measured.stretchedNoise).toBeGreaterThan(DEFAULT_RESTORE_GATE.noise);
    expect(restoreBeforeEnhance(frame, true, gated, () => measured)).not.toBe(frame);
  });

  it('leaves a clean dark crop untouched, and never touches a face the enhancement will not stretch', async () => {
    const dark = scene(112, 112, 0.25);
    const measured = measureCropDegradation(dark, whole(dark), dark);
    expect(gateOpens(measured, DEFAULT_RESTORE_GATE)).toBe(false);
    expect(restoreBeforeEnhance(dark, true, gated, () => measured)).toBe(dark);
    const blocky = await jpeg(scene(112, 112, 0.25), 20);
    let measuredTimes = 0;
    const measure = () => {
      measuredTimes++;
      return measureCropDegradation(blocky, whole(blocky), blocky);
    };
    expect(restoreBeforeEnhance(blocky, false, gated, measure)).toBe(blocky);
    expect(measuredTimes).toBe(0);
  });

  it('restores heavy blocks at the full strength and light blocks (or noise alone) at the light one', () => {
    const gate = DEFAULT_RESTORE_GATE;
    expect(gatedStrength({ blockiness: 2.5, stretchedNoise: 1 }, gate, 1.5)).toBe(1.5);
    expect(gatedStrength({ blockiness: 1, stretchedNoise: 1 }, gate, 1.5)).toBe(gate.lightStrength);
    expect(gatedStrength({ blockiness: 0, stretchedNoise: 20 }, gate, 1.5)).toBe(gate.lightStrength);
  });

  it('parses @gated with and without thresholds, and refuses thresholds elsewhere', () => {
    expect(parseRestoration('gaussian:1.5@gated')).toEqual({ ...gated, gate: DEFAULT_RESTORE_GATE });
    expect(parseRestoration('gaussian:1@gated:0.2/10')).toEqual({
      mode: 'gaussian',
      strength: 1,
      when: 'gated',
      gate: { ...DEFAULT_RESTORE_GATE, blockiness: 0.2, noise: 10 },
    });
    expect(() => parseRestoration('gaussian:1@always:0.2/10')).toThrow(/only @gated/);
  });
});

describe.runIf(hasData(LFW))('the gated restoration in the pipeline (a real LFW face)', () => {
  const pipeline = new FacePipeline({ threads: 1 });
  afterAll(() => pipeline.dispose());

  async function embeddings(spec: string) {
    const clean = await decodeImage(await sharp(lfwPhoto('Aaron_Eckhart', 1)).toBuffer());
    const image = await degradeImage(clean, parseDegradation(spec), { seed: 3 });
    const run = async (restore?: CropRestoration) => {
      const faces = await pipeline.analyzeImage(
        image,
        resolveOptions({ pose: false, keepCrops: true, restore }),
      );
      const face = largestFace({ faces }, spec);
      expect(face.enhanced).toBe(true);
      return face;
    };
    const today = await run();
    return {
      today: today.embedding,
      gated: (await run(gated)).embedding,
      enhanced: (await run({ ...gated, when: 'enhanced' })).embedding,
      measured: measureCropDegradation(image, today.box, today.crops!.aligned),
    };
  }

  it('restores the night profile’s dark JPEG face and leaves the uncompressed dark face as today', async () => {
    const night = await embeddings('dark:0.25+jpeg:20');
    expect(gateOpens(night.measured, DEFAULT_RESTORE_GATE)).toBe(true);
    expect(night.gated).toEqual(night.enhanced);
    expect(night.gated).not.toEqual(night.today);
    const dark = await embeddings('dark:0.25+blur:2');
    expect(gateOpens(dark.measured, DEFAULT_RESTORE_GATE)).toBe(false);
    expect(dark.gated).toEqual(dark.today);
  });
});
