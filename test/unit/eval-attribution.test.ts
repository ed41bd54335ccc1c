import { describe, expect, it } from 'vitest';
import { attributeMisses, missCause } from '../../functions/eval/attribution.ts';
import type { IdentificationProtocol } from '../../functions/eval/dataset.ts';
import { scoreIdentification } from '../../functions/eval/scoring.ts';
import type { Embedded, Job } from '../../functions/eval/types.ts';

const box = (x: number, y: number, size = 100) => ({ x, y, width: size, height: size });

function unit(...values: number[]): Float32Array {
  const n = Math.hypot(...values);
  return Float32Array.from(values, (v) => v / n);
}

function face(embedding: Float32Array | null, b = box(0, 0)): Embedded {
  return { embedding, box: embedding ? b : null, luma: 100, faces: embedding ? 1 : 0, enhanced: false };
}

describe('missCause', () => {
  it('no embedding is "no face"', () => {
    expect(missCause(face(null), face(unit(1, 0)))).toBe('noFace');
    expect(missCause(undefined, undefined)).toBe('noFace');
  });

  it('a box far from the clean detection is "mis-aligned", a matching one "embedded but wrong"', () => {
    const clean = face(unit(1, 0), box(50, 50));
    expect(missCause(face(unit(0, 1), box(120, 50)), clean)).toBe('misaligned'); // IoU 0.18
    expect(missCause(face(unit(0, 1), box(55, 52)), clean)).toBe('wrongIdentity'); // IoU 0.87
    // Without a clean detection to compare with, a found face counts as embedded but wrong.
    expect(missCause(face(unit(0, 1), box(120, 50)), face(null))).toBe('wrongIdentity');
  });

  it('attributeMisses counts causes and the misses that are wrong on the clean image too', () => {
    expect(
      attributeMisses([
        { cause: 'noFace', cleanHit: true },
        { cause: 'wrongIdentity', cleanHit: false },
        { cause: 'wrongIdentity', cleanHit: true },
        { cause: 'misaligned', cleanHit: false },
      ]),
    ).toEqual({ misses: 4, noFace: 1, misaligned: 1, wrongIdentity: 2, wrongEvenClean: 1 });
  });
});

describe('scoreIdentification miss attribution (tiny synthetic gallery)', () => {
  // Gallery: a along x, b along y. Probes of a: one found and right, one lost, one found elsewhere (another face),
  // one found in place but closer to b; the last one also looks like b on the clean image.
  const protocol: IdentificationProtocol = {
    gallery: [
      { identity: 'a', image: 'a0' },
      { identity: 'b', image: 'b0' },
    ],
    probes: [
      { identity: 'a', image: 'a1', mated: true },
      { identity: 'a', image: 'a2', mated: true },
      { identity: 'a', image: 'a3', mated: true },
      { identity: 'a', image: 'a4', mated: true },
      { identity: 'a', image: 'a5', mated: true },
      { identity: 's', image: 's1', mated: false },
    ],
  };
  const clean: Record<string, Embedded> = {
    a0: face(unit(1, 0)),
    b0: face(unit(0, 1)),
    a1: face(unit(1, 0.1)),
    a2: face(unit(1, 0.2)),
    a3: face(unit(1, 0.1), box(0, 0)),
    a4: face(unit(1, 0.3)),
    a5: face(unit(0.2, 1)),
    s1: face(unit(-1, 0)),
  };
  const degraded: Record<string, Embedded> = {
    a1: face(unit(1, 0.3)),
    a2: face(null),
    a3: face(unit(0.1, 1), box(200, 0)),
    a4: face(unit(0.3, 1)),
    a5: face(unit(0.1, 1)),
    s1: face(unit(-1, 0.2)),
  };
  const lookup = (job: Job) => (job.degrade === '' ? clean[job.path] : degraded[job.path]);
  const gallery = {
    variants: [],
    fusion: { method: 'max' as const },
    scoreNorm: 'none' as const,
    select: 'largest' as const,
  };

  it('puts each rank-1 miss in its place', () => {
    const r = scoreIdentification(protocol, 'one-shot', 'dark:0.5', lookup, 0.5, 5, gallery);
    expect(r.rank1).toBeCloseTo(1 / 5, 9);
    expect(r.missAttribution).toEqual({
      misses: 4,
      noFace: 1,
      misaligned: 1,
      wrongIdentity: 2,
      wrongEvenClean: 1,
    });
  });

  it('reports no attribution for clean probes', () => {
    const r = scoreIdentification(protocol, 'one-shot', '', (job) => clean[job.path], 0.5, 5, gallery);
    expect(r.missAttribution).toBeNull();
    expect(r.rank1).toBeCloseTo(4 / 5, 9);
  });
});
