/**
 * The evaluation's embedding cache: one JSON-lines bucket per (pipeline version, options, degradation), keyed by
 * each image's sha256, so a re-run embeds only what changed. {@link embedAll} reads the cache and computes the
 * misses in-process or across worker threads.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadModelPack } from '../core/models/pack.ts';
import { type AnalyzeOptions, FacePipeline, PIPELINE_VERSION } from '../core/pipeline/pipeline.ts';
import { type Degradation, parseDegradation } from './degrade.ts';
import { embedImage } from './embed-image.ts';
import { GALLERY_VARIANTS, type GalleryVariant, VARIANTS_VERSION } from './gallery-variants.ts';
import type { Embedded, EvalConfig, ImageRef, Job, RunStats } from './types.ts';
import { runWorkers } from './worker.ts';

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

/**
 * The selected model pack's part of a cache key: nothing for the shipped pack (its buckets predate packs), else
 * the manifest's content, so two packs (or two versions of one) never read each other's embeddings.
 */
function packKey(): { pack?: string } {
  const pack = loadModelPack();
  return pack.isDefault ? {} : { pack: sha256(stableJson(pack.manifest)) };
}

/** The cache bucket of one (pipeline version, model pack, options, degradation) combination. */
function cacheFile(
  cacheDir: string,
  options: AnalyzeOptions,
  degrade: string,
  pad: number,
  referenceIod?: number,
): string {
  const optionsHash = sha256(
    stableJson({ ...options, keepCrops: false, ...(pad > 0 ? { evalPad: pad } : {}), ...packKey() }),
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
  q?: Embedded['quality'];
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
        ...(c.q ? { quality: c.q } : {}),
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
    ...(e.quality ? { q: e.quality } : {}),
  };
  return `${JSON.stringify(line)}\n`;
}

/** Run statistics before any image: {@link embedAll} counts into them. */
export function emptyRunStats(): RunStats {
  return { images: 0, cacheHits: 0, computed: 0, workers: 0, wallSeconds: 0, embedSeconds: 0 };
}

/** Embeds every job once: cache first, then the misses across `workers` threads (or in-process). */
export async function embedAll(
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
