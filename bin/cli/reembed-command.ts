/**
 * `faceprint gallery reembed`: re-embeds every kept enrolment photo of the data directory's gallery with the
 * selected model pack (`--model-pack` / `FACEPRINT_MODEL_PACK`), through the core's resumable `reembedGallery`.
 * Killed at any point, a re-run finishes the job without duplicates; the old pack's templates keep serving until
 * every subject has new ones and the new index is written.
 */
import { parseArgs } from 'node:util';
import { openDataDir } from '../../functions/adapters/local/data-dir.ts';
import { SqliteCameraStore } from '../../functions/adapters/local/sqlite-camera-store.ts';
import { CameraGallery } from '../../functions/core/camera/service.ts';
import { FaceprintError } from '../../functions/core/errors.ts';
import { defaultGalleryConfig, loadCalibration } from '../../functions/core/gallery/config.ts';
import { type ReembedResult, reembedGallery } from '../../functions/core/gallery/reembed.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { backfillProgress, EXIT, formatDuration, intOption, printJson, UsageError } from './common.ts';

const USAGE = `Usage: faceprint [--model-pack <dir>] gallery reembed [--data-dir D] [--threads N] [--json]

Re-embeds every subject's kept enrolment photos (<data dir>/photos) with the selected model pack. Resumable:
run it again after an interruption and it skips the subjects already done. The old pack's templates are
removed only once every subject has new ones; then every configured camera's templates are made again for
the new pack (as \`faceprint camera backfill\` would) and its old-pack templates removed. Exit status 6 when
some subject has no kept photo (its old templates stay; enrol a photo of it, or delete it, and run reembed
again).`;

/** Progress on stderr: a redrawn line on a terminal, one line per subject otherwise (logs, pipes). */
export function progressReporter(
  label: string,
  write: (text: string) => void = (t) => process.stderr.write(t),
  terminal = process.stderr.isTTY === true,
): (done: number, total: number) => void {
  const started = performance.now();
  return (done, total) => {
    const seconds = (performance.now() - started) / 1000;
    const rate = done / Math.max(seconds, 1e-3);
    const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
    const line = `${label} ${done}/${total} subjects, ${rate.toFixed(2)}/s, ETA ${formatDuration(eta)}`;
    write(terminal ? `\r${line}   ${done === total ? '\n' : ''}` : `${line}\n`);
  };
}

function summary(result: ReembedResult, pack: string): string {
  const lines = [
    `reembed with ${pack}: ${result.subjects} subject(s), ${result.reembedded} re-embedded now, ${result.skipped} done by an earlier run`,
  ];
  for (const r of result.refused) lines.push(`  refused ${r.subjectId} ${r.source}: ${r.reason}`);
  if (result.complete) {
    lines.push(
      `complete: ${result.templates} template(s) in the new index, ${result.removed} old template(s) removed`,
    );
    for (const c of result.cameras) {
      lines.push(
        `camera ${c.camera}: ${c.made} template(s) made for the new pack, ${c.skipped} already there, ${c.failed.length} photo(s) failed, ${c.removed} old-pack template(s) removed`,
      );
      for (const f of c.failed) lines.push(`  failed ${f.subjectId} ${f.photoId}: ${f.reason}`);
    }
  } else {
    lines.push(
      `incomplete: ${result.withoutPhotos.length} subject(s) without a usable kept photo keep only their old templates: ${result.withoutPhotos.join(', ')}`,
    );
  }
  return lines.join('\n');
}

/** `faceprint gallery <action>`: today only `reembed`. */
export async function galleryCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      'data-dir': { type: 'string' },
      threads: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (positionals.length !== 1 || positionals[0] !== 'reembed') throw new UsageError(USAGE.split('\n')[0]!);
  const pipeline = new FacePipeline({ threads: intOption(values.threads, 'threads', 1) });
  try {
    // Loads every model of the new pack (and its execution providers) before the data directory is even
    // opened, so a broken pack or a missing CUDA provider fails at once and touches nothing.
    await pipeline.warmUp();
  } catch (error) {
    await pipeline.dispose();
    throw error;
  }
  const dataDir = openDataDir(values['data-dir']);
  try {
    const pack = `${pipeline.model.id}@${pipeline.model.version}`;
    // Only the enrolment settings are used: the calibration may still be the old pack's.
    const config = defaultGalleryConfig(loadCalibration());
    const cameras = new CameraGallery({
      store: new SqliteCameraStore(dataDir.faceStore.db),
      pipeline,
      analyze: config.analyze,
      photos: dataDir.photos,
    });
    const result = await reembedGallery({
      pipeline,
      store: dataDir.faceStore,
      photos: dataDir.photos,
      snapshots: dataDir.snapshots,
      config,
      onProgress: progressReporter('reembed'),
      cameras,
      cameraProgress: (camera) => backfillProgress(`backfill ${camera}`),
    });
    if (values.json) printJson({ pack, ...result });
    else console.log(summary(result, pack));
    if (!result.complete) {
      throw new FaceprintError(
        'INDEX_INCOMPATIBLE',
        `The gallery still needs the old pack: ${result.withoutPhotos.length} subject(s) have no usable kept enrolment photo for ${pipeline.model.id}.`,
        { withoutPhotos: result.withoutPhotos },
      );
    }
    return EXIT.ok;
  } finally {
    await pipeline.dispose();
    dataDir.close();
  }
}
