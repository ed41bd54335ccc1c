/**
 * `npm run bench:pose`: the cost of one pose-synthesised view (`core/pose/render.ts`) on one thread, from an LFW
 * photo's 68 landmarks: the fit and working frame once per photo, then each view. Prints wall and CPU time.
 */
import { readFileSync } from 'node:fs';
import { POSE_VARIANTS, poseOfVariant } from '../functions/core/domain.ts';
import { decodeImage } from '../functions/core/pipeline/image.ts';
import { FacePipeline, largestFace, resolveOptions } from '../functions/core/pipeline/pipeline.ts';
import { preparePoseSource, renderView } from '../functions/core/pose/render.ts';
import { LFW, lfwPhoto } from '../test/support/data.ts';

const RUNS = 30;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] as number;

const pipeline = new FacePipeline({ threads: 1 });
const image = await decodeImage(readFileSync(lfwPhoto('Aaron_Eckhart', 1)));
const face = largestFace(
  { faces: await pipeline.analyzeImage(image, resolveOptions({ keepCrops: true })) },
  LFW,
);
await pipeline.dispose();
const landmarks = face.crops!.landmarks68!;

const rows: string[] = [];
const measure = (label: string, fn: () => void) => {
  for (let i = 0; i < 3; i++) fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    fn();
    wall.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  rows.push(
    `| ${label} | ${median(wall).toFixed(2)} | ${p95(wall).toFixed(2)} | ${median(cpu).toFixed(2)} |`,
  );
};
measure('fit + working frame (once per photo)', () => preparePoseSource(image, landmarks));
const source = preparePoseSource(image, landmarks);
for (const v of POSE_VARIANTS) {
  const { yaw, pitch } = poseOfVariant(v);
  measure(`view ${v}`, () => renderView(source, yaw, pitch));
}
measure('frontalise (yaw 0, pitch 0)', () => renderView(source, 0, 0));
console.log('| pose synthesis, LFW photo 250×250 | median ms | p95 ms | CPU ms (median) |');
console.log('| --- | ---: | ---: | ---: |');
for (const r of rows) console.log(r);
console.log(`\n${RUNS} runs after 3 warm-up runs, one thread (the renderer is plain JavaScript).`);
