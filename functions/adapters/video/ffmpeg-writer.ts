/**
 * Encodes raw RGB frames into an H.264 MP4 through an `ffmpeg` child (the annotated video). Frames are written
 * with back-pressure, so a slow encoder slows the job instead of filling memory.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { FaceprintError } from '../../core/errors.ts';
import type { RgbImage } from '../../core/pipeline/image.ts';
import type { VideoInfo } from '../../core/video/frames.ts';
import type { AnnotatedFrameSink } from '../../core/video/video-job.ts';
import { ffmpegExecutable } from './ffmpeg-source.ts';

/** An {@link AnnotatedFrameSink} writing `path` (MP4, H.264 when the build has libx264, else MPEG-4 part 2). */
export class FfmpegVideoWriter implements AnnotatedFrameSink {
  private child: ChildProcessByStdio<Writable, null, Readable> | undefined;
  private exited: Promise<number | null> | undefined;
  private stderr = '';
  private failed: Error | undefined;

  constructor(
    private readonly path: string,
    private readonly codec: 'libx264' | 'mpeg4' = 'libx264',
  ) {}

  async start(info: VideoInfo): Promise<void> {
    const fps = info.fps > 0 ? info.fps : 10;
    // yuv420p needs even sides.
    const args = [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${info.width}x${info.height}`,
      '-r',
      String(fps),
      '-i',
      'pipe:0',
      '-vf',
      'pad=ceil(iw/2)*2:ceil(ih/2)*2',
      ...(this.codec === 'libx264'
        ? ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '26']
        : ['-c:v', 'mpeg4', '-q:v', '5']),
      '-pix_fmt',
      'yuv420p',
      '-movflags',
      '+faststart',
      this.path,
    ];
    const child = spawn(ffmpegExecutable(), args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      this.stderr = (this.stderr + c).slice(-2000);
    });
    child.stdin.on('error', (error) => {
      this.failed ??= error;
    });
    this.exited = new Promise((resolve) => {
      child.once('close', (code) => resolve(code));
      child.once('error', (error) => {
        this.failed ??= error;
        resolve(-1);
      });
    });
  }

  async write(frame: RgbImage): Promise<void> {
    const child = this.child;
    if (!child || this.failed) throw this.error();
    const buffer = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
    if (!child.stdin.write(buffer)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          child.stdin.off('drain', done);
          child.off('close', done);
          resolve();
        };
        child.stdin.once('drain', done);
        child.once('close', done);
      });
    }
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.stdin.end();
    const code = await this.exited;
    this.child = undefined;
    if (code !== 0) throw this.error();
  }

  private error(): FaceprintError {
    return new FaceprintError(
      'DECODER_UNAVAILABLE',
      `The annotated video ${this.path} could not be written (${this.stderr.trim().split('\n').pop() ?? this.failed?.message ?? 'encoder failed'}).`,
    );
  }
}
