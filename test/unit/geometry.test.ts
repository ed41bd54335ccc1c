import { describe, expect, it } from 'vitest';
import {
  type Affine,
  ARCFACE_TEMPLATE_112,
  invertAffine,
  iou,
  nonMaxSuppression,
  similarityTransform,
  transformPoint,
  warpAffine,
} from '../../functions/core/pipeline/geometry.ts';

describe('similarityTransform', () => {
  it('recovers a known rotation, scale and translation exactly', () => {
    // Prepare: a transform with scale 2.5, rotation 20°, translation (30, -12).
    const angle = (20 * Math.PI) / 180;
    const s = 2.5;
    const known: Affine = [
      s * Math.cos(angle),
      -s * Math.sin(angle),
      30,
      s * Math.sin(angle),
      s * Math.cos(angle),
      -12,
    ];
    const from = ARCFACE_TEMPLATE_112.map((p) => ({ ...p }));
    const to = from.map((p) => transformPoint(known, p));
    // Act
    const fitted = similarityTransform(from, to);
    // Assess
    for (const [i, v] of fitted.entries()) expect(v).toBeCloseTo(known[i]!, 6);
  });

  it('is the least-squares fit when the points are noisy', () => {
    const from = [
      { x: 0, y: 0 },
      { x: 10, y: 0 },
      { x: 0, y: 10 },
      { x: 10, y: 10 },
    ];
    const to = [
      { x: 1, y: 0 },
      { x: 10, y: 0 },
      { x: 0, y: 10 },
      { x: 10, y: 10 },
    ];
    const m = similarityTransform(from, to);
    const residual = (t: Affine) =>
      from.reduce((sum, p, i) => {
        const q = transformPoint(t, p);
        return sum + (q.x - to[i]!.x) ** 2 + (q.y - to[i]!.y) ** 2;
      }, 0);
    // Any perturbation of the four similarity parameters (a = s·cosθ, b = s·sinθ, tx, ty) must not reduce the
    // squared error.
    const [a, negB, tx, b, , ty] = m;
    expect(negB).toBeCloseTo(-b, 12);
    const similarity = (p: number[]): Affine => [p[0]!, -p[1]!, p[2]!, p[1]!, p[0]!, p[3]!];
    for (const delta of [0.01, -0.01]) {
      for (let k = 0; k < 4; k++) {
        const params = [a, b, tx, ty];
        params[k]! += delta;
        expect(residual(similarity(params))).toBeGreaterThan(residual(m));
      }
    }
  });

  it('inverts', () => {
    const m: Affine = [1.2, -0.3, 5, 0.3, 1.2, -7];
    const p = transformPoint(invertAffine(m), transformPoint(m, { x: 13, y: 42 }));
    expect(p.x).toBeCloseTo(13, 9);
    expect(p.y).toBeCloseTo(42, 9);
  });
});

describe('warpAffine', () => {
  it('translates pixels exactly by whole-pixel shifts and fills outside with black', () => {
    const data = new Uint8Array(4 * 4 * 3);
    data.set([200, 100, 50], (1 * 4 + 1) * 3);
    const out = warpAffine({ width: 4, height: 4, data }, [1, 0, 2, 0, 1, 1], 4, 4);
    expect(Array.from(out.data.subarray((2 * 4 + 3) * 3, (2 * 4 + 3) * 3 + 3))).toEqual([200, 100, 50]);
    expect(out.data[0]).toBe(0);
  });

  it('area-averages a large shrink instead of aliasing a checkerboard', () => {
    const size = 64;
    const data = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        data.fill((x + y) % 2 ? 255 : 0, (y * size + x) * 3, (y * size + x) * 3 + 3);
    const out = warpAffine({ width: size, height: size, data }, [0.125, 0, 0, 0, 0.125, 0], 8, 8);
    // Interior pixels (the border row and column also sample outside the source, which is black).
    for (let y = 1; y < 8; y++) {
      for (let x = 1; x < 8; x++) expect(Math.abs(out.data[(y * 8 + x) * 3]! - 127.5)).toBeLessThan(30);
    }
  });
});

describe('non-maximum suppression', () => {
  it('keeps the best box of an overlapping group and separate boxes', () => {
    const a = { box: { x: 0, y: 0, width: 10, height: 10 }, score: 0.9 };
    const b = { box: { x: 1, y: 1, width: 10, height: 10 }, score: 0.95 };
    const c = { box: { x: 50, y: 50, width: 10, height: 10 }, score: 0.5 };
    expect(iou(a.box, a.box)).toBe(1);
    expect(iou(a.box, c.box)).toBe(0);
    expect(nonMaxSuppression([a, b, c], 0.3)).toEqual([b, c]);
  });
});
