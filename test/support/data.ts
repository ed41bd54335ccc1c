import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The shared labelled data, read in place (never copied into the project). */
export const SHARED_DATA = resolve(import.meta.dirname, '..', '..', '..', 'shared', 'data');
export const SEED = join(SHARED_DATA, 'seed-sample');
export const LFW = join(SHARED_DATA, 'lfw-dev');
export const YALEB = join(SHARED_DATA, 'yaleb-dev');

/**
 * Whether a data set is present. When it is not, the caller skips its tests, and the reason is printed so
 * that a skipped run never passes silently.
 */
export function hasData(dir: string): boolean {
  const present = existsSync(dir);
  if (!present) {
    console.warn(`SKIP: ${dir} is absent; the tests that need this labelled data are skipped.`);
  }
  return present;
}

export const SEED_PEOPLE = ['irene', 'joy', 'seulgi', 'wendy', 'yeri'] as const;

export function seedPhoto(person: string, n: number): string {
  return join(SEED, 'train', person, `img_${n}.jpg`);
}

export function lfwPhoto(name: string, n: number): string {
  return join(LFW, name, `${name}_${String(n).padStart(4, '0')}.jpg`);
}

export function read(path: string): Buffer {
  return readFileSync(path);
}

/** LFW pairs of the first fold blocks of `pairs-dev.txt`: `{ a, b, same }` paths. */
export function lfwPairs(limit: {
  same: number;
  different: number;
}): { a: string; b: string; same: boolean }[] {
  const lines = readFileSync(join(LFW, 'pairs-dev.txt'), 'utf8').split('\n');
  const same: { a: string; b: string; same: boolean }[] = [];
  const different: { a: string; b: string; same: boolean }[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const parts = line.trim().split(/\s+/);
    if (parts.length === 3 && same.length < limit.same) {
      const [name, i, j] = parts as [string, string, string];
      same.push({ a: lfwPhoto(name, Number(i)), b: lfwPhoto(name, Number(j)), same: true });
    } else if (parts.length === 4 && different.length < limit.different) {
      const [n1, i, n2, j] = parts as [string, string, string, string];
      different.push({ a: lfwPhoto(n1, Number(i)), b: lfwPhoto(n2, Number(j)), same: false });
    }
  }
  return [...same, ...different];
}

/** Identities in lfw-dev with exactly one image (strangers for open-set tests), sorted by name. */
export function lfwSingletons(count: number): string[] {
  const names = readdirSync(LFW, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const out: string[] = [];
  for (const name of names) {
    if (readdirSync(join(LFW, name)).filter((f) => f.endsWith('.jpg')).length === 1)
      out.push(lfwPhoto(name, 1));
    if (out.length >= count) break;
  }
  return out;
}
