import { describe, expect, it } from 'vitest';
import { CameraScoreNorm } from '../../functions/eval/camera-matched.ts';

/** A unit vector along axis `i` of `dim`, plus `tilt` along axis `j`, renormalised. */
function unit(dim: number, i: number, j = i, tilt = 0): Float32Array {
  const v = new Float32Array(dim);
  v[i] = 1;
  v[j] = (v[j] as number) + tilt;
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

describe('CameraScoreNorm (eval --camera-norm)', () => {
  it('a camera template that looks like every other camera template no longer outscores the right subject', () => {
    // Four subjects with distinct originals; their camera templates all lean towards one shared "camera" axis.
    const dim = 8;
    const originals = [0, 1, 2, 3].map((i) => unit(dim, i));
    const cameras = [0, 1, 2, 3].map((i) => unit(dim, i, 7, 3));
    const probe = unit(dim, 2, 7, 0.5); // subject 2, seen by the camera
    const raw = new Float32Array(
      originals.map((o) => o.reduce((s, x, d) => s + x * (probe[d] as number), 0)),
    );
    // Raw max fusion: every subject's camera template scores high, so subject 2 barely leads.
    const rawCamera = cameras.map((c) => c.reduce((s, x, d) => s + x * (probe[d] as number), 0));
    const rawFused = raw.map((s, i) => Math.max(s, rawCamera[i] as number));
    const norm = new CameraScoreNorm(originals, cameras);
    const scores = Float32Array.from(raw);
    norm.apply(probe, scores);
    const margin = (xs: ArrayLike<number>) =>
      (xs[2] as number) - Math.max(xs[0] as number, xs[1] as number, xs[3] as number);
    expect(margin(scores)).toBeGreaterThan(margin(rawFused));
    expect(scores[2]).toBe(Math.max(...scores));
    // Never below the original-only score (max fusion).
    for (let i = 0; i < 4; i++) expect(scores[i]).toBeGreaterThanOrEqual(raw[i] as number);
  });
});
