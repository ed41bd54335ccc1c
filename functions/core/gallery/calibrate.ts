import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FaceprintError, isFaceprintError } from '../errors.ts';
import { type FacePipeline, largestFace, PIPELINE_VERSION } from '../pipeline/pipeline.ts';
import { type Calibration, thresholdForFar, thresholdForFpir } from '../search/calibration.ts';
import { type GateSample, learnQualityGate } from '../search/learn-quality-gate.ts';
import { VectorIndex } from '../search/vector-index.ts';
import { enrolmentTemplates } from './enrolment.ts';
import type { GalleryConfig } from './types.ts';

const IMAGE = /\.(jpe?g|png|webp|tiff?|gif|bmp|avif|heic)$/i;

/** `<root>/<identity>/<images>`, sorted; plain files at the root are ignored. */
export async function scanLabelledFolder(root: string): Promise<{ identity: string; images: string[] }[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch {
    throw new FaceprintError('INVALID_ARGUMENT', `The data folder ${root} does not exist or cannot be read.`);
  }
  const identities = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const out: { identity: string; images: string[] }[] = [];
  for (const identity of identities) {
    const files = (await readdir(join(root, identity))).filter((f) => IMAGE.test(f)).sort();
    if (files.length > 0) out.push({ identity, images: files.map((f) => join(root, identity, f)) });
  }
  return out;
}

export interface CalibrateOptions {
  targetFpir: number;
  targetFar: number;
  ambiguityMargin: number;
  /** Use only the first N identities (quick runs). */
  limit?: number | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
  description?: string | undefined;
  /**
   * Applied to every probe's bytes before analysis (gallery photos stay as they are): e.g. the degradation of
   * the probes' camera, so that a clean labelled folder calibrates for that camera. Named in the method.
   */
  probeTransform?:
    | { describe: string; apply: (bytes: Uint8Array, path: string) => Promise<Uint8Array> }
    | undefined;
  /**
   * Learn the quality gate from these probes (default true). False leaves `qualityGate` out, so the deployment
   * keeps the built-in gate: clean labelled photos cannot learn a gate for a camera they do not resemble (on them
   * no gate gains, and the learned gate would be "off").
   */
  learnQualityGate?: boolean | undefined;
}

/**
 * Calibrates the open-set threshold on labelled photos as the one-shot protocol does: the first image of every
 * identity with two or more images is enrolled (with the gallery's variants), its other images are mated probes,
 * and images of single-image identities are non-mated probes. The threshold is the lowest one at which at most
 * `targetFpir` of non-mated probes would be matched to anyone; the 1:1 threshold comes from non-mated probes
 * against every gallery subject at `targetFar`.
 */
export async function calibrateOnFolder(
  pipeline: FacePipeline,
  config: Pick<GalleryConfig, 'analyze' | 'variants' | 'minEnrolQuality' | 'fusion'>,
  root: string,
  options: CalibrateOptions,
): Promise<Calibration> {
  let identities = await scanLabelledFolder(root);
  if (options.limit) identities = identities.slice(0, options.limit);
  const enrolled = identities.filter((i) => i.images.length >= 2);
  const strangers = identities.filter((i) => i.images.length === 1);
  if (enrolled.length < 2 || strangers.length < 10) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `Calibration needs at least 2 identities with two or more images and 10 with one image; ${root} has ${enrolled.length} and ${strangers.length}.`,
    );
  }
  const total = identities.reduce((n, i) => n + i.images.length, 0);
  let done = 0;
  const tick = () => options.onProgress?.(++done, total);
  const index = new VectorIndex({ modelId: pipeline.model.id, dim: pipeline.embeddingSize });
  const enrolConfig = { ...config, minEnrolQuality: 0 };
  for (const { identity, images } of enrolled) {
    try {
      const photo = { bytes: await readFile(images[0]!), source: images[0]!, takeLargest: true };
      const templates = await enrolmentTemplates(pipeline, enrolConfig, identity, photo);
      index.add(
        templates.map((t) => ({
          templateId: t.id,
          subjectId: identity,
          variant: t.variant,
          vector: t.embedding,
        })),
      );
    } catch (error) {
      if (!isFaceprintError(error)) throw error;
    }
    tick();
  }
  const probe = async (path: string) => {
    try {
      const raw = new Uint8Array(await readFile(path));
      const bytes = options.probeTransform ? await options.probeTransform.apply(raw, path) : raw;
      const result = await pipeline.analyze(bytes, config.analyze);
      const face = largestFace(result, path);
      return { embedding: face.embedding, quality: face.quality.score };
    } catch (error) {
      if (isFaceprintError(error)) return undefined;
      throw error;
    } finally {
      tick();
    }
  };
  const mated: { correct: boolean; score: number }[] = [];
  // Every probe with a face, for learning the quality gate.
  const gateSamples: GateSample[] = [];
  for (const { identity, images } of enrolled) {
    for (const path of images.slice(1)) {
      const probed = await probe(path);
      if (!probed) {
        mated.push({ correct: false, score: Number.NEGATIVE_INFINITY });
        continue;
      }
      const [best] = index.search(probed.embedding, { k: 1, fusion: config.fusion });
      const correct = best?.subjectId === identity;
      const score = best?.similarity ?? Number.NEGATIVE_INFINITY;
      mated.push({ correct, score });
      if (best) gateSamples.push({ mated: true, correct, topScore: score, quality: probed.quality });
    }
  }
  const nonMatedTop: number[] = [];
  const impostor: number[] = [];
  for (const { images } of strangers) {
    const probed = await probe(images[0]!);
    if (!probed) continue;
    const all = index.search(probed.embedding, { k: index.subjectCount, fusion: config.fusion });
    nonMatedTop.push(all[0]?.similarity ?? Number.NEGATIVE_INFINITY);
    if (all[0])
      gateSamples.push({
        mated: false,
        correct: false,
        topScore: all[0].similarity,
        quality: probed.quality,
      });
    for (const c of all) impostor.push(c.similarity);
  }
  const threshold = thresholdForFpir(nonMatedTop, options.targetFpir);
  const verifyThreshold = thresholdForFar(impostor, options.targetFar);
  const learned = learnQualityGate(gateSamples, threshold, options.targetFpir, options.description ?? root);
  const tpir = mated.filter((m) => m.correct && m.score >= threshold).length / Math.max(1, mated.length);
  const fpir = nonMatedTop.filter((s) => s >= threshold).length / Math.max(1, nonMatedTop.length);
  const configHash = createHash('sha256')
    .update(JSON.stringify({ variants: config.variants, fusion: config.fusion, analyze: config.analyze }))
    .digest('hex')
    .slice(0, 12);
  const createdAt = new Date().toISOString();
  return {
    id: `cal-${PIPELINE_VERSION}-${configHash}-${createdAt.slice(0, 10)}`,
    createdAt,
    modelId: pipeline.model.id,
    pipelineVersion: PIPELINE_VERSION,
    dataset: {
      description: options.description ?? root,
      identities: identities.length,
      matedProbes: mated.length,
      nonMatedProbes: nonMatedTop.length,
    },
    targetFpir: options.targetFpir,
    threshold: round6(threshold),
    verifyThreshold: round6(verifyThreshold),
    targetFar: options.targetFar,
    ambiguityMargin: options.ambiguityMargin,
    measured: { tpirAtThreshold: round6(tpir), fpirAtThreshold: round6(fpir) },
    method:
      `One-shot open set: gallery = first image of each of ${enrolled.length} identities with >= 2 images ` +
      `(variants: original${config.variants.map((v) => `, ${v}`).join('')}; fusion ${config.fusion.method}); ` +
      (options.probeTransform ? `probes ${options.probeTransform.describe}; ` : '') +
      `threshold = lowest similarity at which at most ${options.targetFpir} of ${nonMatedTop.length} non-mated probes ` +
      `(single-image identities) match anyone; verify threshold at FAR ${options.targetFar} over ${impostor.length} ` +
      'non-mated probe x gallery subject scores.',
    ...(options.learnQualityGate === false
      ? {}
      : {
          qualityGate: {
            minQuality: learned.minQuality,
            poorThreshold: learned.poorThreshold,
            method: learned.method,
          },
        }),
  };
}

function round6(x: number): number {
  // Rounded up so a rounded threshold never admits a score the exact one rejected.
  return Math.ceil(x * 1e6) / 1e6;
}
