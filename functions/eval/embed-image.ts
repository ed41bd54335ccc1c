/**
 * The evaluation's work on one image: decode, degrade, pad, analyse, select the evaluated face and embed it (and
 * its gallery variants). Runs in the worker threads and, with one worker, in-process.
 */
import { readFile } from 'node:fs/promises';
import { decodeImage, type RgbImage, rgbFromSharp, sharpFromRgb } from '../core/pipeline/image.ts';
import {
  type AnalyzeOptions,
  type FacePipeline,
  type FaceWithCrops,
  prominence,
} from '../core/pipeline/pipeline.ts';
import { type Degradation, degradeImage, meanLuma } from './degrade.ts';
import { embedVariants } from './gallery-variants.ts';
import type { Embedded, FaceSelection, WorkerRequest } from './types.ts';

/** Selects the evaluated face: the largest box, or the box whose centre is nearest the image centre. */
export function selectFace<T extends Pick<FaceWithCrops, 'box' | 'score' | 'quality'>>(
  faces: readonly T[],
  select: FaceSelection,
  width: number,
  height: number,
): T | undefined {
  let best: T | undefined;
  let bestValue = Number.POSITIVE_INFINITY;
  for (const face of faces) {
    const { x, y, width: w, height: h } = face.box;
    // "largest" is the gallery rule of enrolment: the most prominent face (area × confidence × quality).
    const value =
      select === 'largest' ? -prominence(face) : Math.hypot(x + w / 2 - width / 2, y + h / 2 - height / 2);
    if (value < bestValue) {
      bestValue = value;
      best = face;
    }
  }
  return best;
}

export async function embedImage(
  pipeline: FacePipeline,
  options: AnalyzeOptions,
  degradation: Degradation,
  referenceIod: number | undefined,
  pad: number,
  request: Omit<WorkerRequest, 'id'>,
): Promise<Embedded> {
  try {
    const bytes = await readFile(request.path);
    const clean = await decodeImage(bytes, options.limits);
    const image = await degradeImage(clean, degradation, {
      seed: request.seed,
      ...(referenceIod === undefined ? {} : { referenceIod }),
    });
    const luma = meanLuma(image);
    const padding = pad > 0 ? Math.round(Math.max(image.width, image.height) * pad) : 0;
    const input = padding > 0 ? await padImage(image, padding) : image;
    const wantVariants = (request.variants?.length ?? 0) > 0;
    const faces = await pipeline.analyzeImage(
      input,
      wantVariants ? { ...options, keepCrops: true } : options,
    );
    const face = selectFace(faces, request.select, input.width, input.height);
    const crop = face?.crops?.aligned;
    return {
      embedding: face && face.embedding.length > 0 ? face.embedding : null,
      box: face ? { ...face.box, x: face.box.x - padding, y: face.box.y - padding } : null,
      luma,
      faces: faces.length,
      enhanced: face?.enhanced ?? false,
      ...(face
        ? {
            quality: {
              score: face.quality.score,
              reasons: [...face.quality.reasons],
              brightness: face.quality.brightness,
              contrast: face.quality.contrast,
              sharpness: face.quality.sharpness,
              interOcularPx: face.quality.interOcularPx,
              detectionScore: face.quality.detectionScore,
            },
          }
        : {}),
      ...(wantVariants && crop
        ? { variants: await embedVariants(pipeline, crop, request.variants ?? [], options) }
        : {}),
    };
  } catch (error) {
    return {
      embedding: null,
      box: null,
      luma: 0,
      faces: 0,
      enhanced: false,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

/** Surrounds an image with a black border of `padding` px on every side. */
async function padImage(image: RgbImage, padding: number): Promise<RgbImage> {
  return rgbFromSharp(
    sharpFromRgb(image).extend({
      top: padding,
      bottom: padding,
      left: padding,
      right: padding,
      background: { r: 0, g: 0, b: 0 },
    }),
  );
}
