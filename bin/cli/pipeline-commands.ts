import { writeFile } from 'node:fs/promises';
import { FaceprintError } from '../../functions/core/errors.ts';
import { loadCalibration } from '../../functions/core/gallery/config.ts';
import { annotateImage } from '../../functions/core/pipeline/annotate.ts';
import {
  compare,
  type FacePipeline,
  type FaceWithCrops,
  largestFace,
} from '../../functions/core/pipeline/pipeline.ts';
import { EXIT, printJson, readInput, UsageError } from './common.ts';

export interface PipelineCommandContext {
  pipeline: () => FacePipeline;
  json: boolean;
}

function describeFace(face: FaceWithCrops, index: number): string {
  const { box, quality } = face;
  const reasons = quality.reasons.length > 0 ? ` [${quality.reasons.join(', ')}]` : '';
  return (
    `#${index + 1} box ${Math.round(box.x)},${Math.round(box.y)} ${Math.round(box.width)}×${Math.round(box.height)}` +
    ` score ${face.score.toFixed(2)} (${face.detector}) quality ${quality.score.toFixed(2)}${reasons}` +
    ` brightness ${quality.brightness.toFixed(0)} sharpness ${quality.sharpness.toFixed(0)}` +
    ` eyes ${quality.interOcularPx.toFixed(0)}px yaw ${quality.yaw.toFixed(0)}°${face.enhanced ? ' enhanced' : ''}`
  );
}

function withoutEmbedding(face: FaceWithCrops) {
  const { embedding: _embedding, crops: _crops, ...rest } = face;
  return rest;
}

/** `faceprint detect <image> [--annotate out.png]` */
export async function detectCommand(
  ctx: PipelineCommandContext,
  args: string[],
  annotate: string | undefined,
): Promise<number> {
  const [path, ...extra] = args;
  if (!path || extra.length > 0)
    throw new UsageError('Usage: faceprint detect <image> [--annotate out.png] [--json].');
  const bytes = await readInput(path);
  const result = await ctx.pipeline().analyze(bytes, { embed: false });
  if (annotate) {
    const format = annotate.toLowerCase().endsWith('.png') ? 'png' : 'jpeg';
    const annotations = result.faces.map((f, i) => ({
      box: f.box,
      landmarks: f.landmarks,
      label: `#${i + 1} q${f.quality.score.toFixed(2)}${f.quality.reasons.length ? ` ${f.quality.reasons.join(' ')}` : ''}`,
    }));
    await writeFile(annotate, await annotateImage(bytes, annotations, format));
  }
  if (ctx.json) {
    printJson({ width: result.width, height: result.height, faces: result.faces.map(withoutEmbedding) });
  } else {
    console.log(`${path}: ${result.width}×${result.height}, ${result.faces.length} face(s)`);
    for (const [i, f] of result.faces.entries()) console.log(`  ${describeFace(f, i)}`);
    if (annotate) console.log(`  annotated image written to ${annotate}`);
  }
  return result.faces.length > 0 ? EXIT.ok : EXIT.noFace;
}

/** `faceprint embed <image>`: every face's embedding, as JSON. */
export async function embedCommand(ctx: PipelineCommandContext, args: string[]): Promise<number> {
  const [path, ...extra] = args;
  if (!path || extra.length > 0) throw new UsageError('Usage: faceprint embed <image>.');
  const result = await ctx.pipeline().analyze(await readInput(path));
  if (result.faces.length === 0) throw new FaceprintError('NO_FACE', `No face was found in ${path}.`);
  printJson({
    width: result.width,
    height: result.height,
    faces: result.faces.map((f) => ({ ...withoutEmbedding(f), embedding: f.embedding })),
  });
  return EXIT.ok;
}

/** `faceprint compare <a> <b>`: similarity of the largest face of each, and same/different at the threshold. */
export async function compareCommand(
  ctx: PipelineCommandContext,
  args: string[],
  threshold?: number,
): Promise<number> {
  const [a, b, ...extra] = args;
  if (!a || !b || extra.length > 0)
    throw new UsageError('Usage: faceprint compare <image-a> <image-b> [--threshold T].');
  const [bytesA, bytesB] = await Promise.all([readInput(a), readInput(b)]);
  const pipeline = ctx.pipeline();
  const faceA = largestFace(await pipeline.analyze(bytesA), a);
  const faceB = largestFace(await pipeline.analyze(bytesB), b);
  const similarity = compare(faceA.embedding, faceB.embedding);
  // The 1:1 threshold of the shipped (or FACEPRINT_CALIBRATION) calibration.
  const t = threshold ?? loadCalibration().verifyThreshold;
  const same = similarity >= t;
  if (ctx.json) {
    printJson({
      similarity: Math.round(similarity * 10_000) / 10_000,
      threshold: t,
      same,
      faces: [withoutEmbedding(faceA), withoutEmbedding(faceB)],
    });
  } else {
    console.log(
      `similarity ${similarity.toFixed(4)} ${same ? '≥' : '<'} threshold ${t}: ${same ? 'same person' : 'different people'}` +
        ` (quality ${faceA.quality.score.toFixed(2)} / ${faceB.quality.score.toFixed(2)})`,
    );
  }
  return same ? EXIT.ok : EXIT.different;
}
