import { describe, expect, it } from 'vitest';
import {
  CROP_INTER_OCULAR_PX,
  cameraMatchedCrop,
  degradeCrop,
  prepareAsProbe,
} from '../../functions/core/camera/match.ts';
import {
  type CameraSettings,
  cameraTemplatesSearched,
  isNeutral,
  parseCameraSettings,
  settingsFromEstimate,
} from '../../functions/core/camera/profile.ts';
import { mergeCandidates } from '../../functions/core/camera/service.ts';
import { richardsonLucy } from '../../functions/core/pipeline/deblur.ts';
import type { RgbImage } from '../../functions/core/pipeline/image.ts';
import { resolveOptions } from '../../functions/core/pipeline/pipeline.ts';
import { laplacianVariance, lumaStats } from '../../functions/core/pipeline/quality.ts';
import { noiseSigma } from '../../functions/core/pipeline/restore.ts';

/** A 112 × 112 crop with smooth shading and a few sharp edges (a face-like test card). */
function card(): RgbImage {
  const data = new Uint8Array(112 * 112 * 3);
  for (let y = 0; y < 112; y++)
    for (let x = 0; x < 112; x++) {
      const edge = (Math.floor(x / 14) + Math.floor(y / 14)) % 2 === 0 ? 40 : 0;
      const v = 90 + (50 * x) / 112 + edge;
      data.set([v, v * 0.9, v * 0.8].map(Math.round), (y * 112 + x) * 3);
    }
  return { width: 112, height: 112, data };
}

/** Broad shading with a fine 2 px checker on it: a blur takes the checker and leaves the shading, as on a face. */
function shadedCard(): RgbImage {
  const data = new Uint8Array(112 * 112 * 3);
  for (let y = 0; y < 112; y++)
    for (let x = 0; x < 112; x++) {
      const v = 120 + 50 * Math.sin(x / 18) * Math.cos(y / 22) + (((x >> 1) + (y >> 1)) % 2) * 12;
      data.set([v, v * 0.9, v * 0.8].map(Math.round), (y * 112 + x) * 3);
    }
  return { width: 112, height: 112, data };
}

const NEUTRAL: CameraSettings = {
  faceBrightness: null,
  noise: 0,
  blur: 0,
  jpegQuality: null,
  interOcularPx: null,
};

describe('camera-matched crops (core/camera/match.ts)', () => {
  it('neutral settings change nothing; the crop is never modified', async () => {
    const crop = card();
    const before = Buffer.from(crop.data);
    const out = await degradeCrop(crop, NEUTRAL);
    expect(Buffer.from(out.data).equals(before)).toBe(true);
    expect(Buffer.from(crop.data).equals(before)).toBe(true);
    expect(isNeutral(NEUTRAL)).toBe(true);
  });

  it('brings the face to the camera’s brightness', async () => {
    const out = await degradeCrop(card(), { ...NEUTRAL, faceBrightness: 30 });
    expect(Math.abs(lumaStats(out).mean - 30)).toBeLessThan(2);
    // A camera brighter than the photo does not brighten it (a gain is never above 1).
    const bright = await degradeCrop(card(), { ...NEUTRAL, faceBrightness: 250 });
    expect(lumaStats(bright).mean).toBeCloseTo(lumaStats(card()).mean, 0);
  });

  it('adds noise up to the camera’s σ, seeded (same seed, same bytes)', async () => {
    const a = await degradeCrop(card(), { ...NEUTRAL, noise: 8 }, 7);
    const b = await degradeCrop(card(), { ...NEUTRAL, noise: 8 }, 7);
    const c = await degradeCrop(card(), { ...NEUTRAL, noise: 8 }, 8);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    expect(Buffer.from(a.data).equals(Buffer.from(c.data))).toBe(false);
    expect(Math.abs(noiseSigma(a) - 8)).toBeLessThan(1.5);
  });

  it('a small camera face, blur and compression each take detail away, at full crop size', async () => {
    const sharpness = laplacianVariance(card());
    for (const settings of [
      { ...NEUTRAL, interOcularPx: CROP_INTER_OCULAR_PX / 3 },
      { ...NEUTRAL, blur: 1.5 },
      { ...NEUTRAL, jpegQuality: 10 },
    ]) {
      const out = await degradeCrop(card(), settings);
      expect([out.width, out.height]).toEqual([112, 112]);
      expect(laplacianVariance(out), JSON.stringify(settings)).toBeLessThan(sharpness * 0.9);
    }
  });

  it('prepares the result as the probe path would: a dark face is enhanced, a bright one is not', async () => {
    const options = resolveOptions();
    const dark = await cameraMatchedCrop(card(), { ...NEUTRAL, faceBrightness: 25 }, options);
    expect(lumaStats(dark).mean).toBeGreaterThan(60);
    const plain = prepareAsProbe(card(), options);
    expect(Buffer.from(plain.data).equals(Buffer.from(card().data))).toBe(true);
  });

  it('deconvolves a template from a camera blurred past the deblurring gate, as that camera’s probes are', async () => {
    const options = resolveOptions();
    const sharp = shadedCard();
    expect(Buffer.from(prepareAsProbe(sharp, options).data).equals(Buffer.from(sharp.data))).toBe(true);
    const blurred = await degradeCrop(sharp, { ...NEUTRAL, blur: 4 });
    const prepared = prepareAsProbe(blurred, options);
    // The probe path's deconvolution, with the probe path's settings, and it sharpens.
    const deblur = options.deblur!;
    const expected = richardsonLucy(blurred, deblur.sigma, deblur.iterations);
    expect(Buffer.from(prepared.data).equals(Buffer.from(expected.data))).toBe(true);
    expect(laplacianVariance(prepared)).toBeGreaterThan(1.2 * laplacianVariance(blurred));
    // Without the deblurring (as `--deblur none` analyses probes) the blurred template is left as it is.
    const unchanged = prepareAsProbe(blurred, { ...options, deblur: undefined });
    expect(Buffer.from(unchanged.data).equals(Buffer.from(blurred.data))).toBe(true);
  });
});

describe('camera settings (core/camera/profile.ts)', () => {
  it('parses user settings with neutral defaults and refuses nonsense with the field named', () => {
    expect(parseCameraSettings({ jpegQuality: 30 })).toEqual({ ...NEUTRAL, jpegQuality: 30 });
    expect(() => parseCameraSettings({ noise: -1 })).toThrow(/"noise"/);
    expect(() => parseCameraSettings({ jpegQuality: 101 })).toThrow(/"jpegQuality"/);
    expect(() => parseCameraSettings({ gain: 2 })).toThrow(/Camera setting/);
  });

  it('maps an estimate to settings: face brightness first, blur never guessed', () => {
    const estimate = {
      brightness: 40,
      noise: 6.2,
      sharpness: 90,
      jpegQuality: 22,
      interOcularPx: 18.4,
      images: 5,
    };
    expect(settingsFromEstimate(estimate, 28.44)).toEqual({
      faceBrightness: 28.4,
      noise: 6.2,
      blur: 0,
      jpegQuality: 22,
      interOcularPx: 18.4,
    });
    expect(settingsFromEstimate({ ...estimate, jpegQuality: null, interOcularPx: null }, null)).toMatchObject(
      {
        faceBrightness: 40,
        jpegQuality: null,
        interOcularPx: null,
      },
    );
  });

  it('FACEPRINT_CAMERA_TEMPLATES is on or off (default off); anything else fails closed', () => {
    expect(cameraTemplatesSearched(undefined)).toBe(false);
    expect(cameraTemplatesSearched('on')).toBe(true);
    expect(cameraTemplatesSearched('off')).toBe(false);
    expect(() => cameraTemplatesSearched('yes')).toThrow(/must be "on" or "off"/);
  });

  it('merging the gallery’s and a camera’s candidates is max fusion over the union', () => {
    const merged = mergeCandidates(
      [
        { subjectId: 'a', similarity: 0.5, templateId: 'a1' },
        { subjectId: 'b', similarity: 0.4, templateId: 'b1' },
      ],
      [
        { subjectId: 'b', similarity: 0.6, templateId: 'b-cam' },
        { subjectId: 'c', similarity: 0.3, templateId: 'c-cam' },
      ],
      2,
    );
    expect(merged).toEqual([
      { subjectId: 'b', similarity: 0.6, templateId: 'b-cam' },
      { subjectId: 'a', similarity: 0.5, templateId: 'a1' },
    ]);
  });
});
