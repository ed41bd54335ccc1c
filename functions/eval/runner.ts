/**
 * Runs an evaluation protocol end to end: embeds every image the protocol needs once (`cache.ts`, across the
 * worker threads of `worker.ts`), then scores pairs or probes (`scoring.ts`) with the metrics of `metrics.ts`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FaceprintError } from '../core/errors.ts';
import { loadCalibration } from '../core/gallery/config.ts';
import { PIPELINE_VERSION, resolveOptions } from '../core/pipeline/pipeline.ts';
import type { FusionConfig } from '../core/search/vector-index.ts';
import { embedAll, emptyRunStats } from './cache.ts';
import { cameraMatchedGallery } from './camera-matched.ts';
import {
  lightingProtocol,
  limitIdentities,
  limitPairs,
  oneShotProtocol,
  readPairs,
  scanDataset,
} from './dataset.ts';
import { parseDegradation } from './degrade.ts';
import { GALLERY_VARIANTS, type ScoreNorm } from './gallery-variants.ts';
import { scoreIdentification, scorePairs } from './scoring.ts';
import {
  type EvalConfig,
  type EvalResult,
  type FaceSelection,
  type IdentificationResult,
  type Job,
  type PairsResult,
  PROTOCOLS,
} from './types.ts';

export { selectFace } from './embed-image.ts';
export type {
  EvalConfig,
  EvalResult,
  FaceSelection,
  Failure,
  IdentificationResult,
  ImageRef,
  PairsResult,
  ProtocolName,
  RunStats,
} from './types.ts';
export { PROTOCOLS } from './types.ts';

/** The default pairs file of a data folder: `pairs-dev.txt`, else `pairs.txt`. */
export function defaultPairsFile(data: string): string {
  const dev = join(data, 'pairs-dev.txt');
  return existsSync(dev) ? dev : join(data, 'pairs.txt');
}

/**
 * Runs one protocol on a data folder and computes its metrics.
 *
 * Every image is embedded once (gallery images: the largest face; probes: the face nearest the image centre for
 * `pairs` and `one-shot`, the largest for `lighting`), through the cache in `cacheDir` keyed by the file's
 * sha256, {@link PIPELINE_VERSION}, a hash of the analysis options and the degradation. An image with no face
 * counts as a miss and is reported in the detection failures.
 *
 * With `variants` (identification protocols), each gallery image's aligned crop also yields those
 * degradation-matched templates (`makeVariant` + `embedCrops`, as enrolment does; cached per variant beside the
 * originals), and probes are scored by a fused search over the vector index (`FusedGalleryScorer`, `fusion`), optionally
 * Z-normalised per subject (`scoreNorm`). Without them the scores are the plain dot products of one template
 * per identity.
 *
 * @throws FaceprintError INVALID_ARGUMENT for a bad data folder, pairs file or degradation spec, or gallery
 * options given to `pairs`.
 */
export async function runProtocol(config: EvalConfig): Promise<EvalResult> {
  const started = performance.now();
  const degradation = parseDegradation(config.degrade ?? '');
  const degrade = degradation.spec;
  const options = resolveOptions({ pose: false, ...config.options, keepCrops: false, embed: true });
  const stats = emptyRunStats();
  const worst = config.worst ?? 12;
  const threshold = config.threshold ?? loadCalibration().threshold;
  const key = (job: Job) => `${job.path}|${job.select}|${job.degrade}`;
  let result: PairsResult | IdentificationResult;
  let pairsFile: string | undefined;
  let galleryFace: FaceSelection | undefined;
  const variants = GALLERY_VARIANTS.filter((v) => config.variants?.includes(v));
  const fusion: FusionConfig = config.fusion ?? { method: 'max' };
  const scoreNorm: ScoreNorm = config.scoreNorm ?? 'none';
  let cameraTemplates: Map<string, Float32Array> | undefined;
  let cameraMatched: EvalResult['config']['cameraMatched'];

  if (config.protocol === 'pairs') {
    if (
      variants.length > 0 ||
      config.fusion !== undefined ||
      scoreNorm !== 'none' ||
      config.cameraMatched !== undefined
    ) {
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        'Gallery variants, camera-matched templates, fusion and score normalisation apply to one-shot and lighting, not to pairs.',
      );
    }
    pairsFile = config.pairsFile ?? defaultPairsFile(config.data);
    const pairs = limitPairs(readPairs(pairsFile, config.data), config.limit);
    const jobs = pairs.flatMap((p): Job[] => [
      { path: p.a, select: 'centre', degrade: '' },
      { path: p.b, select: 'centre', degrade },
    ]);
    const missing = jobs.find((j) => !existsSync(j.path));
    if (missing)
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        `The pairs file names ${missing.path}, which does not exist.`,
      );
    const embedded = await embedAll(jobs, config, options, stats);
    result = scorePairs(pairs, degrade, (job) => embedded.get(key(job)), worst);
  } else if (config.protocol === 'one-shot' || config.protocol === 'lighting') {
    const dataset = limitIdentities(scanDataset(config.data), config.limit);
    const protocol = config.protocol === 'one-shot' ? oneShotProtocol(dataset) : lightingProtocol(dataset);
    if (protocol.gallery.length === 0) {
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        `No identity in ${config.data} can be enrolled for ${config.protocol}.`,
      );
    }
    const select: FaceSelection = config.protocol === 'one-shot' ? 'centre' : 'largest';
    const gallerySelect: FaceSelection = config.galleryFace ?? select;
    galleryFace = gallerySelect;
    const jobs: Job[] = [
      ...protocol.gallery.map((g): Job => ({ path: g.image, select: gallerySelect, degrade: '', variants })),
      ...protocol.probes.map((p): Job => ({ path: p.image, select, degrade })),
      // Degraded runs also read the clean probes (usually cached), to attribute each miss.
      ...(degrade === ''
        ? []
        : protocol.probes.filter((p) => p.mated).map((p): Job => ({ path: p.image, select, degrade: '' }))),
    ];
    const embedded = await embedAll(jobs, config, options, stats);
    if (config.cameraMatched) {
      const matched = await cameraMatchedGallery(
        config.cameraMatched,
        protocol,
        gallerySelect,
        degradation,
        options,
        config.referenceIod,
      );
      cameraTemplates = matched.templates;
      cameraMatched = {
        mode: matched.mode,
        ...(matched.settings ? { settings: matched.settings } : {}),
        galleryFailures: matched.failures,
        ...(config.cameraNorm ? { norm: true } : {}),
      };
    }
    result = scoreIdentification(
      protocol,
      config.protocol,
      degrade,
      (job) => embedded.get(key(job)),
      threshold,
      worst,
      { variants, fusion, scoreNorm, select: galleryFace, cameraTemplates, cameraNorm: config.cameraNorm },
    );
  } else {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `Unknown protocol "${String(config.protocol)}"; use ${PROTOCOLS.join(', ')}.`,
    );
  }
  stats.wallSeconds = (performance.now() - started) / 1000;
  return {
    config: {
      data: config.data,
      protocol: config.protocol,
      ...(pairsFile ? { pairsFile } : {}),
      degrade,
      ...(config.limit ? { limit: config.limit } : {}),
      ...(config.pad ? { pad: config.pad } : {}),
      ...(galleryFace ? { galleryFace } : {}),
      ...(variants.length > 0 ? { variants } : {}),
      ...(config.fusion ? { fusion } : {}),
      ...(scoreNorm !== 'none' ? { scoreNorm } : {}),
      ...(cameraMatched ? { cameraMatched } : {}),
      options: {
        detect: options.detect,
        enhance: options.enhance,
        enhanceBelowBrightness: options.enhanceBelowBrightness,
        enhanceBelowContrast: options.enhanceBelowContrast,
        flip: options.flip,
        // A restoration (--restore) changes the embeddings: the report must say which ran.
        ...(options.restore ? { restore: options.restore } : {}),
      },
      pipelineVersion: PIPELINE_VERSION,
    },
    stats,
    result,
  };
}
