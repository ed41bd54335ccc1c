/** The face tracker and the per-track evidence on synthetic boxes and embeddings (no models needed). */
import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../functions/core/domain.ts';
import { l2Normalise } from '../../functions/core/pipeline/embed.ts';
import type { FaceQuality } from '../../functions/core/types.ts';
import { BoxKalman } from '../../functions/core/video/kalman.ts';
import { type IdentityMatcher, TrackEvidence } from '../../functions/core/video/track-evidence.ts';
import { FaceTracker } from '../../functions/core/video/tracker.ts';

const box = (x: number, y: number, s = 60) => ({ x, y, width: s, height: s });

function unit(seed: number, dim = 16): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = Math.sin(seed * 97.3 + i * 13.1);
  return l2Normalise(v);
}

function quality(score: number): FaceQuality {
  return {
    score,
    reasons: [],
    brightness: 120,
    contrast: 40,
    sharpness: 100,
    interOcularPx: 30,
    detectionScore: 0.9,
    yaw: 0,
    pitch: 0,
    roll: 0,
  };
}

describe('BoxKalman', () => {
  it('learns a constant velocity and predicts ahead', () => {
    const k = new BoxKalman(box(0, 0));
    for (let f = 1; f <= 10; f++) {
      k.predict();
      k.update(box(f * 10, 0));
    }
    const p = k.predict();
    expect(p.x).toBeGreaterThan(103);
    expect(p.x).toBeLessThan(117);
    expect(k.velocity().x).toBeGreaterThan(8);
  });
});

describe('FaceTracker', () => {
  it('confirms a track only after minHits, and ends it after maxLostFrames unseen', async () => {
    const t = new FaceTracker({ minHits: 3, maxLostFrames: 2 });
    const u0 = await t.update(0, [{ box: box(0, 0), score: 0.9 }]);
    expect(u0.confirmed).toHaveLength(0);
    await t.update(1, [{ box: box(5, 0), score: 0.9 }]);
    const u2 = await t.update(2, [{ box: box(10, 0), score: 0.9 }]);
    expect(u2.confirmed).toHaveLength(1);
    const id = u2.confirmed[0]!.id;
    await t.update(3, []);
    await t.update(4, []);
    const u5 = await t.update(5, []);
    expect(u5.ended.map((e) => e.id)).toEqual([id]);
    expect(t.active()).toHaveLength(0);
  });

  it('drops a tentative track that misses a frame (a one-off false detection)', async () => {
    const t = new FaceTracker({ minHits: 3 });
    await t.update(0, [{ box: box(0, 0), score: 0.9 }]);
    const u1 = await t.update(1, []);
    expect(u1.ended).toHaveLength(1);
    expect(u1.confirmed).toHaveLength(0);
  });

  it('keeps identities apart when two faces cross (motion model, optimal assignment)', async () => {
    const t = new FaceTracker({ minHits: 2 });
    const ids: [number, number][] = [];
    for (let f = 0; f <= 40; f++) {
      // A moves right, B moves left, on slightly different rows; they overlap around f = 20.
      const a = { box: box(f * 10, 100), score: 0.9 };
      const b = { box: box(400 - f * 10, 112), score: 0.9 };
      const u = await t.update(f, [a, b]);
      if (u.assignments[0] && u.assignments[1]) ids.push([u.assignments[0].id, u.assignments[1].id]);
    }
    const [first] = ids;
    expect(first![0]).not.toBe(first![1]);
    for (const pair of ids) expect(pair).toEqual(first);
  });

  it('lets a low-score detection keep a confirmed track alive (second pass)', async () => {
    const t = new FaceTracker({ minHits: 2, maxLostFrames: 0 });
    await t.update(0, [{ box: box(0, 0), score: 0.9 }]);
    await t.update(1, [{ box: box(4, 0), score: 0.9 }]);
    const u = await t.update(2, [{ box: box(8, 0), score: 0.3 }]);
    expect(u.assignments[0]?.state).toBe('confirmed');
    expect(u.ended).toHaveLength(0);
    // A low-score box never starts a track of its own.
    const fresh = new FaceTracker({ minHits: 1 });
    const v = await fresh.update(0, [{ box: box(0, 0), score: 0.3 }]);
    expect(v.assignments[0]).toBeUndefined();
  });

  it('re-links a lost track by appearance after an occlusion, and not a different face', async () => {
    const t = new FaceTracker({ minHits: 2, maxLostFrames: 20, relinkSimilarity: 0.6 });
    const person = unit(1);
    const stranger = unit(2);
    await t.update(0, [{ box: box(0, 0), score: 0.9 }]);
    const u1 = await t.update(1, [{ box: box(5, 0), score: 0.9 }]);
    const track = u1.assignments[0]!;
    track.appearance = person;
    for (let f = 2; f < 8; f++) await t.update(f, []);
    // Reappears far away (walked behind a pillar): IoU cannot link it, the embedding does.
    const back = await t.update(8, [{ box: box(300, 0), score: 0.9 }], async () => person);
    expect(back.relinked.map((r) => r.id)).toEqual([track.id]);
    expect(back.assignments[0]?.id).toBe(track.id);
    const t2 = new FaceTracker({ minHits: 2, maxLostFrames: 20, relinkSimilarity: 0.6 });
    await t2.update(0, [{ box: box(0, 0), score: 0.9 }]);
    const w = await t2.update(1, [{ box: box(5, 0), score: 0.9 }]);
    w.assignments[0]!.appearance = person;
    for (let f = 2; f < 8; f++) await t2.update(f, []);
    const other = await t2.update(8, [{ box: box(300, 0), score: 0.9 }], async () => stranger);
    expect(other.relinked).toHaveLength(0);
    expect(other.assignments[0]?.id).not.toBe(w.assignments[0]!.id);
  });
});

describe('TrackEvidence', () => {
  const target = unit(10);
  const matcher: IdentityMatcher = {
    search: async (e: Float32Array): Promise<Candidate[]> => {
      let s = 0;
      for (let i = 0; i < e.length; i++) s += e[i]! * target[i]!;
      return [{ subjectId: 'alice', similarity: s, templateId: 't1' }];
    },
    nameOf: async () => 'Alice',
    policy: { threshold: 0.5, ambiguityMargin: 0.03 },
    calibrationId: 'test',
  };

  function noisy(seed: number, amount: number): Float32Array {
    const n = unit(100 + seed);
    const v = new Float32Array(target.length);
    for (let i = 0; i < v.length; i++) v[i] = target[i]! + amount * n[i]!;
    return l2Normalise(v);
  }

  it('keeps only the best-K faces by quality and tells which faces are worth embedding', () => {
    const ev = new TrackEvidence(3, 'quality-mean');
    for (const [i, q] of [0.2, 0.9, 0.5, 0.7, 0.1].entries())
      ev.offer({
        frameIndex: i,
        timestampMs: i * 100,
        box: box(0, 0),
        quality: quality(q),
        embedding: unit(i),
      });
    expect(ev.best().map((f) => f.quality.score)).toEqual([0.9, 0.7, 0.5]);
    expect(ev.wouldKeep(0.4)).toBe(false);
    expect(ev.wouldKeep(0.6)).toBe(true);
  });

  it('the quality-weighted mean of noisy views is closer to the person than the best single view', async () => {
    const mean = new TrackEvidence(5, 'quality-mean');
    const single = new TrackEvidence(5, 'best-single');
    for (let i = 0; i < 5; i++) {
      const face = {
        frameIndex: i,
        timestampMs: i * 100,
        box: box(0, 0),
        quality: quality(0.8 - i * 0.01),
        embedding: noisy(i, 1.2),
      };
      mean.offer(face);
      single.offer({ ...face });
    }
    const m = await mean.decide(matcher, 5);
    const s = await single.decide(matcher, 5);
    expect(m!.similarity).toBeGreaterThan(s!.similarity);
    expect(m!.aggregation).toBe('quality-mean');
    expect(m!.subjectName).toBe('Alice');
    expect(mean.best().every((f) => typeof f.similarity === 'number')).toBe(true);
  });

  it('top2-mean scores each subject by the mean of its two best faces, so one lucky frame cannot decide', async () => {
    // Per face, the top-3 a search returns: face 0 is a lucky match for bob, faces 1–2 are alice's.
    const c = (subjectId: string, similarity: number): Candidate => ({
      subjectId,
      similarity,
      templateId: subjectId,
    });
    const lists: Candidate[][] = [
      [c('bob', 0.9), c('alice', 0.3), c('carol', 0.2)],
      [c('alice', 0.7), c('carol', 0.2), c('dave', 0.1)],
      [c('alice', 0.68), c('dave', 0.15), c('carol', 0.12)],
    ];
    let call = 0;
    const scripted: IdentityMatcher = { ...matcher, search: async () => lists[call++ % lists.length]! };
    const ev = new TrackEvidence(3, 'top2-mean');
    for (const [i, q] of [0.9, 0.8, 0.7].entries())
      ev.offer({ frameIndex: i, timestampMs: i, box: box(0, 0), quality: quality(q), embedding: unit(i) });
    const d = await ev.decide(scripted, 3);
    expect(d!.aggregation).toBe('top2-mean');
    expect(d!.candidates[0]!.subjectId).toBe('alice');
    expect(d!.candidates[0]!.similarity).toBeCloseTo(0.69, 6);
    // bob is missing from two lists: each stands in with its lowest similarity (0.1, 0.12), so (0.9 + 0.12) / 2.
    expect(d!.candidates.find((x) => x.subjectId === 'bob')!.similarity).toBeCloseTo(0.51, 6);
    // max-score over the same lists would have followed the lucky frame.
    call = 0;
    const max = new TrackEvidence(3, 'max-score');
    for (const f of ev.best()) max.offer({ ...f });
    expect((await max.decide(scripted, 3))!.candidates[0]!.subjectId).toBe('bob');
  });
});
