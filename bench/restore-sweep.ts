/**
 * `npm run bench:restore -- --profile night,noisy --limit 300`: which restoration of the aligned crop (before the
 * low-light enhancement) helps the embedder on a degraded-probe profile. Detects and aligns every degraded probe
 * once, then embeds each crop under every restoration variant, so a sweep costs one detection pass plus one
 * embedding per variant. Gallery: the clean one-shot gallery (centre face) from the evaluation cache. Prints one
 * Markdown row per variant: rank-1, TPIR @ FPIR 1% and 10% over the one-shot probes of the first N identities,
 * and for the gated variants how many enhanced faces the gate restored; then the distribution of the gate's two
 * measures (blockiness, stretched noise) over the enhanced faces. `--protocol lighting --pad 0.5` runs Yale B
 * (`--data ../shared/data/yaleb-dev`, rank-1 only: it has no strangers).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { enhanceFace } from '../functions/core/pipeline/enhance.ts';
import { decodeImage, type RgbImage } from '../functions/core/pipeline/image.ts';
import { FacePipeline, resolveOptions } from '../functions/core/pipeline/pipeline.ts';
import {
  type CropDegradation,
  DEFAULT_RESTORE_GATE,
  gatedStrength,
  gateOpens,
  measureCropDegradation,
  type RestoreGate,
  type RestoreOptions,
  restoreCrop,
} from '../functions/core/pipeline/restore.ts';
import { embedAll } from '../functions/eval/cache.ts';
import {
  lightingProtocol,
  limitIdentities,
  oneShotProtocol,
  scanDataset,
} from '../functions/eval/dataset.ts';
import { degradeImage, parseDegradation } from '../functions/eval/degrade.ts';
import { selectFace } from '../functions/eval/embed-image.ts';
import { rankK, tpirAtFpir } from '../functions/eval/metrics.ts';
import { degradationProfile } from '../functions/eval/profiles.ts';
import type { FaceSelection, Job, RunStats } from '../functions/eval/types.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/lfw-dev' },
    protocol: { type: 'string', default: 'one-shot' },
    profile: { type: 'string', default: 'night' },
    limit: { type: 'string', default: '300' },
    pad: { type: 'string', default: '0' },
  },
});
const lighting = values.protocol === 'lighting';
const select: FaceSelection = lighting ? 'largest' : 'centre';
const pad = Number(values.pad);
const dataset = limitIdentities(scanDataset(resolve(values.data ?? '')), Number(values.limit));
const protocol = lighting ? lightingProtocol(dataset) : oneShotProtocol(dataset);
const options = resolveOptions({ pose: false, keepCrops: true, embed: true });
const stats: RunStats = { images: 0, cacheHits: 0, computed: 0, workers: 0, wallSeconds: 0, embedSeconds: 0 };
const galleryJobs: Job[] = protocol.gallery.map((g) => ({ path: g.image, select, degrade: '' }));
const galleryEmbedded = await embedAll(
  galleryJobs,
  { data: '', protocol: lighting ? 'lighting' : 'one-shot', workers: 2, ...(pad > 0 ? { pad } : {}) },
  resolveOptions({ pose: false, keepCrops: false, embed: true }),
  stats,
);
const gallery = protocol.gallery
  .map((g) => ({ identity: g.identity, e: galleryEmbedded.get(`${g.image}|${select}|`)?.embedding }))
  .filter((g): g is { identity: string; e: Float32Array } => !!g.e);

type Variant = {
  name: string;
  restore: RestoreOptions;
  when: 'enhanced' | 'always' | 'gated';
  gate?: RestoreGate;
  enhance?: 'auto' | 'never';
};
const g15 = { mode: 'gaussian', strength: 1.5 } as const;
/** A gate without the strength schedule: σ 1.5 wherever it opens. */
const flat = (blockiness: number, noise: number): RestoreGate => ({
  blockiness,
  noise,
  heavyBlockiness: 0,
  lightStrength: 1.5,
});
const variants: Variant[] = [
  { name: 'none (today)', restore: { mode: 'none', strength: 0 }, when: 'always' },
  { name: 'enhance never', restore: { mode: 'none', strength: 0 }, when: 'always', enhance: 'never' },
  { name: 'gaussian 1.0, enhanced', restore: { mode: 'gaussian', strength: 1 }, when: 'enhanced' },
  { name: 'gaussian 1.5, enhanced', restore: g15, when: 'enhanced' },
  { name: 'gaussian 1.5, gated blockiness ≥ 0.3', restore: g15, when: 'gated', gate: flat(0.3, Infinity) },
  { name: 'gaussian 1.5, gated noise ≥ 3', restore: g15, when: 'gated', gate: flat(Infinity, 3) },
  {
    name: 'gaussian 1.5, gated blockiness ≥ 1.6 only',
    restore: g15,
    when: 'gated',
    gate: flat(1.6, Infinity),
  },
  {
    name: 'gated (default): blockiness ≥ 0.3 or noise ≥ 12; σ 1.5 from blockiness 1.6, else σ 1.0',
    restore: g15,
    when: 'gated',
    gate: DEFAULT_RESTORE_GATE,
  },
];

const pipeline = new FacePipeline({ threads: 1 });
for (const profileName of (values.profile ?? 'none').split(',')) {
  const spec = profileName === 'none' ? '' : (degradationProfile(profileName)?.spec ?? profileName);
  await sweep(parseDegradation(spec));
}
await pipeline.dispose();

async function sweep(degradation: ReturnType<typeof parseDegradation>): Promise<void> {
  const probes: {
    identity: string;
    mated: boolean;
    aligned: RgbImage | null;
    enhanced: boolean;
    measured: CropDegradation | null;
  }[] = [];
  let n = 0;
  for (const probe of protocol.probes) {
    const bytes = await readFile(probe.image);
    const seed = Number.parseInt(createHash('sha256').update(bytes).digest('hex').slice(0, 8), 16);
    let image = await degradeImage(await decodeImage(bytes), degradation, { seed });
    if (pad > 0) image = padFrame(image, Math.round(Math.max(image.width, image.height) * pad));
    const faces = await pipeline.analyzeImage(image, { ...options, embed: false });
    const face = selectFace(faces, select, image.width, image.height);
    const aligned = face?.crops?.aligned ?? null;
    probes.push({
      identity: probe.identity,
      mated: probe.mated,
      aligned,
      enhanced: face?.enhanced ?? false,
      measured: face && aligned ? measureCropDegradation(image, face.box, aligned) : null,
    });
    if (++n % 100 === 0) process.stderr.write(`${n}/${protocol.probes.length}\n`);
  }

  console.log(
    `\n${degradation.spec || 'clean'}: gallery ${gallery.length}, probes ${probes.filter((p) => p.mated).length} mated + ${probes.filter((p) => !p.mated).length} non-mated, ${probes.filter((p) => p.enhanced).length} enhanced\n`,
  );
  console.log(
    '| restoration | rank-1 | TPIR @ FPIR 1% | TPIR @ FPIR 10% | enhanced faces restored |\n|---|---|---|---|---|',
  );
  // Gated variants choose, per face, between treatments other variants also use: each (face, treatment) is
  // embedded once.
  const memo = new Map<string, Float32Array>();
  for (const v of variants) {
    const keys: (string | null)[] = [];
    const todo: { key: string; crop: RgbImage }[] = [];
    let restoredCount = 0;
    probes.forEach((p, i) => {
      if (!p.aligned) {
        keys.push(null);
        return;
      }
      const applies =
        v.restore.mode !== 'none' &&
        (v.when === 'always' ||
          (p.enhanced &&
            (v.when === 'enhanced' || (!!p.measured && !!v.gate && gateOpens(p.measured, v.gate)))));
      const enhance = p.enhanced && v.enhance !== 'never';
      if (applies && p.enhanced) restoredCount++;
      const strength =
        v.when === 'gated' && v.gate && p.measured
          ? gatedStrength(p.measured, v.gate, v.restore.strength)
          : v.restore.strength;
      const key = `${i}|${applies ? `${v.restore.mode}:${strength}` : 'none'}|${enhance}`;
      keys.push(key);
      if (memo.has(key) || todo.some((t) => t.key === key)) return;
      const restored = applies ? restoreCrop(p.aligned, { ...v.restore, strength }) : p.aligned;
      todo.push({ key, crop: enhance ? enhanceFace(restored) : restored });
    });
    const computed = await pipeline.embedCrops(todo.map((t) => t.crop));
    for (const [k, t] of todo.entries()) memo.set(t.key, computed[k]!);
    const index: number[] = [];
    const vectors: Float32Array[] = [];
    keys.forEach((key, i) => {
      if (key === null) return;
      index.push(i);
      vectors.push(memo.get(key)!);
    });
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
    const open = (f: number) => (lighting ? '—' : pct(tpirAtFpir(scored, f).tpir));
    console.log(
      `| ${v.name} | ${pct(rankK(scored, 1))} | ${open(0.01)} | ${open(0.1)} | ${v.when === 'gated' ? restoredCount : ''} |`,
    );
  }
  const enhanced = probes.filter((p) => p.enhanced && p.measured).map((p) => p.measured as CropDegradation);
  const quantiles = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return [0.1, 0.25, 0.5, 0.75, 0.9]
      .map((q) => (s[Math.floor(q * (s.length - 1))] ?? 0).toFixed(2))
      .join(' / ');
  };
  const max = (xs: number[]) => Math.max(0, ...xs).toFixed(2);
  console.log(
    `\nenhanced faces (${enhanced.length}), 10th / 25th / 50th / 75th / 90th percentile (max): blockiness ${quantiles(enhanced.map((m) => m.blockiness))} (${max(enhanced.map((m) => m.blockiness))}); stretched noise ${quantiles(enhanced.map((m) => m.stretchedNoise))} (${max(enhanced.map((m) => m.stretchedNoise))})`,
  );
}

/** A black border of `padding` px around a frame (the evaluation's `--pad`). */
function padFrame(image: RgbImage, padding: number): RgbImage {
  const width = image.width + 2 * padding;
  const data = new Uint8Array(width * (image.height + 2 * padding) * 3);
  for (let y = 0; y < image.height; y++)
    data.set(
      image.data.subarray(y * image.width * 3, (y + 1) * image.width * 3),
      ((y + padding) * width + padding) * 3,
    );
  return { width, height: image.height + 2 * padding, data };
}
