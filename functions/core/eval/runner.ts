/**
 * Runs an evaluation protocol end to end: embeds every image the protocol needs once (in worker threads, with
 * an on-disk cache), then scores pairs or probes and computes the metrics of `metrics.ts`.
 *
 * This module is also the entry point of its own worker threads (see {@link runProtocol}'s `workers`).
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { FaceprintError } from '../errors.ts';
import { loadCalibration } from '../gallery/config.ts';
import { decodeImage, type RgbImage, rgbFromSharp, sharpFromRgb } from '../pipeline/image.ts';
import {
  type AnalyzeOptions,
  type AnalyzeOptionsInput,
  FacePipeline,
  type FaceWithCrops,
  PIPELINE_VERSION,
  prominence,
  resolveOptions,
} from '../pipeline/pipeline.ts';
import type { FusionConfig } from '../search/vector-index.ts';
import {
  BRIGHTNESS_BUCKETS,
  brightnessBucket,
  type IdentificationProtocol,
  lightingProtocol,
  limitIdentities,
  limitPairs,
  oneShotProtocol,
  type Pair,
  readPairs,
  scanDataset,
} from './dataset.ts';
import { type Degradation, degradeImage, meanLuma, parseDegradation } from './degrade.ts';
import {
  embedVariants,
  FusedGalleryScorer,
  GALLERY_VARIANTS,
  type GalleryVariant,
  type ScoreNorm,
  VARIANTS_VERSION,
} from './gallery-variants.ts';
import {
  abstentionRate,
  cmc,
  kFoldAccuracy,
  type OpenSetProbe,
  type RocPoint,
  rankK,
  rocAuc,
  rocCurve,
  tarAtFar,
  tpirAtFpir,
} from './metrics.ts';

export type ProtocolName = 'pairs' | 'one-shot' | 'lighting';
export const PROTOCOLS: readonly ProtocolName[] = ['pairs', 'one-shot', 'lighting'];

/** Which face of a multi-face image is evaluated. */
export type FaceSelection = 'largest' | 'centre';

export interface EvalConfig {
  /** `<root>/<identity>/<images>`. */
  data: string;
  protocol: ProtocolName;
  /** Pairs file for `pairs` (default `<data>/pairs-dev.txt`, else `<data>/pairs.txt`). */
  pairsFile?: string | undefined;
  /** Degradation spec applied to probes only (for `pairs`: to the second image of every pair). */
  degrade?: string | undefined;
  /** First N pairs (balanced over folds and classes) or first N identities. */
  limit?: number | undefined;
  /** Worker threads, each with its own single-threaded pipeline; 1 runs in-process with default threads. */
  workers?: number | undefined;
  /** Pipeline options (defaults: the shipped pipeline, without the pose model, which does not change embeddings). */
  options?: AnalyzeOptionsInput | undefined;
  /** Embedding cache folder (default `.eval-cache`); null disables the cache. */
  cacheDir?: string | null | undefined;
  /** Decision threshold whose abstention rate is reported (default: the shipped calibration's open-set threshold). */
  threshold?: number | undefined;
  /** Inter-ocular distance of the clean images, for `lowres` (default: LFW's). */
  referenceIod?: number | undefined;
  /**
   * Black border added on every side before analysis, as a fraction of the longer side (default 0). Tightly
   * cropped faces (Extended Yale B's 168×192 crops) fill the frame and are mostly missed by the detectors;
   * a border of 0.5 puts them back in a scene-like frame. Luma buckets are measured before padding.
   */
  pad?: number | undefined;
  /** How many worst failures to keep (default 12). */
  worst?: number | undefined;
  /**
   * Identification only: degradation-matched variants enrolled beside each gallery image's original template,
   * made from its aligned crop as enrolment makes them (default none: one template per identity).
   */
  variants?: readonly GalleryVariant[] | undefined;
  /** Identification only: how a subject's template scores fuse (default max; no effect without variants). */
  fusion?: FusionConfig | undefined;
  /** Identification only: per-subject normalisation of the fused scores (default none). */
  scoreNorm?: ScoreNorm | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/** An image as evaluated: path, the degradation applied and the face's box (for thumbnails). */
export interface ImageRef {
  path: string;
  degrade: string;
  box: { x: number; y: number; width: number; height: number } | null;
}

/** A failure worth looking at: the probe, what it was wrongly matched to, and its true match. */
export interface Failure {
  probe: ImageRef;
  wrong: (ImageRef & { score: number; identity?: string }) | null;
  truth: (ImageRef & { score: number | null }) | null;
}

export interface RunStats {
  images: number;
  cacheHits: number;
  computed: number;
  workers: number;
  wallSeconds: number;
  embedSeconds: number;
}

export interface PairsResult {
  protocol: 'pairs';
  pairs: number;
  accuracy: { mean: number; std: number; perFold: { fold: number; threshold: number; accuracy: number }[] };
  auc: number;
  tarAtFar: { far: number; tar: number; threshold: number }[];
  /** Images without a usable face; their pairs score −1 (always "different"). */
  detectionFailures: number;
  pairsWithMissingFace: number;
  roc: RocPoint[];
  worst: Failure[];
}

export interface IdentificationResult {
  protocol: 'one-shot' | 'lighting';
  gallerySize: number;
  matedProbes: number;
  nonMatedProbes: number;
  rank1: number;
  rank5: number;
  cmc: number[];
  /** Open set (one-shot only). */
  tpirAtFpir: { fpir: number; tpir: number; threshold: number }[];
  /** TPIR measured at a sweep of target FPIRs, for the plot. */
  tpirCurve: { fpir: number; tpir: number }[];
  /** At `threshold`: fraction of all probes answered "unknown", and of mated / non-mated ones. */
  atThreshold: { threshold: number; abstention: number; matedTpir: number; nonMatedFpir: number } | null;
  detectionFailures: { gallery: number; mated: number; nonMated: number; paths: string[] };
  /** Lighting: rank-1 per brightness bucket of the probe's mean luma. */
  buckets: { label: string; probes: number; rank1: number; detectionFailures: number }[];
  worst: Failure[];
}

export interface EvalResult {
  config: {
    data: string;
    protocol: ProtocolName;
    pairsFile?: string | undefined;
    degrade: string;
    limit?: number | undefined;
    pad?: number | undefined;
    variants?: GalleryVariant[] | undefined;
    fusion?: FusionConfig | undefined;
    scoreNorm?: ScoreNorm | undefined;
    options: Partial<AnalyzeOptions>;
    pipelineVersion: string;
  };
  stats: RunStats;
  result: PairsResult | IdentificationResult;
}

interface Job {
  path: string;
  select: FaceSelection;
  degrade: string;
  /** Gallery images: the variants to embed from the selected face's aligned crop. */
  variants?: readonly GalleryVariant[] | undefined;
}

/** What the cache keeps per image: the selected face's embedding and a little metadata. */
interface Embedded {
  embedding: Float32Array | null;
  box: ImageRef['box'];
  /** Mean luma of the whole (degraded) image. */
  luma: number;
  faces: number;
  enhanced: boolean;
  error?: string | undefined;
  /** The requested gallery variants' embeddings (absent when there is no face). */
  variants?: Partial<Record<GalleryVariant, Float32Array>> | undefined;
}

interface WorkerRequest {
  id: number;
  path: string;
  select: FaceSelection;
  degrade: string;
  seed: number;
  variants?: readonly GalleryVariant[] | undefined;
}

/** Selects the evaluated face: the largest box, or the box whose centre is nearest the image centre. */
export function selectFace<T extends Pick<FaceWithCrops, 'box' | 'score' | 'quality'>>(
  faces: readonly T[],
  select: FaceSelection,
  width: number,
  height: number,
): T | undefined {
  let best: T | undefined;
  let bestValue = Number.POSITIVE_INFINITY;
  for (const face of faces) {
    const { x, y, width: w, height: h } = face.box;
    // "largest" is the gallery rule of enrolment: the most prominent face (area × confidence × quality).
    const value =
      select === 'largest' ? -prominence(face) : Math.hypot(x + w / 2 - width / 2, y + h / 2 - height / 2);
    if (value < bestValue) {
      bestValue = value;
      best = face;
    }
  }
  return best;
}

async function embedImage(
  pipeline: FacePipeline,
  options: AnalyzeOptions,
  degradation: Degradation,
  referenceIod: number | undefined,
  pad: number,
  request: Omit<WorkerRequest, 'id'>,
): Promise<Embedded> {
  try {
    const bytes = await readFile(request.path);
    const clean = await decodeImage(bytes, options.limits);
    const image = await degradeImage(clean, degradation, {
      seed: request.seed,
      ...(referenceIod === undefined ? {} : { referenceIod }),
    });
    const luma = meanLuma(image);
    const padding = pad > 0 ? Math.round(Math.max(image.width, image.height) * pad) : 0;
    const input = padding > 0 ? await padImage(image, padding) : image;
    const wantVariants = (request.variants?.length ?? 0) > 0;
    const faces = await pipeline.analyzeImage(
      input,
      wantVariants ? { ...options, keepCrops: true } : options,
    );
    const face = selectFace(faces, request.select, input.width, input.height);
    const crop = face?.crops?.aligned;
    return {
      embedding: face && face.embedding.length > 0 ? face.embedding : null,
      box: face ? { ...face.box, x: face.box.x - padding, y: face.box.y - padding } : null,
      luma,
      faces: faces.length,
      enhanced: face?.enhanced ?? false,
      ...(wantVariants && crop
        ? { variants: await embedVariants(pipeline, crop, request.variants ?? [], options) }
        : {}),
    };
  } catch (error) {
    return {
      embedding: null,
      box: null,
      luma: 0,
      faces: 0,
      enhanced: false,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

/** Surrounds an image with a black border of `padding` px on every side. */
async function padImage(image: RgbImage, padding: number): Promise<RgbImage> {
  return rgbFromSharp(
    sharpFromRgb(image).extend({
      top: padding,
      bottom: padding,
      left: padding,
      right: padding,
      background: { r: 0, g: 0, b: 0 },
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Worker side.

interface WorkerInit {
  faceprintEvalWorker: true;
  options: AnalyzeOptions;
  degrade: Record<string, Degradation>;
  referenceIod?: number | undefined;
  pad: number;
}

if (!isMainThread && (workerData as WorkerInit | undefined)?.faceprintEvalWorker === true && parentPort) {
  const init = workerData as WorkerInit;
  const port = parentPort;
  const pipeline = new FacePipeline({ threads: 1 });
  port.on('message', (request: WorkerRequest | 'exit') => {
    if (request === 'exit') {
      void pipeline.dispose().then(() => port.close());
      return;
    }
    const degradation = init.degrade[request.degrade] ?? parseDegradation(request.degrade);
    void embedImage(pipeline, init.options, degradation, init.referenceIod, init.pad, request).then(
      (result) => {
        const transfer = result.embedding ? [result.embedding.buffer as ArrayBuffer] : [];
        port.postMessage({ id: request.id, result }, transfer);
      },
    );
  });
}

/** Source that starts a worker thread on this very module, with tsx's loader registered in that thread. */
function workerBootstrap(): string {
  const require = createRequire(import.meta.url);
  const tsxDir = dirname(require.resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  const self = new URL(import.meta.url);
  self.search = '';
  return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(self.href)}); });`;
}

// ---------------------------------------------------------------------------------------------------------
// Main side: cache and scheduling.

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The cache bucket of one (pipeline version, options, degradation) combination. */
function cacheFile(
  cacheDir: string,
  options: AnalyzeOptions,
  degrade: string,
  pad: number,
  referenceIod?: number,
): string {
  const optionsHash = sha256(
    stableJson({ ...options, keepCrops: false, ...(pad > 0 ? { evalPad: pad } : {}) }),
  ).slice(0, 16);
  const degradeHash = degrade === '' ? 'clean' : sha256(`${degrade}|${referenceIod ?? ''}`).slice(0, 12);
  return join(cacheDir, `${PIPELINE_VERSION}-${optionsHash}-${degradeHash}.jsonl`);
}

/**
 * The cache bucket of gallery variant embeddings beside a bucket of originals: one line per (image, face
 * selection, variant), the key naming the variant, so every variant set reads the variants it holds.
 */
function variantCacheFile(originals: string): string {
  return originals.replace(/\.jsonl$/, `-variants-${VARIANTS_VERSION}.jsonl`);
}

const variantKey = (key: string, variant: GalleryVariant) => `${key}:${variant}`;

interface CacheLine {
  k: string;
  e: string | null;
  b: ImageRef['box'];
  l: number;
  n: number;
  x: boolean;
  r?: string;
}

function loadCache(file: string): Map<string, Embedded> {
  const map = new Map<string, Embedded>();
  if (!existsSync(file)) return map;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    try {
      const c = JSON.parse(line) as CacheLine;
      const buf = c.e === null ? null : Buffer.from(c.e, 'base64');
      map.set(c.k, {
        embedding: buf
          ? new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
          : null,
        box: c.b,
        luma: c.l,
        faces: c.n,
        enhanced: c.x,
        error: c.r,
      });
    } catch {
      // A torn last line (interrupted run) is simply recomputed.
    }
  }
  return map;
}

function cacheLine(key: string, e: Embedded): string {
  const line: CacheLine = {
    k: key,
    e: e.embedding
      ? Buffer.from(e.embedding.buffer, e.embedding.byteOffset, e.embedding.byteLength).toString('base64')
      : null,
    b: e.box,
    l: Math.round(e.luma * 100) / 100,
    n: e.faces,
    x: e.enhanced,
    ...(e.error ? { r: e.error } : {}),
  };
  return `${JSON.stringify(line)}\n`;
}

/** Embeds every job once: cache first, then the misses across `workers` threads (or in-process). */
async function embedAll(
  jobs: Job[],
  config: EvalConfig,
  options: AnalyzeOptions,
  stats: RunStats,
): Promise<Map<string, Embedded>> {
  const started = performance.now();
  const jobKey = (job: Job) => `${job.path}|${job.select}|${job.degrade}`;
  const unique = new Map<string, Job>();
  for (const job of jobs) {
    const seen = unique.get(jobKey(job));
    const variants = new Set([...(seen?.variants ?? []), ...(job.variants ?? [])]);
    unique.set(jobKey(job), { ...job, variants: GALLERY_VARIANTS.filter((v) => variants.has(v)) });
  }
  const all = [...unique.values()];
  const total = all.length;
  stats.images = total;
  const cacheDir = config.cacheDir === undefined ? resolve('.eval-cache') : config.cacheDir;
  const degradations = new Map<string, Degradation>();
  for (const job of all)
    if (!degradations.has(job.degrade)) degradations.set(job.degrade, parseDegradation(job.degrade));

  const caches = new Map<string, { file: string; map: Map<string, Embedded> }>();
  const variantCaches = new Map<string, { file: string; map: Map<string, Embedded> }>();
  if (cacheDir !== null) {
    mkdirSync(cacheDir, { recursive: true });
    for (const degrade of degradations.keys()) {
      const file = cacheFile(cacheDir, options, degrade, config.pad ?? 0, config.referenceIod);
      caches.set(degrade, { file, map: loadCache(file) });
      if (all.some((job) => job.degrade === degrade && (job.variants?.length ?? 0) > 0)) {
        const vfile = variantCacheFile(file);
        variantCaches.set(degrade, { file: vfile, map: loadCache(vfile) });
      }
    }
  }

  const out = new Map<string, Embedded>();
  const misses: { job: Job; key: string; seed: number; originalCached: boolean }[] = [];
  for (const job of all) {
    const hash = sha256(await readFile(job.path));
    const key = `${hash}:${job.select}`;
    let hit = caches.get(job.degrade)?.map.get(key);
    const wanted = job.variants ?? [];
    if (hit?.embedding && wanted.length > 0) {
      // A face was found: its variants must all be cached too, else the whole image is recomputed.
      const vmap = variantCaches.get(job.degrade)?.map;
      const variants: Partial<Record<GalleryVariant, Float32Array>> = {};
      for (const v of wanted) {
        const e = vmap?.get(variantKey(key, v))?.embedding;
        if (e) variants[v] = e;
      }
      hit = wanted.every((v) => variants[v]) ? { ...hit, variants } : undefined;
    }
    if (hit) out.set(jobKey(job), hit);
    else
      misses.push({
        job,
        key,
        seed: Number.parseInt(hash.slice(0, 8), 16),
        originalCached: caches.get(job.degrade)?.map.has(key) ?? false,
      });
  }
  stats.cacheHits = total - misses.length;
  stats.computed = misses.length;
  let done = stats.cacheHits;
  config.onProgress?.(done, total);

  const store = (miss: (typeof misses)[number], result: Embedded) => {
    out.set(jobKey(miss.job), result);
    const cache = caches.get(miss.job.degrade);
    if (cache && !miss.originalCached) appendFileSync(cache.file, cacheLine(miss.key, result));
    const vcache = variantCaches.get(miss.job.degrade);
    if (vcache && result.variants) {
      const lines = Object.entries(result.variants).map(([v, embedding]) =>
        cacheLine(variantKey(miss.key, v as GalleryVariant), {
          embedding,
          box: null,
          luma: 0,
          faces: 0,
          enhanced: false,
        }),
      );
      appendFileSync(vcache.file, lines.join(''));
    }
    done += 1;
    config.onProgress?.(done, total);
  };

  const workers = Math.max(1, Math.min(config.workers ?? 2, misses.length));
  stats.workers = misses.length === 0 ? 0 : workers;
  if (misses.length === 0) {
    // Nothing to compute: no pipeline is loaded.
  } else if (workers === 1) {
    // One process using every core (threads: 0), the layout the workers are measured against.
    const pipeline = new FacePipeline({ threads: 0 });
    try {
      for (const miss of misses) {
        const degradation = degradations.get(miss.job.degrade) as Degradation;
        store(
          miss,
          await embedImage(pipeline, options, degradation, config.referenceIod, config.pad ?? 0, {
            path: miss.job.path,
            select: miss.job.select,
            degrade: miss.job.degrade,
            seed: miss.seed,
            variants: miss.job.variants,
          }),
        );
      }
    } finally {
      await pipeline.dispose();
    }
  } else {
    await runWorkers(misses, workers, options, degradations, config.referenceIod, config.pad ?? 0, store);
  }
  stats.embedSeconds = (performance.now() - started) / 1000;
  return out;
}

function runWorkers<M extends { job: Job; seed: number }>(
  misses: M[],
  count: number,
  options: AnalyzeOptions,
  degradations: Map<string, Degradation>,
  referenceIod: number | undefined,
  pad: number,
  store: (miss: M, result: Embedded) => void,
): Promise<void> {
  const init: WorkerInit = {
    faceprintEvalWorker: true,
    options,
    degrade: Object.fromEntries(degradations),
    referenceIod,
    pad,
  };
  const bootstrap = workerBootstrap();
  let next = 0;
  let finished = 0;
  return new Promise<void>((resolvePromise, reject) => {
    const threads: Worker[] = [];
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      for (const t of threads) void t.terminate();
      reject(error);
    };
    // Two requests in flight per worker keep it busy while the main thread stores results.
    const send = (worker: Worker) => {
      if (next >= misses.length) return;
      const id = next++;
      const miss = misses[id] as M;
      const request: WorkerRequest = {
        id,
        path: miss.job.path,
        select: miss.job.select,
        degrade: miss.job.degrade,
        seed: miss.seed,
        variants: miss.job.variants,
      };
      worker.postMessage(request);
    };
    for (let w = 0; w < count; w++) {
      const worker = new Worker(bootstrap, { eval: true, workerData: init });
      threads.push(worker);
      worker.on('message', (message: { id: number; result: Embedded }) => {
        store(misses[message.id] as M, message.result);
        finished += 1;
        if (finished === misses.length) {
          for (const t of threads) t.postMessage('exit');
          resolvePromise();
        } else {
          send(worker);
        }
      });
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (code !== 0 && finished < misses.length)
          fail(new Error(`An evaluation worker exited with code ${code}.`));
      });
      send(worker);
      send(worker);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Scoring.

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

function ref(path: string, degrade: string, e: Embedded | undefined): ImageRef {
  return { path, degrade, box: e?.box ?? null };
}

const round = (x: number, digits = 6) => Math.round(x * 10 ** digits) / 10 ** digits;

function scorePairs(
  pairs: Pair[],
  degrade: string,
  embedded: (job: Job) => Embedded | undefined,
  worst: number,
): PairsResult {
  const scored: { pair: Pair; score: number; missing: boolean }[] = [];
  const failedImages = new Set<string>();
  for (const pair of pairs) {
    const ea = embedded({ path: pair.a, select: 'centre', degrade: '' });
    const eb = embedded({ path: pair.b, select: 'centre', degrade });
    if (!ea?.embedding) failedImages.add(`${pair.a}|`);
    if (!eb?.embedding) failedImages.add(`${pair.b}|${degrade}`);
    const missing = !ea?.embedding || !eb?.embedding;
    scored.push({
      pair,
      score: missing ? -1 : dot(ea?.embedding as Float32Array, eb?.embedding as Float32Array),
      missing,
    });
  }
  const genuine = scored.filter((s) => s.pair.same).map((s) => s.score);
  const impostor = scored.filter((s) => !s.pair.same).map((s) => s.score);
  const kfold = kFoldAccuracy(scored.map((s) => ({ score: s.score, same: s.pair.same, fold: s.pair.fold })));
  // With fewer than 1/FAR impostors, TAR@FAR is the rate at zero false accepts (reported `far` is then 0).
  const fars = [1e-2, 1e-3];
  // Worst: lowest genuine and highest impostor scores, relative to the mean fold threshold.
  const t = kfold.perFold.reduce((sum, f) => sum + f.threshold, 0) / Math.max(1, kfold.perFold.length);
  const wrong = scored
    .filter((s) => (s.pair.same ? s.score < t : s.score >= t))
    .sort((x, y) => Math.abs(y.score - t) - Math.abs(x.score - t))
    .slice(0, worst);
  return {
    protocol: 'pairs',
    pairs: pairs.length,
    accuracy: kfold,
    auc: rocAuc(genuine, impostor),
    tarAtFar: fars.map((far) => {
      const r = tarAtFar(genuine, impostor, far);
      return { far, tar: r.tar, threshold: round(r.threshold) };
    }),
    detectionFailures: failedImages.size,
    pairsWithMissingFace: scored.filter((s) => s.missing).length,
    roc: thinRoc(rocCurve(genuine, impostor)),
    worst: wrong.map(({ pair, score }) => {
      const a = ref(pair.a, '', embedded({ path: pair.a, select: 'centre', degrade: '' }));
      const b = ref(pair.b, degrade, embedded({ path: pair.b, select: 'centre', degrade }));
      return pair.same
        ? { probe: b, wrong: null, truth: { ...a, score: round(score, 4) } }
        : { probe: b, wrong: { ...a, score: round(score, 4) }, truth: null };
    }),
  };
}

/** Keeps at most ~400 ROC points (the plot needs no more), always the first and last. */
function thinRoc(points: RocPoint[]): RocPoint[] {
  if (points.length <= 400) return points;
  const step = points.length / 400;
  const out: RocPoint[] = [];
  for (let i = 0; i < points.length; i += step) out.push(points[Math.floor(i)] as RocPoint);
  out.push(points[points.length - 1] as RocPoint);
  return out;
}

function scoreIdentification(
  protocol: IdentificationProtocol,
  name: 'one-shot' | 'lighting',
  degrade: string,
  embedded: (job: Job) => Embedded | undefined,
  threshold: number,
  worst: number,
  gallery: { variants: readonly GalleryVariant[]; fusion: FusionConfig; scoreNorm: ScoreNorm },
): IdentificationResult {
  const galleryJobs = protocol.gallery.map((g) => ({
    g,
    e: embedded({ path: g.image, select: 'largest', degrade: '' }),
  }));
  const enrolled = galleryJobs.filter((x) => x.e?.embedding);
  const dim = enrolled[0]?.e?.embedding?.length ?? 0;
  const matrix = new Float32Array(enrolled.length * dim);
  enrolled.forEach((x, i) => {
    matrix.set(x.e?.embedding as Float32Array, i * dim);
  });
  // One template per identity and no normalisation: plain dot products (the figures recorded before variants
  // existed). Otherwise the vector index fuses each subject's templates as configured.
  const fused =
    gallery.variants.length > 0 || gallery.scoreNorm !== 'none'
      ? new FusedGalleryScorer(
          enrolled.map((x) => ({
            original: x.e?.embedding as Float32Array,
            variants: x.e?.variants ?? {},
          })),
          gallery.fusion,
          gallery.scoreNorm,
        )
      : undefined;
  const indexOf = new Map(enrolled.map((x, i) => [x.g.identity, i]));
  const select: FaceSelection = name === 'one-shot' ? 'centre' : 'largest';

  const probes: (OpenSetProbe & {
    image: string;
    identity: string;
    top: number;
    luma: number;
    e: Embedded | undefined;
  })[] = [];
  const failedPaths: string[] = galleryJobs.filter((x) => !x.e?.embedding).map((x) => x.g.image);
  let matedFailures = 0;
  let nonMatedFailures = 0;
  const scores = new Float32Array(enrolled.length);
  for (const probe of protocol.probes) {
    const e = embedded({ path: probe.image, select, degrade });
    const base = {
      image: probe.identity ? probe.image : probe.image,
      identity: probe.identity,
      luma: e?.luma ?? 0,
      e,
    };
    if (!e?.embedding || enrolled.length === 0) {
      if (!e?.embedding) {
        failedPaths.push(probe.image);
        if (probe.mated) matedFailures += 1;
        else nonMatedFailures += 1;
      }
      probes.push({ ...base, mated: probe.mated, trueRank: null, trueScore: null, topScore: null, top: -1 });
      continue;
    }
    const v = e.embedding;
    let top = 0;
    if (fused) {
      fused.score(v, scores);
      for (let i = 1; i < enrolled.length; i++) if ((scores[i] as number) > (scores[top] as number)) top = i;
    } else {
      for (let i = 0; i < enrolled.length; i++) {
        let s = 0;
        const o = i * dim;
        for (let d = 0; d < dim; d++) s += (matrix[o + d] as number) * (v[d] as number);
        scores[i] = s;
        if (s > (scores[top] as number)) top = i;
      }
    }
    const trueIndex = probe.mated ? indexOf.get(probe.identity) : undefined;
    let trueRank: number | null = null;
    let trueScore: number | null = null;
    if (trueIndex !== undefined) {
      trueScore = scores[trueIndex] as number;
      let above = 0;
      for (let i = 0; i < enrolled.length; i++) if ((scores[i] as number) > trueScore) above += 1;
      trueRank = above + 1;
    }
    probes.push({ ...base, mated: probe.mated, trueRank, trueScore, topScore: scores[top] as number, top });
  }

  const mated = probes.filter((p) => p.mated);
  const nonMated = probes.filter((p) => !p.mated);
  const openSet = nonMated.length > 0 && mated.length > 0;
  const tpir = openSet
    ? [0.01, 0.1].map((fpir) => {
        const r = tpirAtFpir(probes, fpir);
        return { fpir, tpir: r.tpir, threshold: round(r.threshold) };
      })
    : [];
  const curve = openSet
    ? [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1].map((fpir) => ({
        fpir,
        tpir: tpirAtFpir(probes, fpir).tpir,
      }))
    : [];
  const accepted = (p: OpenSetProbe) => p.topScore !== null && p.topScore >= threshold;
  const atThreshold =
    mated.length > 0
      ? {
          threshold,
          abstention: abstentionRate(probes, threshold),
          matedTpir:
            mated.filter((p) => p.trueRank === 1 && p.trueScore !== null && p.trueScore >= threshold).length /
            mated.length,
          nonMatedFpir: nonMated.length > 0 ? nonMated.filter(accepted).length / nonMated.length : 0,
        }
      : null;

  const buckets =
    name === 'lighting'
      ? BRIGHTNESS_BUCKETS.map(({ label }) => {
          const inBucket = mated.filter((p) => brightnessBucket(p.luma) === label);
          return {
            label,
            probes: inBucket.length,
            rank1:
              inBucket.length > 0 ? inBucket.filter((p) => p.trueRank === 1).length / inBucket.length : 0,
            detectionFailures: inBucket.filter((p) => !p.e?.embedding).length,
          };
        })
      : [];

  const failures = mated
    .filter((p) => p.trueRank !== 1 && p.top >= 0)
    .sort((a, b) => (b.topScore ?? 0) - (b.trueScore ?? -1) - ((a.topScore ?? 0) - (a.trueScore ?? -1)))
    .slice(0, worst)
    .map((p): Failure => {
      const wrong = enrolled[p.top] as (typeof enrolled)[number];
      const trueIndex = indexOf.get(p.identity);
      const truth =
        trueIndex === undefined ? galleryJobs.find((x) => x.g.identity === p.identity) : enrolled[trueIndex];
      return {
        probe: ref(p.image, degrade, p.e),
        wrong: {
          ...ref(wrong.g.image, '', wrong.e),
          score: round(p.topScore ?? 0, 4),
          identity: wrong.g.identity,
        },
        truth: truth
          ? { ...ref(truth.g.image, '', truth.e), score: p.trueScore === null ? null : round(p.trueScore, 4) }
          : null,
      };
    });

  return {
    protocol: name,
    gallerySize: enrolled.length,
    matedProbes: mated.length,
    nonMatedProbes: nonMated.length,
    rank1: rankK(probes, 1),
    rank5: rankK(probes, 5),
    cmc: cmc(probes, Math.min(20, Math.max(1, enrolled.length))),
    tpirAtFpir: tpir,
    tpirCurve: curve,
    atThreshold,
    detectionFailures: {
      gallery: galleryJobs.length - enrolled.length,
      mated: matedFailures,
      nonMated: nonMatedFailures,
      paths: failedPaths,
    },
    buckets,
    worst: failures,
  };
}

/** The default pairs file of a data folder: `pairs-dev.txt`, else `pairs.txt`. */
export function defaultPairsFile(data: string): string {
  const dev = join(data, 'pairs-dev.txt');
  return existsSync(dev) ? dev : join(data, 'pairs.txt');
}

/**
 * Runs one protocol on a data folder and computes its metrics.
 *
 * Every image is embedded once (gallery images: the largest face; probes: the face nearest the image centre for
 * `pairs` and `one-shot`, the largest for `lighting`), through the cache in `cacheDir` keyed by the file's
 * sha256, {@link PIPELINE_VERSION}, a hash of the analysis options and the degradation. An image with no face
 * counts as a miss and is reported in the detection failures.
 *
 * With `variants` (identification protocols), each gallery image's aligned crop also yields those
 * degradation-matched templates (`makeVariant` + `embedCrops`, as enrolment does; cached per variant beside the
 * originals), and probes are scored by a fused search over the vector index (`FusedGalleryScorer`, `fusion`), optionally
 * Z-normalised per subject (`scoreNorm`). Without them the scores are the plain dot products of one template
 * per identity.
 *
 * @throws FaceprintError INVALID_ARGUMENT for a bad data folder, pairs file or degradation spec, or gallery
 * options given to `pairs`.
 */
export async function runProtocol(config: EvalConfig): Promise<EvalResult> {
  const started = performance.now();
  const degradation = parseDegradation(config.degrade ?? '');
  const degrade = degradation.spec;
  const options = resolveOptions({ pose: false, ...config.options, keepCrops: false, embed: true });
  const stats: RunStats = {
    images: 0,
    cacheHits: 0,
    computed: 0,
    workers: 0,
    wallSeconds: 0,
    embedSeconds: 0,
  };
  const worst = config.worst ?? 12;
  const threshold = config.threshold ?? loadCalibration().threshold;
  const key = (job: Job) => `${job.path}|${job.select}|${job.degrade}`;
  let result: PairsResult | IdentificationResult;
  let pairsFile: string | undefined;
  const variants = GALLERY_VARIANTS.filter((v) => config.variants?.includes(v));
  const fusion: FusionConfig = config.fusion ?? { method: 'max' };
  const scoreNorm: ScoreNorm = config.scoreNorm ?? 'none';

  if (config.protocol === 'pairs') {
    if (variants.length > 0 || config.fusion !== undefined || scoreNorm !== 'none') {
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        'Gallery variants, fusion and score normalisation apply to one-shot and lighting, not to pairs.',
      );
    }
    pairsFile = config.pairsFile ?? defaultPairsFile(config.data);
    const pairs = limitPairs(readPairs(pairsFile, config.data), config.limit);
    const jobs = pairs.flatMap((p): Job[] => [
      { path: p.a, select: 'centre', degrade: '' },
      { path: p.b, select: 'centre', degrade },
    ]);
    const missing = jobs.find((j) => !existsSync(j.path));
    if (missing)
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        `The pairs file names ${missing.path}, which does not exist.`,
      );
    const embedded = await embedAll(jobs, config, options, stats);
    result = scorePairs(pairs, degrade, (job) => embedded.get(key(job)), worst);
  } else if (config.protocol === 'one-shot' || config.protocol === 'lighting') {
    const dataset = limitIdentities(scanDataset(config.data), config.limit);
    const protocol = config.protocol === 'one-shot' ? oneShotProtocol(dataset) : lightingProtocol(dataset);
    if (protocol.gallery.length === 0) {
      throw new FaceprintError(
        'INVALID_ARGUMENT',
        `No identity in ${config.data} can be enrolled for ${config.protocol}.`,
      );
    }
    const select: FaceSelection = config.protocol === 'one-shot' ? 'centre' : 'largest';
    const jobs: Job[] = [
      ...protocol.gallery.map((g): Job => ({ path: g.image, select: 'largest', degrade: '', variants })),
      ...protocol.probes.map((p): Job => ({ path: p.image, select, degrade })),
    ];
    const embedded = await embedAll(jobs, config, options, stats);
    result = scoreIdentification(
      protocol,
      config.protocol,
      degrade,
      (job) => embedded.get(key(job)),
      threshold,
      worst,
      { variants, fusion, scoreNorm },
    );
  } else {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `Unknown protocol "${String(config.protocol)}"; use ${PROTOCOLS.join(', ')}.`,
    );
  }
  stats.wallSeconds = (performance.now() - started) / 1000;
  return {
    config: {
      data: config.data,
      protocol: config.protocol,
      ...(pairsFile ? { pairsFile } : {}),
      degrade,
      ...(config.limit ? { limit: config.limit } : {}),
      ...(config.pad ? { pad: config.pad } : {}),
      ...(variants.length > 0 ? { variants } : {}),
      ...(config.fusion ? { fusion } : {}),
      ...(scoreNorm !== 'none' ? { scoreNorm } : {}),
      options: {
        detect: options.detect,
        enhance: options.enhance,
        enhanceBelowBrightness: options.enhanceBelowBrightness,
        enhanceBelowContrast: options.enhanceBelowContrast,
        flip: options.flip,
      },
      pipelineVersion: PIPELINE_VERSION,
    },
    stats,
    result,
  };
}
