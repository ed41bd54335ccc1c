/**
 * `faceprint video <file|url|folder>`: one decision per person seen, with progress and a summary table; and
 * `faceprint watch <url>`: a live camera, decisions printed as they happen, reconnecting with backoff.
 */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { FfmpegFrameSource, isStreamUrl, redactUrl } from '../../functions/adapters/video/ffmpeg-source.ts';
import { FfmpegVideoWriter } from '../../functions/adapters/video/ffmpeg-writer.ts';
import { ImageFolderSource } from '../../functions/adapters/video/image-folder-source.ts';
import type { TrackEvent, TrackEventSink } from '../../functions/core/video/events.ts';
import type { FrameSource } from '../../functions/core/video/frames.ts';
import { auditSink, galleryMatcher } from '../../functions/core/video/gallery-matcher.ts';
import { AGGREGATIONS, type Aggregation } from '../../functions/core/video/track-evidence.ts';
import { processVideo } from '../../functions/core/video/video-job.ts';
import type { TrackSummary, VideoResult } from '../../functions/core/video/video-types.ts';
import { watch } from '../../functions/core/video/watch.ts';
import { openLocalGallery } from '../../functions/local/composition.ts';
import { EXIT, intOption, printJson, UsageError } from './common.ts';

const OPTIONS = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
  ndjson: { type: 'boolean', default: false },
  annotate: { type: 'string' },
  every: { type: 'string' },
  'full-every': { type: 'string' },
  aggregation: { type: 'string' },
  start: { type: 'string' },
  'max-seconds': { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const VIDEO_HELP = `Usage: faceprint video <file|url|folder> [--annotate out.mp4] [--json|--ndjson] [--every N]
  --every N          analyse every Nth frame (default 1)
  --full-every N     full detector pyramid every N analysed frames (default: one second, at least 10)
  --aggregation A    quality-mean (default), best-single, max-score or top2-mean
  --start S          start S seconds in;  --max-seconds S  stop after S seconds of video
  --ndjson           one JSON track event per line as it happens, then the result
`;

/** Builds the frame source for a file, a URL or a folder of stills. */
export async function sourceFor(
  input: string,
  options: { every?: number; startSeconds?: number; maxSeconds?: number; stallTimeoutMs?: number },
): Promise<FrameSource> {
  if (!isStreamUrl(input)) {
    const s = await stat(input).catch(() => undefined);
    if (!s) throw new UsageError(`${input} does not exist.`);
    if (s.isDirectory()) return new ImageFolderSource(input, options.every ?? 1);
  }
  return new FfmpegFrameSource(input, options);
}

function positiveOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new UsageError(`--${name} must be a positive number, not "${value}".`);
  return n;
}

function aggregationOption(value: string | undefined): Aggregation {
  if (value === undefined) return 'quality-mean';
  if (!(AGGREGATIONS as readonly string[]).includes(value))
    throw new UsageError(`--aggregation must be one of ${AGGREGATIONS.join(', ')}, not "${value}".`);
  return value as Aggregation;
}

function clock(ms: number): string {
  const s = ms / 1000;
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${(s - m * 60).toFixed(1).padStart(4, '0')}`;
}

/** The people-seen table. */
export function summaryTable(tracks: readonly TrackSummary[]): string {
  const rows = tracks.map((t) => {
    const d = t.decision;
    const who = !d
      ? '(no usable face)'
      : d.kind === 'unknown'
        ? 'unknown'
        : `${d.subjectName ?? d.subjectId}${d.kind === 'ambiguous' ? ' (ambiguous)' : ''}`;
    return [
      `#${t.id}`,
      who,
      `${clock(t.firstMs)}–${clock(t.lastMs)}`,
      d ? `${d.similarity.toFixed(3)} ${d.kind === 'unknown' ? '<' : '≥'} ${d.threshold.toFixed(3)}` : '-',
      d ? d.confidence.toFixed(2) : '-',
      `${t.evidence.length}/${t.hits}`,
      t.evidence[0] ? t.evidence[0].quality.score.toFixed(2) : '-',
    ];
  });
  const header = ['track', 'who', 'seen', 'similarity', 'confidence', 'faces used/seen', 'best quality'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function describeEvent(e: TrackEvent): string {
  const d = e.decision;
  const at = clock(e.timestampMs);
  if (e.type === 'track.started') return `${at} track #${e.trackId} started`;
  if (e.type === 'track.ended')
    return `${at} track #${e.trackId} ended${d ? ` (${d.kind === 'unknown' ? 'unknown' : (d.subjectName ?? d.subjectId)})` : ''}`;
  if (!d) return `${at} track #${e.trackId} ${e.type}`;
  const what =
    e.type === 'track.unknown'
      ? `unknown: best similarity ${d.similarity.toFixed(3)} < ${d.threshold.toFixed(3)}`
      : `${d.kind} ${d.subjectName ?? d.subjectId} similarity ${d.similarity.toFixed(3)} ≥ ${d.threshold.toFixed(3)}`;
  return `${at} track #${e.trackId} ${e.revised ? 're-decided ' : ''}${what} (${d.facesUsed} face(s), ${d.aggregation})`;
}

/** Prints events as NDJSON lines or as human sentences on stdout. */
export function printingSink(mode: 'ndjson' | 'text' | 'none'): TrackEventSink {
  return {
    publish: async (events) => {
      for (const e of events) {
        if (mode === 'ndjson')
          process.stdout.write(
            `${JSON.stringify({ event: e.type, ...e, track: undefined, decision: e.decision ? { ...e.decision, candidates: e.decision.candidates.slice(0, 3) } : undefined })}\n`,
          );
        else if (mode === 'text') process.stdout.write(`${describeEvent(e)}\n`);
      }
    },
  };
}

function printResult(result: VideoResult): void {
  const i = result.info;
  process.stdout.write(
    `${result.source}: ${i.width}×${i.height} ${i.codec}, ${result.frames} frame(s), ${(result.durationMs / 1000).toFixed(1)} s of video in ${(result.elapsedMs / 1000).toFixed(1)} s (${result.fps.toFixed(1)} fps, ${result.realTimeFactor.toFixed(2)}× real time)\n`,
  );
  if (!result.complete) process.stdout.write(`partial result: ${result.reason}\n`);
  process.stdout.write(`${result.tracks.length} person(s) seen:\n${summaryTable(result.tracks)}\n`);
}

export async function videoCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  if (values.help) {
    process.stdout.write(VIDEO_HELP);
    return EXIT.ok;
  }
  const input = positionals[0];
  if (!input || positionals.length > 1) throw new UsageError('video takes one file, URL or folder.');
  const every = intOption(values.every, 'every', 1) || 1;
  const aggregation = aggregationOption(values.aggregation);
  const source = await sourceFor(input, {
    every,
    startSeconds: positiveOption(values.start, 'start'),
    maxSeconds: positiveOption(values['max-seconds'], 'max-seconds'),
  });
  const label = isStreamUrl(input) ? redactUrl(input) : input;
  const local = await openLocalGallery({
    dataDir: values['data-dir'],
    threads: intOption(values.threads, 'threads', 1),
  });
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  try {
    const tty = process.stderr.isTTY === true && !values.json && !values.ndjson;
    let lastDraw = 0;
    const { result } = await processVideo(
      source,
      {
        pipeline: local.pipeline,
        matcher: galleryMatcher(local.gallery),
        events: [auditSink(local.gallery), printingSink(values.ndjson ? 'ndjson' : 'none')],
      },
      label,
      {
        aggregation,
        fullScanEvery:
          values['full-every'] === undefined
            ? undefined
            : intOption(values['full-every'], 'full-every', 10) || 1,
        annotate: values.annotate ? new FfmpegVideoWriter(values.annotate) : undefined,
        signal: controller.signal,
        onProgress: (p) => {
          const now = performance.now();
          if (!tty || now - lastDraw < 250) return;
          lastDraw = now;
          process.stderr.write(
            `\r${p.frames} frames  ${clock(p.positionMs)}  ${p.fps.toFixed(1)} fps  ${p.realTimeFactor.toFixed(2)}× real time  ${p.tracks} person(s)   `,
          );
        },
      },
    );
    if (tty) process.stderr.write('\n');
    if (values.json) printJson(result);
    else if (values.ndjson) process.stdout.write(`${JSON.stringify({ event: 'video.result', ...result })}\n`);
    else printResult(result);
    return EXIT.ok;
  } finally {
    process.off('SIGINT', stop);
    await source.close();
    await local.close();
  }
}

export async function watchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...OPTIONS, retries: { type: 'string' }, 'stall-seconds': { type: 'string' } },
    allowPositionals: true,
  });
  const url = positionals[0];
  if (!url || !isStreamUrl(url))
    throw new UsageError('watch takes one stream URL (rtsp://, http://, tcp://, udp://…).');
  const local = await openLocalGallery({
    dataDir: values['data-dir'],
    threads: intOption(values.threads, 'threads', 1),
  });
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const stallTimeoutMs = (positiveOption(values['stall-seconds'], 'stall-seconds') ?? 10) * 1000;
    const every = intOption(values.every, 'every', 1) || 1;
    const end = await watch({
      open: () => new FfmpegFrameSource(url, { every, stallTimeoutMs }),
      label: redactUrl(url),
      deps: {
        pipeline: local.pipeline,
        matcher: galleryMatcher(local.gallery),
        events: [auditSink(local.gallery), printingSink(values.ndjson || values.json ? 'ndjson' : 'text')],
      },
      aggregation: aggregationOption(values.aggregation),
      maxRetries:
        values.retries === undefined ? Number.POSITIVE_INFINITY : intOption(values.retries, 'retries', 0),
      onSession: (result) => {
        if (result.tracks.length > 0 && !values.ndjson && !values.json)
          process.stdout.write(`${summaryTable(result.tracks)}\n`);
      },
      signal: controller.signal,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stderr.write(
      `watch: ${end.reason === 'stopped' ? 'stopped' : `gave up: ${end.lastError ?? 'no connection'}`} after ${end.sessions} connection(s), ${end.frames} frame(s)\n`,
    );
    return end.reason === 'stopped' ? EXIT.ok : EXIT.invalidInput;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await local.close();
  }
}
