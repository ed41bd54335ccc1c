import { readFile } from 'node:fs/promises';
import { ERROR_BLAME, isFaceprintError, NO_USABLE_FACE } from '../../functions/core/errors.ts';

/** Exit statuses of the `faceprint` command. */
export const EXIT = {
  ok: 0,
  /** Something went wrong inside Faceprint (a bug or a broken installation). */
  internal: 1,
  /** The command line itself was wrong. */
  usage: 2,
  /** The input was valid but held no usable face. */
  noFace: 3,
  /** The input was refused: unreadable, unsupported, too large, unknown subject, … */
  invalidInput: 4,
  /** `compare`: the two faces are of different people (like `cmp`, so scripts can branch on it). */
  different: 5,
  /** The installation or configuration is broken (a model missing, an index corrupt): not the input's fault. */
  operator: 6,
} as const;

/** A mistake on the command line: printed as one sentence, exit status 2. */
export class UsageError extends Error {}

/** Reads an input file, turning a missing or unreadable path into a one-sentence error. */
export async function readInput(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : 'cannot be read';
    throw new UsageError(`${path} ${why}.`);
  }
}

/** Prints a value as pretty JSON on stdout. Float32Arrays become plain arrays. */
export function printJson(value: unknown): void {
  process.stdout.write(
    `${JSON.stringify(value, (_k, v) => (v instanceof Float32Array ? Array.from(v, (x) => Math.round(x * 1e6) / 1e6) : v), 2)}\n`,
  );
}

/** Maps an error to one line on stderr and an exit status; never prints a stack trace unless FACEPRINT_DEBUG is set. */
export function reportError(error: unknown): number {
  if (process.env.FACEPRINT_DEBUG) console.error(error);
  if (error instanceof UsageError) {
    process.stderr.write(`faceprint: ${error.message}\n`);
    return EXIT.usage;
  }
  if (isFaceprintError(error)) {
    process.stderr.write(`faceprint: ${error.message} (${error.code})\n`);
    return exitCodeOf(error.code);
  }
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  process.stderr.write(`faceprint: internal error: ${message} (set FACEPRINT_DEBUG=1 for details)\n`);
  return EXIT.internal;
}

/** The exit status for a domain error code, from its blame ({@link ERROR_BLAME}). */
export function exitCodeOf(code: keyof typeof ERROR_BLAME): number {
  const blame = ERROR_BLAME[code];
  if (blame === 'operator') return EXIT.operator;
  return blame === 'input' && NO_USABLE_FACE.has(code) ? EXIT.noFace : EXIT.invalidInput;
}

/** Parses a positive integer option. */
export function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--${name} must be a whole number, not "${value}".`);
  return n;
}

/** Parses a number option. */
export function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, not "${value}".`);
  return n;
}

/** A terminal progress bar with done/total, rate and ETA; silent when stderr is not a terminal unless forced. */
export class ProgressBar {
  private done = 0;
  private readonly started = performance.now();
  private lastDraw = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly label: string,
    enabled = process.stderr.isTTY === true,
  ) {
    this.enabled = enabled;
  }

  tick(n = 1): void {
    this.done += n;
    const now = performance.now();
    if (now - this.lastDraw > 100 || this.done === this.total) {
      this.lastDraw = now;
      this.draw(now);
    }
  }

  private draw(now: number): void {
    if (!this.enabled) return;
    const seconds = (now - this.started) / 1000;
    const rate = this.done / Math.max(seconds, 1e-3);
    const eta = rate > 0 ? (this.total - this.done) / rate : 0;
    const width = 28;
    const filled = Math.round((this.done / Math.max(this.total, 1)) * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    process.stderr.write(
      `\r${this.label} ${bar} ${this.done}/${this.total} ${rate.toFixed(1)}/s ETA ${formatDuration(eta)}   `,
    );
  }

  finish(): void {
    if (this.enabled) process.stderr.write('\n');
  }
}

/**
 * A camera backfill's progress callback (`BackfillProgress`) drawn as a {@link ProgressBar}: the bar is made at the
 * first call, which also carries the photos an earlier, interrupted backfill already did.
 */
export function backfillProgress(label: string): (done: number, total: number) => void {
  let bar: ProgressBar | undefined;
  return (done, total) => {
    if (!bar) {
      bar = new ProgressBar(total, label);
      if (done > 0) bar.tick(done);
    } else bar.tick(1);
    if (done === total) bar.finish();
  };
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
}
