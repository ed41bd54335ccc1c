/**
 * The two degradations sharp has no operation for, written here: a directional motion-blur kernel (sharp's
 * `convolve` applies it) and an H.264-like quantisation of an RGB frame. No npm package models an H.264 intra
 * quantiser on raw pixels (encoders such as FFmpeg need a process per frame), and the point is a documented,
 * deterministic model of its artefacts, not a real bitstream.
 */
import type { RgbImage } from '../core/pipeline/image.ts';

/**
 * A normalised line kernel of `length` px at `angleDeg` (0 = horizontal, counter-clockwise), for sharp's
 * `convolve`: the path of a point moving in a straight line during the exposure, sampled every 0.25 px and
 * spread bilinearly over the grid, so fractional lengths and any angle give a smooth streak.
 */
export function motionKernel(
  length: number,
  angleDeg: number,
): { width: number; height: number; kernel: number[] } {
  const half = Math.ceil(length / 2);
  const size = Math.max(3, 2 * half + 1);
  const grid = new Float64Array(size * size);
  const c = (size - 1) / 2;
  const dx = Math.cos((angleDeg * Math.PI) / 180);
  const dy = -Math.sin((angleDeg * Math.PI) / 180);
  const samples = Math.max(2, Math.round(length * 4));
  for (let s = 0; s < samples; s++) {
    const t = (s / (samples - 1) - 0.5) * Math.max(0, length - 1);
    const x = c + t * dx;
    const y = c + t * dy;
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const fx = x - x0;
    const fy = y - y0;
    const add = (gx: number, gy: number, w: number) => {
      if (gx >= 0 && gy >= 0 && gx < size && gy < size)
        grid[gy * size + gx] = (grid[gy * size + gx] as number) + w;
    };
    add(x0, y0, (1 - fx) * (1 - fy));
    add(x0 + 1, y0, fx * (1 - fy));
    add(x0, y0 + 1, (1 - fx) * fy);
    add(x0 + 1, y0 + 1, fx * fy);
  }
  const total = grid.reduce((a, b) => a + b, 0);
  return { width: size, height: size, kernel: Array.from(grid, (v) => v / total) };
}

/** H.264's quantiser steps for QP 0–5; each further 6 doubles the step. */
const QSTEP_BASE = [0.625, 0.6875, 0.8125, 0.875, 1, 1.125];

/** H.264's quantiser step for an integer QP (0.625 at QP 0, 1 at QP 4, doubling every 6). */
export function h264Qstep(qp: number): number {
  return (QSTEP_BASE[qp % 6] as number) * 2 ** Math.floor(qp / 6);
}

/** Orthonormal 4-point DCT-II matrix (H.264's integer core transform approximates it, with its scaling folded in). */
const DCT4: number[][] = (() => {
  const m: number[][] = [];
  for (let k = 0; k < 4; k++) {
    const row: number[] = [];
    const a = k === 0 ? Math.sqrt(1 / 4) : Math.sqrt(2 / 4);
    for (let n = 0; n < 4; n++) row.push(a * Math.cos(((2 * n + 1) * k * Math.PI) / 8));
    m.push(row);
  }
  return m;
})();

/** Quantises a plane in place with 4×4 transforms, a uniform step and H.264's intra dead zone (rounding offset 1/3). */
function quantisePlane(plane: Float32Array, width: number, height: number, step: number): void {
  const block = new Float64Array(16);
  const tmp = new Float64Array(16);
  for (let by = 0; by < height; by += 4) {
    for (let bx = 0; bx < width; bx += 4) {
      // Edge blocks repeat the last row / column, as an encoder pads to whole blocks.
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 4; x++)
          block[y * 4 + x] =
            (plane[Math.min(height - 1, by + y) * width + Math.min(width - 1, bx + x)] as number) - 128;
      for (let y = 0; y < 4; y++)
        for (let k = 0; k < 4; k++) {
          let s = 0;
          for (let n = 0; n < 4; n++) s += (DCT4[k] as number[])[n]! * block[y * 4 + n]!;
          tmp[y * 4 + k] = s;
        }
      for (let k = 0; k < 4; k++)
        for (let x = 0; x < 4; x++) {
          let s = 0;
          for (let n = 0; n < 4; n++) s += (DCT4[k] as number[])[n]! * tmp[n * 4 + x]!;
          const level = Math.sign(s) * Math.floor(Math.abs(s) / step + 1 / 3);
          block[k * 4 + x] = level * step;
        }
      for (let k = 0; k < 4; k++)
        for (let x = 0; x < 4; x++) {
          let s = 0;
          for (let n = 0; n < 4; n++) s += (DCT4[n] as number[])[k]! * block[n * 4 + x]!;
          tmp[k * 4 + x] = s;
        }
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 4; x++) {
          let s = 0;
          for (let n = 0; n < 4; n++) s += (DCT4[n] as number[])[x]! * tmp[y * 4 + n]!;
          if (by + y < height && bx + x < width) plane[(by + y) * width + bx + x] = s + 128;
        }
    }
  }
}

/**
 * H.264-like intra quantisation of a frame at `qp` (0–51): BT.601 YCbCr, chroma subsampled 4:2:0 (2×2 means),
 * every plane cut into 4×4 blocks, each transformed, quantised with the step {@link h264Qstep} and dead zone 1/3,
 * and reconstructed; chroma upsampled by repetition. Left out on purpose: intra prediction and the in-loop
 * deblocking filter, so block edges are somewhat harsher than a real encoder's at the same QP.
 */
export function h264Quantise(image: RgbImage, qp: number): RgbImage {
  const { width, height, data } = image;
  const n = width * height;
  const y = new Float32Array(n);
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const cb = new Float32Array(cw * ch);
  const cr = new Float32Array(cw * ch);
  const counts = new Float32Array(cw * ch);
  for (let py = 0; py < height; py++)
    for (let px = 0; px < width; px++) {
      const i = py * width + px;
      const r = data[i * 3] as number;
      const g = data[i * 3 + 1] as number;
      const b = data[i * 3 + 2] as number;
      const l = 0.299 * r + 0.587 * g + 0.114 * b;
      y[i] = l;
      const c = (py >> 1) * cw + (px >> 1);
      cb[c] = (cb[c] as number) + 128 + 0.564 * (b - l);
      cr[c] = (cr[c] as number) + 128 + 0.713 * (r - l);
      counts[c] = (counts[c] as number) + 1;
    }
  for (let c = 0; c < counts.length; c++) {
    cb[c] = (cb[c] as number) / (counts[c] as number);
    cr[c] = (cr[c] as number) / (counts[c] as number);
  }
  const step = h264Qstep(qp);
  quantisePlane(y, width, height, step);
  quantisePlane(cb, cw, ch, step);
  quantisePlane(cr, cw, ch, step);
  const out = new Uint8Array(n * 3);
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let py = 0; py < height; py++)
    for (let px = 0; px < width; px++) {
      const i = py * width + px;
      const c = (py >> 1) * cw + (px >> 1);
      const l = y[i] as number;
      const u = (cb[c] as number) - 128;
      const v = (cr[c] as number) - 128;
      out[i * 3] = clamp(l + 1.402 * v);
      out[i * 3 + 1] = clamp(l - 0.344 * u - 0.714 * v);
      out[i * 3 + 2] = clamp(l + 1.772 * u);
    }
  return { width, height, data: out };
}
