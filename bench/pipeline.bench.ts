/**
 * Face pipeline benchmark: per-stage latency (median and p95), end-to-end latency, frames per second and the
 * share of time spent inside ONNX Runtime, for 1280×720 and 1920×1080 JPEG frames with 1 and 8 LFW faces pasted
 * in, and for a single 250×250 LFW photo (the gallery-enrolment case), each with one ONNX thread and with the
 * default (all cores). Needs `../shared/data/lfw-dev`; without it, prints why and exits 0.
 * Run with `npx tsx bench/pipeline.bench.ts` (or `npm run bench` for every benchmark).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { type ModelId, OnnxBackend, type OnnxBackendOptions } from '../functions/core/pipeline/models.ts';
import { FacePipeline, type Stage } from '../functions/core/pipeline/pipeline.ts';
import { LFW as LFW_DIR } from '../test/support/data.ts';
import { MOSAIC_PEOPLE as PEOPLE } from '../test/support/mosaic.ts';

/** Stages in pipeline order, with their column titles (`quality` includes the head pose, fitted to the landmarks by default). */
const STAGES: readonly { stage: Stage; title: string }[] = [
  { stage: 'decode', title: 'decode' },
  { stage: 'detect', title: 'detect' },
  { stage: 'landmarks', title: 'landmarks' },
  { stage: 'align', title: 'align' },
  { stage: 'quality', title: 'quality+pose' },
  { stage: 'enhance', title: 'enhance' },
  { stage: 'embed', title: 'embed' },
];

/**
 * Timed runs per case (after {@link WARMUP} untimed ones): enough for a median and a rough p95.
 * `FACEPRINT_BENCH_RUNS` overrides it (e.g. 3 for a quick look).
 */
const RUNS = Number(process.env.FACEPRINT_BENCH_RUNS) || 20;
const WARMUP = 2;

/**
 * ONNX thread settings to measure: 1 and the default (0: every core). `FACEPRINT_BENCH_THREADS=1` measures one
 * thread only (a quicker run on a busy machine).
 */
const THREADS: number[] = (process.env.FACEPRINT_BENCH_THREADS ?? '1,default')
  .split(',')
  .map((t) => (t.trim() === 'default' ? 0 : Number(t)))
  .filter((t) => Number.isInteger(t) && t >= 0);

/** A median and 95th percentile, in milliseconds. */
export interface Stat {
  median: number;
  p95: number;
}

/** One line of the pipeline table. */
export interface PipelineRow {
  frame: string;
  /** Faces pasted into the frame, and faces the pipeline found. */
  faces: number;
  found: number;
  threads: string;
  stages: Record<Stage, Stat>;
  endToEnd: Stat;
  /** CPU time of the process per frame (JavaScript, ONNX Runtime and sharp's threads): unlike the wall-clock
   * figures, it hardly moves with the load of a shared machine. */
  cpu: Stat;
  /** Frames per second, one frame after another: runs / total time. */
  fps: number;
  /** Time inside ONNX Runtime (`OnnxBackend.run`) per frame. */
  models: Stat;
  /** Share of the end-to-end time spent inside the models (total over all runs). */
  modelsShare: number;
}

/**
 * An {@link OnnxBackend} that measures the wall time spent inside `run()`. Overlapping calls count once (the
 * union of the intervals), so the figure stays a wall-clock time should the pipeline ever run models
 * concurrently.
 */
export class TimedBackend extends OnnxBackend {
  /** Milliseconds with at least one model running, since the last {@link reset}. */
  modelMs = 0;
  private active = 0;
  private since = 0;

  constructor(options: OnnxBackendOptions = {}) {
    super(options);
  }

  reset(): void {
    this.modelMs = 0;
  }

  override async run(id: ModelId, data: Float32Array, shape: readonly number[]) {
    if (this.active++ === 0) this.since = performance.now();
    try {
      return await super.run(id, data, shape);
    } finally {
      if (--this.active === 0) this.modelMs += performance.now() - this.since;
    }
  }
}

/** The face region of a deep-funnelled 250×250 LFW photo (roughly its central 110×110 px) with some context. */
async function faceCrop(person: string, size: number): Promise<Buffer> {
  return sharp(lfwPath(person))
    .extract({ left: 65, top: 60, width: 120, height: 130 })
    .resize(size, Math.round(size * (130 / 120)))
    .toBuffer();
}

function lfwPath(person: string): string {
  return join(LFW_DIR, person, `${person}_0001.jpg`);
}

/**
 * A surveillance-like JPEG frame: a grey, gently noisy background with `count` LFW faces pasted on a grid. One
 * face is 100 px wide; eight range from 40 to 120 px (like `test/support/mosaic.ts`, scaled to the frame).
 */
export async function buildFrame(width: number, height: number, count: number): Promise<Buffer> {
  const sizes = count === 1 ? [100] : [40, 52, 64, 76, 88, 100, 110, 120];
  const columns = Math.min(count, 4);
  const rows = Math.ceil(count / columns);
  const composites: { input: Buffer; left: number; top: number }[] = [];
  for (let i = 0; i < count; i++) {
    const size = sizes[i % sizes.length]!;
    const cellW = width / columns;
    const cellH = height / rows;
    // Centre of the cell, nudged a little so the faces do not sit on a regular lattice.
    const left = Math.round((i % columns) * cellW + (cellW - size) / 2 + ((i * 37) % 40) - 20);
    const top = Math.round(Math.floor(i / columns) * cellH + (cellH - size * 1.1) / 2 + ((i * 53) % 40) - 20);
    composites.push({ input: await faceCrop(PEOPLE[i % PEOPLE.length]!, size), left, top });
  }
  const noise = Buffer.alloc(width * height * 3);
  let seed = 12345;
  for (let p = 0; p < noise.length; p++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    noise[p] = 110 + (seed % 30);
  }
  return sharp(noise, { raw: { width, height, channels: 3 } })
    .composite(composites)
    .jpeg({ quality: 92 })
    .toBuffer();
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function stat(samples: number[]): Stat {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: percentile(sorted, 50), p95: percentile(sorted, 95) };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function measure(
  pipeline: FacePipeline,
  backend: TimedBackend,
  jpeg: Buffer,
  runs: number,
): Promise<Omit<PipelineRow, 'frame' | 'faces' | 'threads'>> {
  let found = 0;
  for (let i = 0; i < WARMUP; i++) found = (await pipeline.analyze(jpeg)).faces.length;
  const perStage = Object.fromEntries(STAGES.map(({ stage }) => [stage, [] as number[]])) as Record<
    Stage,
    number[]
  >;
  const total: number[] = [];
  const cpu: number[] = [];
  const models: number[] = [];
  for (let i = 0; i < runs; i++) {
    backend.reset();
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    const result = await pipeline.analyze(jpeg);
    const used = process.cpuUsage(cpuStart);
    total.push(performance.now() - start);
    cpu.push((used.user + used.system) / 1000);
    models.push(backend.modelMs);
    for (const { stage } of STAGES) perStage[stage].push(result.timings[stage]);
    found = result.faces.length;
  }
  const stages = Object.fromEntries(STAGES.map(({ stage }) => [stage, stat(perStage[stage])])) as Record<
    Stage,
    Stat
  >;
  return {
    found,
    stages,
    endToEnd: stat(total),
    cpu: stat(cpu),
    fps: runs / (sum(total) / 1000),
    models: stat(models),
    modelsShare: sum(models) / sum(total),
  };
}

export interface PipelineBenchOptions {
  /** Timed runs per case (default 20, or `FACEPRINT_BENCH_RUNS`). */
  runs?: number;
  /** Progress lines (default: on stderr). */
  log?: (line: string) => void;
}

/**
 * Runs every case and returns the table rows, or `undefined` (after printing why) when the LFW data is absent.
 */
export async function runPipelineBench(
  options: PipelineBenchOptions = {},
): Promise<PipelineRow[] | undefined> {
  const runs = options.runs ?? RUNS;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const missing = [LFW_DIR, ...PEOPLE.map(lfwPath)].find((p) => !existsSync(p));
  if (missing) {
    console.log(`SKIP pipeline benchmark: ${missing} is absent (it needs the shared LFW data).`);
    return undefined;
  }
  const frames: { frame: string; faces: number; jpeg: Buffer }[] = [
    { frame: 'LFW photo 250×250', faces: 1, jpeg: readFileSync(lfwPath('Aaron_Eckhart')) },
  ];
  for (const [width, height] of [
    [1280, 720],
    [1920, 1080],
  ] as const) {
    for (const faces of [1, 8]) {
      frames.push({ frame: `${width}×${height}`, faces, jpeg: await buildFrame(width, height, faces) });
    }
  }
  const rows: PipelineRow[] = [];
  for (const threads of THREADS) {
    const backend = new TimedBackend({ threads });
    const pipeline = new FacePipeline(backend);
    await pipeline.warmUp();
    try {
      for (const { frame, faces, jpeg } of frames) {
        const started = performance.now();
        const row = {
          frame,
          faces,
          threads: threads === 0 ? 'default' : String(threads),
          ...(await measure(pipeline, backend, jpeg, runs)),
        };
        rows.push(row);
        log(
          `  ${frame}, ${faces} face(s), threads ${row.threads}: ${row.endToEnd.median.toFixed(1)} ms median ` +
            `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
        );
      }
    } finally {
      await pipeline.dispose();
    }
  }
  return rows;
}

/** A Markdown table (GitHub flavour) with right-aligned numeric columns. */
export function markdownTable(headers: string[], rows: (string | number)[][], numeric?: boolean[]): string {
  const align = headers.map((_, i) => ((numeric?.[i] ?? typeof rows[0]?.[i] === 'number') ? '---:' : '---'));
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(headers), line(align), ...rows.map(line)].join('\n');
}

const ms = (s: Stat) => `${s.median.toFixed(1)} / ${s.p95.toFixed(1)}`;

/** The pipeline rows as a Markdown table: every time is "median / p95" in milliseconds. */
export function pipelineMarkdown(rows: PipelineRow[]): string {
  const headers = [
    'frame',
    'faces (found)',
    'threads',
    ...STAGES.map((s) => s.title),
    'end-to-end',
    'CPU',
    'fps',
    'models only',
    'models share',
  ];
  const body = rows.map((r) => [
    r.frame,
    `${r.faces} (${r.found})`,
    r.threads,
    ...STAGES.map(({ stage }) => ms(r.stages[stage])),
    ms(r.endToEnd),
    ms(r.cpu),
    r.fps.toFixed(1),
    ms(r.models),
    `${Math.round(r.modelsShare * 100)}%`,
  ]);
  return markdownTable(
    headers,
    body,
    headers.map((_, i) => i >= 2),
  );
}

/** The note printed under the table. */
export const pipelineNote = (runs = RUNS) =>
  `Times in ms, median / p95 of ${runs} runs after ${WARMUP} warm-up runs, one frame at a time; ` +
  '"faces (found)": faces pasted into the frame (detected by the pipeline). ' +
  '"quality+pose" includes the head pose (fitted to the landmarks since session 25; the head-pose model before); "models only" is the time inside ONNX Runtime ' +
  '(OnnxBackend.run), "models share" its fraction of the end-to-end time. "threads default" lets ONNX Runtime ' +
  'use every core. fps = runs / total time. "CPU" is the process CPU time per frame (median / p95), the figure to ' +
  'compare on a shared machine.';

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runPipelineBench();
  if (rows) {
    console.log(pipelineMarkdown(rows));
    console.log(`\n${pipelineNote()}`);
  }
}
