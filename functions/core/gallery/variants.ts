import sharp from 'sharp';
import { enhanceFace } from '../pipeline/enhance.ts';
import type { RgbImage } from '../pipeline/image.ts';
import type { AnalyzeOptions } from '../pipeline/pipeline.ts';
import { lumaStats } from '../pipeline/quality.ts';
import type { TemplateVariant } from './domain.ts';

function raw(image: RgbImage) {
  return sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
}

async function toRgb(pipeline: ReturnType<typeof sharp>): Promise<RgbImage> {
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/**
 * Makes a degradation-matched copy of an aligned enrolment crop, imitating what a surveillance camera does to
 * the same face: `dark` (a quarter of the light, then the probe path's low-light enhancement, as a dark probe
 * would get), `blur` (Gaussian σ 1.5 at 112 px, about σ 2 at camera resolution), `lowres` (down to 28 px wide,
 * ~16 px between the eyes, and back up), `jpeg` (quality 20), `mirror` (left–right flip).
 */
export async function makeVariant(
  crop: RgbImage,
  variant: Exclude<TemplateVariant, 'original'>,
  options: Pick<AnalyzeOptions, 'enhanceOptions'>,
): Promise<RgbImage> {
  switch (variant) {
    case 'mirror':
      return toRgb(raw(crop).flop());
    case 'blur':
      return toRgb(raw(crop).blur(1.5));
    case 'lowres':
      return toRgb(
        raw(await toRgb(raw(crop).resize(28, 28, { kernel: 'cubic' }))).resize(crop.width, crop.height, {
          kernel: 'cubic',
        }),
      );
    case 'jpeg': {
      const encoded = await raw(crop).jpeg({ quality: 20 }).toBuffer();
      return toRgb(sharp(encoded));
    }
    case 'dark': {
      const data = new Uint8Array(crop.data.length);
      for (let i = 0; i < data.length; i++) data[i] = Math.round(crop.data[i]! * 0.25);
      const darkened = { width: crop.width, height: crop.height, data };
      // The probe path enhances dark faces; a dark template must go through the same step to match them.
      return lumaStats(darkened).mean < 80 ? enhanceFace(darkened, options.enhanceOptions) : darkened;
    }
  }
}
