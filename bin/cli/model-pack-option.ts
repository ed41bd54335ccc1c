import { MODEL_PACK_ENV } from '../../functions/core/models/pack.ts';
import { UsageError } from './common.ts';

/**
 * Takes the global `--model-pack <dir>` (or `--model-pack=<dir>`) out of the arguments and selects that pack for
 * the whole process (as `FACEPRINT_MODEL_PACK` does), so every command honours it without its own option.
 */
export function takeModelPackOption(argv: string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--model-pack') {
      const dir = argv[i + 1];
      if (!dir || dir.startsWith('--')) throw new UsageError('--model-pack needs a folder.');
      env[MODEL_PACK_ENV] = dir;
      i += 1;
    } else if (arg.startsWith('--model-pack=')) {
      env[MODEL_PACK_ENV] = arg.slice('--model-pack='.length);
    } else {
      rest.push(arg);
    }
  }
  return rest;
}
