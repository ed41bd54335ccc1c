/**
 * Degrades an aligned enrolment crop to look as a configured camera sees the same face, then prepares it as the
 * probe path prepares a face from that camera (the deconvolution when the face is heavily blurred, the low-light
 * enhancement when it is dark or flat), so the template and the camera's probes meet in the same place of the
 * embedding space.
 *
 * The steps follow the camera's order: scene light (a gain to the camera's face brightness), optics (Gaussian
 * blur), the sensor's resolution (down to the camera's inter-ocular distance), sensor noise (added only as far as
 * the crop is not already that noisy), the encoder (JPEG at the camera's quality, at the camera's resolution),
 * then the pipeline's own upscaling back to 112 × 112. Noise is seeded, so a camera's templates are reproducible.
 */
import sharp from 'sharp';
import { deblurWhenWanted } from '../pipeline/deblur.ts';
import { enhanceFace } from '../pipeline/enhance.ts';
import { ARCFACE_TEMPLATE_112, distance } from '../pipeline/geometry.ts';
import { type RgbImage, rgbFromSharp, sharpFromRgb } from '../pipeline/image.ts';
import { type AnalyzeOptions, wantsEnhancement } from '../pipeline/pipeline.ts';
import { assessQuality, lumaStats } from '../pipeline/quality.ts';
import { noiseSigma } from '../pipeline/restore.ts';
import type { CameraSettings } from './profile.ts';

/** Inter-ocular distance of the aligned 112 × 112 crop (px): the ArcFace template's eye centres. */
export const CROP_INTER_OCULAR_PX = distance(
  ARCFACE_TEMPLATE_112[0] as { x: number; y: number },
  ARCFACE_TEMPLATE_112[1] as { x: number; y: number },
);

/** The probe path's options that decide how a face is prepared for the embedder. */
export type ProbePreparation = Pick<
  AnalyzeOptions,
  'enhance' | 'enhanceBelowBrightness' | 'enhanceBelowContrast' | 'enhanceOptions' | 'deblur'
>;

/**
 * What the probe path does to an aligned crop before embedding it (`pipeline.ts`, `describeFaces`), decided on the
 * crop's quality measures as there: the deconvolution for faces blurred past the deblurring gate, then the
 * low-light enhancement for faces darker or flatter than its thresholds; nothing otherwise. The probe path's
 * smoothing of compression blocks is not repeated: it is gated on blocks measured in the camera's frame, which a
 * template made from a crop does not have.
 */
export function prepareAsProbe(crop: RgbImage, options: ProbePreparation): RgbImage {
  const quality = assessQuality(crop, {
    interOcularPx: CROP_INTER_OCULAR_PX,
    detectionScore: 1,
    pose: { yaw: 0, pitch: 0, roll: 0 },
  });
  const restored = deblurWhenWanted(crop, options.deblur) ?? crop;
  return wantsEnhancement(quality, options) ? enhanceFace(restored, options.enhanceOptions) : restored;
}

/** A 32-bit seeded generator (mulberry32) for the camera noise: templates must not change between runs. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/**
 * The aligned crop as the camera would have seen the face, before the probe path's preparation. Neutral settings
 * return an unchanged copy.
 */
export async function degradeCrop(crop: RgbImage, settings: CameraSettings, seed = 1): Promise<RgbImage> {
  let image: RgbImage = { width: crop.width, height: crop.height, data: new Uint8Array(crop.data) };
  if (settings.faceBrightness !== null) {
    const gain = Math.min(1, settings.faceBrightness / Math.max(1, lumaStats(image).mean));
    if (gain < 1)
      for (let i = 0; i < image.data.length; i++) image.data[i] = clampByte(image.data[i]! * gain);
  }
  // The camera's pixels are this many crop pixels: blur is given in camera pixels.
  const scale =
    settings.interOcularPx === null ? 1 : Math.min(1, settings.interOcularPx / CROP_INTER_OCULAR_PX);
  const sigma = settings.blur / scale;
  if (sigma >= 0.3) image = await rgbFromSharp(sharpFromRgb(image).blur(sigma));
  const small = {
    width: Math.max(8, Math.round(crop.width * scale)),
    height: Math.max(8, Math.round(crop.height * scale)),
  };
  const resized = small.width < crop.width;
  if (resized) {
    image = await rgbFromSharp(
      sharpFromRgb(image).resize(small.width, small.height, { fit: 'fill', kernel: 'linear' }),
    );
  }
  if (settings.noise > 0) {
    const add = Math.sqrt(Math.max(0, settings.noise ** 2 - noiseSigma(image) ** 2));
    if (add > 0) {
      const random = seeded(seed);
      const out = new Uint8Array(image.data.length);
      for (let i = 0; i < out.length; i += 2) {
        // Box–Muller: two independent normals per pair of uniforms.
        const r = Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * add;
        const v = 2 * Math.PI * random();
        out[i] = clampByte(image.data[i]! + r * Math.cos(v));
        if (i + 1 < out.length) out[i + 1] = clampByte(image.data[i + 1]! + r * Math.sin(v));
      }
      image = { width: image.width, height: image.height, data: out };
    }
  }
  if (settings.jpegQuality !== null) {
    const encoded = await sharpFromRgb(image)
      .jpeg({ quality: Math.round(settings.jpegQuality) })
      .toBuffer();
    image = await rgbFromSharp(sharp(encoded));
  }
  if (resized) {
    image = await rgbFromSharp(
      sharpFromRgb(image).resize(crop.width, crop.height, { fit: 'fill', kernel: 'linear' }),
    );
  }
  return image;
}

/**
 * The crop a camera template embeds: {@link degradeCrop}, then {@link prepareAsProbe}.
 */
export async function cameraMatchedCrop(
  crop: RgbImage,
  settings: CameraSettings,
  options: ProbePreparation,
  seed = 1,
): Promise<RgbImage> {
  return prepareAsProbe(await degradeCrop(crop, settings, seed), options);
}
