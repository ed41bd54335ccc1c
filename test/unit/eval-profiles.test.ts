import { describe, expect, it } from 'vitest';
import { isFaceprintError } from '../../functions/core/errors.ts';
import type { RgbImage } from '../../functions/core/pipeline/image.ts';
import { degradeImage, meanLuma, parseDegradation } from '../../functions/eval/degrade.ts';
import { h264Qstep, motionKernel } from '../../functions/eval/degrade-kernels.ts';
import { DEGRADATION_PROFILES } from '../../functions/eval/profiles.ts';

/** Vertical stripes `period` px wide (black / white): detail only along x. */
function stripes(width: number, height: number, period: number, vertical = true): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      data.fill(
        Math.floor((vertical ? x : y) / period) % 2 === 0 ? 230 : 20,
        (y * width + x) * 3,
        (y * width + x) * 3 + 3,
      );
  return { width, height, data };
}

/** A smooth gradient with a little texture: what a face region looks like to a block transform. */
function texture(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const v = 60 + x * 2 + 25 * Math.sin(x / 2.3) * Math.cos(y / 1.7);
      data.set(
        [v, v * 0.9, v * 0.8].map((c) => Math.max(0, Math.min(255, Math.round(c)))),
        (y * width + x) * 3,
      );
    }
  return { width, height, data };
}

/** Standard deviation of the red channel over the interior rows/columns (away from edge effects). */
function interiorStd(image: RgbImage, margin = 8): number {
  const values: number[] = [];
  for (let y = margin; y < image.height - margin; y++)
    for (let x = margin; x < image.width - margin; x++)
      values.push(image.data[(y * image.width + x) * 3] as number);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

function meanAbsDiff(a: RgbImage, b: RgbImage): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs((a.data[i] as number) - (b.data[i] as number));
  return s / a.data.length;
}

describe('motion blur', () => {
  it('parses length and angle, normalising the angle into [0, 180)', () => {
    expect(parseDegradation('motion:9@20').spec).toBe('motion:9@20');
    expect(parseDegradation('motion:9').spec).toBe('motion:9@0');
    expect(parseDegradation('motion:5@-45').steps[0]).toEqual({ kind: 'motion', length: 5, angle: 135 });
    for (const bad of ['motion:1', 'motion:9@x', 'blur:2@30', 'motion:500']) {
      let caught: unknown;
      try {
        parseDegradation(bad);
      } catch (error) {
        caught = error;
      }
      expect(isFaceprintError(caught, 'INVALID_ARGUMENT'), bad).toBe(true);
    }
  });

  it('its kernel sums to 1 and a horizontal streak lies on the centre row only', () => {
    const k = motionKernel(7, 0);
    expect(k.kernel.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    const c = (k.height - 1) / 2;
    k.kernel.forEach((v, i) => {
      if (Math.floor(i / k.width) !== c) expect(v).toBeCloseTo(0, 12);
    });
    const diagonal = motionKernel(7, 45);
    // 45° counter-clockwise: up and to the right of the centre, not along the other diagonal.
    const d = (diagonal.width - 1) / 2;
    expect(diagonal.kernel[(d - 2) * diagonal.width + d + 2]).toBeGreaterThan(0);
    expect(diagonal.kernel[(d - 2) * diagonal.width + d - 2]).toBeCloseTo(0, 12);
  });

  it('is directional: a horizontal streak smears vertical stripes and leaves horizontal ones', async () => {
    const spec = parseDegradation('motion:8@0');
    const vertical = stripes(48, 48, 4, true);
    const horizontal = stripes(48, 48, 4, false);
    const smeared = await degradeImage(vertical, spec);
    const kept = await degradeImage(horizontal, spec);
    expect(interiorStd(smeared)).toBeLessThan(interiorStd(vertical) * 0.4);
    expect(interiorStd(kept)).toBeGreaterThan(interiorStd(horizontal) * 0.95);
    // Deterministic.
    expect((await degradeImage(vertical, spec)).data).toEqual(smeared.data);
  });
});

describe('H.264-like quantisation', () => {
  it('uses the H.264 step table: 0.625 at QP 0, 1 at QP 4, doubling every 6', () => {
    expect(h264Qstep(0)).toBeCloseTo(0.625, 9);
    expect(h264Qstep(4)).toBe(1);
    expect(h264Qstep(10)).toBe(2);
    expect(h264Qstep(28) / h264Qstep(22)).toBeCloseTo(2, 9);
    expect(parseDegradation('h264:34').spec).toBe('h264:34');
    expect(() => parseDegradation('h264:20.5')).toThrow();
    expect(() => parseDegradation('h264:52')).toThrow();
  });

  it('is nearly lossless at a low QP, loses more as the QP rises, and keeps size and brightness', async () => {
    const input = texture(37, 29); // not a multiple of 4: edge blocks are padded
    const errors: number[] = [];
    for (const qp of [4, 24, 40]) {
      const out = await degradeImage(input, parseDegradation(`h264:${qp}`));
      expect([out.width, out.height]).toEqual([37, 29]);
      expect(Math.abs(meanLuma(out) - meanLuma(input))).toBeLessThan(4);
      errors.push(meanAbsDiff(out, input));
    }
    expect(errors[0]).toBeLessThan(2);
    expect(errors[1]).toBeGreaterThan(errors[0] as number);
    expect(errors[2]).toBeGreaterThan(errors[1] as number);
    const again = await degradeImage(input, parseDegradation('h264:40'));
    expect(meanAbsDiff(again, await degradeImage(input, parseDegradation('h264:40')))).toBe(0);
  });
});

describe('named profiles', () => {
  it('every profile parses to its documented spec and combines with further steps', () => {
    for (const profile of DEGRADATION_PROFILES) {
      expect(parseDegradation(profile.name).spec).toBe(parseDegradation(profile.spec).spec);
      expect(profile.what.length).toBeGreaterThan(10);
    }
    expect(parseDegradation('night').spec).toBe('dark:0.25+jpeg:20');
    expect(parseDegradation('NIGHT+blur:1').spec).toBe('dark:0.25+jpeg:20+blur:1');
    expect(() => parseDegradation('dusk')).toThrow(/profile/);
  });

  it('each profile is deterministic for a seed and degrades the image', async () => {
    const input = texture(64, 64);
    for (const profile of DEGRADATION_PROFILES) {
      const spec = parseDegradation(profile.name);
      const a = await degradeImage(input, spec, { seed: 3 });
      const b = await degradeImage(input, spec, { seed: 3 });
      expect(a.data, profile.name).toEqual(b.data);
      expect(meanAbsDiff(a, input), profile.name).toBeGreaterThan(1);
    }
    // Sensor noise follows the seed.
    const noisy = parseDegradation('noisy');
    expect((await degradeImage(input, noisy, { seed: 3 })).data).not.toEqual(
      (await degradeImage(input, noisy, { seed: 4 })).data,
    );
  });
});
