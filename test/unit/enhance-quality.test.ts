import { describe, expect, it } from 'vitest';
import {
  clahe,
  detectionLevels,
  enhanceFace,
  lumaPercentiles,
  normaliseForDetection,
} from '../../functions/core/pipeline/enhance.ts';
import type { RgbImage } from '../../functions/core/pipeline/image.ts';
import { assessQuality, laplacianVariance, lumaStats } from '../../functions/core/pipeline/quality.ts';

/** A 112×112 synthetic "face": vertical stripes of varying width (edges everywhere), scaled to a brightness. */
function stripes(maxLevel: number, blur = 0): RgbImage {
  const size = 112;
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      let n = 0;
      for (let dx = -blur; dx <= blur; dx++) {
        const xx = Math.min(size - 1, Math.max(0, x + dx));
        v += Math.floor(xx / (3 + ((y >> 4) % 3))) % 2 ? maxLevel : maxLevel * 0.2;
        n += 1;
      }
      data.fill(Math.round(v / n), (y * size + x) * 3, (y * size + x) * 3 + 3);
    }
  }
  return { width: size, height: size, data };
}

const frontal = { yaw: 0, pitch: 0, roll: 0 };

describe('quality', () => {
  it('scores a crisp, bright, large, frontal face high with no reasons', () => {
    const q = assessQuality(stripes(220), { interOcularPx: 60, detectionScore: 0.99, pose: frontal });
    expect(q.reasons).toEqual([]);
    expect(q.score).toBeGreaterThan(0.9);
  });

  it('flags dark, blurred, small, turned and doubtful faces with machine-readable reasons', () => {
    const q = assessQuality(stripes(30, 4), {
      interOcularPx: 8,
      detectionScore: 0.55,
      pose: { yaw: 70, pitch: 0, roll: 0 },
    });
    expect(q.reasons).toEqual(
      expect.arrayContaining([
        'LOW_BRIGHTNESS',
        'LOW_SHARPNESS',
        'SMALL_FACE',
        'EXTREME_POSE',
        'LOW_CONFIDENCE',
      ]),
    );
    expect(q.score).toBeLessThan(0.1);
  });

  it('measures blur as a lower Laplacian variance', () => {
    expect(laplacianVariance(stripes(220, 3))).toBeLessThan(laplacianVariance(stripes(220)) / 4);
  });
});

describe('enhancement', () => {
  it('brightens and adds contrast to a dark face crop', () => {
    const dark = stripes(35);
    const before = lumaStats(dark);
    const after = lumaStats(enhanceFace(dark));
    expect(after.mean).toBeGreaterThan(before.mean * 2);
    expect(after.std).toBeGreaterThan(before.std * 2);
  });

  it('CLAHE maps a constant plane to a constant plane (no invented detail)', () => {
    const flat = new Uint8Array(64 * 64).fill(90);
    const out = clahe(flat, 64, 64, { grid: 4, clipLimit: 2 });
    expect(new Set(out).size).toBe(1);
  });

  it('leaves a well-exposed frame unchanged for detection and stretches a dark one', () => {
    // A horizontal ramp over the full range: well exposed.
    const data = new Uint8Array(256 * 16 * 3);
    for (let i = 0; i < 256 * 16; i++) data.fill(i % 256, i * 3, i * 3 + 3);
    const bright: RgbImage = { width: 256, height: 16, data };
    expect(normaliseForDetection(bright)).toBe(bright);
    const dark = stripes(50);
    const [, high] = lumaPercentiles(normaliseForDetection(dark), [0.01, 0.99]);
    expect(high).toBeGreaterThan(200);
  });

  it('gives detection the level curve itself, the same one normaliseForDetection applies', () => {
    const dark = stripes(50);
    const lut = detectionLevels(dark);
    expect(lut).toBeDefined();
    const applied = normaliseForDetection(dark);
    for (let i = 0; i < dark.data.length; i += 97) expect(applied.data[i]).toBe(lut![dark.data[i]!]);
    // Black stays black, so zero padding around a tile or a padded frame means the same before and after it.
    expect(lut![0]).toBe(0);
  });
});
