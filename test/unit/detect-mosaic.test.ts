import { afterAll, describe, expect, it } from 'vitest';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { CountingBackend } from '../support/counting-backend.ts';
import { hasData, LFW } from '../support/data.ts';
import { buildMosaic, countFound } from '../support/mosaic.ts';

const backend = new CountingBackend({ threads: 1 });
const pipeline = new FacePipeline(backend);
afterAll(() => pipeline.dispose());

describe.runIf(hasData(LFW))('small faces in a 1920×1080 frame', () => {
  it('finds all 8 LFW faces pasted 40–120 px wide', async () => {
    const { jpeg, faces } = await buildMosaic(1);
    backend.reset();
    const result = await pipeline.analyze(jpeg, { embed: false });
    expect(
      countFound(
        faces,
        result.faces.map((f) => f.box),
      ),
    ).toBe(8);
    // No phantom faces on the textured background.
    expect(result.faces.length).toBeLessThanOrEqual(9);
    // The back-camera BlazeFace looks at the whole frame once; each face only the fine level found is confirmed
    // by the front-camera model on a crop around it, never by another run of the back one.
    expect(backend.runs.get('blazeface-back')).toBe(1);
    expect(backend.runs.get('blazeface-front') ?? 0).toBeGreaterThanOrEqual(1);
  });

  it('finds at least 7 of them at 25% brightness', async () => {
    const { jpeg, faces } = await buildMosaic(0.25);
    const result = await pipeline.analyze(jpeg, { embed: false });
    expect(
      countFound(
        faces,
        result.faces.map((f) => f.box),
      ),
    ).toBeGreaterThanOrEqual(7);
  });

  it('misses the 40 px face without the pyramid (so the tiles are what find it)', async () => {
    const { jpeg, faces } = await buildMosaic(1);
    const result = await pipeline.analyze(jpeg, {
      embed: false,
      detect: { detector: 'ulfd', minFaceSize: 400 },
    });
    expect(
      countFound(
        faces,
        result.faces.map((f) => f.box),
      ),
    ).toBeLessThan(8);
  });
});
