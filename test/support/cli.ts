/**
 * The real `faceprint` command for end-to-end tests: `node bin/faceprint.js …` in child processes, a limit on how
 * many run at once, and the checks every run gets (no escaped error, the exit status, what stderr holds).
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'faceprint.js');

/** How one CLI run ended. */
export interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with `args`; never rejects. */
export type CliRunner = (...args: string[]) => Promise<Run>;

export interface CliRunnerOptions {
  /** Runs at once; the others queue. Each process loads the models, so keep it near the core count. */
  maxParallel: number;
  /** Kills a run after this long (it then ends with a `signal`). */
  timeoutMs: number;
  /** Environment variables removed besides `FACEPRINT_DEBUG` (which would print the stack traces the checks refuse). */
  unsetEnv?: readonly string[];
}

/** A {@link CliRunner} that runs the CLI from the repository root, at most `maxParallel` at a time. */
export function createCliRunner({ maxParallel, timeoutMs, unsetEnv = [] }: CliRunnerOptions): CliRunner {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (...args) => {
    if (running >= maxParallel) await new Promise<void>((go) => waiting.push(go));
    running++;
    try {
      return await new Promise<Run>((done) => {
        const env = { ...process.env };
        delete env.FACEPRINT_DEBUG;
        for (const name of unsetEnv) delete env[name];
        execFile(
          process.execPath,
          [CLI, ...args],
          { cwd: ROOT, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) => {
            const failed = error as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
            done({
              code: failed ? (typeof failed.code === 'number' ? failed.code : null) : 0,
              signal: failed?.signal ?? null,
              stdout,
              stderr,
            });
          },
        );
      });
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** Runs started under a name (in `beforeAll`), for the tests to await. */
export function namedRuns(): {
  runs: Map<string, Promise<Run>>;
  /** The run started under `name`. */
  result: (name: string) => Promise<Run>;
} {
  const runs = new Map<string, Promise<Run>>();
  const result = (name: string): Promise<Run> => {
    const run = runs.get(name);
    if (!run) throw new Error(`no CLI run named ${name}`);
    return run;
  };
  return { runs, result };
}

/** No sign of an escaped error anywhere in the output. */
export function expectNoCrash(run: Run): void {
  expect(run.signal, 'killed (timeout?)').toBeNull();
  const all = `${run.stdout}\n${run.stderr}`;
  expect(all).not.toMatch(/unhandled|UnhandledPromiseRejection|ERR_UNHANDLED_REJECTION|triggerUncaught/i);
  expect(all).not.toMatch(/^\s+at \S/m);
}

/** A failure: the status, and exactly one `faceprint: ` line on stderr (matching `message` when given). */
export function expectOneError(run: Run, code: number, message?: RegExp): void {
  expectNoCrash(run);
  expect(run.code, run.stderr).toBe(code);
  expect(run.stderr.endsWith('\n'), JSON.stringify(run.stderr)).toBe(true);
  const lines = run.stderr.slice(0, -1).split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^faceprint: \S/);
  if (message) expect(lines[0]).toMatch(message);
}

/** A success (or a clean "no face"): the status, and nothing at all on stderr. */
export function expectClean(run: Run, code: number): void {
  expectNoCrash(run);
  expect(run.code, run.stderr).toBe(code);
  expect(run.stderr).toBe('');
}
