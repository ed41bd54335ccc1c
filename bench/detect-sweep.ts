/**
 * `npm run bench:detect -- --profile night,cctv --limit 300`: what each detection lever of
 * `core/pipeline/detect-levers.ts` moves on a degraded-probe profile, alone and together. The shipped pipeline's
 * result for every probe (and the clean gallery) comes from the evaluation cache (`faceprint eval` fills it);
 * a variant re-analyses only the probes it can change — a second look only the probes where the shipped pass
 * found no face, an always-on lever only the frames that need the lighting stretch — so each row is exactly what
 * `faceprint eval` would report for those options, at a fraction of its cost. Prints one Markdown row per
 * variant: rank-1, TPIR @ FPIR 1% and 10%, mated and non-mated probes without a face, probes re-analysed.
 * `--restore <spec>` measures the levers together with a crop restoration (its baseline from `faceprint eval
 * --restore <spec>`'s cache).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DetectOptions } from '../functions/core/pipeline/detect.ts';
import { detectionLevels } from '../functions/core/pipeline/enhance.ts';
import { decodeImage } from '../functions/core/pipeline/image.ts';
import { FacePipeline, resolveOptions } from '../functions/core/pipeline/pipeline.ts';
import { parseRestoration } from '../functions/core/pipeline/restore.ts';
import { embedAll, emptyRunStats } from '../functions/eval/cache.ts';
import { limitIdentities, oneShotProtocol, scanDataset } from '../functions/eval/dataset.ts';
import { degradeImage, parseDegradation } from '../functions/eval/degrade.ts';
import { embedImage } from '../functions/eval/embed-image.ts';
import { rankK, tpirAtFpir } from '../functions/eval/metrics.ts';
import type { Job } from '../functions/eval/types.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/lfw-dev' },
    profile: { type: 'string', default: 'night' },
    limit: { type: 'string', default: '300' },
    variants: { type: 'string', default: 'all' },
    restore: { type: 'string' },
  },
});
const dataset = limitIdentities(scanDataset(resolve(values.data ?? '')), Number(values.limit));
const protocol = oneShotProtocol(dataset);
// With --restore the baseline (and every variant) restores crops as `faceprint eval --restore` does: the levers
// together.
const restore = values.restore === undefined ? undefined : parseRestoration(values.restore);
const shipped = resolveOptions({ pose: false, ...(restore ? { restore } : {}) });
const config = { data: '', protocol: 'one-shot' as const, workers: 2 };

type Variant = { name: string; detect: Partial<DetectOptions>; scope: 'no-face' | 'stretched' };
const look = (denoise: number, thresholdScale: number, upscale: number) => ({
  secondLook: { denoise, thresholdScale, upscale, smallFaceSide: 0 },
});
const VARIANTS: Variant[] = [
  { name: 'second look: denoise σ 1.5', detect: look(1.5, 1, 1), scope: 'no-face' },
  { name: 'second look: thresholds × 0.7', detect: look(0, 0.7, 1), scope: 'no-face' },
  { name: 'second look: thresholds × 0.5', detect: look(0, 0.5, 1), scope: 'no-face' },
  { name: 'second look: upscale × 2', detect: look(0, 1, 2), scope: 'no-face' },
  { name: 'second look: denoise 1.5 + × 0.7', detect: look(1.5, 0.7, 1), scope: 'no-face' },
  { name: 'second look: denoise 1.5 + × 0.7 + upscale 2', detect: look(1.5, 0.7, 2), scope: 'no-face' },
  { name: 'second look: denoise 1.5 + × 0.5 + upscale 2', detect: look(1.5, 0.5, 2), scope: 'no-face' },
  {
    name: 'always: denoise σ 1.0 before the stretch',
    detect: { denoiseBeforeStretch: 1 },
    scope: 'stretched',
  },
  {
    name: 'always: thresholds × 0.7 on stretched frames',
    detect: { stretchedThresholdScale: 0.7 },
    scope: 'stretched',
  },
  {
    name: 'always: denoise 1.0 + thresholds × 0.7',
    detect: { denoiseBeforeStretch: 1, stretchedThresholdScale: 0.7 },
    scope: 'stretched',
  },
];
const wanted = values.variants === 'all' ? null : new Set((values.variants ?? '').split(',').map(Number));
const variants = VARIANTS.filter((_, i) => !wanted || wanted.has(i));

const pipeline = new FacePipeline({ threads: 1 });
for (const profile of (values.profile ?? 'night').split(',')) await sweep(profile);
await pipeline.dispose();

async function sweep(profile: string): Promise<void> {
  const degrade = parseDegradation(profile).spec;
  const stats = emptyRunStats();
  const jobs: Job[] = [
    ...protocol.gallery.map((g): Job => ({ path: g.image, select: 'centre', degrade: '' })),
    ...protocol.probes.map((p): Job => ({ path: p.image, select: 'centre', degrade })),
  ];
  const embedded = await embedAll(jobs, config, shipped, stats);
  const gallery = protocol.gallery
    .map((g) => ({ identity: g.identity, e: embedded.get(`${g.image}|centre|`)?.embedding }))
    .filter((g): g is { identity: string; e: Float32Array } => !!g.e);
  const base = protocol.probes.map((p) => embedded.get(`${p.image}|centre|${degrade}`)?.embedding ?? null);
  console.log(
    `\n${profile} (${degrade}): gallery ${gallery.length}, probes ${protocol.probes.filter((p) => p.mated).length} mated + ${protocol.probes.filter((p) => !p.mated).length} non-mated; baseline from the cache: ${stats.cacheHits} of ${stats.images}\n`,
  );
  console.log(
    '| detection | rank-1 | TPIR @ FPIR 1% | TPIR @ FPIR 10% | no face: mated / non-mated | re-analysed |\n|---|---|---|---|---|---|',
  );
  console.log(row('shipped (today)', base, 0));
  const degradation = parseDegradation(degrade);
  const stretched: boolean[] = [];
  for (const p of protocol.probes) {
    const frame = await degradeImage(await decodeImage(await readFile(p.image)), degradation, {
      seed: await seedOf(p.image),
    });
    stretched.push(detectionLevels(frame) !== undefined);
  }
  for (const v of variants) {
    const options = resolveOptions({ pose: false, detect: { ...v.detect }, ...(restore ? { restore } : {}) });
    const out = [...base];
    let analysed = 0;
    for (let i = 0; i < protocol.probes.length; i++) {
      if (v.scope === 'no-face' ? base[i] !== null : !stretched[i]) continue;
      const probe = protocol.probes[i]!;
      const result = await embedImage(pipeline, options, degradation, undefined, 0, {
        path: probe.image,
        select: 'centre',
        degrade,
        seed: await seedOf(probe.image),
      });
      out[i] = result.embedding;
      analysed++;
    }
    console.log(row(v.name, out, analysed));
  }

  function row(name: string, vectors: (Float32Array | null)[], analysed: number): string {
    const scored = protocol.probes.map((p, i) => {
      const vec = vectors[i];
      if (!vec) return { mated: p.mated, trueRank: null, trueScore: null, topScore: null };
      const scores = gallery.map((g) => {
        let s = 0;
        for (let d = 0; d < vec.length; d++) s += vec[d]! * g.e[d]!;
        return s;
      });
      const t = gallery.findIndex((g) => g.identity === p.identity);
      const trueScore = t >= 0 ? scores[t]! : null;
      return {
        mated: p.mated,
        trueRank: trueScore === null ? null : 1 + scores.filter((s) => s > trueScore).length,
        trueScore,
        topScore: Math.max(...scores),
      };
    });
    const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
    const noFace = (mated: boolean) =>
      protocol.probes.filter((p, i) => p.mated === mated && !vectors[i]).length;
    return `| ${name} | ${pct(rankK(scored, 1))} | ${pct(tpirAtFpir(scored, 0.01).tpir)} | ${pct(tpirAtFpir(scored, 0.1).tpir)} | ${noFace(true)} / ${noFace(false)} | ${analysed} |`;
  }
}

/** The evaluation's noise seed of an image (cache.ts): the first 32 bits of its sha256. */
async function seedOf(path: string): Promise<number> {
  return Number.parseInt(
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex')
      .slice(0, 8),
    16,
  );
}
