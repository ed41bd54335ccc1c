/**
 * Model-pack speed: per pack, the median end-to-end analysis of a 250×250 LFW photo and the median embed stage
 * per face, on one ONNX thread, for the shipped pack and the packs under `packs/` (the shipped embedder with
 * mirror averaging, and the plain + mirror-averaged members fused). Needs `../shared/data/lfw-dev`; without it,
 * prints why and exits 0. Run with `npm run bench:packs`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FacePipeline } from '../functions/core/pipeline/pipeline.ts';
import { LFW } from '../test/support/data.ts';

const RUNS = Number(process.env.FACEPRINT_BENCH_RUNS) || 40;
const PACKS: { name: string; dir?: string }[] = [
  { name: 'mobilefacenet-512 (shipped)' },
  { name: 'mobilefacenet-512-flip', dir: resolve('packs/shipped-flip') },
  { name: 'mobilefacenet-512-fused (plain + flip)', dir: resolve('packs/shipped-fused') },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  if (!existsSync(LFW)) {
    console.log(`packs bench: ${LFW} is absent; nothing measured.`);
    return;
  }
  const people = readdirSync(LFW)
    .filter((n) => !n.endsWith('.txt'))
    .sort()
    .slice(0, RUNS);
  const images = people.map((p) => readFileSync(join(LFW, p, `${p}_0001.jpg`)));
  console.log(`| pack | embedding | analyse one 250×250 photo (median) | embed stage per face (median) |`);
  console.log('|---|---|---|---|');
  for (const pack of PACKS) {
    const pipeline = new FacePipeline({ threads: 1, ...(pack.dir ? { packDir: pack.dir } : {}) });
    await pipeline.warmUp();
    const total: number[] = [];
    const embed: number[] = [];
    for (const bytes of [images[0]!, ...images]) {
      const started = performance.now();
      const result = await pipeline.analyze(bytes);
      total.push(performance.now() - started);
      if (result.faces.length > 0) embed.push(result.timings.embed / result.faces.length);
    }
    total.shift();
    embed.shift();
    console.log(
      `| ${pack.name} | ${pipeline.embeddingSize}-d | ${median(total).toFixed(1)} ms | ${median(embed).toFixed(1)} ms |`,
    );
    await pipeline.dispose();
  }
}

await main();
