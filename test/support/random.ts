/** Seeded randomness for tests and benchmarks: failures reproduce and runs stay comparable. */

/** mulberry32, the same generator that seeds the evaluation's noise. */
export { prng as rng } from '../../functions/eval/degrade.ts';

/** A random `dim`-dimensional unit vector: components drawn uniformly from [−1, 1) with `next`, then L2-normalised. */
export function randomUnit(dim: number, next: () => number): Float32Array {
  const v = new Float32Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    const x = next() * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  for (let i = 0; i < dim; i++) v[i] = (v[i] as number) / Math.sqrt(norm);
  return v;
}
