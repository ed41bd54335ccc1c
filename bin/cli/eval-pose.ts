import { resolve } from 'node:path';
import { poseEvalMarkdown, runPoseEval } from '../../functions/eval/pose-eval.ts';
import { EXIT, intOption, printJson } from './common.ts';

/** `faceprint eval --protocol one-shot --pose`: the pose evaluation, printed as a Markdown table. */
export async function evalPose(values: {
  data?: string | undefined;
  degrade?: string | undefined;
  limit?: string | undefined;
  cache?: string | undefined;
  json?: boolean | undefined;
}): Promise<number> {
  const limit = intOption(values.limit, 'limit', 0);
  let last = 0;
  const result = await runPoseEval({
    data: resolve(values.data ?? ''),
    degrade: values.degrade ?? '',
    limit: limit > 0 ? limit : undefined,
    cacheDir: values.cache,
    onProgress: (done, total) => {
      if (done - last >= 50 || done === total) {
        last = done;
        process.stderr.write(`pose eval: ${done}/${total}\n`);
      }
    },
  });
  if (values.json) printJson(result);
  else process.stdout.write(`${poseEvalMarkdown(result)}\n  ${result.wallSeconds.toFixed(0)} s\n`);
  return EXIT.ok;
}
