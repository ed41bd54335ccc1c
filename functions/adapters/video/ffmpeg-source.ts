/**
 * The FFmpeg frame source: one `ffmpeg` child process per video or stream, decoding to raw RGB frames on its
 * stdout (no temporary files). FFmpeg's own header lines on stderr give the geometry, codec, rate and length;
 * its error lines are turned into Faceprint error codes with one plain sentence each.
 *
 * Why a child process and not libav bindings (`node-av`): a crash or hang in a decoder on a hostile file kills
 * only the child, which `close()` always reaps (SIGKILL), never the server; and the same code drives Debian's
 * `ffmpeg` (local, CI) and the static binary shipped in the container image. See docs/video.md for the
 * measurement.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FaceprintError, type FaceprintErrorCode } from '../../core/errors.ts';
import type {
  FrameSource,
  FrameSourceOptions,
  SourceEnd,
  VideoFrame,
  VideoInfo,
} from '../../core/video/frames.ts';

/** The FFmpeg executable: `FACEPRINT_FFMPEG` or `ffmpeg` on the PATH. */
export function ffmpegExecutable(): string {
  return process.env.FACEPRINT_FFMPEG || 'ffmpeg';
}

/** True for inputs FFmpeg opens over the network (`rtsp://`, `http://`, `tcp://`, `udp://`, …). */
export function isStreamUrl(input: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input) && !input.toLowerCase().startsWith('file://');
}

const DEFAULT_STALL_MS = 10_000;

/**
 * Decoded frames buffered ahead of the consumer. A pipe holds only 64 KiB (a 720p frame is 2.7 MB), so without
 * this FFmpeg waits for each frame to be read before decoding the next, and the frame path waits for FFmpeg in
 * turn: buffering lets the decoder work on the second core while the first analyses (720p, one face, load ~12,
 * interleaved: the wait for a frame fell from 3.1 ms with one frame queued to 0.3 ms with three, and from
 * 21 ms with the plain pipe; README "Issue 10 speed work").
 */
const READ_AHEAD_FRAMES = 3;

/** Protocol-specific input options: socket timeouts, so a dead camera cannot hold the process forever. */
function inputOptions(input: string, stallMs: number): string[] {
  if (!isStreamUrl(input)) return [];
  const micros = String(stallMs * 1000);
  const scheme = input.slice(0, input.indexOf(':')).toLowerCase();
  if (scheme === 'rtsp' || scheme === 'rtsps') return ['-rtsp_transport', 'tcp', '-timeout', micros];
  if (scheme === 'udp') return ['-timeout', micros];
  return ['-rw_timeout', micros];
}

interface ParsedHeader {
  codec?: string;
  sourceFps?: number;
  durationSeconds?: number;
  width?: number;
  height?: number;
  outputFps?: number;
}

/** Classifies FFmpeg's error lines; the first matching rule wins. */
const ERROR_RULES: { pattern: RegExp; code: FaceprintErrorCode; message: (what: string) => string }[] = [
  {
    pattern:
      /Connection refused|Connection timed out|timed out|No route to host|Network is unreachable|Failed to resolve|Name or service not known|Server returned [45]\d\d|Connection reset|End of file.*rtsp|method DESCRIBE failed/i,
    code: 'STREAM_UNAVAILABLE',
    message: (what) => `${what} could not be reached (connection refused, timed out or closed).`,
  },
  {
    pattern: /matches no streams|does not contain any stream|no video stream/i,
    code: 'NO_VIDEO_STREAM',
    message: (what) => `${what} has no video stream (an audio-only or data-only file?).`,
  },
  {
    pattern:
      /Decoder \(codec [^)]*\) not found|Unsupported codec|unknown codec|Could not find codec parameters|codec none|no decoder/i,
    code: 'UNSUPPORTED_VIDEO',
    message: (what) => `${what} uses a video codec this FFmpeg build cannot decode.`,
  },
  {
    pattern:
      /Invalid data found|moov atom not found|could not find corresponding trailer|EBML header parsing failed|Invalid argument|Unknown input format|not a valid|error reading header|Failed to open/i,
    code: 'INVALID_VIDEO',
    message: (what) => `${what} is not a video FFmpeg can read (corrupt, truncated or not a video).`,
  },
];

/** The Faceprint error for a failed FFmpeg start, from its error lines. */
export function classifyFfmpegFailure(lines: string[], what: string, stream: boolean): FaceprintError {
  const text = lines.join('\n');
  for (const rule of ERROR_RULES) {
    if (rule.pattern.test(text)) {
      const code = rule.code === 'INVALID_VIDEO' && stream ? 'STREAM_UNAVAILABLE' : rule.code;
      const message =
        code === rule.code ? rule.message(what) : `${what} could not be opened as a video stream.`;
      return new FaceprintError(code, message, { decoder: lines.slice(-3) });
    }
  }
  return stream
    ? new FaceprintError('STREAM_UNAVAILABLE', `${what} could not be opened as a video stream.`, {
        decoder: lines.slice(-3),
      })
    : new FaceprintError('INVALID_VIDEO', `${what} could not be decoded as a video.`, {
        decoder: lines.slice(-3),
      });
}

function parseRate(line: string): number | undefined {
  const fps = /([\d.]+)\s*fps/.exec(line);
  const tbr = /([\d.]+)k?\s*tbr/.exec(line);
  const value = Number(fps?.[1] ?? tbr?.[1]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * Frames of one video file, URL or live stream through an `ffmpeg` child. Files are read at their own frame rate
 * (constant-rate output, so frame k is at k / fps); live streams pass frames through as they come, stamped with
 * the wall clock since the first frame.
 */
export class FfmpegFrameSource implements FrameSource {
  private child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  private info: VideoInfo | undefined;
  private readonly header: ParsedHeader = {};
  private readonly errors: string[] = [];
  private section: 'none' | 'input' | 'output' = 'none';
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  private ending: SourceEnd = { complete: true };
  private stalled = false;
  private closed = false;
  private readonly live: boolean;
  private readonly label: string;

  constructor(
    private readonly input: string,
    private readonly options: FrameSourceOptions & {
      ffmpeg?: string;
      label?: string;
      /** Frames decoded ahead of the consumer (default {@link READ_AHEAD_FRAMES}; at least 1). */
      readAheadFrames?: number;
    } = {},
  ) {
    this.live = isStreamUrl(input);
    this.label = options.label ?? (this.live ? `The stream ${redactUrl(input)}` : `The video ${input}`);
  }

  /** The child's process id while it runs (tests check that none outlives `close()`). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether the child has exited (or was never started). */
  get childExited(): boolean {
    const c = this.child;
    return !c || c.exitCode !== null || c.signalCode !== null;
  }

  async open(): Promise<VideoInfo> {
    if (this.info) return this.info;
    if (!this.live) await this.checkFile();
    const stallMs = this.options.stallTimeoutMs ?? DEFAULT_STALL_MS;
    const every = Math.max(1, Math.floor(this.options.every ?? 1));
    const args = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'level+info'];
    args.push(...inputOptions(this.input, stallMs));
    if (this.options.startSeconds) args.push('-ss', String(this.options.startSeconds));
    args.push('-i', this.input, '-map', '0:v:0', '-an', '-sn', '-dn');
    if (this.options.maxSeconds) args.push('-t', String(this.options.maxSeconds));
    if (every > 1) args.push('-vf', `framestep=${every}`);
    args.push(
      '-fps_mode',
      this.live ? 'passthrough' : 'cfr',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    );

    let child: ChildProcessByStdio<null, Readable, Readable>;
    try {
      child = spawn(this.options.ffmpeg ?? ffmpegExecutable(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      throw decoderMissing();
    }
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    const spawnError = new Promise<never>((_, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT' ? decoderMissing() : error),
      );
    });
    spawnError.catch(() => undefined);

    const ready = new Promise<VideoInfo>((resolve, reject) => {
      let pending = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        pending += chunk;
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          this.onStderrLine(pending.slice(0, newline).replace(/\r$/, ''));
          pending = pending.slice(newline + 1);
          newline = pending.indexOf('\n');
        }
        const info = this.infoIfReady(every);
        if (info) resolve(info);
      });
      this.exited!.then(() => {
        if (pending) this.onStderrLine(pending);
        const info = this.infoIfReady(every);
        if (info) resolve(info);
        else if (this.stalled)
          reject(
            new FaceprintError(
              this.live ? 'STREAM_UNAVAILABLE' : 'INVALID_VIDEO',
              `${this.label} sent no video for ${Math.round(stallMs / 1000)} s.`,
            ),
          );
        else reject(classifyFfmpegFailure(this.errors, this.label, this.live));
      });
    });
    const timer = setTimeout(() => {
      this.stalled = true;
      child.kill('SIGKILL');
    }, stallMs);
    try {
      this.info = await Promise.race([ready, spawnError]);
      return this.info;
    } catch (error) {
      await this.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private async checkFile(): Promise<void> {
    const path = this.input.replace(/^file:\/\//i, '');
    let size: number;
    try {
      const s = await stat(path);
      if (!s.isFile()) throw new FaceprintError('INVALID_ARGUMENT', `${path} is not a file.`);
      size = s.size;
    } catch (error) {
      if (error instanceof FaceprintError) throw error;
      throw new FaceprintError('INVALID_ARGUMENT', `${path} does not exist or cannot be read.`);
    }
    if (size === 0) throw new FaceprintError('INVALID_VIDEO', `${this.label} is empty (0 bytes).`);
  }

  private onStderrLine(raw: string): void {
    const level = /^\[(\w+)\]\s*/.exec(raw);
    const line = level ? raw.slice(level[0].length) : raw;
    const severity = level?.[1] ?? 'info';
    if (severity === 'error' || severity === 'fatal' || severity === 'panic') {
      this.errors.push(line.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, ''));
      if (this.errors.length > 50) this.errors.shift();
    }
    if (/^Input #\d+/.test(line)) this.section = 'input';
    else if (/^Output #\d+/.test(line)) this.section = 'output';
    const duration = /Duration: (\d+):(\d+):([\d.]+)/.exec(line);
    if (duration && this.section === 'input') {
      this.header.durationSeconds =
        Number(duration[1]) * 3600 + Number(duration[2]) * 60 + Number(duration[3]);
    }
    const stream = /Stream #\d+:\d+.*?: Video: (\w+)/.exec(line);
    if (!stream) return;
    if (this.section === 'input' && this.header.codec === undefined) {
      this.header.codec = stream[1];
      this.header.sourceFps = parseRate(line);
    } else if (this.section === 'output') {
      const size = /, (\d{2,5})x(\d{2,5})/.exec(line);
      if (size) {
        this.header.width = Number(size[1]);
        this.header.height = Number(size[2]);
        this.header.outputFps = parseRate(line);
      }
    }
  }

  private infoIfReady(every: number): VideoInfo | undefined {
    const { width, height } = this.header;
    if (!width || !height) return undefined;
    const sourceFps = this.header.sourceFps ?? 0;
    return {
      width,
      height,
      sourceFps,
      fps: this.header.outputFps ?? (sourceFps > 0 ? sourceFps / every : 0),
      durationSeconds: this.live ? undefined : this.header.durationSeconds,
      codec: this.header.codec ?? 'unknown',
      live: this.live,
    };
  }

  async *frames(): AsyncIterable<VideoFrame> {
    const info = await this.open();
    const child = this.child!;
    const frameBytes = info.width * info.height * 3;
    const stallMs = this.options.stallTimeoutMs ?? DEFAULT_STALL_MS;
    let frame = Buffer.allocUnsafe(frameBytes);
    let filled = 0;
    let index = 0;
    let firstWallClock: number | undefined;
    let lastTimestamp = 0;
    const timer = setTimeout(() => this.stall(), stallMs);
    const startMs = (this.options.startSeconds ?? 0) * 1000;
    let drained = false;
    // Frames are cut from the pipe as its chunks arrive and queued; the pipe is paused while `readAhead` frames
    // wait, so memory stays bounded and the decoder keeps working while this process analyses.
    const readAhead = Math.max(1, this.options.readAheadFrames ?? READ_AHEAD_FRAMES);
    const ready: { data: Buffer; at: number }[] = [];
    const stdout = child.stdout;
    let ended = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const onData = (chunk: Buffer) => {
      timer.refresh();
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(chunk.length - offset, frameBytes - filled);
        chunk.copy(frame, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled < frameBytes) continue;
        ready.push({ data: frame, at: performance.now() });
        frame = Buffer.allocUnsafe(frameBytes);
        filled = 0;
      }
      if (ready.length >= readAhead) stdout.pause();
      notify();
    };
    const onEnd = () => {
      ended = true;
      notify();
    };
    const onError = (error: Error) => {
      failure = error;
      onEnd();
    };
    stdout.on('data', onData);
    stdout.once('end', onEnd);
    stdout.once('error', onError);
    try {
      for (;;) {
        const next = ready.shift();
        if (!next) {
          if (ended) break;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        if (stdout.isPaused() && ready.length < readAhead) stdout.resume();
        timer.refresh();
        firstWallClock ??= next.at;
        lastTimestamp =
          info.live || info.fps <= 0 ? next.at - firstWallClock : startMs + (index * 1000) / info.fps;
        const image = {
          width: info.width,
          height: info.height,
          data: new Uint8Array(next.data.buffer, next.data.byteOffset, frameBytes),
        };
        yield { index, timestampMs: Math.round(lastTimestamp * 10) / 10, image };
        index++;
      }
      if (failure) throw failure;
      drained = true;
    } finally {
      clearTimeout(timer);
      stdout.off('data', onData);
      stdout.off('end', onEnd);
      stdout.off('error', onError);
      if (!drained) {
        // An early break by the consumer: stop the decoder now.
        this.ending = { complete: false, reason: 'Stopped before the end.' };
        if (!this.childExited) child.kill('SIGKILL');
      }
    }
    const exit = await this.exited!;
    this.ending = this.describeEnd(exit, filled, index, lastTimestamp, info);
  }

  private stall(): void {
    this.stalled = true;
    this.child?.kill('SIGKILL');
  }

  private describeEnd(
    exit: { code: number | null; signal: NodeJS.Signals | null },
    leftover: number,
    frames: number,
    lastMs: number,
    info: VideoInfo,
  ): SourceEnd {
    const detail = this.errors.slice(-3).join(' | ') || undefined;
    if (this.closed) return { complete: false, reason: 'Stopped before the end.', detail };
    if (this.stalled) {
      return {
        complete: false,
        reason: `${this.label} stopped sending frames for ${Math.round((this.options.stallTimeoutMs ?? DEFAULT_STALL_MS) / 1000)} s after ${frames} frame(s).`,
        detail,
      };
    }
    if (exit.code !== 0 || leftover > 0) {
      return {
        complete: false,
        reason: this.live
          ? `${this.label} ended or dropped after ${frames} frame(s).`
          : `${this.label} could not be decoded to the end: ${frames} frame(s) were read (truncated or corrupt).`,
        detail,
      };
    }
    if (!info.live && info.durationSeconds !== undefined && info.fps > 0) {
      const startMs = (this.options.startSeconds ?? 0) * 1000;
      const statedEndMs = Math.min(
        info.durationSeconds * 1000,
        this.options.maxSeconds !== undefined
          ? startMs + this.options.maxSeconds * 1000
          : Number.POSITIVE_INFINITY,
      );
      const reachedMs = frames === 0 ? startMs : lastMs + 1000 / info.fps;
      // Half a second plus two frames of slack: containers round their stated length.
      if (statedEndMs - reachedMs > 500 + 2000 / info.fps) {
        return {
          complete: false,
          reason: `${this.label} ends at ${(reachedMs / 1000).toFixed(1)} s, before its stated length of ${(statedEndMs / 1000).toFixed(1)} s (truncated or corrupt).`,
          detail,
        };
      }
    }
    if (this.live) return { complete: false, reason: `${this.label} ended.`, detail };
    return { complete: true, detail };
  }

  end(): SourceEnd {
    return this.ending;
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (!this.childExited) {
      this.closed = true;
      child.kill('SIGKILL');
    }
    await this.exited;
  }
}

function decoderMissing(): FaceprintError {
  return new FaceprintError(
    'DECODER_UNAVAILABLE',
    `FFmpeg was not found (${ffmpegExecutable()}); install it (apt-get install ffmpeg) or set FACEPRINT_FFMPEG.`,
  );
}

/** A URL without its user:password part, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}
