import sharp from 'sharp';
import { FaceprintError } from '../errors.ts';

/** An 8-bit RGB image, pixels interleaved row by row (`data.length === width * height * 3`). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface DecodeLimits {
  /** Refuse inputs larger than this many bytes. */
  maxBytes: number;
  /** Refuse images whose header claims more pixels than this, before decoding them. */
  maxPixels: number;
  /** Refuse images smaller than this on either side: no face fits. */
  minSide: number;
  /**
   * Pixel budget of the analysis: larger images are decoded straight to this many pixels (libjpeg's and
   * libwebp's shrink-on-load; a streaming reduce for the other formats), so the detector's work and the
   * memory of a request stay bounded whatever the file claims. Faces keep their place: boxes are mapped back
   * to the full-size frame. Chosen by measurement (README, Reliability).
   */
  maxAnalysedPixels?: number | undefined;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBytes: 50 * 1024 * 1024,
  maxPixels: 64_000_000,
  minSide: 16,
  maxAnalysedPixels: 8_300_000,
};

/** Formats sharp may decode for us; anything else is refused with UNSUPPORTED_FORMAT. */
const SUPPORTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'tiff', 'gif', 'avif', 'heif', 'jp2', 'bmp']);

export interface DecodedImage extends RgbImage {
  /** Container format as sharp reports it (`jpeg`, `png`, …). */
  format: string;
  /** Number of frames/pages in the file; only the first is decoded. */
  pages: number;
  /** The frame's size before the pixel budget (after EXIF orientation); equal to width/height when not reduced. */
  sourceWidth: number;
  sourceHeight: number;
}

function describeBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${n} bytes`;
}

/**
 * Decodes any common image into 8-bit RGB: applies EXIF orientation; takes the first frame of animations;
 * converts greyscale, 16-bit, CMYK and alpha images to plain sRGB. Size limits are enforced from the
 * header, before any pixel is decoded, so decompression bombs are refused cheaply.
 *
 * @throws FaceprintError INVALID_IMAGE, UNSUPPORTED_FORMAT, IMAGE_TOO_LARGE or IMAGE_TOO_SMALL.
 */
export async function decodeImage(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Promise<DecodedImage> {
  if (bytes.byteLength === 0) {
    throw new FaceprintError('INVALID_IMAGE', 'The image is empty (0 bytes).');
  }
  if (bytes.byteLength > limits.maxBytes) {
    throw new FaceprintError(
      'IMAGE_TOO_LARGE',
      `The image is ${describeBytes(bytes.byteLength)}; the limit is ${describeBytes(limits.maxBytes)}.`,
      { bytes: bytes.byteLength, maxBytes: limits.maxBytes },
    );
  }
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let metadata: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    // Reads the header only.
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    throw new FaceprintError('INVALID_IMAGE', 'The data is not an image in a format Faceprint can read.');
  }
  const format = metadata.format ?? 'unknown';
  if (!SUPPORTED_FORMATS.has(format)) {
    throw new FaceprintError('UNSUPPORTED_FORMAT', `Images in ${format} format are not supported.`, {
      format,
    });
  }
  const width = metadata.width ?? 0;
  const height = metadata.height ?? 0;
  if (width * height > limits.maxPixels) {
    throw new FaceprintError(
      'IMAGE_TOO_LARGE',
      `The image is ${width}×${height} pixels; the limit is ${limits.maxPixels.toLocaleString('en')} pixels.`,
      { width, height, maxPixels: limits.maxPixels },
    );
  }
  if (width < limits.minSide || height < limits.minSide) {
    throw new FaceprintError(
      'IMAGE_TOO_SMALL',
      `The image is ${width}×${height} pixels; at least ${limits.minSide}×${limits.minSide} is needed to hold a face.`,
      { width, height },
    );
  }
  // Sides after EXIF orientation (5–8 swap them).
  const [sourceWidth, sourceHeight] = (metadata.orientation ?? 1) >= 5 ? [height, width] : [width, height];
  const budget = limits.maxAnalysedPixels ?? Number.POSITIVE_INFINITY;
  const reduce = width * height > budget ? Math.sqrt(budget / (width * height)) : 1;
  try {
    let pipeline = sharp(input, {
      limitInputPixels: limits.maxPixels,
      failOn: 'error',
      pages: 1,
    }).rotate();
    if (reduce < 1) {
      pipeline = pipeline.resize({
        width: Math.max(1, Math.floor(sourceWidth * reduce)),
        height: Math.max(1, Math.floor(sourceHeight * reduce)),
        fit: 'fill',
        fastShrinkOnLoad: true,
      });
    }
    const { data, info } = await pipeline
      .toColourspace('srgb')
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw new Error(`unexpected channel count ${info.channels}`);
    }
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      format,
      pages: metadata.pages ?? 1,
      sourceWidth,
      sourceHeight,
    };
  } catch (error) {
    throw decodeFailure(format, error);
  }
}

// libvips and its loaders word failures their own way ("VipsJpeg: premature end of JPEG image", "pngload:
// libspng read error"): the caller gets our sentence, chosen by what kind of failure it was, never their text.
const TRUNCATED =
  /premature end|truncat|unexpected end|end of (file|stream|data)|not enough (data|image data)|\beof\b|out of data|short read/i;

/** The sentence for an image whose header was fine but whose pixels could not be decoded. */
export function decodeFailure(format: string, error: unknown): FaceprintError {
  const text = error instanceof Error ? error.message : String(error);
  const truncated = TRUNCATED.test(text);
  return new FaceprintError(
    'INVALID_IMAGE',
    truncated
      ? `The ${format} image is truncated: the file ends before its last pixel.`
      : `The ${format} image is corrupt and could not be decoded.`,
    { format, problem: truncated ? 'truncated' : 'corrupt' },
  );
}

/** A sharp pipeline reading an RGB image's pixels (no copy). */
export function sharpFromRgb(image: RgbImage): ReturnType<typeof sharp> {
  return sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
}

/** Runs a sharp pipeline to 8-bit RGB pixels. */
export async function rgbFromSharp(pipeline: ReturnType<typeof sharp>): Promise<RgbImage> {
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** Encodes an RGB image (e.g. an aligned crop or an annotated frame) as PNG or JPEG. */
export async function encodeImage(
  image: RgbImage,
  format: 'png' | 'jpeg' = 'png',
  quality = 90,
): Promise<Buffer> {
  const pipeline = sharpFromRgb(image);
  return format === 'png' ? pipeline.png().toBuffer() : pipeline.jpeg({ quality }).toBuffer();
}

/** Resizes an RGB image with sharp's high-quality (Lanczos-3 / area) resampler. */
export function resizeImage(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  return rgbFromSharp(sharpFromRgb(image).resize(width, height, { fit: 'fill' }));
}

/** Mean luma (Rec. 601) of an RGB image, 0–255. */
export function meanLuma(image: RgbImage): number {
  const { data } = image;
  let sum = 0;
  const step = Math.max(1, Math.floor(data.length / 3 / 200_000)) * 3;
  let n = 0;
  for (let i = 0; i < data.length; i += step) {
    sum += 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
    n += 1;
  }
  return n === 0 ? 0 : sum / n;
}
