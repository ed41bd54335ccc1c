import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isFaceprintError } from '../../functions/core/errors.ts';
import { decodeImage } from '../../functions/core/pipeline/image.ts';
import { pngHeaderClaiming } from '../support/images.ts';

async function expectCode(bytes: Uint8Array, code: string): Promise<string> {
  try {
    await decodeImage(bytes);
  } catch (error) {
    expect(isFaceprintError(error)).toBe(true);
    if (!isFaceprintError(error)) throw error;
    expect(error.code).toBe(code);
    // One human sentence, no stack trace.
    expect(error.message).toMatch(/^[A-Z].*\.$/);
    expect(error.message).not.toContain('\n');
    return error.message;
  }
  throw new Error(`expected ${code}, but the image decoded`);
}

const gradient = (channels: 3 | 4, width = 64, height = 48) => {
  const data = Buffer.alloc(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < channels; c++) data[i * channels + c] = c === 3 ? 128 : (i * (c + 1)) % 256;
  }
  return sharp(data, { raw: { width, height, channels } });
};

describe('decodeImage', () => {
  it('refuses an empty file', async () => {
    await expectCode(new Uint8Array(0), 'INVALID_IMAGE');
  });

  it('refuses a text file', async () => {
    await expectCode(Buffer.from('name,age\nAda,36\n'), 'INVALID_IMAGE');
  });

  it('refuses a truncated JPEG', async () => {
    const jpeg = await gradient(3, 256, 256).jpeg().toBuffer();
    await expectCode(jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'INVALID_IMAGE');
  });

  it('refuses a 1×1 image as too small to hold a face', async () => {
    const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    await expectCode(png, 'IMAGE_TOO_SMALL');
  });

  it('refuses a PNG whose header claims 100,000×100,000 pixels before decoding it', async () => {
    const bomb = pngHeaderClaiming(100_000, 100_000);
    const started = performance.now();
    const message = await expectCode(bomb, 'IMAGE_TOO_LARGE');
    expect(message).toContain('100000×100000');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses inputs over the byte limit', async () => {
    await expect(
      decodeImage(new Uint8Array(2048), { maxBytes: 1024, maxPixels: 1e6, minSide: 16 }),
    ).rejects.toMatchObject({
      code: 'IMAGE_TOO_LARGE',
    });
  });

  it('refuses formats it does not support', async () => {
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>',
    );
    await expectCode(svg, 'UNSUPPORTED_FORMAT');
  });

  it('decodes the first frame of an animated GIF', async () => {
    const frames = [0, 255].map((v) =>
      sharp({ create: { width: 32, height: 32, channels: 3, background: { r: v, g: v, b: v } } })
        .raw()
        .toBuffer(),
    );
    const stacked = Buffer.concat(await Promise.all(frames));
    const gif = await sharp(stacked, { raw: { width: 32, height: 64, channels: 3, pageHeight: 32 } } as never)
      .gif()
      .toBuffer();
    const image = await decodeImage(gif);
    expect(image.pages).toBe(2);
    expect([image.width, image.height]).toEqual([32, 32]);
    expect(image.data[0]).toBeLessThan(30);
  });

  it('converts a CMYK JPEG to RGB', async () => {
    const cmyk = await gradient(3).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const image = await decodeImage(cmyk);
    expect(image.data.length).toBe(64 * 48 * 3);
  });

  it('converts a 16-bit PNG to 8-bit RGB', async () => {
    const png16 = await gradient(3).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const image = await decodeImage(png16);
    expect(image.data.length).toBe(64 * 48 * 3);
    expect(Math.max(...image.data)).toBeGreaterThan(200);
  });

  it('drops alpha and greyscale becomes three channels', async () => {
    const rgba = await decodeImage(await gradient(4).png().toBuffer());
    expect(rgba.data.length).toBe(64 * 48 * 3);
    const grey = await decodeImage(await gradient(3).greyscale().png().toBuffer());
    expect(grey.data.length).toBe(64 * 48 * 3);
    expect(grey.data[30]).toBe(grey.data[31]);
  });

  it('applies EXIF orientation', async () => {
    // A 64×48 landscape image tagged "rotate 90° clockwise" (orientation 6) must come out 48×64.
    const tagged = await gradient(3).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const image = await decodeImage(tagged);
    expect([image.width, image.height]).toEqual([48, 64]);
  });

  it('decodes WebP and TIFF', async () => {
    for (const encoded of [await gradient(3).webp().toBuffer(), await gradient(3).tiff().toBuffer()]) {
      const image = await decodeImage(encoded);
      expect([image.width, image.height]).toEqual([64, 48]);
    }
  });
});
