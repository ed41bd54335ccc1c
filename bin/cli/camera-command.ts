/**
 * `faceprint camera estimate <image…>`: a camera profile measured from the camera's own images (brightness,
 * noise, sharpness, JPEG quality from the quantisation tables, face size from the pipeline's detections).
 */
import { parseArgs } from 'node:util';
import { estimateCameraProfile } from '../../functions/core/camera/estimate.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { EXIT, printJson, readInput, UsageError } from './common.ts';

const USAGE = 'Usage: faceprint camera estimate <image…> [--json]';

export async function cameraCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const [action, ...paths] = positionals;
  if (action !== 'estimate' || paths.length === 0) throw new UsageError(USAGE);
  const images = await Promise.all(paths.map((p) => readInput(p)));
  const pipeline = new FacePipeline({ threads: 1 });
  const iods: number[] = [];
  try {
    for (const bytes of images) {
      const result = await pipeline.analyze(bytes, { embed: false, pose: false });
      for (const face of result.faces) iods.push(face.quality.interOcularPx);
    }
  } finally {
    await pipeline.dispose();
  }
  const profile = await estimateCameraProfile(images, iods);
  if (values.json) printJson(profile);
  else {
    process.stdout.write(
      `camera profile from ${profile.images} image(s): brightness ${profile.brightness.toFixed(1)}, noise σ ${profile.noise.toFixed(2)}, sharpness ${profile.sharpness.toFixed(0)}, JPEG quality ${profile.jpegQuality ?? '—'}, inter-ocular distance ${profile.interOcularPx === null ? '— (no face)' : `${profile.interOcularPx.toFixed(1)} px`}\n`,
    );
  }
  return EXIT.ok;
}
