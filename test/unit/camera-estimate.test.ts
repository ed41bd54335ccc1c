import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { estimateCameraProfile, jpegLumaTable, jpegQualityOf } from '../../functions/core/camera/estimate.ts';
import type { RgbImage } from '../../functions/core/pipeline/image.ts';
import {
  noiseSigma,
  parseRestoration,
  restoreBeforeEnhance,
  restoreCrop,
} from '../../functions/core/pipeline/restore.ts';
import { degradeImage, parseDegradation } from '../../functions/eval/degrade.ts';

/** A smooth scene (gradients, no texture): what flat wall and skin regions look like to the noise estimate. */
function scene(width: number, height: number, level = 1): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const v = (60 + (120 * x) / width + 40 * Math.sin(y / 40)) * level;
      data.set(
        [v, v * 0.95, v * 0.9].map((c) => Math.round(c)),
        (y * width + x) * 3,
      );
    }
  return { width, height, data };
}

const encode = (image: RgbImage, format: 'png' | { jpeg: number }) => {
  const s = sharp(Buffer.from(image.data), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality: format.jpeg }).toBuffer();
};

describe('camera profile estimation (images degraded with known parameters)', () => {
  it('reads the JPEG quality from the quantisation tables within ±2', async () => {
    for (const q of [20, 35, 50, 75, 90]) {
      const table = jpegLumaTable(await encode(scene(64, 64), { jpeg: q }));
      expect(table, `q${q}`).toBeDefined();
      expect(Math.abs(jpegQualityOf(table as number[]) - q), `q${q}`).toBeLessThanOrEqual(2);
    }
    expect(jpegLumaTable(await encode(scene(16, 16), 'png'))).toBeUndefined();
  });

  // Noise of σ per channel, independent across channels, is σ·√(0.299² + 0.587² + 0.114²) ≈ 0.668σ in luma.
  it('recovers the luma noise σ within ±1 grey level and brightness within 5%', async () => {
    for (const sigma of [3, 8, 15]) {
      const frames: Uint8Array[] = [];
      for (let seed = 1; seed <= 3; seed++)
        frames.push(
          await encode(
            await degradeImage(scene(160, 120, 0.8), parseDegradation(`noise:${sigma}`), { seed }),
            'png',
          ),
        );
      const profile = await estimateCameraProfile(frames);
      expect(Math.abs(profile.noise - 0.668 * sigma), `σ ${sigma}: ${profile.noise}`).toBeLessThan(1);
      expect(profile.jpegQuality).toBeNull();
      expect(profile.images).toBe(3);
    }
    const dark = await estimateCameraProfile([
      await encode(await degradeImage(scene(64, 64), parseDegradation('dark:0.5')), 'png'),
    ]);
    const bright = await estimateCameraProfile([await encode(scene(64, 64), 'png')]);
    expect(dark.brightness / bright.brightness).toBeGreaterThan(0.475);
    expect(dark.brightness / bright.brightness).toBeLessThan(0.525);
  });

  it('ranks blur: a stronger blur gives a lower sharpness, and reports the median face size', async () => {
    const base = await degradeImage(scene(128, 128), parseDegradation('noise:6'), { seed: 2 });
    const sharpness: number[] = [];
    for (const sigma of [0.5, 1.5, 3]) {
      const blurred = await degradeImage(base, parseDegradation(`blur:${sigma}`));
      sharpness.push((await estimateCameraProfile([await encode(blurred, 'png')])).sharpness);
    }
    expect(sharpness[0]).toBeGreaterThan(sharpness[1] as number);
    expect(sharpness[1]).toBeGreaterThan(sharpness[2] as number);
    expect((await estimateCameraProfile([await encode(base, 'png')], [20, 30, 24])).interOcularPx).toBe(24);
  });
});

describe('crop restoration', () => {
  it('gaussian restoration removes most of the noise of a flat crop; only enhanced faces by default', async () => {
    const noisy = await degradeImage(scene(112, 112, 0.3), parseDegradation('noise:10'), { seed: 5 });
    const restored = restoreCrop(noisy, { mode: 'gaussian', strength: 1.5 });
    expect(noiseSigma(noisy)).toBeGreaterThan(5);
    expect(noiseSigma(restored)).toBeLessThan(noiseSigma(noisy) / 3);
    const r = parseRestoration('gaussian:1.5');
    expect(r).toEqual({ mode: 'gaussian', strength: 1.5, when: 'enhanced' });
    expect(restoreBeforeEnhance(noisy, false, r)).toBe(noisy);
    expect(restoreBeforeEnhance(noisy, true, r)).not.toBe(noisy);
    expect(restoreBeforeEnhance(noisy, false, parseRestoration('median@always'))).not.toBe(noisy);
    expect(parseRestoration('none')).toBeUndefined();
    expect(() => parseRestoration('wiener:2')).toThrow(/gaussian/);
    expect(() => parseRestoration('gaussian:0')).toThrow(/strength/);
  });
});
