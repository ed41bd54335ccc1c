import { describe, expect, it } from 'vitest';
import { isFaceprintError } from '../../functions/core/errors.ts';
import type { RgbImage } from '../../functions/core/pipeline/image.ts';
import { degradeImage, meanLuma, parseDegradation } from '../../functions/eval/degrade.ts';

function solid(width: number, height: number, value: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).fill(value) };
}

/** A 1-px black/white checkerboard: maximal detail, mean 127.5. */
function checkerboard(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      data.fill((x + y) % 2 === 0 ? 255 : 0, (y * width + x) * 3, (y * width + x) * 3 + 3);
  return { width, height, data };
}

function std(image: RgbImage): number {
  const mean = image.data.reduce((s, v) => s + v, 0) / image.data.length;
  return Math.sqrt(image.data.reduce((s, v) => s + (v - mean) ** 2, 0) / image.data.length);
}

function expectInvalid(spec: string) {
  let caught: unknown;
  try {
    parseDegradation(spec);
  } catch (error) {
    caught = error;
  }
  expect(isFaceprintError(caught, 'INVALID_ARGUMENT'), `"${spec}" should be refused`).toBe(true);
}

describe('parseDegradation', () => {
  it('parses and normalises combinations, in order', () => {
    const d = parseDegradation(' dark:0.25 + blur:2.0+lowres:32+jpeg:20+noise:5 ');
    expect(d.spec).toBe('dark:0.25+blur:2+lowres:32+jpeg:20+noise:5');
    expect(d.steps.map((s) => s.kind)).toEqual(['dark', 'blur', 'lowres', 'jpeg', 'noise']);
    expect(d.steps[0]).toEqual({ kind: 'dark', factor: 0.25 });
  });

  it('treats "" and "none" as no degradation', () => {
    expect(parseDegradation('')).toEqual({ spec: '', steps: [] });
    expect(parseDegradation('none').steps).toHaveLength(0);
  });

  it('refuses malformed steps, unknown kinds and out-of-range values with INVALID_ARGUMENT', () => {
    for (const spec of [
      'dark',
      'fog:1',
      'dark:0',
      'dark:1.5',
      'blur:0.1',
      'jpeg:0',
      'jpeg:101',
      'jpeg:20.5',
      'lowres:1',
      'dark:0.5+',
      'noise:-1',
    ]) {
      expectInvalid(spec);
    }
  });
});

describe('degradeImage', () => {
  it('dark multiplies every channel value', async () => {
    const out = await degradeImage(solid(8, 8, 200), parseDegradation('dark:0.25'));
    expect(out.data.every((v) => v === 50)).toBe(true);
    expect(meanLuma(out)).toBeCloseTo(50, 5);
  });

  it('leaves the input untouched and returns it as is without steps', async () => {
    const input = solid(4, 4, 100);
    expect(await degradeImage(input, parseDegradation(''))).toBe(input);
    await degradeImage(input, parseDegradation('dark:0.5'));
    expect(input.data[0]).toBe(100);
  });

  it('blur smooths detail but keeps size and mean brightness', async () => {
    const input = checkerboard(32, 32);
    const out = await degradeImage(input, parseDegradation('blur:2'));
    expect([out.width, out.height]).toEqual([32, 32]);
    expect(std(out)).toBeLessThan(std(input) / 5);
    expect(meanLuma(out)).toBeGreaterThan(110);
    expect(meanLuma(out)).toBeLessThan(145);
  });

  it('lowres scales by target / reference inter-ocular distance and back up', async () => {
    const input = checkerboard(40, 40);
    const out = await degradeImage(input, parseDegradation('lowres:10'), { referenceIod: 40 });
    expect([out.width, out.height]).toEqual([40, 40]);
    expect(std(out)).toBeLessThan(std(input) / 3);
    // A target at or above the reference leaves the image alone.
    const same = await degradeImage(input, parseDegradation('lowres:50'), { referenceIod: 40 });
    expect(same.data).toEqual(input.data);
  });

  it('jpeg re-encodes: same size, close but not identical', async () => {
    const input = checkerboard(32, 32);
    const out = await degradeImage(input, parseDegradation('jpeg:10'));
    expect([out.width, out.height]).toEqual([32, 32]);
    expect(out.data).not.toEqual(input.data);
    expect(Math.abs(meanLuma(out) - meanLuma(input))).toBeLessThan(20);
  });

  it('noise is seeded: the same seed repeats, another seed differs, and its std is about sigma', async () => {
    const input = solid(64, 64, 128);
    const spec = parseDegradation('noise:10');
    const a = await degradeImage(input, spec, { seed: 7 });
    const b = await degradeImage(input, spec, { seed: 7 });
    const c = await degradeImage(input, spec, { seed: 8 });
    expect(a.data).toEqual(b.data);
    expect(a.data).not.toEqual(c.data);
    expect(std(a)).toBeGreaterThan(9);
    expect(std(a)).toBeLessThan(11);
  });

  it('applies steps left to right', async () => {
    const input = solid(8, 8, 200);
    const twice = await degradeImage(input, parseDegradation('dark:0.5+dark:0.5'));
    expect(twice.data[0]).toBe(50);
  });
});
