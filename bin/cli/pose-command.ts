import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { POSE_VARIANTS, poseOfVariant } from '../../functions/core/domain.ts';
import { decodeImage, encodeImage, type RgbImage } from '../../functions/core/pipeline/image.ts';
import { FacePipeline, largestFace, resolveOptions } from '../../functions/core/pipeline/pipeline.ts';
import { preparePoseSource, renderView } from '../../functions/core/pose/render.ts';
import { EXIT, intOption, printJson, readInput, UsageError } from './common.ts';

const HELP = `faceprint pose <image> --out <dir> [--json] [--threads N]

Writes what pose-synthesised enrolment would add to the gallery for the image's main face: the aligned crop
(original.png), one 112×112 PNG per pose view (pose_<yaw>_<pitch>.png, yaw > 0 turned to the image's right,
pitch < 0 seen from above), the frontalised face (frontal.png) and all of them side by side (contact-sheet.png).
`;

/** Lays 112×112 crops side by side on one row. */
function contactSheet(images: readonly RgbImage[]): RgbImage {
  const width = images.length * 112;
  const data = new Uint8Array(width * 112 * 3);
  images.forEach((image, k) => {
    for (let y = 0; y < 112; y++)
      data.set(image.data.subarray(y * 336, y * 336 + 336), (y * width + k * 112) * 3);
  });
  return { width, height: 112, data };
}

/** `faceprint pose <image> --out dir`: the pose views of the main face as PNGs and a contact sheet. */
export async function poseCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  const [path, ...extra] = positionals;
  if (!path || extra.length > 0 || !values.out)
    throw new UsageError('Usage: faceprint pose <image> --out <dir>.');
  const pipeline = new FacePipeline({ threads: intOption(values.threads, 'threads', 1) });
  try {
    const bytes = await readInput(path);
    const image = await decodeImage(bytes);
    const face = largestFace(
      { faces: await pipeline.analyzeImage(image, resolveOptions({ keepCrops: true })) },
      path,
    );
    const crops = face.crops!;
    const landmarks68 = crops.landmarks68;
    if (!landmarks68) {
      throw new UsageError('The model pack in use gives no 68-point landmarks; pose views need them.');
    }
    const source = preparePoseSource(image, landmarks68);
    const out = resolve(values.out);
    await mkdir(out, { recursive: true });
    const files: { file: string; yaw: number | null; pitch: number | null; ms: number }[] = [];
    const sheet: RgbImage[] = [crops.aligned];
    await writeFile(join(out, 'original.png'), await encodeImage(crops.aligned));
    files.push({ file: 'original.png', yaw: null, pitch: null, ms: 0 });
    for (const [name, { yaw, pitch }] of [
      ...POSE_VARIANTS.map(
        (v) => [`pose_${poseOfVariant(v).yaw}_${poseOfVariant(v).pitch}.png`, poseOfVariant(v)] as const,
      ),
      ['frontal.png', { yaw: 0, pitch: 0 }] as const,
    ]) {
      const started = performance.now();
      const view = renderView(source, yaw, pitch);
      const ms = performance.now() - started;
      sheet.push(view);
      await writeFile(join(out, name), await encodeImage(view));
      files.push({ file: name, yaw, pitch, ms: Math.round(ms * 100) / 100 });
    }
    await writeFile(join(out, 'contact-sheet.png'), await encodeImage(contactSheet(sheet)));
    const fitted = { yaw: source.pose.yaw, pitch: source.pose.pitch, roll: source.pose.roll };
    if (values.json)
      printJson({ fittedPose: fitted, rmsErrorPx: source.pose.rmsError, files, sheet: 'contact-sheet.png' });
    else {
      console.log(
        `${path}: fitted pose yaw ${fitted.yaw.toFixed(1)}°, pitch ${fitted.pitch.toFixed(1)}°, roll ${fitted.roll.toFixed(1)}° (landmark fit RMS ${source.pose.rmsError.toFixed(1)} px in the aligned frame)`,
      );
      console.log(
        `  ${files.map((f) => f.file).join(', ')} and contact-sheet.png (left to right, same order) in ${out}`,
      );
    }
    return EXIT.ok;
  } finally {
    await pipeline.dispose();
  }
}
