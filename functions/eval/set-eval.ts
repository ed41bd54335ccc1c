/**
 * Runs the set protocol (`set-protocol.ts`) on a data folder: every gallery image (clean) and probe image
 * (clean or degraded) embedded once through the shared embedding cache (`cache.ts`, the one-shot protocol's
 * bucket for the same options: the clean run is all cache hits on lfw-dev), then every set scored by every
 * method, both folds pooled. The Markdown table is what `docs/accuracy.md` records.
 */
import { FaceprintError } from '../core/errors.ts';
import { resolveOptions } from '../core/pipeline/pipeline.ts';
import type { SetFace } from '../core/video/track-evidence.ts';
import { embedAll, emptyRunStats } from './cache.ts';
import { limitIdentities, scanDataset } from './dataset.ts';
import { parseDegradation } from './degrade.ts';
import type { OpenSetProbe } from './metrics.ts';
import {
  SET_METHODS,
  type SetMethod,
  type SetMethodResult,
  scoreAgainst,
  scoreSet,
  setMetrics,
  setProtocolFolds,
} from './set-protocol.ts';
import type { Embedded, Job, RunStats } from './types.ts';

export interface SetEvalConfig {
  data: string;
  degrade?: string | undefined;
  limit?: number | undefined;
  workers?: number | undefined;
  cacheDir?: string | null | undefined;
  maxSetSize?: number | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

export interface SetEvalResult {
  data: string;
  degrade: string;
  maxSetSize: number;
  gallerySize: number;
  matedSets: number;
  nonMatedSets: number;
  /** Probe images per set, mean (after the detector: faces found). */
  meanFacesPerSet: number;
  /** Probe images without a usable face. */
  detectionFailures: number;
  methods: SetMethodResult[];
  stats: RunStats;
}

/**
 * Embeds and scores the set protocol.
 *
 * @throws FaceprintError INVALID_ARGUMENT when the data folder has too few identities with ≥ 3 images.
 */
export async function runSetEval(config: SetEvalConfig): Promise<SetEvalResult> {
  const started = performance.now();
  const degrade = parseDegradation(config.degrade ?? '').spec;
  const maxSetSize = config.maxSetSize ?? 5;
  const dataset = limitIdentities(scanDataset(config.data), config.limit);
  const folds = setProtocolFolds(dataset, { maxSetSize });
  const first = folds[0]!;
  if (first.sets.filter((s) => s.mated).length === 0 || first.sets.every((s) => s.mated)) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `The set protocol needs at least two identities with 3 or more images in ${config.data}.`,
    );
  }
  const options = resolveOptions({ pose: false, keepCrops: false, embed: true });
  const stats = emptyRunStats();
  const galleryJobs = new Map<string, Job>();
  for (const fold of folds)
    for (const g of fold.gallery) galleryJobs.set(g.image, { path: g.image, select: 'centre', degrade: '' });
  const probeJobs = new Map<string, Job>();
  for (const set of first.sets)
    for (const image of set.images) probeJobs.set(image, { path: image, select: 'centre', degrade });
  const embedded = await embedAll(
    [...galleryJobs.values(), ...probeJobs.values()],
    {
      data: config.data,
      protocol: 'one-shot',
      workers: config.workers,
      cacheDir: config.cacheDir,
      onProgress: config.onProgress,
    },
    options,
    stats,
  );
  const get = (path: string, d: string): Embedded | undefined => embedded.get(`${path}|centre|${d}`);

  const probes = new Map<SetMethod, OpenSetProbe[]>(SET_METHODS.map((m) => [m, []]));
  let gallerySize = 0;
  for (const fold of folds) {
    // A gallery image without a face leaves its identity unenrolled (its mated sets then miss, as in one-shot).
    const rows = fold.gallery.flatMap((g) => {
      const e = get(g.image, '')?.embedding;
      return e ? [{ identity: g.identity, embedding: e }] : [];
    });
    gallerySize = Math.max(gallerySize, rows.length);
    const ids = rows.map((r) => r.identity);
    const score = scoreAgainst(rows.map((r) => r.embedding));
    for (const set of fold.sets) {
      const faces: SetFace[] = set.images.flatMap((image) => {
        const e = get(image, degrade);
        return e?.embedding ? [{ embedding: e.embedding, quality: e.quality?.score ?? 0.5 }] : [];
      });
      for (const method of SET_METHODS) {
        probes.get(method)!.push(scoreSet(faces, method, set.mated, set.identity, ids, score));
      }
    }
  }
  const images = first.sets.flatMap((s) => s.images);
  const found = images.filter((image) => get(image, degrade)?.embedding).length;
  stats.wallSeconds = (performance.now() - started) / 1000;
  return {
    data: config.data,
    degrade,
    maxSetSize,
    gallerySize,
    matedSets: folds.reduce((n, f) => n + f.sets.filter((s) => s.mated).length, 0),
    nonMatedSets: folds.reduce((n, f) => n + f.sets.filter((s) => !s.mated).length, 0),
    meanFacesPerSet: found / first.sets.length,
    detectionFailures: images.length - found,
    methods: SET_METHODS.map((m) => setMetrics(m, probes.get(m)!)),
    stats,
  };
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** The result as a Markdown table (one row per method), with the run's size. */
export function setEvalMarkdown(result: SetEvalResult): string {
  const lines = [
    `Set protocol on ${result.data}, probes ${result.degrade || 'clean'}: gallery ${result.gallerySize}, ` +
      `${result.matedSets} mated + ${result.nonMatedSets} non-mated sets of up to ${result.maxSetSize} images ` +
      `(${result.meanFacesPerSet.toFixed(2)} faces per set; ${result.detectionFailures} probe images without a face).`,
    '',
    '| method | rank-1 | TPIR@FPIR 1% | TPIR@FPIR 10% |',
    '|---|---|---|---|',
    ...result.methods.map(
      (m) =>
        `| ${m.method} | ${pct(m.rank1)} | ${pct(m.tpirAtFpir[0]!.tpir)} | ${pct(m.tpirAtFpir[1]!.tpir)} |`,
    ),
  ];
  return lines.join('\n');
}
