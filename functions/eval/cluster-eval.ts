/**
 * Clustering measured on a labelled folder (`<root>/<identity>/<images>`): every image's face is embedded through
 * the evaluation's cache (the same jobs as the one-shot protocol, so a warm one-shot cache answers them all),
 * then each clustering method and parameter setting is scored against the identities.
 */
import {
  type ClusterParams,
  clusterEmbeddings,
  DEFAULT_CLUSTER_PARAMS,
  HDBSCAN_MAX_FACES,
  similarityMatrix,
} from '../core/cluster/cluster.ts';
import { resolveOptions } from '../core/pipeline/pipeline.ts';
import { embedAll, emptyRunStats } from './cache.ts';
import { type ClusterScores, scoreClustering } from './cluster-metrics.ts';
import { limitIdentities, oneShotProtocol, scanDataset } from './dataset.ts';
import { parseDegradation } from './degrade.ts';
import type { EvalConfig, Job, RunStats } from './types.ts';

export interface ClusterEvalConfig {
  data: string;
  /** Degradation applied to every image but each identity's first (the one-shot probes' degradation). */
  degrade?: string | undefined;
  /** First N identities. */
  limit?: number | undefined;
  workers?: number | undefined;
  cacheDir?: string | null | undefined;
  /** Parameter settings to score (default: {@link defaultSweep}). */
  settings?: Partial<ClusterParams>[] | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

export interface ClusterEvalRow {
  params: ClusterParams;
  scores: ClusterScores;
  seconds: number;
  /** Set when the method could not run on this many faces (hdbscan's size limit). */
  skipped?: string | undefined;
}

export interface ClusterEvalResult {
  data: string;
  degrade: string;
  faces: number;
  /** Images without a usable face (left out of the scores). */
  missing: number;
  stats: RunStats;
  rows: ClusterEvalRow[];
}

/** The settings compared by default: each method over a range of similarity cuts. */
export function defaultSweep(): Partial<ClusterParams>[] {
  const cuts = [0.45, 0.5, 0.55, 0.6, 0.65, 0.7];
  return [
    ...cuts.map((similarity) => ({ method: 'dbscan' as const, similarity, minSamples: 2 })),
    ...cuts.map((similarity) => ({ method: 'dbscan' as const, similarity, minSamples: 3 })),
    ...cuts.map((similarity) => ({ method: 'chinese-whispers' as const, similarity })),
    { method: 'hdbscan' as const, minSamples: 2, minClusterSize: 2 },
  ];
}

/** Embeds a labelled folder (cached) and scores every clustering setting on it. */
export async function evaluateClustering(config: ClusterEvalConfig): Promise<ClusterEvalResult> {
  const degrade = parseDegradation(config.degrade ?? '').spec;
  const dataset = limitIdentities(scanDataset(config.data), config.limit);
  const protocol = oneShotProtocol(dataset);
  const labelled = [
    ...protocol.gallery.map((g) => ({ identity: g.identity, job: job(g.image, 'largest', '') })),
    ...protocol.probes.map((p) => ({ identity: p.identity, job: job(p.image, 'centre', degrade) })),
  ];
  const stats = emptyRunStats();
  const evalConfig: EvalConfig = {
    data: config.data,
    protocol: 'one-shot',
    workers: config.workers,
    cacheDir: config.cacheDir,
    onProgress: config.onProgress,
  };
  const options = resolveOptions({ pose: false, keepCrops: false, embed: true });
  const embedded = await embedAll(
    labelled.map((l) => l.job),
    evalConfig,
    options,
    stats,
  );
  const faces: { identity: string; embedding: Float32Array }[] = [];
  for (const l of labelled) {
    const e = embedded.get(`${l.job.path}|${l.job.select}|${l.job.degrade}`)?.embedding;
    if (e) faces.push({ identity: l.identity, embedding: e });
  }
  const embeddings = faces.map((f) => f.embedding);
  const truth = faces.map((f) => f.identity);
  const matrix = similarityMatrix(embeddings);
  const rows: ClusterEvalRow[] = [];
  for (const setting of config.settings ?? defaultSweep()) {
    const params = { ...DEFAULT_CLUSTER_PARAMS, ...setting };
    if (params.method === 'hdbscan' && faces.length > HDBSCAN_MAX_FACES) {
      rows.push({
        params,
        scores: scoreClustering([], []),
        seconds: 0,
        skipped: `hdbscan-ts is limited to ${HDBSCAN_MAX_FACES} faces`,
      });
      continue;
    }
    const started = performance.now();
    const labels = clusterEmbeddings(embeddings, params, matrix);
    rows.push({
      params,
      scores: scoreClustering(labels, truth),
      seconds: (performance.now() - started) / 1000,
    });
  }
  return {
    data: config.data,
    degrade,
    faces: faces.length,
    missing: labelled.length - faces.length,
    stats,
    rows,
  };
}

function job(path: string, select: Job['select'], degrade: string): Job {
  return { path, select, degrade };
}

/** The result as a Markdown table (one row per setting). */
export function clusterEvalTable(result: ClusterEvalResult): string {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const lines = [
    `${result.data} ${result.degrade || 'clean'}: ${result.faces} faces (${result.missing} images without a face), ` +
      `${result.rows[0]?.scores.identities ?? 0} identities`,
    '',
    '| method | similarity | minSamples | pairwise P | pairwise R | pairwise F | BCubed P | BCubed R | BCubed F | clusters | singletons | s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { params: p, scores: s, seconds, skipped } of result.rows) {
    const sim = p.method === 'hdbscan' ? '-' : p.similarity.toFixed(2);
    const minS = p.method === 'chinese-whispers' ? '-' : String(p.minSamples);
    if (skipped) {
      lines.push(`| ${p.method} | ${sim} | ${minS} | ${skipped} | | | | | | | | |`);
      continue;
    }
    lines.push(
      `| ${p.method} | ${sim} | ${minS} | ${pct(s.pairwise.precision)} | ${pct(s.pairwise.recall)} | ${pct(s.pairwise.f1)} | ` +
        `${pct(s.bcubed.precision)} | ${pct(s.bcubed.recall)} | ${pct(s.bcubed.f1)} | ${s.clusters} | ${s.singletons} | ${seconds.toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}
