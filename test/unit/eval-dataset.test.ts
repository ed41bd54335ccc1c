import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFaceprintError } from '../../functions/core/errors.ts';
import type { FaceQuality } from '../../functions/core/types.ts';
import {
  brightnessBucket,
  lightingProtocol,
  limitIdentities,
  limitPairs,
  oneShotProtocol,
  parsePairs,
  readPairs,
  scanDataset,
} from '../../functions/eval/dataset.ts';
import { selectFace } from '../../functions/eval/runner.ts';
import { hasData, LFW } from '../support/data.ts';

let root: string;

function touch(path: string) {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, 'x');
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fp-dataset-'));
  touch(join(root, 'README.md'));
  touch(join(root, 'pairs.txt'));
  touch(join(root, 'Bob', 'Bob_0002.jpg'));
  touch(join(root, 'Bob', 'Bob_0001.jpg'));
  touch(join(root, 'Bob', 'notes.txt'));
  touch(join(root, 'Alice', 'Alice_0001.jpg'));
  touch(join(root, 'Carol', 'Carol_0001.png'));
  touch(join(root, 'Carol', 'Carol_0003.png'));
  touch(join(root, 'Carol', 'Carol_0002.png'));
  mkdirSync(join(root, 'Empty'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('scanDataset', () => {
  it('lists identity folders and their images sorted, ignoring root files, non-images and empty folders', () => {
    const d = scanDataset(root);
    expect(d.identities.map((i) => i.name)).toEqual(['Alice', 'Bob', 'Carol']);
    expect(d.identities[1]?.images.map((p) => basename(p))).toEqual(['Bob_0001.jpg', 'Bob_0002.jpg']);
    expect(d.identities[2]?.images.map((p) => basename(p))).toEqual([
      'Carol_0001.png',
      'Carol_0002.png',
      'Carol_0003.png',
    ]);
  });

  it('refuses a missing folder with INVALID_ARGUMENT', () => {
    expect(() => scanDataset(join(root, 'nope'))).toThrow(/does not exist/);
  });

  it('limits to the first N identities', () => {
    expect(limitIdentities(scanDataset(root), 2).identities.map((i) => i.name)).toEqual(['Alice', 'Bob']);
  });
});

describe('oneShotProtocol', () => {
  it('enrols the first image of multi-image identities; others are mated, singletons non-mated', () => {
    const p = oneShotProtocol(scanDataset(root));
    expect(p.gallery.map((g) => [g.identity, basename(g.image)])).toEqual([
      ['Bob', 'Bob_0001.jpg'],
      ['Carol', 'Carol_0001.png'],
    ]);
    expect(p.probes.map((q) => [basename(q.image), q.mated])).toEqual([
      ['Alice_0001.jpg', false],
      ['Bob_0002.jpg', true],
      ['Carol_0002.png', true],
      ['Carol_0003.png', true],
    ]);
  });
});

describe('lightingProtocol', () => {
  it('enrols _P00A+000E+00 and probes with every other image', () => {
    const yale = mkdtempSync(join(tmpdir(), 'fp-yale-'));
    try {
      for (const f of ['yaleB01_P00A+000E+00.png', 'yaleB01_P00A+010E-20.png', 'yaleB01_P00_Ambient.png'])
        touch(join(yale, 'yaleB01', f));
      const p = lightingProtocol(scanDataset(yale));
      expect(p.gallery.map((g) => basename(g.image))).toEqual(['yaleB01_P00A+000E+00.png']);
      expect(p.probes.map((q) => basename(q.image)).sort()).toEqual([
        'yaleB01_P00A+010E-20.png',
        'yaleB01_P00_Ambient.png',
      ]);
      expect(p.probes.every((q) => q.mated && q.identity === 'yaleB01')).toBe(true);
    } finally {
      rmSync(yale, { recursive: true, force: true });
    }
  });

  it('refuses a subject without a frontal-light image', () => {
    expect(() => lightingProtocol(scanDataset(root))).toThrow(/P00A\+000E\+00/);
  });

  it('buckets probes by mean luma: <10, 10–20, 20–50, ≥50', () => {
    expect([0, 9.99, 10, 19.9, 20, 49.9, 50, 255].map(brightnessBucket)).toEqual([
      '<10',
      '<10',
      '10–20',
      '10–20',
      '20–50',
      '20–50',
      '≥50',
      '≥50',
    ]);
  });
});

describe('parsePairs', () => {
  const text = [
    '# a comment',
    '# fold 1',
    'Bob\t1\t2',
    'Carol 1 3',
    'Alice\t1\tBob\t2',
    '',
    '# fold 2',
    'Carol\t2\t3',
    'Alice 1 Carol 12',
  ].join('\n');

  it('reads same and different pairs with their fold and LFW file names', () => {
    const pairs = parsePairs(text, '/data');
    expect(pairs).toHaveLength(5);
    expect(pairs[0]).toEqual({
      a: '/data/Bob/Bob_0001.jpg',
      b: '/data/Bob/Bob_0002.jpg',
      same: true,
      fold: 1,
    });
    expect(pairs[2]).toEqual({
      a: '/data/Alice/Alice_0001.jpg',
      b: '/data/Bob/Bob_0002.jpg',
      same: false,
      fold: 1,
    });
    expect(pairs[4]?.b).toBe('/data/Carol/Carol_0012.jpg');
    expect(pairs.map((p) => p.fold)).toEqual([1, 1, 1, 2, 2]);
  });

  it('numbers folds from the official header when there are no fold comments', () => {
    const pairs = parsePairs('2 1\nA 1 2\nA 1 B 1\nC 1 2\nC 1 D 1\n', '/d');
    expect(pairs.map((p) => p.fold)).toEqual([1, 1, 2, 2]);
  });

  it('refuses malformed lines with their line number', () => {
    let caught: unknown;
    try {
      parsePairs('# fold 1\nBob 1\n', '/d');
    } catch (error) {
      caught = error;
    }
    expect(isFaceprintError(caught, 'INVALID_ARGUMENT')).toBe(true);
    expect((caught as Error).message).toMatch(/line 2/);
    expect(() => parsePairs('Bob x 2', '/d')).toThrow(/not an image number/);
  });

  it('limits pairs to a balanced subset covering every fold and both classes', () => {
    const many = Array.from({ length: 4 }, (_, f) =>
      [
        `# fold ${f + 1}`,
        ...Array.from({ length: 5 }, (_, i) => `S${f} 1 ${i + 2}`),
        ...Array.from({ length: 5 }, (_, i) => `D${f} 1 E ${i + 1}`),
      ].join('\n'),
    ).join('\n');
    const limited = limitPairs(parsePairs(many, '/d'), 8);
    expect(limited).toHaveLength(8);
    for (const fold of [1, 2, 3, 4]) {
      expect(limited.filter((p) => p.fold === fold && p.same)).toHaveLength(1);
      expect(limited.filter((p) => p.fold === fold && !p.same)).toHaveLength(1);
    }
  });
});

describe('selectFace', () => {
  const face = (x: number, y: number, size: number, score: number, quality: number) => ({
    box: { x, y, width: size, height: size },
    score,
    quality: { score: quality } as FaceQuality,
  });
  const faces = [face(0, 0, 100, 1, 1), face(110, 110, 30, 1, 1)];
  it('picks the most prominent box or the box nearest the image centre', () => {
    expect(selectFace(faces, 'largest', 250, 250)).toBe(faces[0]);
    expect(selectFace(faces, 'centre', 250, 250)).toBe(faces[1]);
    expect(selectFace([], 'centre', 10, 10)).toBeUndefined();
  });
  it('does not let a slightly larger but doubtful box outrank the subject', () => {
    const subject = face(60, 60, 100, 1, 1);
    const poster = face(150, 10, 105, 0.86, 0.7);
    expect(selectFace([poster, subject], 'largest', 250, 250)).toBe(subject);
  });
});

describe.runIf(hasData(LFW))('the lfw-dev pairs file', () => {
  it('has 10 folds, each with same and different pairs whose images exist', () => {
    const pairs = readPairs(join(LFW, 'pairs-dev.txt'), LFW);
    const folds = new Set(pairs.map((p) => p.fold));
    expect([...folds].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const fold of folds) {
      expect(pairs.some((p) => p.fold === fold && p.same)).toBe(true);
      expect(pairs.some((p) => p.fold === fold && !p.same)).toBe(true);
    }
    const names = new Set(scanDataset(LFW).identities.flatMap((i) => i.images));
    expect(pairs.every((p) => names.has(p.a) && names.has(p.b))).toBe(true);
  });
});
