import type { RgbImage } from './image.ts';
import { type OnnxBackend, output } from './models.ts';

export const EMBEDDING_SIZE = 112;

/** Scales a vector to unit length in place and returns it. */
export function l2Normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

/** The aligned 112×112 crop as the embedder wants it: BGR (measured better than RGB), (x − 127) / 128, CHW. */
function toTensor(crop: RgbImage, mirror: boolean): Float32Array {
  const plane = EMBEDDING_SIZE * EMBEDDING_SIZE;
  const input = new Float32Array(plane * 3);
  for (let y = 0; y < EMBEDDING_SIZE; y++) {
    for (let x = 0; x < EMBEDDING_SIZE; x++) {
      const sx = mirror ? EMBEDDING_SIZE - 1 - x : x;
      const s = (y * EMBEDDING_SIZE + sx) * 3;
      const o = y * EMBEDDING_SIZE + x;
      input[o] = (crop.data[s + 2]! - 127) / 128;
      input[o + plane] = (crop.data[s + 1]! - 127) / 128;
      input[o + 2 * plane] = (crop.data[s]! - 127) / 128;
    }
  }
  return input;
}

/**
 * Embeds aligned 112×112 crops into L2-normalised vectors. The shipped model has a fixed batch size of 1,
 * so the batch runs back to back on one session (ONNX Runtime parallelises inside each run).
 * With `flip`, each crop's vector is averaged with its mirror image's before normalising.
 */
export async function embedFaces(
  backend: OnnxBackend,
  crops: RgbImage[],
  flip = false,
): Promise<Float32Array[]> {
  const vectors: Float32Array[] = [];
  for (const crop of crops) {
    if (crop.width !== EMBEDDING_SIZE || crop.height !== EMBEDDING_SIZE) {
      throw new Error(
        `embedFaces: crops must be ${EMBEDDING_SIZE}×${EMBEDDING_SIZE}, got ${crop.width}×${crop.height}`,
      );
    }
    const shape = [1, 3, EMBEDDING_SIZE, EMBEDDING_SIZE];
    const first = output(
      await backend.run('mobilefacenet-512', toTensor(crop, false), shape),
      'mobilefacenet-512',
      'output',
    );
    const vector = Float32Array.from(first);
    if (flip) {
      const mirrored = output(
        await backend.run('mobilefacenet-512', toTensor(crop, true), shape),
        'mobilefacenet-512',
        'output',
      );
      for (let i = 0; i < vector.length; i++) vector[i]! += mirrored[i]!;
    }
    vectors.push(l2Normalise(vector));
  }
  return vectors;
}

/** Cosine similarity of two L2-normalised vectors (their dot product), in [−1, 1]. */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`cosineSimilarity: lengths differ (${a.length} vs ${b.length})`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}
