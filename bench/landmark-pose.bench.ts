/**
 * `npm run bench:landmark-pose [-- N]`: head pose from the 68 landmarks (`core/pose/landmark-pose.ts`) against
 * the pose model (hopenet, `pipeline/pose.ts`) on the first photo of N lfw-dev identities (default 150), with
 * known changes of pose: each photo also rotated in-plane by ±20° (a known roll change) and mirrored (yaw must
 * change sign). Prints agreement (mean absolute difference, Pearson r), the known-change errors of each
 * estimator and the cost of each per face.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../functions/core/pipeline/image.ts';
import { FacePipeline, type FaceWithCrops, resolveOptions } from '../functions/core/pipeline/pipeline.ts';
import { landmarkHeadPose } from '../functions/core/pose/landmark-pose.ts';
import type { HeadPose } from '../functions/core/types.ts';
import { LFW } from '../test/support/data.ts';

const N = Number(process.argv[2] ?? 150);
const ROLL = 20;
const identities = readdirSync(LFW, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort()
  .slice(0, N);

const pipeline = new FacePipeline({ threads: 1 });
const options = resolveOptions({ pose: true, keepCrops: true, embed: false });
const noPose = resolveOptions({ pose: false, keepCrops: true, embed: false });

/** The face nearest the image centre. */
function centreFace(faces: readonly FaceWithCrops[], w: number, h: number): FaceWithCrops | undefined {
  let best: FaceWithCrops | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const f of faces) {
    const d = Math.hypot(f.box.x + f.box.width / 2 - w / 2, f.box.y + f.box.height / 2 - h / 2);
    if (d < bestD) [best, bestD] = [f, d];
  }
  return best;
}

interface Both {
  model: HeadPose;
  landmarks: HeadPose;
}

let fitMs = 0;
let fits = 0;
let withPoseMs = 0;
let withoutPoseMs = 0;
async function measure(bytes: Buffer): Promise<Both | undefined> {
  const image = await decodeImage(bytes);
  let t = performance.now();
  const faces = await pipeline.analyzeImage(image, options);
  withPoseMs += performance.now() - t;
  t = performance.now();
  await pipeline.analyzeImage(image, noPose);
  withoutPoseMs += performance.now() - t;
  const face = centreFace(faces, image.width, image.height);
  const l68 = face?.crops?.landmarks68;
  if (!face || !l68) return undefined;
  t = performance.now();
  const landmarks = landmarkHeadPose(l68);
  fitMs += performance.now() - t;
  fits += 1;
  return { model: face.pose, landmarks };
}

const rows: { o: Both; m: Both | undefined; plus: Both | undefined; minus: Both | undefined }[] = [];
for (const [i, name] of identities.entries()) {
  const path = join(LFW, name, `${name}_0001.jpg`);
  const src = sharp(path);
  const o = await measure(await src.clone().jpeg({ quality: 95 }).toBuffer());
  if (!o) continue;
  const m = await measure(await sharp(path).flop().jpeg({ quality: 95 }).toBuffer());
  const rotate = async (deg: number) =>
    measure(
      await sharp(path)
        .rotate(deg, { background: { r: 0, g: 0, b: 0 } })
        .jpeg({ quality: 95 })
        .toBuffer(),
    );
  rows.push({ o, m, plus: await rotate(ROLL), minus: await rotate(-ROLL) });
  if ((i + 1) % 25 === 0) process.stderr.write(`landmark pose: ${i + 1}/${identities.length}\n`);
}
await pipeline.dispose();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
function pearson(a: number[], b: number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let num = 0;
  let da = 0;
  let db = 0;
  a.forEach((x, i) => {
    num += (x - ma) * (b[i]! - mb);
    da += (x - ma) ** 2;
    db += (b[i]! - mb) ** 2;
  });
  return num / Math.sqrt(da * db);
}
const axes = ['yaw', 'pitch', 'roll'] as const;
const lines: string[] = [];
lines.push(
  `Landmark head pose vs the pose model on ${rows.length} lfw-dev faces (first photo of ${N} identities)`,
);
lines.push('');
lines.push('| axis | mean |landmarks − model| (°) | Pearson r | model spread (SD, °) |');
lines.push('|---|---|---|---|');
for (const axis of axes) {
  const a = rows.map((r) => r.o.landmarks[axis]);
  const b = rows.map((r) => r.o.model[axis]);
  const sd = Math.sqrt(mean(b.map((x) => (x - mean(b)) ** 2)));
  lines.push(
    `| ${axis} | ${mean(a.map((x, i) => Math.abs(x - b[i]!))).toFixed(2)} | ${pearson(a, b).toFixed(3)} | ${sd.toFixed(2)} |`,
  );
}
lines.push('');
lines.push(
  `Known changes (the same photo mirrored; rotated in-plane by ±${ROLL}°): mean absolute error, degrees`,
);
lines.push('');
lines.push(
  '| estimator | mirror: |yaw + yaw′| | mirror: |roll + roll′| | rotation: ||Δroll| − 20| | rotation: Δroll sign (+20° → ) | rotation: |Δyaw| |',
);
lines.push('|---|---|---|---|---|---|');
for (const which of ['landmarks', 'model'] as const) {
  const mir = rows.filter((r) => r.m);
  const rot = rows.flatMap((r) =>
    [
      [r.plus, ROLL],
      [r.minus, -ROLL],
    ].flatMap(([x, deg]) => (x ? [{ o: r.o[which], x: (x as Both)[which], deg: deg as number }] : [])),
  );
  const plusSign = mean(rot.filter((r) => r.deg > 0).map((r) => Math.sign(r.x.roll - r.o.roll)));
  lines.push(
    `| ${which} | ${mean(mir.map((r) => Math.abs(r.o[which].yaw + r.m![which].yaw))).toFixed(2)} | ${mean(mir.map((r) => Math.abs(r.o[which].roll + r.m![which].roll))).toFixed(2)} | ${mean(rot.map((r) => Math.abs(Math.abs(r.x.roll - r.o.roll) - ROLL))).toFixed(2)} | ${plusSign.toFixed(2)} | ${mean(rot.map((r) => Math.abs(r.x.yaw - r.o.yaw))).toFixed(2)} |`,
  );
}
lines.push('');
lines.push(
  `Cost per face (one thread): landmark fit ${(fitMs / Math.max(1, fits)).toFixed(3)} ms; ` +
    `whole analysis with the pose model ${(withPoseMs / (fits || 1)).toFixed(1)} ms vs without ${(withoutPoseMs / (fits || 1)).toFixed(1)} ms ` +
    '(the difference is the pose model, measured on a shared machine: noisy).',
);
process.stdout.write(`${lines.join('\n')}\n`);
