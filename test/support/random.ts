/** Seeded randomness for tests and benchmarks: failures reproduce and runs stay comparable. */

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
