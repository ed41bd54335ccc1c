import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DETECT_OPTIONS, detectFaces } from '../../functions/core/pipeline/detect.ts';
import { decodeImage, type RgbImage } from '../../functions/core/pipeline/image.ts';
import { CountingBackend } from '../support/counting-backend.ts';
import { hasData, LFW } from '../support/data.ts';
import { buildMosaic, countFound } from '../support/mosaic.ts';

const backend = new CountingBackend({ threads: 1 });
afterAll(() => backend.dispose());

/** A grey, gently noisy 1280×720 frame with no face. */
function emptyFrame(): RgbImage {
  const data = new Uint8Array(1280 * 720 * 3);
  let seed = 7;
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    data[i] = 110 + (seed % 20);
  }
  return { width: 1280, height: 720, data };
}

const ulfdRuns = () => backend.runs.get('ulfd-rfb320') ?? 0;

describe('rolling scan (detect.tileSlice)', () => {
  it('spreads the fine tiles over a round of slices, and runs the whole frame on each', async () => {
    const image = emptyFrame();
    // No second look: it would scan the face-less frame again.
    const options = {
      ...DEFAULT_DETECT_OPTIONS,
      detector: 'ulfd' as const,
      searchPadded: false,
      secondLook: undefined,
    };
    backend.reset();
    await detectFaces(backend, image, options);
    // Unsliced: the whole frame and the whole 853×480 fine level, one run each.
    expect(ulfdRuns()).toBe(2);
    expect(backend.pixels.get('ulfd-rfb320')).toBe(320 * 240 + 853 * 480);
    // Sliced: the level's 4 × 3 overlapping 320×240 tiles, spread over a round of frames.
    const grid = 12;
    const perSlice: number[] = [];
    for (let index = 0; index < 5; index++) {
      backend.reset();
      await detectFaces(backend, image, { ...options, tileSlice: { index, count: 5 } });
      perSlice.push(ulfdRuns() - 1);
    }
    expect(perSlice.reduce((a, b) => a + b, 0)).toBe(grid);
    expect(Math.max(...perSlice)).toBeLessThanOrEqual(Math.ceil(grid / 5));
    // A slice past the last tile runs the whole-frame pass only.
    backend.reset();
    await detectFaces(backend, image, { ...options, tileSlice: { index: 20, count: 30 } });
    expect(ulfdRuns()).toBe(1);
  });

  it.runIf(hasData(LFW))(
    'finds every small face of the mosaic over a round, as the full tiling does on one frame',
    async () => {
      const { jpeg, faces } = await buildMosaic(1);
      const image = await decodeImage(jpeg);
      const boxes = [];
      for (let index = 0; index < 4; index++) {
        const found = await detectFaces(backend, image, {
          ...DEFAULT_DETECT_OPTIONS,
          detector: index === 0 ? 'fusion' : 'ulfd',
          searchPadded: false,
          tileSlice: { index, count: 4 },
        });
        boxes.push(...found.map((d) => d.box));
      }
      expect(countFound(faces, boxes)).toBe(8);
    },
  );
});
