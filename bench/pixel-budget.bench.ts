/**
 * How the pixel budget of the analysis (`limits.maxAnalysedPixels`) was chosen: end-to-end time and RSS of one
 * analysis of (a) the hostile test's 7,900×7,900 solid PNG and (b) a real photo with four faces (the seed
 * sample's joy/img_3.jpg, 3,808×5,646) up-scaled to ~62 Mpx, at several budgets, with the faces found.
 * Run: `npx tsx bench/pixel-budget.bench.ts [--full]` (`--full` adds the unbounded run, ~30 s per image).
 */
import { existsSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { FacePipeline } from '../functions/core/pipeline/pipeline.ts';

const full = process.argv.includes('--full');
const budgets = [2_100_000, 4_000_000, 8_300_000, 16_000_000, ...(full ? [Number.POSITIVE_INFINITY] : [])];
const pipeline = new FacePipeline({ threads: 1 });
await pipeline.warmUp();

const images: [string, Buffer][] = [];
images.push([
  'solid PNG 7900×7900',
  await sharp({ create: { width: 7900, height: 7900, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .png()
    .toBuffer(),
]);
const seed = '../shared/data/seed-sample/train/joy/img_3.jpg';
if (existsSync(seed)) {
  const photo = readFileSync(seed);
  const meta = await sharp(photo).metadata();
  const k = Math.sqrt(62_000_000 / ((meta.width ?? 1) * (meta.height ?? 1)));
  images.push([
    'seed joy/img_3 (4 faces) ×1.37 → 62 Mpx JPEG',
    await sharp(photo)
      .resize(Math.round((meta.width ?? 1) * k))
      .jpeg({ quality: 90 })
      .toBuffer(),
  ]);
  images.push(['seed joy/img_3 as shipped (21.5 Mpx JPEG)', photo]);
} else {
  console.log(`(${seed} absent: only the synthetic image)`);
}

console.log('| image | budget (px) | ms | faces | RSS MiB |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const [label, bytes] of images) {
  for (const budget of budgets) {
    const started = performance.now();
    const result = await pipeline.analyze(bytes, {
      limits: { maxAnalysedPixels: budget },
      embed: true,
    });
    const ms = performance.now() - started;
    const rss = process.memoryUsage().rss / 2 ** 20;
    console.log(
      `| ${label} | ${Number.isFinite(budget) ? budget.toLocaleString('en') : 'none'} | ${ms.toFixed(0)} | ${result.faces.length} | ${rss.toFixed(0)} |`,
    );
  }
}
await pipeline.dispose();
