import { describe, expect, it } from 'vitest';
import { CLUSTER_METHODS, clusterEmbeddings } from '../../functions/core/cluster/cluster.ts';
import { decideAttachment } from '../../functions/core/unknowns/attach.ts';
import { scoreClustering } from '../../functions/eval/cluster-metrics.ts';

function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  };
}

/** A unit vector `weight` of the way towards `centre` from noise. */
function near(centre: Float32Array, weight: number, next: () => number): Float32Array {
  const v = centre.map((c) => c * weight + next());
  const n = Math.hypot(...v);
  return v.map((a) => a / n);
}

const rng = random(7);
const centres = [0, 1, 2].map(() => near(new Float32Array(64), 0, rng));
// Three people, four faces each (pairwise similarity ≈ 0.75), plus two strangers.
const faces = [
  ...centres.flatMap((c) => [0, 1, 2, 3].map(() => near(c, 4, rng))),
  near(new Float32Array(64), 0, rng),
  near(new Float32Array(64), 0, rng),
];
const truth = [...['a', 'b', 'c'].flatMap((p) => [p, p, p, p]), 'x', 'y'];

describe('clustering', () => {
  it.each(CLUSTER_METHODS)('%s finds the three people and leaves the strangers alone', (method) => {
    const labels = clusterEmbeddings(faces, { method, similarity: 0.5, minSamples: 2 });
    const scores = scoreClustering(labels, truth);
    expect(scores.clusters).toBe(3);
    expect(scores.singletons).toBe(2);
    expect(scores.bcubed.f1).toBe(1);
  });

  it('scores a wrong merge and a split', () => {
    // Everything in one cluster: recall 1, precision low.
    const merged = scoreClustering([0, 0, 0, 0], ['a', 'a', 'b', 'b']);
    expect(merged.pairwise).toEqual({ precision: 2 / 6, recall: 1, f1: 0.5 });
    expect(merged.bcubed.precision).toBe(0.5);
    // Nothing clustered: precision 1 by convention, recall 0.
    const split = scoreClustering([-1, -1, -1, -1], ['a', 'a', 'b', 'b']);
    expect(split.pairwise.recall).toBe(0);
    expect(split.bcubed).toEqual({ precision: 1, recall: 0.5, f1: 2 / 3 });
    expect(split.singletons).toBe(4);
  });
});

describe('unknown-person attachment', () => {
  const person = [0, 1, 2].map(() => near(centres[0]!, 4, rng));
  const sightings = person.map((embedding, i) => ({ id: `s${i}`, unknownId: 'p', embedding }));
  it('joins a person when enough of its sightings agree', () => {
    expect(decideAttachment(near(centres[0]!, 4, rng), sightings, 'new')).toMatchObject({
      kind: 'join',
      unknownId: 'p',
    });
  });
  it('holds back a face close to only one sighting of a person seen three times (no chaining)', () => {
    // Three sightings around e0; the look-alike leans towards the first one's own direction only.
    const vec = (entries: [number, number][]) => {
      const v = new Float32Array(64);
      for (const [i, x] of entries) v[i] = x;
      const n = Math.hypot(...v);
      return v.map((a) => a / n);
    };
    const trio = [1, 2, 3].map((i) => ({
      id: `t${i}`,
      unknownId: 'p',
      embedding: vec([
        [0, 1],
        [i, 0.3],
      ]),
    }));
    const lookAlike = vec([
      [0, 0.5],
      [1, 1],
      [5, 0.5],
    ]);
    const sims = trio.map((s) => s.embedding.reduce((a, x, i) => a + x * (lookAlike[i] as number), 0));
    expect(sims.filter((s) => s >= 0.55)).toHaveLength(1);
    expect(decideAttachment(lookAlike, trio, 'new').kind).toBe('hold');
    // With one sighting only, the same resemblance is enough to join.
    expect(decideAttachment(lookAlike, trio.slice(0, 1), 'new')).toMatchObject({
      kind: 'join',
      unknownId: 'p',
    });
  });
  it('holds back a first face, and starts a person when a second agrees', () => {
    const stranger = near(centres[1]!, 4, rng);
    expect(decideAttachment(stranger, sightings, 'new').kind).toBe('hold');
    const held = [...sightings, { id: 'h', unknownId: undefined, embedding: stranger }];
    expect(decideAttachment(near(centres[1]!, 4, rng), held, 'q')).toEqual({
      kind: 'new',
      unknownId: 'q',
      with: ['h'],
    });
  });
});
