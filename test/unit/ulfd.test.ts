import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { levelRegions } from '../../functions/core/pipeline/detect.ts';
import { defaultModelsDir } from '../../functions/core/pipeline/models.ts';
import { decodeUlfd, ulfdPriors } from '../../functions/core/pipeline/ulfd.ts';
import { deriveModel } from '../../scripts/derive-models.mjs';
import { unpackedPackageDir } from '../../scripts/model-cache.mjs';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';

const dir = defaultModelsDir();
const entry = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).models['ulfd-rfb320'];
/** The authors' export as `npm run models` unpacked it from its package (the file the derived model is cut from). */
const exportPath = join(unpackedPackageDir(dir, entry.source.package), entry.source.path);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function exportBytes(): Buffer {
  if (!existsSync(exportPath)) {
    throw new Error(
      `${exportPath} is missing: delete layers/models/${entry.file} and run \`npm run models\`, which unpacks it.`,
    );
  }
  return readFileSync(exportPath);
}

/** A photo stretched to 320×240 as the detector's whole-frame pass feeds it, normalised ((v − 127) / 128, CHW). */
async function input320(): Promise<ort.Tensor> {
  const pixels = await sharp(read(seedPhoto('joy', 2)))
    .resize(320, 240, { fit: 'fill' })
    .removeAlpha()
    .raw()
    .toBuffer();
  const plane = 320 * 240;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++) data[c * plane + i] = (pixels[i * 3 + c]! - 127) / 128;
  return new ort.Tensor('float32', data, [1, 3, 240, 320]);
}

const sessions: ort.InferenceSession[] = [];
afterAll(async () => Promise.all(sessions.map((s) => s.release())));
async function session(path: string | Uint8Array): Promise<ort.InferenceSession> {
  const s = await ort.InferenceSession.create(path as string, { intraOpNumThreads: 1 });
  sessions.push(s);
  return s;
}

describe('the derived ULFD (recipe ulfd-raw-heads)', () => {
  it('is made from the pinned export byte for byte as the manifest records', () => {
    const source = exportBytes();
    expect(sha256(source)).toBe(entry.source.sha256);
    const derived = deriveModel('ulfd-raw-heads', source);
    expect(sha256(derived)).toBe(entry.sha256);
    expect(sha256(readFileSync(join(dir, entry.file)))).toBe(entry.sha256);
    expect(() => deriveModel('no-such-recipe', source)).toThrow(/unknown recipe/);
  });

  it.runIf(hasData(SEED))("decodes to the export's own boxes and scores at 320×240", async () => {
    const input = await input320();
    const original = await (await session(exportBytes())).run({ input });
    const cut = await (await session(join(dir, entry.file))).run({ input });
    const scores = cut.scores!.data as Float32Array;
    const expectedScores = original.scores!.data as Float32Array;
    const boxes = original.boxes!.data as Float32Array;
    expect(ulfdPriors(320, 240).length / 4).toBe(4420);
    const decoded = decodeUlfd(scores, cut.locations!.data as Float32Array, 320, 240, 0);
    expect(decoded).toHaveLength(4420);
    let worst = 0;
    decoded.forEach((d, i) => {
      worst = Math.max(
        worst,
        Math.abs(scores[i * 2 + 1]! - expectedScores[i * 2 + 1]!),
        Math.abs(d.x1 / 320 - boxes[i * 4]!),
        Math.abs(d.y1 / 240 - boxes[i * 4 + 1]!),
        Math.abs(d.x2 / 320 - boxes[i * 4 + 2]!),
        Math.abs(d.y2 / 240 - boxes[i * 4 + 3]!),
      );
    });
    expect(worst).toBeLessThan(1e-5);
    // The photo has a face, and the export and the derived model agree on where.
    expect(decoded.filter((d) => d.score > 0.9).length).toBeGreaterThan(0);
  });

  it('takes any input size, with one output row per prior of that size', async () => {
    const cut = await session(join(dir, entry.file));
    for (const [width, height] of [
      [853, 480],
      [100, 77],
      [1280, 720],
    ] as const) {
      const out = await cut.run({
        input: new ort.Tensor('float32', new Float32Array(3 * width * height), [1, 3, height, width]),
      });
      const priors = ulfdPriors(width, height);
      expect((out.scores!.data as Float32Array).length).toBe((priors.length / 4) * 2);
      expect((out.locations!.data as Float32Array).length).toBe(priors.length);
    }
  });
});

describe('ULFD priors and decoding', () => {
  it('places priors at the stride positions off the trained size, and reads only the fine heads when asked', () => {
    const priors = ulfdPriors(856, 480);
    // The first prior of the stride-8 head: cell (0, 0), 10 px.
    const first = [priors[0]! * 856, priors[1]! * 480, priors[2]! * 856, priors[3]! * 480];
    first.forEach((v, i) => {
      expect(v).toBeCloseTo([4, 4, 10, 10][i]!, 3);
    });
    // Stride 8: 107 × 60 cells of 3 priors, then stride 16: 54 × 30 cells of 2, before the coarse heads.
    const fine = 107 * 60 * 3 + 54 * 30 * 2;
    const n = priors.length / 4;
    const scores = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) scores[i * 2 + 1] = 1;
    const locations = new Float32Array(n * 4);
    expect(decodeUlfd(scores, locations, 856, 480, 0.5, 'all')).toHaveLength(n);
    const decoded = decodeUlfd(scores, locations, 856, 480, 0.5, 'fine');
    expect(decoded).toHaveLength(fine);
    // Zero offsets decode to the prior itself; the last fine prior is 48 px at stride 16's last cell.
    const last = decoded[fine - 1]!;
    const expected = [53.5 * 16 - 24, 29.5 * 16 - 24, 53.5 * 16 + 24, 29.5 * 16 + 24];
    [last.x1, last.y1, last.x2, last.y2].forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i]!, 3);
    });
  });

  it('decodes SSD offsets with variances 0.1 and 0.2, and refuses outputs of another size', () => {
    const priors = ulfdPriors(320, 240);
    const n = priors.length / 4;
    const scores = new Float32Array(n * 2);
    const locations = new Float32Array(n * 4);
    scores[1] = 0.9; // prior 0: centre (4, 4), 10 px
    locations.set([1, -1, Math.log(2) / 0.2, 0], 0);
    const [box] = decodeUlfd(scores, locations, 320, 240, 0.5);
    expect(box!.score).toBeCloseTo(0.9);
    expect(box!.x1).toBeCloseTo(4 + 1 - 10, 4);
    expect(box!.x2).toBeCloseTo(4 + 1 + 10, 4);
    expect(box!.y1).toBeCloseTo(4 - 1 - 5, 4);
    expect(box!.y2).toBeCloseTo(4 - 1 + 5, 4);
    expect(() => decodeUlfd(scores, locations, 640, 480, 0.5)).toThrow(/priors/);
  });
});

describe('the fine level in a few runs (levelRegions)', () => {
  it('runs a 720p fine level whole, and splits larger ones into overlapping regions of at most 854×480', () => {
    expect(levelRegions(853, 480)).toEqual([{ x: 0, y: 0, width: 853, height: 480 }]);
    for (const [width, height] of [
      [1280, 720],
      [919, 1365],
      [2560, 1440],
      [5000, 200],
    ] as const) {
      const regions = levelRegions(width, height);
      expect(regions.length).toBeGreaterThan(1);
      for (const r of regions) {
        expect(r.width * r.height).toBeLessThanOrEqual(854 * 480);
        expect(r.x + r.width).toBeLessThanOrEqual(width);
        expect(r.y + r.height).toBeLessThanOrEqual(height);
      }
      // Every level pixel is covered, and a 96 px face anywhere lies wholly inside some region.
      for (let y = 0; y + 96 <= height; y += 37) {
        for (let x = 0; x + 96 <= width; x += 41) {
          const inside = regions.some(
            (r) => x >= r.x && y >= r.y && x + 96 <= r.x + r.width && y + 96 <= r.y + r.height,
          );
          expect(inside, `${width}×${height} at ${x},${y}`).toBe(true);
        }
      }
      // The overlap costs little: under 30% more pixels than the level.
      const pixels = regions.reduce((sum, r) => sum + r.width * r.height, 0);
      expect(pixels / (width * height)).toBeLessThan(1.3);
    }
  });
});
