import sharp from 'sharp';
import type { DerivedVariant } from '../domain.ts';
import { enhanceFace } from '../pipeline/enhance.ts';
import { type RgbImage, rgbFromSharp, sharpFromRgb } from '../pipeline/image.ts';
import type { AnalyzeOptions } from '../pipeline/pipeline.ts';
import { lumaStats } from '../pipeline/quality.ts';

/**
 * Makes a degradation-matched copy of an aligned enrolment crop, imitating what a surveillance camera does to
 * the same face: `dark` (a quarter of the light, then the probe path's low-light enhancement, as a dark probe
 * would get), `blur` (Gaussian σ 1.5 at 112 px, about σ 2 at camera resolution), `lowres` (down to 28 px wide,
 * ~16 px between the eyes, and back up), `jpeg` (quality 20), `mirror` (left–right flip).
 */
export async function makeVariant(
  crop: RgbImage,
  variant: DerivedVariant,
  options: Pick<AnalyzeOptions, 'enhanceOptions'>,
): Promise<RgbImage> {
  switch (variant) {
    case 'mirror':
      return rgbFromSharp(sharpFromRgb(crop).flop());
    case 'blur':
      return rgbFromSharp(sharpFromRgb(crop).blur(1.5));
    case 'lowres':
      return rgbFromSharp(
        sharpFromRgb(await rgbFromSharp(sharpFromRgb(crop).resize(28, 28, { kernel: 'cubic' }))).resize(
          crop.width,
          crop.height,
          {
            kernel: 'cubic',
          },
        ),
      );
    case 'jpeg': {
      const encoded = await sharpFromRgb(crop).jpeg({ quality: 20 }).toBuffer();
      return rgbFromSharp(sharp(encoded));
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
