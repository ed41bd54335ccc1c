/**
 * The ArcFace-family embedder decoder: a face aligned to the 112×112 ArcFace template in, one vector of any length
 * out. The pack manifest says the input's layout, colour order and mean/std and which output is the embedding, so
 * an InsightFace-style embedder (w600k_r50, glint360k r100, …) runs without code. Several members are fused by
 * weighted concatenation of their unit vectors: the cosine of two fused vectors is then the weighted mean of the
 * members' cosines, so the index, snapshots and thresholds work unchanged.
 */
import { FaceprintError } from '../errors.ts';
import type { RgbImage } from '../pipeline/image.ts';
import { type OnnxBackend, output } from '../pipeline/models.ts';
import type { EmbedderMember, ModelManifestEntry } from './pack.ts';

const SIZE = 112;

/** Scales a vector to unit length in place and returns it. */
function unit(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

/** The crop as the model's manifest entry asks: layout, colour order, (x − mean) / std; mirrored when asked. */
export function crop112ToTensor(crop: RgbImage, entry: ModelManifestEntry, mirror: boolean): Float32Array {
  const plane = SIZE * SIZE;
  const input = new Float32Array(plane * 3);
  const { mean, std, layout, channelOrder } = entry.input;
  // Model channel c reads source channel order[c].
  const order = channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const sx = mirror ? SIZE - 1 - x : x;
      const s = (y * SIZE + sx) * 3;
      const o = y * SIZE + x;
      for (let c = 0; c < 3; c++) {
        const value = (crop.data[s + order[c]!]! - mean[c]!) / std[c]!;
        if (layout === 'NCHW') input[c * plane + o] = value;
        else input[o * 3 + c] = value;
      }
    }
  }
  return input;
}

async function embedMember(
  backend: OnnxBackend,
  member: EmbedderMember,
  crop: RgbImage,
  flip: boolean,
): Promise<Float32Array> {
  const entry = backend.entry(member.model);
  const shape = entry.input.layout === 'NCHW' ? [1, 3, SIZE, SIZE] : [1, SIZE, SIZE, 3];
  const run = async (mirror: boolean) =>
    output(
      await backend.run(member.model, crop112ToTensor(crop, entry, mirror), shape),
      member.model,
      member.output,
    );
  const vector = Float32Array.from(await run(false));
  if (vector.length !== member.size) {
    throw new FaceprintError(
      'MODEL_MISMATCH',
      `Embedder ${member.model} returned ${vector.length} values on output "${member.output}"; the pack declares ${member.size}.`,
    );
  }
  // The raw outputs are summed before normalising, as the pipeline always did (embeddings stay bit-identical).
  if (member.flip || flip) {
    const mirrored = await run(true);
    for (let i = 0; i < vector.length; i++) vector[i]! += mirrored[i]!;
  }
  return unit(vector);
}

/**
 * Embeds one aligned 112×112 crop with the pack's embedder: each member's unit vector scaled by √weight and
 * concatenated (one member: its unit vector). With `flip`, every member also averages with the mirror image.
 */
export async function embedWithPack(
  backend: OnnxBackend,
  crop: RgbImage,
  flip = false,
): Promise<Float32Array> {
  const { members } = backend.pack.embedder;
  if (members.length === 1) return embedMember(backend, members[0]!, crop, flip);
  const fused = new Float32Array(backend.pack.embeddingSize);
  let offset = 0;
  for (const member of members) {
    const v = await embedMember(backend, member, crop, flip);
    const scale = Math.sqrt(member.weight);
    for (let i = 0; i < v.length; i++) fused[offset + i] = v[i]! * scale;
    offset += v.length;
  }
  return unit(fused);
}
