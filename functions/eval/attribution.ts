/**
 * Where a mated probe's miss happened, so each lever can be credited with the misses it removes:
 *
 * - `noFace`: the degraded probe gave no embedding (no face found, or none usable);
 * - `misaligned`: a face was found, but not where the clean image's face is (box IoU with the clean detection of
 *   the same image below {@link MISALIGNED_IOU}: another face, a part of the face, a box off the face), so the
 *   aligned crop is not that face as the embedder expects it;
 * - `wrongIdentity`: found and aligned like the clean face, embedded, and still not ranked first;
 *   `wrongEvenClean` counts those of them whose clean image is not ranked first either (label noise, look-alikes:
 *   no probe-side lever can fix them).
 */
import { iou } from '../core/pipeline/geometry.ts';
import type { ImageRef } from './types.ts';

/** Box IoU with the clean detection below which a degraded detection counts as mis-aligned. */
export const MISALIGNED_IOU = 0.5;

export type MissCause = 'noFace' | 'misaligned' | 'wrongIdentity';

export interface MissAttribution {
  /** Mated probes not ranked first (their sum is `noFace + misaligned + wrongIdentity`). */
  misses: number;
  noFace: number;
  misaligned: number;
  wrongIdentity: number;
  /** Of `wrongIdentity`: those also missed on the clean image. */
  wrongEvenClean: number;
}

/** The cause of one miss, from the degraded probe's detection and the clean image's (when known). */
export function missCause(
  degraded: { embedding: Float32Array | null; box: ImageRef['box'] } | undefined,
  clean: { box: ImageRef['box'] } | undefined,
): MissCause {
  if (!degraded?.embedding) return 'noFace';
  if (degraded.box && clean?.box && iou(degraded.box, clean.box) < MISALIGNED_IOU) return 'misaligned';
  return 'wrongIdentity';
}

/** Counts the causes over the mated probes that missed rank 1 (`cleanHit`: whether the clean image was rank 1). */
export function attributeMisses(
  misses: readonly { cause: MissCause; cleanHit: boolean | null }[],
): MissAttribution {
  const out: MissAttribution = {
    misses: misses.length,
    noFace: 0,
    misaligned: 0,
    wrongIdentity: 0,
    wrongEvenClean: 0,
  };
  for (const miss of misses) {
    out[miss.cause] += 1;
    if (miss.cause === 'wrongIdentity' && miss.cleanHit === false) out.wrongEvenClean += 1;
  }
  return out;
}
