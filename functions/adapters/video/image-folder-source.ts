/**
 * A folder of stills from one camera as a frame source: images in natural name order, each decoded with the
 * image decoder of the pipeline and scaled to the first image's size; timestamps from the files' modification
 * times (relative to the first), or one second apart when the times do not increase.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { FaceprintError } from '../../core/errors.ts';
import { decodeImage, resizeImage } from '../../core/pipeline/image.ts';
import type { FrameSource, SourceEnd, VideoFrame, VideoInfo } from '../../core/video/frames.ts';

const STILLS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.bmp']);

export class ImageFolderSource implements FrameSource {
  private files: { path: string; mtimeMs: number }[] = [];
  private info: VideoInfo | undefined;
  private skipped = 0;
  private stopped = false;

  constructor(
    private readonly folder: string,
    private readonly every = 1,
  ) {}

  async open(): Promise<VideoInfo> {
    if (this.info) return this.info;
    const names = (await readdir(this.folder)).filter((n) => STILLS.has(extname(n).toLowerCase()));
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const picked = names.filter((_, i) => i % Math.max(1, this.every) === 0);
    this.files = await Promise.all(
      picked.map(async (n) => ({
        path: join(this.folder, n),
        mtimeMs: (await stat(join(this.folder, n))).mtimeMs,
      })),
    );
    const first = this.files[0];
    if (!first) throw new FaceprintError('INVALID_VIDEO', `The folder ${this.folder} holds no images.`);
    const image = await decodeImage(await readFile(first.path));
    const increasing = this.files.every((f, i) => i === 0 || f.mtimeMs > this.files[i - 1]!.mtimeMs);
    if (!increasing) this.files = this.files.map((f, i) => ({ ...f, mtimeMs: first.mtimeMs + i * 1000 }));
    const span = (this.files[this.files.length - 1]!.mtimeMs - first.mtimeMs) / 1000;
    this.info = {
      width: image.width,
      height: image.height,
      fps: span > 0 ? (this.files.length - 1) / span : 1,
      sourceFps: 0,
      durationSeconds: span,
      codec: 'image',
      live: false,
    };
    return this.info;
  }

  async *frames(): AsyncIterable<VideoFrame> {
    const info = await this.open();
    const t0 = this.files[0]!.mtimeMs;
    let index = 0;
    for (const file of this.files) {
      if (this.stopped) return;
      let image: Awaited<ReturnType<typeof decodeImage>>;
      try {
        image = await decodeImage(await readFile(file.path));
      } catch {
        this.skipped++;
        continue;
      }
      const frame =
        image.width === info.width && image.height === info.height
          ? image
          : await resizeImage(image, info.width, info.height);
      yield {
        index: index++,
        timestampMs: Math.round(file.mtimeMs - t0),
        image: { width: frame.width, height: frame.height, data: frame.data },
      };
    }
  }

  end(): SourceEnd {
    if (this.stopped) return { complete: false, reason: 'Stopped before the end.' };
    return this.skipped > 0
      ? {
          complete: false,
          reason: `${this.skipped} image(s) of the folder could not be decoded and were skipped.`,
        }
      : { complete: true };
  }

  async close(): Promise<void> {
    this.stopped = true;
  }
}
