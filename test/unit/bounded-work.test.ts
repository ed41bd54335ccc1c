/**
 * Issue 13, finding 3: one small file must not buy half a minute and most of a gigabyte. Large frames are
 * decoded straight to the pixel budget (shrink-on-load), faces found on the reduced frame are reported in the
 * full-size frame, and an analysis stops at its deadline (PROCESSING_TIMEOUT) or when its caller goes away
 * (CANCELLED).
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEADLINE_MS, defaultGalleryConfig } from '../../functions/core/gallery/config.ts';
import { DEFAULT_DECODE_LIMITS, decodeImage } from '../../functions/core/pipeline/image.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';

let pipeline: FacePipeline;
beforeAll(async () => {
  pipeline = new FacePipeline({ threads: 1 });
  await pipeline.warmUp();
}, 60_000);
afterAll(() => pipeline.dispose());

describe('pixel budget', () => {
  it("decodes the hostile test's 7,900×7,900 PNG (62.4 Mpx) at no more than the budget", async () => {
    const png = await sharp({
      create: { width: 7900, height: 7900, channels: 3, background: { r: 200, g: 200, b: 200 } },
    })
      .png()
      .toBuffer();
    expect(png.byteLength).toBeLessThan(400_000);
    const image = await decodeImage(png);
    expect(image.width * image.height).toBeLessThanOrEqual(DEFAULT_DECODE_LIMITS.maxAnalysedPixels!);
    expect(image.width * image.height).toBeGreaterThan(DEFAULT_DECODE_LIMITS.maxAnalysedPixels! * 0.99);
    expect([image.sourceWidth, image.sourceHeight]).toEqual([7900, 7900]);
    expect(image.data.length).toBe(image.width * image.height * 3);
  }, 60_000);

  it('keeps EXIF orientation when reducing (a rotated frame keeps its shape)', async () => {
    const jpeg = await sharp({ create: { width: 400, height: 200, channels: 3, background: '#777' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const image = await decodeImage(jpeg, { ...DEFAULT_DECODE_LIMITS, maxAnalysedPixels: 20_000 });
    expect([image.sourceWidth, image.sourceHeight]).toEqual([200, 400]);
    expect(image.height).toBeGreaterThan(image.width);
    expect(image.width * image.height).toBeLessThanOrEqual(20_000);
  });

  it.skipIf(!hasData(SEED))('reports faces found on the reduced frame in the full-size frame', async () => {
    const photo = read(seedPhoto('wendy', 1));
    const full = await pipeline.analyze(photo, { embed: false });
    const reduced = await pipeline.analyze(photo, {
      embed: false,
      limits: { maxAnalysedPixels: Math.round((full.width * full.height) / 4) },
    });
    expect([reduced.width, reduced.height]).toEqual([full.width, full.height]);
    const a = full.faces[0]!.box;
    const b = reduced.faces[0]!.box;
    // Same face, same place, within a few percent of its size.
    expect(Math.abs(a.x + a.width / 2 - (b.x + b.width / 2))).toBeLessThan(a.width * 0.1);
    expect(Math.abs(a.width - b.width)).toBeLessThan(a.width * 0.15);
  });
});

describe('deadline and cancellation', () => {
  const frame = () =>
    sharp({ create: { width: 1920, height: 1080, channels: 3, background: '#556' } })
      .jpeg()
      .toBuffer();

  it('fails with PROCESSING_TIMEOUT past the deadline', async () => {
    await expect(pipeline.analyze(await frame(), { deadlineMs: 1 })).rejects.toMatchObject({
      code: 'PROCESSING_TIMEOUT',
      message: expect.stringMatching(/longer than the 0\.001 s limit/),
    });
  });

  it('stops with CANCELLED as soon as its signal is aborted', async () => {
    const controller = new AbortController();
    const pending = pipeline.analyze(await frame(), { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('the gallery configuration carries the deadline', () => {
    expect(defaultGalleryConfig().analyze.deadlineMs).toBe(DEFAULT_DEADLINE_MS);
  });
});
