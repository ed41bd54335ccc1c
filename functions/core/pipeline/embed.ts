import { embedWithPack } from '../models/embedder.ts';
import type { RgbImage } from './image.ts';
import type { OnnxBackend } from './models.ts';

export const EMBEDDING_SIZE = 112;

/** Scales a vector to unit length in place and returns it. */
export function l2Normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

/**
 * Embeds aligned 112×112 crops into L2-normalised vectors with the model pack's embedder (the shipped one: BGR,
 * (x − 127) / 128, 512-d; see `functions/core/models/embedder.ts`). The shipped model has a fixed batch size of 1,
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
    vectors.push(await embedWithPack(backend, crop, flip));
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
