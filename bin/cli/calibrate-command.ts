import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type CalibrateOptions, calibrateOnFolder } from '../../functions/core/gallery/calibrate.ts';
import { defaultGalleryConfig } from '../../functions/core/gallery/config.ts';
import { decodeImage, sharpFromRgb } from '../../functions/core/pipeline/image.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import type { Calibration } from '../../functions/core/search/calibration.ts';
import { degradeImage, parseDegradation } from '../../functions/eval/degrade.ts';
import { EXIT, intOption, numberOption, ProgressBar, printJson, UsageError } from './common.ts';

/**
 * `faceprint calibrate --data <root> [--fpir 0.01] [--far 0.001] [--out file] [--limit N] [--degrade spec]
 * [--quality-gate learn|builtin]`: the open-set and 1:1 thresholds and the quality gate (learned for the target
 * FPIR; `builtin` leaves it out so the built-in gate applies), with how they were made.
 * `--degrade` degrades the probes as `faceprint eval` does, to calibrate a clean folder for a camera.
 */
export async function calibrateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      data: { type: 'string' },
      fpir: { type: 'string' },
      far: { type: 'string' },
      margin: { type: 'string' },
      out: { type: 'string' },
      limit: { type: 'string' },
      degrade: { type: 'string' },
      'quality-gate': { type: 'string' },
      threads: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.data)
    throw new UsageError(
      'Usage: faceprint calibrate --data <root>/<identity>/<images> [--fpir 0.01] [--quality-gate learn|builtin] [--out calibration.json].',
    );
  const fpir = numberOption(values.fpir, 'fpir', 0.01);
  const far = numberOption(values.far, 'far', 0.001);
  if (!(fpir > 0 && fpir < 1) || !(far > 0 && far < 1))
    throw new UsageError('--fpir and --far must be between 0 and 1.');
  const out = values.out ?? 'calibration.json';
  const gateMode = values['quality-gate'] ?? 'learn';
  if (gateMode !== 'learn' && gateMode !== 'builtin')
    throw new UsageError(
      '--quality-gate must be learn (from these probes) or builtin (keep the built-in gate).',
    );
  let probeTransform: CalibrateOptions['probeTransform'];
  if (values.degrade !== undefined) {
    let degradation: ReturnType<typeof parseDegradation>;
    try {
      degradation = parseDegradation(values.degrade);
    } catch (error) {
      throw new UsageError(`--degrade: ${(error as Error).message}`);
    }
    probeTransform = {
      describe: `degraded with ${degradation.spec} (faceprint eval's degradation, seeded per file)`,
      apply: async (bytes) => {
        const seed = Number.parseInt(createHash('sha256').update(bytes).digest('hex').slice(0, 8), 16);
        const image = await degradeImage(await decodeImage(bytes), degradation, { seed });
        return new Uint8Array(await sharpFromRgb(image).png().toBuffer());
      },
    };
  }
  const pipeline = new FacePipeline({ threads: intOption(values.threads, 'threads', 1) });
  // Thresholds from the configuration being calibrated are irrelevant here; a placeholder keeps the types whole.
  const config = defaultGalleryConfig({ threshold: 0 } as Calibration);
  let bar: ProgressBar | undefined;
  try {
    const calibration = await calibrateOnFolder(pipeline, config, values.data, {
      targetFpir: fpir,
      targetFar: far,
      ambiguityMargin: numberOption(values.margin, 'margin', 0.03),
      limit: values.limit ? intOption(values.limit, 'limit', 0) : undefined,
      probeTransform,
      learnQualityGate: gateMode === 'learn',
      description: values.degrade ? `${values.data}, probes degraded with ${values.degrade}` : undefined,
      onProgress: (_done, total) => {
        bar ??= new ProgressBar(total, 'calibrate');
        bar.tick();
      },
    });
    bar?.finish();
    await writeFile(out, `${JSON.stringify(calibration, null, 2)}\n`);
    if (values.json) printJson(calibration);
    else {
      console.log(
        `threshold ${calibration.threshold} (FPIR ${calibration.measured.fpirAtThreshold}, TPIR ${calibration.measured.tpirAtThreshold}), ` +
          `verify threshold ${calibration.verifyThreshold} at FAR ${far}; ` +
          (calibration.qualityGate
            ? `quality gate minQuality ${calibration.qualityGate.minQuality}, poor threshold ${calibration.qualityGate.poorThreshold}; `
            : 'quality gate: the built-in one; ') +
          `written to ${out}`,
      );
    }
    return EXIT.ok;
  } finally {
    await pipeline.dispose();
  }
}
