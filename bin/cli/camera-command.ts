/**
 * `faceprint camera …`: configured cameras and their camera-matched templates (local mode).
 * - `estimate <image…>`: a camera profile measured from the camera's own images (brightness, noise, sharpness,
 *   JPEG quality from the quantisation tables, face size from the pipeline's detections); stores nothing.
 * - `add <id> <image…>`: configures a camera from its images (the estimate is stored with how it was made), or
 *   `add <id> --brightness B --noise S --blur S --jpeg-quality Q --iod PX` from settings the user knows (any
 *   subset; with images, the flags override the estimate); then backfills its templates, with progress.
 * - `list`, `show <id>`, `backfill <id>` (resumes an interrupted backfill), `remove <id>`.
 */
import { parseArgs } from 'node:util';
import { estimateCameraProfile } from '../../functions/core/camera/estimate.ts';
import { estimateCameraSettings } from '../../functions/core/camera/from-images.ts';
import {
  type CameraProvenance,
  type CameraSettings,
  parseCameraSettings,
} from '../../functions/core/camera/profile.ts';
import type { BackfillResult } from '../../functions/core/camera/service.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { openLocalGallery } from '../../functions/local/composition.ts';
import { backfillProgress, EXIT, intOption, printJson, readInput, UsageError } from './common.ts';

const USAGE = `Usage: faceprint camera estimate <image…> [--json]
       faceprint camera add <id> [<image…>] [--brightness B] [--noise S] [--blur S] [--jpeg-quality Q] [--iod PX]
       faceprint camera list | show <id> | backfill <id> | remove <id>
  options: [--data-dir D] [--threads N] [--json]`;

const SETTING_FLAGS = {
  brightness: 'faceBrightness',
  noise: 'noise',
  blur: 'blur',
  'jpeg-quality': 'jpegQuality',
  iod: 'interOcularPx',
} as const;

function numberFlag(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number.`);
  return n;
}

function describeBackfill(b: BackfillResult): string {
  const failed = b.failed
    .map((f) => `\n  ${f.subjectId} photo ${f.photoId.slice(0, 12)}: ${f.reason}`)
    .join('');
  return `backfill of camera ${b.camera}: ${b.made} template(s) made, ${b.skipped} already there, ${b.failed.length} photo(s) failed, of ${b.photos} enrolment photo(s)${failed}`;
}

function describeSettings(s: CameraSettings): string {
  return `face brightness ${s.faceBrightness ?? '— (as enrolled)'}, noise σ ${s.noise}, blur σ ${s.blur}, JPEG quality ${s.jpegQuality ?? '—'}, inter-ocular distance ${s.interOcularPx === null ? '— (as enrolled)' : `${s.interOcularPx} px`}`;
}

export async function cameraCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      'data-dir': { type: 'string' },
      threads: { type: 'string' },
      brightness: { type: 'string' },
      noise: { type: 'string' },
      blur: { type: 'string' },
      'jpeg-quality': { type: 'string' },
      iod: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const [action, ...rest] = positionals;
  if (action === 'estimate') return estimate(rest, values.json);
  if (
    action !== 'add' &&
    action !== 'list' &&
    action !== 'show' &&
    action !== 'backfill' &&
    action !== 'remove'
  )
    throw new UsageError(USAGE);
  const [id, ...paths] = rest;
  if (action !== 'list' && !id) throw new UsageError(USAGE);
  if (action !== 'add' && paths.length > 0) throw new UsageError(USAGE);
  const local = await openLocalGallery({
    dataDir: values['data-dir'],
    threads: intOption(values.threads, 'threads', 1),
  });
  const { cameras } = local;
  try {
    switch (action) {
      case 'list': {
        const list = await cameras.list();
        const rows = await Promise.all(
          list.map(async (c) => ({ ...c, templates: await cameras.countTemplates(c.id) })),
        );
        if (values.json) printJson(rows);
        else if (rows.length === 0) process.stdout.write('no camera configured\n');
        else
          for (const c of rows)
            process.stdout.write(
              `${c.id}: ${describeSettings(c.settings)} (${c.provenance.method}; ${c.templates} template(s))\n`,
            );
        return EXIT.ok;
      }
      case 'show': {
        const camera = await cameras.require(id as string);
        const templates = await cameras.countTemplates(camera.id);
        if (values.json) printJson({ ...camera, templates });
        else
          process.stdout.write(
            `${camera.id}: ${describeSettings(camera.settings)}\n  made: ${camera.provenance.method}${camera.provenance.method === 'estimated' ? ` from ${camera.provenance.estimate.images} image(s); not estimated: ${camera.provenance.notEstimated.join(', ')}` : ''}\n  ${templates} template(s)\n`,
          );
        return EXIT.ok;
      }
      case 'remove': {
        if (!(await cameras.remove(id as string))) await cameras.require(id as string);
        if (!values.json) process.stdout.write(`removed camera ${id} and its templates\n`);
        else printJson({ removed: id });
        return EXIT.ok;
      }
      case 'backfill': {
        const result = await cameras.backfill(id as string, backfillProgress('backfill'));
        if (values.json) printJson(result);
        else process.stdout.write(`${describeBackfill(result)}\n`);
        return result.failed.length > 0 ? EXIT.invalidInput : EXIT.ok;
      }
      case 'add': {
        const given: Record<string, number> = {};
        for (const [flag, field] of Object.entries(SETTING_FLAGS)) {
          const value = values[flag as keyof typeof SETTING_FLAGS];
          if (value !== undefined) given[field] = numberFlag(value, flag);
        }
        let settings: CameraSettings;
        let provenance: CameraProvenance;
        if (paths.length > 0) {
          const images = await Promise.all(
            paths.map(async (p) => ({ bytes: await readInput(p), source: p })),
          );
          const estimated = await estimateCameraSettings(local.analyser, images);
          settings = parseCameraSettings({ ...estimated.settings, ...given });
          provenance =
            Object.keys(given).length > 0 && estimated.provenance.method === 'estimated'
              ? {
                  ...estimated.provenance,
                  notEstimated: [
                    ...estimated.provenance.notEstimated,
                    `given: ${Object.keys(given).join(', ')}`,
                  ],
                }
              : estimated.provenance;
        } else {
          if (Object.keys(given).length === 0)
            throw new UsageError(
              'camera add needs images of the camera or at least one setting (--brightness, --noise, --blur, --jpeg-quality, --iod).',
            );
          settings = parseCameraSettings(given);
          provenance = { method: 'user' };
        }
        const { camera, backfill } = await cameras.add(
          id as string,
          settings,
          provenance,
          backfillProgress('backfill'),
        );
        if (values.json) printJson({ camera, backfill });
        else
          process.stdout.write(
            `camera ${camera.id}: ${describeSettings(camera.settings)}\n${describeBackfill(backfill)}\n`,
          );
        return backfill.failed.length > 0 ? EXIT.invalidInput : EXIT.ok;
      }
    }
  } finally {
    await local.close();
  }
}

async function estimate(paths: string[], json: boolean): Promise<number> {
  if (paths.length === 0) throw new UsageError(USAGE);
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
  if (json) printJson(profile);
  else {
    process.stdout.write(
      `camera profile from ${profile.images} image(s): brightness ${profile.brightness.toFixed(1)}, noise σ ${profile.noise.toFixed(2)}, sharpness ${profile.sharpness.toFixed(0)}, JPEG quality ${profile.jpegQuality ?? '—'}, inter-ocular distance ${profile.interOcularPx === null ? '— (no face)' : `${profile.interOcularPx.toFixed(1)} px`}\n`,
    );
  }
  return EXIT.ok;
}
