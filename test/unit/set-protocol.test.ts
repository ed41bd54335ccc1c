import { describe, expect, it } from 'vitest';
import { l2Normalise } from '../../functions/core/pipeline/embed.ts';
import { aggregateSetScores, type SetFace } from '../../functions/core/video/track-evidence.ts';
import type { Dataset } from '../../functions/eval/dataset.ts';
import { scoreAgainst, scoreSet, setMetrics, setProtocolFolds } from '../../functions/eval/set-protocol.ts';

const v = (...xs: number[]) => l2Normalise(Float32Array.from(xs));

function dataset(counts: Record<string, number>): Dataset {
  return {
    root: '/d',
    identities: Object.entries(counts).map(([name, n]) => ({
      name,
      images: Array.from({ length: n }, (_, i) => `/d/${name}/${name}_${String(i + 1).padStart(4, '0')}.jpg`),
    })),
  };
}

describe('set protocol folds', () => {
  const folds = setProtocolFolds(dataset({ a: 8, b: 3, c: 4, d: 2, e: 1 }), { maxSetSize: 5 });

  it('alternates identities with ≥ 3 images between enrolled and strangers, swapped in the second fold', () => {
    expect(folds).toHaveLength(2);
    const [f0, f1] = folds as [(typeof folds)[0], (typeof folds)[0]];
    expect(f0.sets.map((s) => [s.identity, s.mated])).toEqual([
      ['a', true],
      ['b', false],
      ['c', true],
    ]);
    expect(f1.sets.map((s) => [s.identity, s.mated])).toEqual([
      ['a', false],
      ['b', true],
      ['c', false],
    ]);
    // Enrolled: first image of the mated identities, plus the two-image distractor; never the single-image one.
    expect(f0.gallery.map((g) => g.identity)).toEqual(['a', 'c', 'd']);
    expect(f1.gallery.map((g) => g.identity)).toEqual(['b', 'd']);
  });

  it('never puts the gallery image in a probe set and caps the set size', () => {
    const a = folds[0]!.sets[0]!;
    expect(a.images).toHaveLength(5);
    expect(a.images).not.toContain('/d/a/a_0001.jpg');
    expect(a.images[0]).toBe('/d/a/a_0002.jpg');
    expect(folds[0]!.sets[1]!.images).toEqual(['/d/b/b_0002.jpg', '/d/b/b_0003.jpg']);
  });
});

describe('set aggregation', () => {
  // Gallery: subject X along axis 0, subject Y along axis 1.
  const gallery = [v(1, 0, 0), v(0, 1, 0)];
  const score = scoreAgainst(gallery);
  // Two mediocre faces of X and one lucky high-quality face that looks like Y.
  const faces: SetFace[] = [
    { embedding: v(0.6, 0.2, 0.77), quality: 0.4 },
    { embedding: v(0.6, 0.1, 0.79), quality: 0.4 },
    { embedding: v(0.3, 0.7, 0.65), quality: 0.9 },
  ];

  it('best-single follows the best-quality face, the mean follows the majority', () => {
    const best = aggregateSetScores(faces, 'best-single', score);
    expect(best[1]).toBeGreaterThan(best[0]!);
    const mean = aggregateSetScores(faces, 'quality-mean', score);
    expect(mean[0]).toBeGreaterThan(mean[1]!);
  });

  it('max-score is the per-subject maximum and top2-mean the mean of the two best', () => {
    const per = faces.map((f) => score(f.embedding));
    const max = aggregateSetScores(faces, 'max-score', score);
    const top2 = aggregateSetScores(faces, 'top2-mean', score);
    for (const j of [0, 1]) {
      const column = per.map((p) => p[j]!).sort((a, b) => b - a);
      expect(max[j]).toBeCloseTo(column[0]!, 6);
      expect(top2[j]).toBeCloseTo((column[0]! + column[1]!) / 2, 6);
    }
  });

  it('a single face gives the same scores under every aggregation', () => {
    const one = faces.slice(0, 1);
    const ref = score(one[0]!.embedding);
    for (const a of ['quality-mean', 'best-single', 'max-score', 'top2-mean'] as const) {
      expect([...aggregateSetScores(one, a, score)]).toEqual([...ref].map((x) => expect.closeTo(x, 6)));
    }
    expect(aggregateSetScores([], 'quality-mean', score)).toHaveLength(0);
  });

  it('scores a set into an open-set probe: rank of the true identity, top score, misses without faces', () => {
    const ids = ['X', 'Y'];
    const mean = scoreSet(faces, 'quality-mean', true, 'X', ids, score);
    expect(mean.trueRank).toBe(1);
    const first = scoreSet(faces.slice(2), 'first-image', true, 'X', ids, score);
    expect(first.trueRank).toBe(2);
    expect(first.topScore).toBeGreaterThan(first.trueScore!);
    const stranger = scoreSet(faces, 'max-score', false, 'Z', ids, score);
    expect(stranger.trueRank).toBeNull();
    expect(stranger.topScore).not.toBeNull();
    expect(scoreSet([], 'quality-mean', true, 'X', ids, score)).toEqual({
      mated: true,
      trueRank: null,
      trueScore: null,
      topScore: null,
    });
    const metrics = setMetrics('quality-mean', [mean, first, stranger]);
    expect(metrics.rank1).toBe(0.5);
    expect(metrics.tpirAtFpir).toHaveLength(2);
  });
});
