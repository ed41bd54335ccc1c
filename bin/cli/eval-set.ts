import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runSetEval, setEvalMarkdown } from '../../functions/eval/set-eval.ts';
import { EXIT, intOption, printJson, UsageError } from './common.ts';

/**
 * `faceprint eval --protocol set`: probe sets (a stand-in for video tracks) aggregated as the track decision
 * aggregates them, against one image; prints a Markdown table and writes it with the JSON to `--out`.
 */
export async function evalSet(values: {
  data?: string | undefined;
  degrade?: string | undefined;
  limit?: string | undefined;
  workers?: string | undefined;
  cache?: string | undefined;
  'no-cache'?: boolean | undefined;
  'set-size'?: string | undefined;
  out?: string | undefined;
  json?: boolean | undefined;
}): Promise<number> {
  const limit = intOption(values.limit, 'limit', 0);
  const workers = intOption(values.workers, 'workers', 2);
  const maxSetSize = intOption(values['set-size'], 'set-size', 5);
  if (workers < 1) throw new UsageError('--workers must be at least 1.');
  if (maxSetSize < 1) throw new UsageError('--set-size must be at least 1.');
  let last = 0;
  const result = await runSetEval({
    data: resolve(values.data ?? ''),
    degrade: values.degrade ?? '',
    limit: limit > 0 ? limit : undefined,
    workers,
    maxSetSize,
    cacheDir: values['no-cache'] ? null : resolve(values.cache ?? '.eval-cache'),
    onProgress: (done, total) => {
      if (done - last >= 100 || done === total) {
        last = done;
        process.stderr.write(`set eval: embedded ${done}/${total}\n`);
      }
    },
  });
  const table = setEvalMarkdown(result);
  const outDir = resolve(values.out ?? 'out/eval/set');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'report.md'), `${table}\n`);
  await writeFile(join(outDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  if (values.json) printJson(result);
  else
    process.stdout.write(
      `${table}\n\n  ${result.stats.wallSeconds.toFixed(0)} s; report: ${outDir}/report.md\n`,
    );
  return EXIT.ok;
}
