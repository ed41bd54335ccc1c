import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bandSharpness,
  DEFAULT_DEBLUR,
  parseDeblur,
  richardsonLucy,
  wantsDeblur,
} from '../../functions/core/pipeline/deblur.ts';
import { decodeImage, encodeImage, type RgbImage } from '../../functions/core/pipeline/image.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { laplacianVariance, lumaStats } from '../../functions/core/pipeline/quality.ts';
import { degradeImage, parseDegradation } from '../../functions/eval/degrade.ts';
import { hasData, LFW, lfwPhoto, read } from '../support/data.ts';
import { expectFaceprintError } from '../support/errors.ts';
import { MOSAIC_PEOPLE } from '../support/mosaic.ts';

/** A face-sized scene with detail at several scales: waves over a gradient. */
function scene(gain = 1): RgbImage {
  const size = 112;
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const waves = 40 * Math.sin(x / 3.1) * Math.cos(y / 4.3) + 25 * Math.sin((x + y) / 1.9);
      const v = (110 + waves + 0.3 * y) * gain;
      const i = (y * size + x) * 3;
      data[i] = Math.round(v);
      data[i + 1] = Math.round(v * 0.9);
      data[i + 2] = Math.round(v * 0.8);
    }
  return { width: size, height: size, data };
}

async function gaussianBlur(image: RgbImage, sigma: number): Promise<RgbImage> {
  const { data, info } = await sharp(Buffer.from(image.data), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .blur(sigma)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

function meanAbsoluteError(a: RgbImage, b: RgbImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i]! - b.data[i]!);
  return sum / a.data.length;
}

async function jpeg(image: RgbImage, quality: number): Promise<RgbImage> {
  const encoded = await sharp(Buffer.from(image.data), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .jpeg({ quality })
    .toBuffer();
  return decodeImage(new Uint8Array(encoded));
}

/** fp9's gate measure: the unsmoothed Laplacian variance over the luma variance. */
function plainSharpness(image: RgbImage): number {
  return laplacianVariance(image) / Math.max(1, lumaStats(image).std ** 2);
}

describe('Richardson–Lucy deblurring', () => {
  it('brings a Gaussian-blurred image back towards the original', async () => {
    const original = scene();
    const blurred = await gaussianBlur(original, 2);
    const restored = richardsonLucy(blurred, 2, 15);
    expect(meanAbsoluteError(restored, original)).toBeLessThan(0.8 * meanAbsoluteError(blurred, original));
    // And it sharpens: the Laplacian variance rises towards the original's.
    expect(laplacianVariance(restored)).toBeGreaterThan(2 * laplacianVariance(blurred));
  });

  it('leaves a flat image flat (no ringing from nothing)', () => {
    const flat = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(90) };
    const restored = richardsonLucy(flat, 2, 15);
    expect(Math.max(...restored.data)).toBe(90);
    expect(Math.min(...restored.data)).toBe(90);
  });

  it('gates on a sharpness that ignores brightness and compression: blurred faces in, dark or sharp ones out', async () => {
    const sharp = scene();
    const dark = scene(0.25);
    const ratio = bandSharpness(dark) / bandSharpness(sharp);
    expect(ratio).toBeGreaterThan(0.8);
    expect(ratio).toBeLessThan(1.25);
    const blurred = await gaussianBlur(sharp, 4);
    const compressed = await jpeg(blurred, 40);
    expect(bandSharpness(blurred)).toBeLessThan(0.2 * bandSharpness(sharp));
    // The encoder's blocks read as detail to the plain Laplacian (fp9's gate) but hardly to the smoothed one.
    expect(plainSharpness(compressed)).toBeGreaterThan(3 * plainSharpness(blurred));
    expect(bandSharpness(compressed)).toBeLessThan(2 * bandSharpness(blurred));
    // A gate between the blurred and the sharp scene takes the blurred scene, compressed or not, and neither the
    // sharp nor the dark one.
    const below = Math.sqrt(bandSharpness(blurred) * bandSharpness(sharp));
    const gate = { ...DEFAULT_DEBLUR, below };
    expect(wantsDeblur(blurred, gate)).toBe(true);
    expect(wantsDeblur(compressed, gate)).toBe(true);
    expect(wantsDeblur(sharp, gate)).toBe(false);
    expect(wantsDeblur(dark, gate)).toBe(false);
    expect(wantsDeblur(blurred, undefined)).toBe(false);
  });

  it('parses its spec, and refuses nonsense in one sentence', () => {
    expect(parseDeblur('none')).toBeUndefined();
    expect(parseDeblur('rl')).toEqual(DEFAULT_DEBLUR);
    expect(parseDeblur('rl:3x10@0.02')).toEqual({ sigma: 3, iterations: 10, below: 0.02 });
    expect(parseDeblur('rl:3.5')).toEqual({ ...DEFAULT_DEBLUR, sigma: 3.5 });
    expect(expectFaceprintError(() => parseDeblur('wiener'), 'INVALID_ARGUMENT').message).toContain(
      'rl:<sigma>x<iterations>@<below>',
    );
    expectFaceprintError(() => parseDeblur('rl:0x10'), 'INVALID_ARGUMENT');
    expectFaceprintError(() => parseDeblur('rl:2x0'), 'INVALID_ARGUMENT');
  });
});

describe.runIf(hasData(LFW))('deblurring in the pipeline', () => {
  const pipeline = new FacePipeline();
  afterAll(() => pipeline.dispose());
  const people = MOSAIC_PEOPLE.slice(0, 5);

  /** Whether the pipeline deconvolved the face: unenhanced, its embedded crop differs from the aligned one. */
  async function deblurred(bytes: Uint8Array, deblur = DEFAULT_DEBLUR): Promise<boolean> {
    const { faces } = await pipeline.analyze(bytes, { keepCrops: true, enhance: 'never', deblur });
    const face = faces[0];
    if (!face?.crops) throw new Error('no face');
    // The face says what was done to it, for the reviewer, and the crop it was embedded from shows it.
    expect(face.restoration).toBe(face.crops.embedded !== face.crops.aligned ? 'deblurred' : 'none');
    return face.crops.embedded !== face.crops.aligned;
  }

  it('never deblurs a clean LFW face, and deblurs the same face blurred with σ 4, then JPEG-compressed or not', async () => {
    const blur = parseDegradation('blur:4');
    const blurThenJpeg = parseDegradation('blur:4+jpeg:40');
    for (const person of people) {
      const photo = read(lfwPhoto(person, 1));
      expect(await deblurred(photo)).toBe(false);
      const blurred = await degradeImage(await decodeImage(photo), blur);
      expect(await deblurred(await encodeImage(blurred))).toBe(true);
      const compressed = await degradeImage(await decodeImage(photo), blurThenJpeg);
      expect(await deblurred(await encodeImage(compressed))).toBe(true);
    }
  });

  it('brings a σ 4-blurred face nearer its clean photo', async () => {
    const blur = parseDegradation('blur:4');
    let gain = 0;
    for (const person of people) {
      const [clean] = (await pipeline.analyze(read(lfwPhoto(person, 1)))).faces;
      const blurred = await encodeImage(
        await degradeImage(await decodeImage(read(lfwPhoto(person, 1))), blur),
      );
      const [plain] = (await pipeline.analyze(blurred, { deblur: undefined })).faces;
      const [restored] = (await pipeline.analyze(blurred)).faces;
      const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
      gain += dot(restored!.embedding, clean!.embedding) - dot(plain!.embedding, clean!.embedding);
    }
    expect(gain / people.length).toBeGreaterThan(0.03);
  });
});
