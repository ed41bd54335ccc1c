/**
 * Offline clustering of face embeddings (no labels): which faces of a photo collection are the same person.
 *
 * Three methods, compared on lfw-dev in `docs/accuracy.md` ("Clustering unknown faces"):
 * - `dbscan`: density-clustering's DBSCAN over cosine distance (a face joins a cluster through a core face that
 *   has at least `minSamples` neighbours within `1 − similarity`); faces reached by nothing are noise.
 * - `chinese-whispers`: label propagation on the graph of pairs above `similarity` (the originating project's
 *   method). Written here rather than taken from ngraph.cw because it must be deterministic (fixed visiting
 *   order, ties broken by label) and weighted by similarity, and it needs no graph library for ~40 lines.
 * - `hdbscan`: hdbscan-ts on Euclidean distance (monotone in cosine on unit vectors). Its implementation is
 *   quadratic in memory and far worse than quadratic in time, so it is offered for small collections only.
 *
 * Every method returns one label per face: a cluster number from 0, or −1 for a face that belongs to no cluster
 * (noise, or a singleton below the minimum cluster size).
 */

// density-clustering is CommonJS without types: one constructor and one method are used.
import densityClustering from 'density-clustering';
import { HDBSCAN } from 'hdbscan-ts';

export const CLUSTER_METHODS = ['dbscan', 'chinese-whispers', 'hdbscan'] as const;
export type ClusterMethod = (typeof CLUSTER_METHODS)[number];

/** True when `value` names a {@link ClusterMethod}. */
export function isClusterMethod(value: unknown): value is ClusterMethod {
  return typeof value === 'string' && (CLUSTER_METHODS as readonly string[]).includes(value);
}

export interface ClusterParams {
  method: ClusterMethod;
  /** Cosine similarity at which two faces count as neighbours (dbscan's ε = 1 − similarity; the CW edge cut). */
  similarity: number;
  /** dbscan: neighbours (the face included) that make a core face; hdbscan: its `minSamples`. */
  minSamples: number;
  /** Clusters smaller than this are dissolved into noise (−1). */
  minClusterSize: number;
  /** chinese-whispers: propagation rounds. */
  iterations: number;
}

/** The defaults, chosen by measurement on lfw-dev (see `docs/accuracy.md`). */
export const DEFAULT_CLUSTER_PARAMS: ClusterParams = {
  method: 'chinese-whispers',
  similarity: 0.5,
  minSamples: 2,
  minClusterSize: 2,
  iterations: 20,
};

/** Hdbscan refuses collections above this size: its cost grows far faster than n² (measured). */
export const HDBSCAN_MAX_FACES = 1500;

/**
 * The full cosine similarity matrix of unit vectors, row-major `n × n` (Float32: 7,322 faces take 214 MB).
 */
export function similarityMatrix(embeddings: readonly Float32Array[]): Float32Array {
  const n = embeddings.length;
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = embeddings[i] as Float32Array;
    out[i * n + i] = 1;
    for (let j = i + 1; j < n; j++) {
      const b = embeddings[j] as Float32Array;
      let dot = 0;
      for (let d = 0; d < a.length; d++) dot += (a[d] as number) * (b[d] as number);
      out[i * n + j] = dot;
      out[j * n + i] = dot;
    }
  }
  return out;
}

/**
 * Clusters unit-length embeddings. Deterministic: the same input and parameters give the same labels.
 *
 * @returns one label per embedding: 0, 1, … numbered by first appearance, or −1 for no cluster.
 * @throws RangeError for hdbscan above {@link HDBSCAN_MAX_FACES} faces.
 */
export function clusterEmbeddings(
  embeddings: readonly Float32Array[],
  params: Partial<ClusterParams> = {},
  matrix?: Float32Array,
): number[] {
  const p = { ...DEFAULT_CLUSTER_PARAMS, ...params };
  const n = embeddings.length;
  if (n === 0) return [];
  if (p.method === 'hdbscan' && n > HDBSCAN_MAX_FACES) {
    throw new RangeError(`hdbscan handles at most ${HDBSCAN_MAX_FACES} faces; use dbscan for ${n}.`);
  }
  const sims = matrix ?? similarityMatrix(embeddings);
  let labels: number[];
  if (p.method === 'dbscan') labels = dbscan(sims, n, p);
  else if (p.method === 'chinese-whispers') labels = chineseWhispers(sims, n, p);
  else labels = hdbscan(embeddings, p);
  return normalise(labels, p.minClusterSize);
}

function dbscan(sims: Float32Array, n: number, p: ClusterParams): number[] {
  const points = Array.from({ length: n }, (_, i) => [i]);
  const scan = new densityClustering.DBSCAN();
  const clusters = scan.run(
    points,
    1 - p.similarity,
    p.minSamples,
    (a: number[], b: number[]) => 1 - (sims[(a[0] as number) * n + (b[0] as number)] as number),
  );
  const labels = new Array<number>(n).fill(-1);
  clusters.forEach((members, c) => {
    for (const i of members) labels[i] = c;
  });
  return labels;
}

function chineseWhispers(sims: Float32Array, n: number, p: ClusterParams): number[] {
  const neighbours: { j: number; w: number }[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const w = sims[i * n + j] as number;
      if (w >= p.similarity) {
        neighbours[i]?.push({ j, w });
        neighbours[j]?.push({ j: i, w });
      }
    }
  }
  const labels = Array.from({ length: n }, (_, i) => i);
  for (let round = 0; round < p.iterations; round++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const edges = neighbours[i] as { j: number; w: number }[];
      if (edges.length === 0) continue;
      const weight = new Map<number, number>();
      for (const { j, w } of edges) {
        const label = labels[j] as number;
        weight.set(label, (weight.get(label) ?? 0) + w);
      }
      let best = labels[i] as number;
      let bestWeight = -1;
      for (const [label, w] of weight) {
        if (w > bestWeight || (w === bestWeight && label < best)) {
          best = label;
          bestWeight = w;
        }
      }
      if (best !== labels[i]) {
        labels[i] = best;
        changed++;
      }
    }
    if (changed === 0) break;
  }
  return labels;
}

function hdbscan(embeddings: readonly Float32Array[], p: ClusterParams): number[] {
  const model = new HDBSCAN({ minClusterSize: Math.max(2, p.minClusterSize), minSamples: p.minSamples });
  return model.fit(embeddings.map((e) => Array.from(e)));
}

/** Renumbers clusters 0, 1, … by first appearance and dissolves those below `minSize` into −1. */
function normalise(labels: number[], minSize: number): number[] {
  const sizes = new Map<number, number>();
  for (const l of labels) if (l >= 0) sizes.set(l, (sizes.get(l) ?? 0) + 1);
  const renumber = new Map<number, number>();
  return labels.map((l) => {
    if (l < 0 || (sizes.get(l) ?? 0) < minSize) return -1;
    if (!renumber.has(l)) renumber.set(l, renumber.size);
    return renumber.get(l) as number;
  });
}
