/**
 * The pose evaluation (`faceprint eval --protocol one-shot --pose`): one-shot identification by the probe's
 * head pose, with and without pose-synthesised gallery views (`core/pose`), with the fusion rules and the
 * probe-side alternative (frontalisation) side by side.
 *
 * It needs what the shared embedding cache does not keep (the 68 landmarks, the pose, the rendered views), so
 * it analyses each image once more and keeps its own cache bucket beside the others in `.eval-cache`
 * (`<pipeline>-pose-<recipe>-<degradation>.jsonl`, keyed by the image's sha256 and face selection).
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { POSE_VARIANTS, type PoseVariant, poseOfVariant } from '../core/domain.ts';
import { makeVariant } from '../core/gallery/variants.ts';
import { decodeImage } from '../core/pipeline/image.ts';
import { FacePipeline, PIPELINE_VERSION, resolveOptions } from '../core/pipeline/pipeline.ts';
import { preparePoseSource, renderView } from '../core/pose/render.ts';
import { limitIdentities, oneShotProtocol, scanDataset } from './dataset.ts';
import { degradeImage, parseDegradation } from './degrade.ts';
import { selectFace } from './embed-image.ts';
import { type OpenSetProbe, rankK, tpirAtFpir } from './metrics.ts';

/** Version of the pose recipe (`core/pose`): part of the cache file name. */
export const POSE_RECIPE_VERSION = 'v1';

/** The degradation-matched variants of today's default gallery (`gallery/config.ts`). */
const TODAY = ['mirror', 'blur', 'dark', 'lowres'] as const;

interface PoseRecord {
  embedding: Float32Array | null;
  /** Head-pose model (hopenet) angles, degrees. */
  modelYaw: number;
  modelPitch: number;
  /** Landmark fit against the generic face, degrees (the renderer's convention). */
  fitYaw: number;
  fitPitch: number;
  /** Gallery: today's variants and the pose views; probes: the frontalised embedding. */
  templates: Record<string, Float32Array>;
}

export interface PoseEvalConfig {
  data: string;
  degrade: string;
  limit?: number | undefined;
  cacheDir?: string | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

export interface PoseBucketRow {
  bucket: string;
  probes: number;
  rows: { config: string; rank1: number; tpir: number }[];
}

export interface PoseEvalResult {
  gallery: number;
  matedProbes: number;
  nonMatedProbes: number;
  failures: number;
  configs: string[];
  buckets: PoseBucketRow[];
  wallSeconds: number;
}

const encode = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
const decode = (s: string) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

function loadCache(file: string): Map<string, PoseRecord> {
  const map = new Map<string, PoseRecord>();
  if (!existsSync(file)) return map;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    try {
      const c = JSON.parse(line) as { k: string; e: string | null; p: number[]; t: Record<string, string> };
      map.set(c.k, {
        embedding: c.e === null ? null : decode(c.e),
        modelYaw: c.p[0] ?? 0,
        modelPitch: c.p[1] ?? 0,
        fitYaw: c.p[2] ?? 0,
        fitPitch: c.p[3] ?? 0,
        templates: Object.fromEntries(Object.entries(c.t).map(([k, v]) => [k, decode(v)])),
      });
    } catch {
      // A torn last line is recomputed.
    }
  }
  return map;
}

async function analyse(
  pipeline: FacePipeline,
  path: string,
  select: 'largest' | 'centre',
  degrade: string,
  seed: number,
  gallery: boolean,
): Promise<PoseRecord> {
  const options = resolveOptions({ keepCrops: true, pose: true });
  const clean = await decodeImage(readFileSync(path), options.limits);
  const image = await degradeImage(clean, parseDegradation(degrade), { seed });
  const faces = await pipeline.analyzeImage(image, options);
  const face = selectFace(faces, select, image.width, image.height);
  const none = { embedding: null, modelYaw: 0, modelPitch: 0, fitYaw: 0, fitPitch: 0, templates: {} };
  if (!face?.crops?.landmarks68 || face.embedding.length === 0) return none;
  const source = preparePoseSource(image, face.crops.landmarks68);
  const crops = gallery
    ? [
        ...(await Promise.all(TODAY.map((v) => makeVariant(face.crops!.aligned, v, options)))),
        ...POSE_VARIANTS.map((v) => renderView(source, poseOfVariant(v).yaw, poseOfVariant(v).pitch)),
      ]
    : [renderView(source, 0, 0)];
  const names = gallery ? [...TODAY, ...POSE_VARIANTS] : ['frontal'];
  const vectors = await pipeline.embedCrops(crops);
  return {
    embedding: face.embedding,
    modelYaw: face.pose.yaw,
    modelPitch: face.pose.pitch,
    fitYaw: source.pose.yaw,
    fitPitch: source.pose.pitch,
    templates: Object.fromEntries(names.map((n, i) => [n, vectors[i]!])),
  };
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

type Fusion = 'max' | 'top2mean';
function fuse(scores: number[], fusion: Fusion): number {
  if (fusion === 'max' || scores.length < 2) return Math.max(...scores);
  const sorted = [...scores].sort((a, b) => b - a);
  return (sorted[0]! + sorted[1]!) / 2;
}

/** The pose buckets: by the head-pose model's |yaw| and by its pitch. */
const BUCKETS: { label: string; test: (r: PoseRecord) => boolean }[] = [
  { label: 'all', test: () => true },
  { label: '|yaw| < 15°', test: (r) => Math.abs(r.modelYaw) < 15 },
  { label: '15° ≤ |yaw| < 30°', test: (r) => Math.abs(r.modelYaw) >= 15 && Math.abs(r.modelYaw) < 30 },
  { label: '|yaw| ≥ 30°', test: (r) => Math.abs(r.modelYaw) >= 30 },
  { label: 'pitch ≤ −15°', test: (r) => r.modelPitch <= -15 },
];

/** Runs the pose evaluation on the one-shot protocol of `config.data`. */
export async function runPoseEval(config: PoseEvalConfig): Promise<PoseEvalResult> {
  const started = performance.now();
  const protocol = oneShotProtocol(limitIdentities(scanDataset(config.data), config.limit));
  const cacheDir = resolve(config.cacheDir ?? '.eval-cache');
  mkdirSync(cacheDir, { recursive: true });
  const tag =
    config.degrade === '' ? 'clean' : createHash('sha256').update(config.degrade).digest('hex').slice(0, 12);
  const file = join(cacheDir, `${PIPELINE_VERSION}-pose-${POSE_RECIPE_VERSION}-${tag}.jsonl`);
  const cache = loadCache(file);
  const jobs = [
    ...protocol.gallery.map((g) => ({
      path: g.image,
      select: 'largest' as const,
      degrade: '',
      gallery: true,
    })),
    ...protocol.probes.map((p) => ({
      path: p.image,
      select: 'centre' as const,
      degrade: config.degrade,
      gallery: false,
    })),
  ];
  const records = new Map<string, PoseRecord>();
  let pipeline: FacePipeline | undefined;
  let done = 0;
  try {
    for (const job of jobs) {
      const hash = createHash('sha256').update(readFileSync(job.path)).digest('hex');
      const key = `${hash}:${job.select}:${job.degrade}`;
      let record = cache.get(key);
      if (!record) {
        pipeline ??= new FacePipeline({ threads: 0 });
        record = await analyse(
          pipeline,
          job.path,
          job.select,
          job.degrade,
          Number.parseInt(hash.slice(0, 8), 16),
          job.gallery,
        );
        appendFileSync(
          file,
          `${JSON.stringify({
            k: key,
            e: record.embedding ? encode(record.embedding) : null,
            p: [record.modelYaw, record.modelPitch, record.fitYaw, record.fitPitch].map(
              (x) => Math.round(x * 100) / 100,
            ),
            t: Object.fromEntries(Object.entries(record.templates).map(([k, v]) => [k, encode(v)])),
          })}\n`,
        );
      }
      records.set(`${job.path}|${job.gallery}`, record);
      done += 1;
      config.onProgress?.(done, jobs.length);
    }
  } finally {
    await pipeline?.dispose();
  }

  const enrolled = protocol.gallery.flatMap((g) => {
    const r = records.get(`${g.image}|true`);
    return r?.embedding ? [{ identity: g.identity, record: r, original: r.embedding }] : [];
  });
  const viewYaw = (v: PoseVariant) => poseOfVariant(v).yaw;
  /** Each configuration: the templates a probe is scored against per subject, and the probe vector. */
  const configs: {
    name: string;
    fusion: Fusion;
    templates: (g: (typeof enrolled)[number], probe: PoseRecord) => Float32Array[];
    probe: (p: PoseRecord) => Float32Array;
  }[] = [];
  const today = (g: (typeof enrolled)[number]) => [g.original, ...TODAY.map((v) => g.record.templates[v]!)];
  const views = (g: (typeof enrolled)[number], chosen: readonly PoseVariant[]) =>
    chosen.map((v) => g.record.templates[v]!);
  const original = (p: PoseRecord) => p.embedding!;
  configs.push({ name: 'original only', fusion: 'max', templates: (g) => [g.original], probe: original });
  configs.push({ name: "today's gallery (max)", fusion: 'max', templates: today, probe: original });
  configs.push({
    name: '+ all pose views (max)',
    fusion: 'max',
    templates: (g) => [...today(g), ...views(g, POSE_VARIANTS)],
    probe: original,
  });
  configs.push({
    name: '+ all pose views (top2mean)',
    fusion: 'top2mean',
    templates: (g) => [...today(g), ...views(g, POSE_VARIANTS)],
    probe: original,
  });
  configs.push({
    name: '+ nearest-pose view (max)',
    fusion: 'max',
    templates: (g, p) => {
      // The yaw view nearest the probe's fitted yaw, only when the probe is turned more than 10°.
      if (Math.abs(p.fitYaw) < 10) return today(g);
      const yawViews = POSE_VARIANTS.filter((v) => poseOfVariant(v).pitch === 0);
      const nearest = yawViews.reduce((a, b) =>
        Math.abs(viewYaw(b) - p.fitYaw) < Math.abs(viewYaw(a) - p.fitYaw) ? b : a,
      );
      return [...today(g), g.record.templates[nearest]!];
    },
    probe: original,
  });
  configs.push({
    name: 'frontalised probes (|fit yaw| ≥ 15°), today',
    fusion: 'max',
    templates: today,
    probe: (p) => (Math.abs(p.fitYaw) >= 15 && p.templates.frontal ? p.templates.frontal : p.embedding!),
  });

  const probes = protocol.probes.map((p) => ({ probe: p, record: records.get(`${p.image}|false`)! }));
  const failures = probes.filter((p) => !p.record.embedding).length;
  const scored = configs.map((c) =>
    probes.map(({ probe, record }): OpenSetProbe & { record: PoseRecord } => {
      if (!record.embedding || enrolled.length === 0)
        return { mated: probe.mated, trueRank: null, trueScore: null, topScore: null, record };
      const q = c.probe(record);
      const scores = enrolled.map((g) =>
        fuse(
          c.templates(g, record).map((t) => dot(t, q)),
          c.fusion,
        ),
      );
      const truth = probe.mated ? enrolled.findIndex((g) => g.identity === probe.identity) : -1;
      const trueScore = truth >= 0 ? scores[truth]! : null;
      return {
        mated: probe.mated,
        trueRank: trueScore === null ? null : scores.filter((s) => s > trueScore).length + 1,
        trueScore,
        topScore: Math.max(...scores),
        record,
      };
    }),
  );
  const buckets: PoseBucketRow[] = BUCKETS.map((b) => {
    const rows = configs.map((c, i) => {
      const all = scored[i]!;
      const nonMated = all.filter((p) => !p.mated);
      const mated = all.filter((p) => p.mated && p.record.embedding && b.test(p.record));
      if (mated.length === 0) return { config: c.name, rank1: Number.NaN, tpir: Number.NaN };
      // The threshold is set on every stranger (FPIR is a property of the gallery, not of the bucket).
      return { config: c.name, rank1: rankK(mated, 1), tpir: tpirAtFpir([...mated, ...nonMated], 0.01).tpir };
    });
    const size = probes.filter((p) => p.probe.mated && p.record.embedding && b.test(p.record)).length;
    return { bucket: b.label, probes: size, rows };
  });
  return {
    gallery: enrolled.length,
    matedProbes: probes.filter((p) => p.probe.mated).length,
    nonMatedProbes: probes.filter((p) => !p.probe.mated).length,
    failures,
    configs: configs.map((c) => c.name),
    buckets,
    wallSeconds: (performance.now() - started) / 1000,
  };
}

/** The result as a Markdown table: one row per configuration, rank-1 / TPIR@FPIR1% per bucket. */
export function poseEvalMarkdown(result: PoseEvalResult): string {
  const pct = (x: number) => (Number.isNaN(x) ? '–' : `${(x * 100).toFixed(2)}%`);
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const head = `| configuration | ${result.buckets.map((b) => `${cell(b.bucket)} (n=${b.probes})`).join(' | ')} |`;
  const rule = `| --- | ${result.buckets.map(() => '---').join(' | ')} |`;
  const rows = result.configs.map(
    (c, i) =>
      `| ${c} | ${result.buckets.map((b) => `${pct(b.rows[i]!.rank1)} / ${pct(b.rows[i]!.tpir)}`).join(' | ')} |`,
  );
  return [
    `gallery ${result.gallery}, mated probes ${result.matedProbes}, strangers ${result.nonMatedProbes}, no face ${result.failures}; cells: rank-1 / TPIR@FPIR1%`,
    '',
    head,
    rule,
    ...rows,
  ].join('\n');
}
