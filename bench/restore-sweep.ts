/**
 * `npm run bench:restore -- --profile night --limit 300`: which restoration of the aligned crop (before the
 * low-light enhancement) helps the embedder on a degraded-probe profile. Detects and aligns every degraded probe
 * once, then embeds each crop under every restoration variant, so a sweep costs one detection pass plus one
 * embedding per variant. Gallery: the clean one-shot gallery (centre face) from the evaluation cache. Prints one
 * Markdown row per variant: rank-1, TPIR @ FPIR 1% and 10% over the one-shot probes of the first N identities.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { enhanceFace } from '../functions/core/pipeline/enhance.ts';
import { decodeImage, type RgbImage } from '../functions/core/pipeline/image.ts';
import { FacePipeline, resolveOptions } from '../functions/core/pipeline/pipeline.ts';
import { type RestoreOptions, restoreCrop } from '../functions/core/pipeline/restore.ts';
import { embedAll } from '../functions/eval/cache.ts';
import { limitIdentities, oneShotProtocol, scanDataset } from '../functions/eval/dataset.ts';
import { degradeImage, parseDegradation } from '../functions/eval/degrade.ts';
import { selectFace } from '../functions/eval/embed-image.ts';
import { rankK, tpirAtFpir } from '../functions/eval/metrics.ts';
import type { Job, RunStats } from '../functions/eval/types.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/lfw-dev' },
    profile: { type: 'string', default: 'night' },
    limit: { type: 'string', default: '300' },
  },
});
const degradation = parseDegradation(values.profile ?? 'night');
const dataset = limitIdentities(scanDataset(resolve(values.data ?? '')), Number(values.limit));
const protocol = oneShotProtocol(dataset);
const options = resolveOptions({ pose: false, keepCrops: true, embed: true });
const stats: RunStats = { images: 0, cacheHits: 0, computed: 0, workers: 0, wallSeconds: 0, embedSeconds: 0 };
const galleryJobs: Job[] = protocol.gallery.map((g) => ({ path: g.image, select: 'centre', degrade: '' }));
const galleryEmbedded = await embedAll(
  galleryJobs,
  { data: '', protocol: 'one-shot', workers: 2 },
  resolveOptions({ pose: false, keepCrops: false, embed: true }),
  stats,
);
const gallery = protocol.gallery
  .map((g) => ({ identity: g.identity, e: galleryEmbedded.get(`${g.image}|centre|`)?.embedding }))
  .filter((g): g is { identity: string; e: Float32Array } => !!g.e);

type Variant = {
  name: string;
  restore: RestoreOptions;
  when: 'enhanced' | 'always';
  enhance?: 'auto' | 'never';
};
const variants: Variant[] = [
  { name: 'none (today)', restore: { mode: 'none', strength: 0 }, when: 'always' },
  { name: 'enhance never', restore: { mode: 'none', strength: 0 }, when: 'always', enhance: 'never' },
  { name: 'gaussian 1.0, enhanced', restore: { mode: 'gaussian', strength: 1 }, when: 'enhanced' },
  { name: 'gaussian 1.5, enhanced', restore: { mode: 'gaussian', strength: 1.5 }, when: 'enhanced' },
  { name: 'gaussian 2.0, enhanced', restore: { mode: 'gaussian', strength: 2 }, when: 'enhanced' },
  { name: 'gaussian 1.5, always', restore: { mode: 'gaussian', strength: 1.5 }, when: 'always' },
  { name: 'median 3, enhanced', restore: { mode: 'median', strength: 1 }, when: 'enhanced' },
  { name: 'bilateral 2, enhanced', restore: { mode: 'bilateral', strength: 2 }, when: 'enhanced' },
];

const pipeline = new FacePipeline({ threads: 1 });
const probes: { identity: string; mated: boolean; aligned: RgbImage | null; enhanced: boolean }[] = [];
let n = 0;
for (const probe of protocol.probes) {
  const bytes = await readFile(probe.image);
  const seed = Number.parseInt(createHash('sha256').update(bytes).digest('hex').slice(0, 8), 16);
  const image = await degradeImage(await decodeImage(bytes), degradation, { seed });
  const faces = await pipeline.analyzeImage(image, { ...options, embed: false });
  const face = selectFace(faces, 'centre', image.width, image.height);
  probes.push({
    identity: probe.identity,
    mated: probe.mated,
    aligned: face?.crops?.aligned ?? null,
    enhanced: face?.enhanced ?? false,
  });
  if (++n % 100 === 0) process.stderr.write(`${n}/${protocol.probes.length}\n`);
}

console.log(
  `\n${degradation.spec}: gallery ${gallery.length}, probes ${probes.filter((p) => p.mated).length} mated + ${probes.filter((p) => !p.mated).length} non-mated\n`,
);
console.log('| restoration | rank-1 | TPIR @ FPIR 1% | TPIR @ FPIR 10% |\n|---|---|---|---|');
for (const v of variants) {
  const crops: RgbImage[] = [];
  const index: number[] = [];
  probes.forEach((p, i) => {
    if (!p.aligned) return;
    const restored = v.when === 'always' || p.enhanced ? restoreCrop(p.aligned, v.restore) : p.aligned;
    crops.push(p.enhanced && v.enhance !== 'never' ? enhanceFace(restored) : restored);
    index.push(i);
  });
  const vectors = await pipeline.embedCrops(crops);
  const scored = probes.map((p) => ({
    mated: p.mated,
    trueRank: null as number | null,
    trueScore: null as number | null,
    topScore: null as number | null,
  }));
  vectors.forEach((vec, k) => {
    const i = index[k] as number;
    const p = probes[i]!;
    const scores = gallery.map((g) => {
      let s = 0;
      for (let d = 0; d < vec.length; d++) s += vec[d]! * g.e[d]!;
      return s;
    });
    const top = Math.max(...scores);
    const t = gallery.findIndex((g) => g.identity === p.identity);
    const out = scored[i]!;
    out.topScore = top;
    if (t >= 0) {
      out.trueScore = scores[t]!;
      out.trueRank = 1 + scores.filter((s) => s > out.trueScore!).length;
    }
  });
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  console.log(
    `| ${v.name} | ${pct(rankK(scored, 1))} | ${pct(tpirAtFpir(scored, 0.01).tpir)} | ${pct(tpirAtFpir(scored, 0.1).tpir)} |`,
  );
}
await pipeline.dispose();
