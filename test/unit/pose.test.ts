import { afterAll, describe, expect, it } from 'vitest';
import {
  isTemplateVariant,
  POSE_VARIANTS,
  poseOfVariant,
  TEMPLATE_VARIANTS,
} from '../../functions/core/domain.ts';
import { enrolmentTemplates } from '../../functions/core/gallery/service.ts';
import type { RgbImage } from '../../functions/core/pipeline/image.ts';
import { decodeImage } from '../../functions/core/pipeline/image.ts';
import { FacePipeline, largestFace, resolveOptions } from '../../functions/core/pipeline/pipeline.ts';
import { fitPose, projectLandmarks, rotationFromAngles } from '../../functions/core/pose/fit.ts';
import { preparePoseSource, renderView } from '../../functions/core/pose/render.ts';
import { parsePoseVariants, renderPoseVariants } from '../../functions/core/pose/views.ts';
import { hasData, LFW, lfwPhoto, read } from '../support/data.ts';
import { expectFaceprintError } from '../support/errors.ts';
import { rng } from '../support/random.ts';

const POSES: [number, number, number][] = [
  [0, 0, 0],
  [25, -15, 5],
  [-40, 10, -8],
  [40, -20, 0],
  [-15, 25, 12],
];

describe('pose fit against the generic face', () => {
  it.each(POSES)(
    'recovers yaw %d°, pitch %d°, roll %d° from exact projections within 0.5°',
    (yaw, pitch, roll) => {
      const points = projectLandmarks(rotationFromAngles(yaw, pitch, roll), 4.2, 160, 140);
      const fit = fitPose(points);
      expect(Math.abs(fit.yaw - yaw)).toBeLessThan(0.5);
      expect(Math.abs(fit.pitch - pitch)).toBeLessThan(0.5);
      expect(Math.abs(fit.roll - roll)).toBeLessThan(0.5);
      expect(fit.scale).toBeCloseTo(4.2, 2);
      expect(fit.rmsError).toBeLessThan(0.01);
    },
  );

  it.each(POSES)(
    'recovers yaw %d°, pitch %d°, roll %d° within 3° under 1 px landmark noise',
    (yaw, pitch, roll) => {
      const random = rng(1000 + yaw * 31 + pitch * 7 + roll);
      // Box–Muller: Gaussian noise of σ 1 px on a face ~50 px between the outer eye corners.
      const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const points = projectLandmarks(rotationFromAngles(yaw, pitch, roll), 4.2, 160, 140).map((p) => ({
        x: p.x + gauss(),
        y: p.y + gauss(),
      }));
      const fit = fitPose(points);
      expect(Math.abs(fit.yaw - yaw)).toBeLessThan(3);
      expect(Math.abs(fit.pitch - pitch)).toBeLessThan(3);
      expect(Math.abs(fit.roll - roll)).toBeLessThan(3);
    },
  );

  it('refuses anything but 68 points', () => {
    expect(() => fitPose(projectLandmarks(rotationFromAngles(0, 0), 4, 0, 0).slice(0, 5))).toThrow(/68/);
  });
});

/** A smooth synthetic photo: red follows x, green follows y, blue is 128 everywhere; values within [40, 220]. */
function gradientImage(size: number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 3;
      data[o] = 40 + Math.round((180 * x) / (size - 1));
      data[o + 1] = 40 + Math.round((180 * y) / (size - 1));
      data[o + 2] = 128;
    }
  return { width: size, height: size, data };
}

describe('rendered views', () => {
  it('cover every pixel with in-range photo colour at every configured pose and beyond', () => {
    const image = gradientImage(400);
    const landmarks = projectLandmarks(rotationFromAngles(10, -5, 3), 4, 200, 200);
    const source = preparePoseSource(image, landmarks);
    for (const [yaw, pitch] of [
      ...POSE_VARIANTS.map((v) => Object.values(poseOfVariant(v))),
      [0, 0],
      [60, 30],
    ]) {
      const view = renderView(source, yaw as number, pitch as number);
      expect(view.width * view.height * 3).toBe(view.data.length);
      let bad = 0;
      for (let i = 0; i < view.data.length; i += 3) {
        // A hole (unwritten) or a sample from outside the photo would be 0 here; blue is constant in the photo.
        const [r, g, b] = [view.data[i]!, view.data[i + 1]!, view.data[i + 2]!];
        if (b !== 128 || r < 40 || r > 220 || g < 40 || g > 220) bad += 1;
      }
      expect(bad).toBe(0);
    }
  });

  it('turn the face: at yaw +40° the nose tip moves to the image right of the eye midpoint', () => {
    // Red encodes the photo's x: the pixel at the template's nose position shows where it was sampled from.
    const image = gradientImage(400);
    const source = preparePoseSource(image, projectLandmarks(rotationFromAngles(0, 0, 0), 4, 200, 200));
    const red = (view: RgbImage, x: number, y: number) => view.data[(y * 112 + x) * 3] as number;
    const left = renderView(source, -40, 0);
    const right = renderView(source, 40, 0);
    // Aligned on their own five points, the two views sample different sides of the face at the same place.
    expect(red(right, 30, 75)).not.toBe(red(left, 30, 75));
  });

  it('parses pose-view lists and refuses unknown ones', () => {
    expect(parsePoseVariants('all')).toEqual([...POSE_VARIANTS]);
    expect(parsePoseVariants('pose:40,0,pose:-40,0')).toEqual(['pose:-40,0', 'pose:40,0']);
    expect(parsePoseVariants('none')).toEqual([]);
    expectFaceprintError(() => parsePoseVariants('pose:10,0'), 'INVALID_ARGUMENT');
    // Appended after the degradation variants: the snapshot codes of existing variants do not move.
    expect(TEMPLATE_VARIANTS.slice(0, 6)).toEqual(['original', 'dark', 'blur', 'lowres', 'jpeg', 'mirror']);
    for (const v of POSE_VARIANTS) expect(isTemplateVariant(v)).toBe(true);
  });

  it('refuses views without the 68 landmarks', () => {
    expectFaceprintError(
      () => renderPoseVariants(gradientImage(64), undefined, ['pose:20,0']),
      'INVALID_ARGUMENT',
    );
  });
});

describe.runIf(hasData(LFW))('views of a frontal LFW photo', () => {
  const pipeline = new FacePipeline();
  afterAll(() => pipeline.dispose());

  const meanAbsoluteError = (a: RgbImage, b: RgbImage, inner = false) => {
    let sum = 0;
    let n = 0;
    for (let y = inner ? 28 : 0; y < (inner ? 100 : 112); y++)
      for (let x = inner ? 24 : 0; x < (inner ? 88 : 112); x++)
        for (let c = 0; c < 3; c++) {
          const i = (y * 112 + x) * 3 + c;
          sum += Math.abs((a.data[i] as number) - (b.data[i] as number));
          n += 1;
        }
    return sum / n;
  };

  it('reproduce the aligned crop at the photo’s own pose (MAE < 4) and at yaw 0, pitch 0 (MAE < 12 on the face)', async () => {
    const bytes = read(lfwPhoto('Aaron_Eckhart', 1));
    const image = await decodeImage(bytes);
    const face = largestFace(
      { faces: await pipeline.analyzeImage(image, resolveOptions({ keepCrops: true })) },
      'the photo',
    );
    const crops = face.crops!;
    expect(crops.landmarks68).toBeDefined();
    const source = preparePoseSource(image, crops.landmarks68!);
    expect(Math.abs(source.pose.yaw)).toBeLessThan(15);
    const same = renderView(source, source.pose.yaw, source.pose.pitch);
    expect(meanAbsoluteError(same, crops.aligned)).toBeLessThan(4);
    const frontal = renderView(source, 0, 0);
    expect(meanAbsoluteError(frontal, crops.aligned, true)).toBeLessThan(12);
    // A 40° view is a different picture of the same face.
    const turned = renderView(source, 40, 0);
    expect(meanAbsoluteError(turned, crops.aligned, true)).toBeGreaterThan(8);
  });

  it('enrol pose views as templates named by their variant, beside the degradation variants', async () => {
    const templates = await enrolmentTemplates(
      pipeline,
      { analyze: {}, variants: ['mirror', 'pose:-40,0', 'pose:40,0'], minEnrolQuality: 0 },
      'aaron',
      { bytes: read(lfwPhoto('Aaron_Eckhart', 1)), source: 'aaron.jpg' },
    );
    expect(templates.map((t) => t.variant)).toEqual(['original', 'mirror', 'pose:-40,0', 'pose:40,0']);
    const [original, , left, right] = templates.map((t) => t.embedding);
    // A turned view is still this face (similar), but not a copy of the original.
    let sl = 0;
    let sr = 0;
    for (let i = 0; i < original!.length; i++) {
      sl += original![i]! * left![i]!;
      sr += original![i]! * right![i]!;
    }
    for (const s of [sl, sr]) {
      expect(s).toBeGreaterThan(0.3);
      expect(s).toBeLessThan(0.99);
    }
  });
});
