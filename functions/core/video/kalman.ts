/**
 * Constant-velocity Kalman filter over a face box (centre x, centre y, width, height). Each coordinate is its own
 * two-state filter (position, velocity): with the diagonal noise SORT and ByteTrack use, the 8-state filter
 * decouples into these four exactly, and the 2×2 form is a few lines instead of a matrix library.
 */
import type { Box } from '../types.ts';

interface Axis {
  /** Position and velocity (per frame). */
  x: number;
  v: number;
  /** Covariance [[p00, p01], [p01, p11]]. */
  p00: number;
  p01: number;
  p11: number;
}

/** Noise scales relative to the box height, as in ByteTrack (`std_weight_position` 1/20, velocity 1/160). */
const POSITION_WEIGHT = 1 / 20;
const VELOCITY_WEIGHT = 1 / 160;

/** A box whose motion is predicted frame to frame and corrected by each matched detection. */
export class BoxKalman {
  private readonly axes: [Axis, Axis, Axis, Axis];

  constructor(box: Box) {
    const z = measure(box);
    const h = Math.max(1, box.height);
    this.axes = z.map((x) => ({
      x,
      v: 0,
      p00: (2 * POSITION_WEIGHT * h) ** 2,
      p01: 0,
      p11: (10 * VELOCITY_WEIGHT * h) ** 2,
    })) as [Axis, Axis, Axis, Axis];
  }

  /** Advances the state by `steps` frames and returns the predicted box. */
  predict(steps = 1): Box {
    const h = Math.max(1, this.axes[3].x);
    const q0 = (POSITION_WEIGHT * h) ** 2;
    const q1 = (VELOCITY_WEIGHT * h) ** 2;
    for (const a of this.axes) {
      for (let s = 0; s < steps; s++) {
        a.x += a.v;
        const p00 = a.p00 + 2 * a.p01 + a.p11 + q0;
        const p01 = a.p01 + a.p11;
        a.p00 = p00;
        a.p01 = p01;
        a.p11 += q1;
      }
    }
    // A box never shrinks below a pixel, however fast it was shrinking.
    this.axes[2].x = Math.max(1, this.axes[2].x);
    this.axes[3].x = Math.max(1, this.axes[3].x);
    return this.box();
  }

  /** Corrects the state with a measured box. */
  update(box: Box): Box {
    const z = measure(box);
    const r = (POSITION_WEIGHT * Math.max(1, box.height)) ** 2;
    this.axes.forEach((a, i) => {
      const innovation = z[i]! - a.x;
      const s = a.p00 + r;
      const k0 = a.p00 / s;
      const k1 = a.p01 / s;
      a.x += k0 * innovation;
      a.v += k1 * innovation;
      const p00 = (1 - k0) * a.p00;
      const p01 = (1 - k0) * a.p01;
      const p11 = a.p11 - k1 * a.p01;
      a.p00 = p00;
      a.p01 = p01;
      a.p11 = p11;
    });
    return this.box();
  }

  /** The current state as a box. */
  box(): Box {
    const [cx, cy, w, h] = this.axes.map((a) => a.x) as [number, number, number, number];
    return { x: cx - w / 2, y: cy - h / 2, width: w, height: h };
  }

  /** Velocity of the box centre in pixels per frame. */
  velocity(): { x: number; y: number } {
    return { x: this.axes[0].v, y: this.axes[1].v };
  }
}

function measure(box: Box): [number, number, number, number] {
  return [box.x + box.width / 2, box.y + box.height / 2, box.width, box.height];
}
