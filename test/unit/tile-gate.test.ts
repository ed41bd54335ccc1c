import { describe, expect, it } from 'vitest';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { tilesAroundCandidates } from '../../functions/core/pipeline/tile-gate.ts';
import { CountingBackend } from '../support/counting-backend.ts';
import { hasData, LFW } from '../support/data.ts';
import { buildMosaic, countFound } from '../support/mosaic.ts';

const level = { width: 1280, height: 720 };
const box = (cx: number, cy: number, side = 20) => ({
  x: cx - side / 2,
  y: cy - side / 2,
  width: side,
  height: side,
});

describe('tiles around candidate places', () => {
  it('centres one tile on each place, clamped to the level', () => {
    const tiles = tilesAroundCandidates(
      [
        { box: box(640, 360), score: 0.9 },
        { box: box(10, 10), score: 0.5 },
        { box: box(1275, 715), score: 0.3 },
      ],
      level,
      1,
      1,
      320,
      240,
      48,
    );
    expect(tiles).toEqual([
      { x: 480, y: 240 },
      { x: 0, y: 0 },
      { x: 960, y: 480 },
    ]);
  });

  it('needs no second tile for a place well inside a chosen one, but does for one near its inner edge', () => {
    const near = tilesAroundCandidates(
      [
        { box: box(640, 360), score: 0.9 },
        { box: box(700, 380), score: 0.2 },
      ],
      level,
      1,
      1,
      320,
      240,
      48,
    );
    expect(near).toHaveLength(1);
    const edge = tilesAroundCandidates(
      [
        { box: box(640, 360), score: 0.9 },
        { box: box(790, 360), score: 0.2 },
      ],
      level,
      1,
      1,
      320,
      240,
      48,
    );
    expect(edge).toHaveLength(2);
  });

  it('maps source-pixel candidates to the level by its scale, and gives none for none', () => {
    expect(
      tilesAroundCandidates([{ box: box(960, 540), score: 1 }], level, 2 / 3, 2 / 3, 320, 240, 48),
    ).toEqual([{ x: 480, y: 240 }]);
    expect(tilesAroundCandidates([], level, 1, 1, 320, 240, 48)).toEqual([]);
  });
});

describe.runIf(hasData(LFW))('the gated pyramid on the 1920×1080 mosaic', () => {
  it('finds all 8 faces 40–120 px wide, looking at fewer pixels than the whole fine level', async () => {
    const backend = new CountingBackend({ threads: 1 });
    const pipeline = new FacePipeline(backend);
    try {
      const { jpeg, faces } = await buildMosaic(1);
      const result = await pipeline.analyze(jpeg, { embed: false, pose: false, detect: { tileGate: 0.1 } });
      const boxes = result.faces.map((f) => f.box);
      expect(countFound(faces, boxes)).toBe(8);
      expect(result.faces.length).toBeLessThanOrEqual(9);
      const gatedPixels = backend.pixels.get('ulfd-rfb320') ?? 0;
      backend.reset();
      await pipeline.analyze(jpeg, { embed: false, pose: false });
      // Ungated: the whole frame, then the 1280×720 fine level in three overlapping runs of 491×720.
      expect(backend.runs.get('ulfd-rfb320')).toBe(4);
      const fullPixels = backend.pixels.get('ulfd-rfb320') ?? 0;
      expect(fullPixels).toBe(320 * 240 + 3 * 491 * 720);
      expect(gatedPixels).toBeLessThan(fullPixels);
    } finally {
      await pipeline.dispose();
    }
  });
});
