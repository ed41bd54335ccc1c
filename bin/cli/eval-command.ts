import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_DEBLUR, type Deblur, parseDeblur } from '../../functions/core/pipeline/deblur.ts';
import type { DetectorChoice } from '../../functions/core/pipeline/detect.ts';
import {
  DEFAULT_SECOND_LOOK,
  parseSecondLook,
  type SecondLook,
} from '../../functions/core/pipeline/detect-levers.ts';
import type { AnalyzeOptionsInput, EnhanceMode } from '../../functions/core/pipeline/pipeline.ts';
import {
  type CropRestoration,
  DEFAULT_CROP_RESTORATION,
  parseRestoration,
} from '../../functions/core/pipeline/restore.ts';
import { CAMERA_MATCH_MODES, type CameraMatchMode } from '../../functions/eval/camera-matched.ts';
import { parseDegradation } from '../../functions/eval/degrade.ts';
import { parseFusion, parseScoreNorm, parseVariants } from '../../functions/eval/gallery-variants.ts';
import { writeReport } from '../../functions/eval/report.ts';
import {
  type EvalConfig,
  type EvalResult,
  PROTOCOLS,
  type ProtocolName,
  runProtocol,
} from '../../functions/eval/runner.ts';
import {
  EXIT,
  formatDuration,
  intOption,
  numberOption,
  ProgressBar,
  printJson,
  UsageError,
} from './common.ts';

export const EVAL_HELP = `faceprint eval: measure recognition accuracy on a labelled data folder

Usage: faceprint eval --data <root> --protocol pairs|one-shot|lighting|set [options]

  --data <root>          <root>/<identity>/<images>
  --protocol <name>      pairs (LFW 10-fold verification), one-shot (open-set identification,
                         first image enrolled), lighting (Extended Yale B, frontal light enrolled),
                         set (probe sets of up to --set-size N images of one person, default 5,
                         aggregated as a video track is, vs a single image)
  --pairs <file>         pairs file for "pairs" (default <root>/pairs-dev.txt, else pairs.txt)
  --degrade <spec>       degrade probes: dark:F, blur:S, lowres:IOD, jpeg:Q, noise:S, motion:L[@DEG],
                         h264:QP joined by +, or a profile: night, lowres, motion, noisy, cctv
                         (profiles and their parameters: docs/accuracy.md, section 8)
  --gallery-face <rule>  centre | largest: the face of a gallery photo that is enrolled (default: centre
                         for one-shot, where the labelled LFW person is the centred face; largest else)
  --limit N              first N pairs (balanced over folds) or first N identities
  --pose                 one-shot by probe pose, with/without pose-synthesised gallery views (docs/accuracy.md)
  --out <dir>            report folder (default out/eval/<protocol>)
  --workers N            worker threads (default 2; 1 runs in-process with all cores)
  --cache <dir>          embedding cache (default .eval-cache); --no-cache disables it
  --threshold T          threshold whose abstention rate is reported (default: the calibration's)
  --reference-iod PX     inter-ocular distance of the clean images, for lowres (default 41, LFW)
  --pad F                black border of F × the longer side around every image (Yale B crops: 0.5)
  --detector <name>      ulfd | blazeface | fusion
  --head-pose <source>   the quality score's head pose: landmarks (default, as stills are analysed: fitted
                         to the 68 landmarks) | model (the head-pose model, the stills' default before
                         session 25) | none (no pose, as every evaluation before session 25 ran)
  --enhance <mode>       auto | always | never
  --enhance-below B      auto mode: enhance faces darker than B (mean luma, default 60)
  --flip                 average each embedding with its mirror image's
  --restore <spec>       restore the aligned crop before enhancement: gaussian:S | median | bilateral:K,
                         optionally @always, or @gated[:B/N] (only faces whose frame blockiness ≥ B
                         or stretched noise ≥ N; default 0.3/12), or none; without @: faces the
                         enhancement stretches. Default: gaussian:1.5@gated (pipeline fp5)
  --deblur <spec>        deconvolve heavily blurred crops the restoration left alone: rl:<σ>x<iterations>@<below>
                         (crops whose Laplacian, after a σ 1 smoothing, over luma variance is below
                         <below>), or none. Default: rl:2.5x25@0.003 (pipeline fp10)
  --second-look <spec>   look again where detection found no face: denoise:<σ>,threshold:<scale>,
                         upscale:<factor>,small:<px> and the flag stretched (only frames that
                         needed the lighting stretch), any of them, or none.
                         Default: denoise:1.5,threshold:0.7,stretched (pipeline fp5)
  --detect-denoise <σ>   Gaussian σ on dark frames (≤ 0.5 Mpx) before the detection lighting stretch
  --stretched-threshold <s>  detector score thresholds × s on frames that need the lighting stretch
  --variants <list>      one-shot / lighting: also enrol these variants of each gallery crop:
                         mirror,blur,dark,lowres,jpeg (comma-separated), all, or none (default)
  --fusion <method>      how a subject's template scores fuse: max (default) | mean | top2mean | weighted
  --variant-weights <w>  for weighted: variant=weight,… (e.g. original=1,blur=0.95; others count 1)
  --camera-matched <m>   one-shot / lighting: one more template per gallery subject, degraded to match the
                         probes' camera: oracle (the probe degradation itself) | estimated (a camera profile
                         estimated from 8 degraded probes, as \`faceprint camera add\` does)
  --camera-norm          with --camera-matched: map camera-template scores onto the original's scale by
                         their impostor cohort (the other subjects' camera templates) before max fusion
  --score-norm <name>    none (default) | znorm (each subject's score by its mean / std against the
                         other gallery subjects' originals) | tnorm (each probe's scores by their
                         mean / std over the gallery minus the best match)
  --json                 print the whole result as JSON
`;

const DETECTORS: readonly DetectorChoice[] = ['ulfd', 'blazeface', 'fusion'];
const ENHANCE: readonly EnhanceMode[] = ['auto', 'always', 'never'];

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/** One-paragraph summary of a run for the terminal. */
export function summarise(run: EvalResult): string {
  const { result, stats } = run;
  const lines: string[] = [];
  if (result.protocol === 'pairs') {
    lines.push(
      `pairs ${result.pairs}: accuracy ${pct(result.accuracy.mean)} ± ${pct(result.accuracy.std)}, AUC ${result.auc.toFixed(5)}`,
      `  ${result.tarAtFar.map((t) => `TAR@FAR ${t.far}: ${pct(t.tar)}`).join(', ')}`,
      `  images without a face: ${result.detectionFailures}`,
    );
  } else {
    lines.push(
      `${result.protocol}: gallery ${result.gallerySize}, probes ${result.matedProbes} mated + ${result.nonMatedProbes} non-mated`,
      `  rank-1 ${pct(result.rank1)}, rank-5 ${pct(result.rank5)}`,
    );
    const c = run.config;
    if (c.variants || c.fusion || c.scoreNorm || c.cameraMatched) {
      const camera = c.cameraMatched
        ? `+camera(${c.cameraMatched.mode}${c.cameraMatched.norm ? ', cohort-normalised' : ''}${c.cameraMatched.settings ? ` ${JSON.stringify(c.cameraMatched.settings)}` : ''})`
        : '';
      lines.splice(
        1,
        0,
        `  gallery templates: original${(c.variants ?? []).map((v) => `+${v}`).join('')}${camera}, fusion ${c.fusion?.method ?? 'max'}, score norm ${c.scoreNorm ?? 'none'}`,
      );
    }
    for (const t of result.tpirAtFpir) {
      lines.push(`  TPIR@FPIR ${pct(t.fpir)}: ${pct(t.tpir)} (threshold ${t.threshold.toFixed(4)})`);
    }
    if (result.atThreshold && result.nonMatedProbes > 0) {
      const a = result.atThreshold;
      lines.push(
        `  at threshold ${a.threshold}: abstention ${pct(a.abstention)}, TPIR ${pct(a.matedTpir)}, FPIR ${pct(a.nonMatedFpir)}`,
      );
    }
    for (const b of result.buckets) {
      lines.push(
        `  luma ${b.label}: ${b.probes} probes, rank-1 ${b.probes ? pct(b.rank1) : '—'}, no face ${b.detectionFailures}`,
      );
    }
    const d = result.detectionFailures;
    lines.push(`  detection failures: gallery ${d.gallery}, mated ${d.mated}, non-mated ${d.nonMated}`);
    for (const g of result.qualityGate ?? []) {
      if (g.judged === 0) break;
      lines.push(
        `  quality gate ${g.minQuality} / poor threshold ${g.poorThreshold}: insufficient ${g.insufficient} of ${g.judged}, errors caught ${g.errorsCaught} of ${g.errors}, correct matches lost ${g.correctLost} of ${g.correct}, FPIR ${pct(g.fpir)}`,
      );
    }
    const m = result.missAttribution;
    if (m) {
      lines.push(
        `  rank-1 misses ${m.misses}: no face ${m.noFace}, found but mis-aligned ${m.misaligned}, embedded but wrong ${m.wrongIdentity} (${m.wrongEvenClean} of them wrong on the clean image too)`,
      );
    }
  }
  lines.push(
    `  ${stats.images} images, ${stats.cacheHits} from cache, ${stats.computed} computed on ${stats.workers} worker(s), ${formatDuration(stats.wallSeconds)}`,
  );
  return lines.join('\n');
}

/**
 * Parses the gallery options `--variants`, `--fusion`, `--variant-weights` and `--score-norm` into the
 * {@link EvalConfig} fields they set; absent options stay absent (today's one-template gallery).
 *
 * @throws UsageError for an unknown variant, fusion method or normalisation, or malformed weights.
 */
export function parseGalleryOptions(values: {
  variants?: string | undefined;
  fusion?: string | undefined;
  'variant-weights'?: string | undefined;
  'score-norm'?: string | undefined;
}): Pick<EvalConfig, 'variants' | 'fusion' | 'scoreNorm'> {
  try {
    const variants = parseVariants(values.variants);
    const fusion =
      values.fusion === undefined && values['variant-weights'] === undefined
        ? undefined
        : parseFusion(values.fusion ?? 'weighted', values['variant-weights']);
    const scoreNorm = parseScoreNorm(values['score-norm']);
    return {
      ...(variants.length > 0 ? { variants } : {}),
      ...(fusion ? { fusion } : {}),
      ...(scoreNorm !== 'none' ? { scoreNorm } : {}),
    };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * `--head-pose`: where the quality score's head pose comes from. Absent or `landmarks`: fitted to the 68 landmarks,
 * as stills are analysed (the pipeline's default); `model` runs the head-pose model; `none` leaves pose out, as
 * every evaluation before session 25 ran.
 *
 * @throws UsageError for any other value.
 */
export function headPoseOptions(value: string | undefined): { pose?: true; landmarkPose?: boolean } {
  if (value === undefined || value === 'landmarks') return {};
  if (value === 'model') return { pose: true };
  if (value === 'none') return { landmarkPose: false };
  throw new UsageError('--head-pose must be landmarks, model or none.');
}

/**
 * `faceprint eval …`: parses its own options (strict), runs the protocol with a progress bar, writes the report
 * and prints a summary (or the JSON result with `--json`). Returns the exit status.
 */
export async function evalCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      data: { type: 'string' },
      protocol: { type: 'string' },
      pairs: { type: 'string' },
      degrade: { type: 'string' },
      limit: { type: 'string' },
      out: { type: 'string' },
      workers: { type: 'string' },
      cache: { type: 'string' },
      'no-cache': { type: 'boolean', default: false },
      threshold: { type: 'string' },
      'reference-iod': { type: 'string' },
      pad: { type: 'string' },
      detector: { type: 'string' },
      'head-pose': { type: 'string' },
      enhance: { type: 'string' },
      'enhance-below': { type: 'string' },
      flip: { type: 'boolean', default: false },
      restore: { type: 'string' },
      deblur: { type: 'string' },
      'second-look': { type: 'string' },
      'detect-denoise': { type: 'string' },
      'stretched-threshold': { type: 'string' },
      variants: { type: 'string' },
      fusion: { type: 'string' },
      'variant-weights': { type: 'string' },
      'score-norm': { type: 'string' },
      'camera-matched': { type: 'string' },
      'camera-norm': { type: 'boolean', default: false },
      'gallery-face': { type: 'string' },
      pose: { type: 'boolean', default: false },
      'set-size': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(EVAL_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 0)
    throw new UsageError(`eval takes no positional arguments (got "${positionals[0]}").`);
  if (!values.data) throw new UsageError('eval needs --data <root>.');
  if (values.protocol === 'set') return (await import('./eval-set.ts')).evalSet(values);
  const protocol = values.protocol as ProtocolName | undefined;
  if (!protocol || !PROTOCOLS.includes(protocol)) {
    throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(', ')}, set.`);
  }
  if (values.detector !== undefined && !DETECTORS.includes(values.detector as DetectorChoice)) {
    throw new UsageError(`--detector must be one of ${DETECTORS.join(', ')}.`);
  }
  if (values.enhance !== undefined && !ENHANCE.includes(values.enhance as EnhanceMode)) {
    throw new UsageError(`--enhance must be one of ${ENHANCE.join(', ')}.`);
  }
  try {
    parseDegradation(values.degrade ?? '');
  } catch (error) {
    throw new UsageError(`--degrade: ${(error as Error).message}`);
  }
  if (values.pose) {
    if (protocol !== 'one-shot') throw new UsageError('--pose needs --protocol one-shot.');
    return (await import('./eval-pose.ts')).evalPose(values);
  }
  const gallery = parseGalleryOptions(values);
  // Absent: the shipped default; `none` (parsed to undefined) turns the lever off.
  let restore: CropRestoration | undefined;
  try {
    restore = values.restore === undefined ? DEFAULT_CROP_RESTORATION : parseRestoration(values.restore);
  } catch (error) {
    throw new UsageError(`--restore: ${(error as Error).message}`);
  }
  let deblur: Deblur | undefined;
  try {
    deblur = values.deblur === undefined ? DEFAULT_DEBLUR : parseDeblur(values.deblur);
  } catch (error) {
    throw new UsageError(`--deblur: ${(error as Error).message}`);
  }
  let secondLook: SecondLook | undefined;
  try {
    secondLook =
      values['second-look'] === undefined ? DEFAULT_SECOND_LOOK : parseSecondLook(values['second-look']);
  } catch (error) {
    throw new UsageError(`--second-look: ${(error as Error).message}`);
  }
  const detectDenoise =
    values['detect-denoise'] === undefined
      ? undefined
      : numberOption(values['detect-denoise'], 'detect-denoise', 0);
  if (detectDenoise !== undefined && !(detectDenoise >= 0 && detectDenoise <= 10))
    throw new UsageError('--detect-denoise must be in [0, 10].');
  const stretchedThreshold =
    values['stretched-threshold'] === undefined
      ? undefined
      : numberOption(values['stretched-threshold'], 'stretched-threshold', 1);
  if (stretchedThreshold !== undefined && !(stretchedThreshold > 0 && stretchedThreshold <= 1))
    throw new UsageError('--stretched-threshold must be in (0, 1].');
  const detect = {
    ...(values.detector ? { detector: values.detector as DetectorChoice } : {}),
    secondLook,
    ...(detectDenoise ? { denoiseBeforeStretch: detectDenoise } : {}),
    ...(stretchedThreshold !== undefined && stretchedThreshold !== 1
      ? { stretchedThresholdScale: stretchedThreshold }
      : {}),
  };
  const galleryFace = values['gallery-face'];
  if (galleryFace !== undefined && galleryFace !== 'centre' && galleryFace !== 'largest')
    throw new UsageError('--gallery-face must be centre or largest.');
  const cameraMatched = values['camera-matched'];
  if (cameraMatched !== undefined && !(CAMERA_MATCH_MODES as readonly string[]).includes(cameraMatched))
    throw new UsageError(`--camera-matched must be one of ${CAMERA_MATCH_MODES.join(', ')}.`);
  if (cameraMatched !== undefined && protocol === 'pairs')
    throw new UsageError('--camera-matched applies to one-shot and lighting, not to pairs.');
  const workers = intOption(values.workers, 'workers', 2);
  if (workers < 1) throw new UsageError('--workers must be at least 1.');
  const limit = intOption(values.limit, 'limit', 0);
  const options: AnalyzeOptionsInput = {
    ...(Object.keys(detect).length > 0 ? { detect } : {}),
    ...headPoseOptions(values['head-pose']),
    ...(values.enhance ? { enhance: values.enhance as EnhanceMode } : {}),
    ...(values['enhance-below'] !== undefined
      ? { enhanceBelowBrightness: numberOption(values['enhance-below'], 'enhance-below', 60) }
      : {}),
    ...(values.flip ? { flip: true } : {}),
    restore,
    deblur,
  };
  const data = resolve(values.data);
  let bar: ProgressBar | undefined;
  const run = await runProtocol({
    data,
    protocol,
    pairsFile: values.pairs ? resolve(values.pairs) : undefined,
    degrade: values.degrade,
    limit: limit > 0 ? limit : undefined,
    workers,
    options,
    cacheDir: values['no-cache'] ? null : resolve(values.cache ?? '.eval-cache'),
    threshold: values.threshold === undefined ? undefined : numberOption(values.threshold, 'threshold', 0),
    referenceIod:
      values['reference-iod'] === undefined
        ? undefined
        : numberOption(values['reference-iod'], 'reference-iod', 41),
    pad: values.pad === undefined ? undefined : numberOption(values.pad, 'pad', 0),
    ...gallery,
    ...(galleryFace ? { galleryFace } : {}),
    ...(cameraMatched ? { cameraMatched: cameraMatched as CameraMatchMode } : {}),
    ...(values['camera-norm'] ? { cameraNorm: true } : {}),
    onProgress: (done, total) => {
      if (!bar) {
        bar = new ProgressBar(total, 'embedding');
        bar.tick(done);
      } else {
        bar.tick(1);
      }
    },
  });
  bar?.finish();
  const outDir = resolve(values.out ?? `out/eval/${protocol}`);
  await writeReport(run, outDir);
  if (values.json) {
    printJson(run);
  } else {
    process.stdout.write(`${summarise(run)}\n  report: ${outDir}/report.md\n`);
  }
  return EXIT.ok;
}
