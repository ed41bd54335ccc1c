/**
 * How well a clustering matches the true identities: pairwise precision/recall/F1 (over all pairs of faces put
 * together vs. truly together), BCubed precision/recall/F1 (per face, then averaged), and counts. A face left
 * out of every cluster (label −1) counts as a cluster of its own: it is a singleton, never merged with anyone.
 */

export interface ClusterScores {
  faces: number;
  identities: number;
  /** Clusters with at least two faces. */
  clusters: number;
  /** Faces in no cluster (label −1). */
  singletons: number;
  pairwise: { precision: number; recall: number; f1: number };
  bcubed: { precision: number; recall: number; f1: number };
}

const f1 = (p: number, r: number) => (p + r === 0 ? 0 : (2 * p * r) / (p + r));
const pairs = (k: number) => (k * (k - 1)) / 2;

/**
 * Scores predicted labels (−1 = no cluster) against true identity labels of the same faces.
 *
 * @throws RangeError when the two arrays differ in length.
 */
export function scoreClustering(predicted: readonly number[], truth: readonly string[]): ClusterScores {
  if (predicted.length !== truth.length) throw new RangeError('predicted and truth differ in length');
  const n = predicted.length;
  // Each noise face gets a cluster id of its own.
  const cluster = predicted.map((l, i) => (l >= 0 ? `c${l}` : `s${i}`));
  const bySize = (keys: readonly string[]) => {
    const m = new Map<string, number>();
    for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
    return m;
  };
  const clusterSize = bySize(cluster);
  const identitySize = bySize(truth);
  const joint = bySize(cluster.map((c, i) => `${c}\u0000${truth[i]}`));

  let together = 0;
  for (const k of joint.values()) together += pairs(k);
  let predictedPairs = 0;
  for (const k of clusterSize.values()) predictedPairs += pairs(k);
  let truePairs = 0;
  for (const k of identitySize.values()) truePairs += pairs(k);

  let bp = 0;
  let br = 0;
  for (let i = 0; i < n; i++) {
    const shared = joint.get(`${cluster[i]}\u0000${truth[i]}`) as number;
    bp += shared / (clusterSize.get(cluster[i] as string) as number);
    br += shared / (identitySize.get(truth[i] as string) as number);
  }
  const pp = predictedPairs === 0 ? 1 : together / predictedPairs;
  const pr = truePairs === 0 ? 1 : together / truePairs;
  const bcp = n === 0 ? 1 : bp / n;
  const bcr = n === 0 ? 1 : br / n;
  return {
    faces: n,
    identities: identitySize.size,
    clusters: new Set(predicted.filter((l) => l >= 0)).size,
    singletons: predicted.filter((l) => l < 0).length,
    pairwise: { precision: pp, recall: pr, f1: f1(pp, pr) },
    bcubed: { precision: bcp, recall: bcr, f1: f1(bcp, bcr) },
  };
}
