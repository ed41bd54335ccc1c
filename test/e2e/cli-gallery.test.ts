/**
 * The gallery commands as a user runs them: `node bin/faceprint.js enroll|identify|subjects …` in child processes,
 * each on a temporary `--data-dir`. Enrols the five seed people from a temporary folder of links to their first
 * photo, identifies the seed test photo, lists, deletes and shows subjects, and checks that bad input ends with
 * the documented status and one `faceprint: …` line on stderr per failure.
 *
 * Runs that do not depend on each other start together (two at a time: two cores, and each loads the models).
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliRunner, expectClean, expectOneError, namedRuns, type Run } from '../support/cli.ts';
import { hasData, read, SEED, SEED_PEOPLE, seedPhoto } from '../support/data.ts';
import { twoPeoplePhoto } from '../support/images.ts';

const TEST_PHOTO = join(SEED, 'test', 'test_1.jpg');
const HAVE_SEED = hasData(SEED);
/** The runs queue two at a time behind each other, each loading the models: a busy machine needs the room. */
const SLOW = 180_000;

/** Exit statuses from bin/cli/common.ts, restated: the test pins the documented contract. */
const EXIT = { ok: 0, usage: 2, noFace: 3, invalidInput: 4 } as const;

/** Two at a time; a data directory set in the environment must not stand in for the `--data-dir` of each run. */
const faceprint = createCliRunner({ maxParallel: 2, timeoutMs: 120_000, unsetEnv: ['FACEPRINT_DATA_DIR'] });
let dir = '';
const { runs, result } = namedRuns();

interface EnrollSummary {
  subjects: { id: string; name: string; created: boolean; photos: number; templates: number }[];
  enrolled: { subjects: number; created: number; existing: number; photos: number; templates: number };
  refused: { path: string; code: string; message: string }[];
}

interface IdentifyJson {
  image: string;
  width: number;
  height: number;
  annotated?: string;
  faces: {
    quality: { score: number };
    decision: {
      kind: string;
      subjectId?: string;
      subjectName?: string;
      similarity: number;
      threshold: number;
    };
  }[];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faceprint-cli-gallery-'));
  const at = (...parts: string[]) => join(dir, ...parts);
  const whole = HAVE_SEED ? read(seedPhoto('irene', 3)) : Buffer.from('no data');
  await writeFile(at('truncated.jpg'), whole.subarray(0, Math.floor(whole.length / 2)));
  const noface = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#6a7b8c' } })
    .png()
    .toBuffer();
  await writeFile(at('noface.png'), noface);
  const empty = at('empty-gallery');
  const start = (name: string, run: () => Promise<Run>) => runs.set(name, run());

  // An empty gallery: refusals that need no enrolled subject.
  start('identify truncated', () => faceprint('identify', at('truncated.jpg'), '--data-dir', empty));
  start('identify missing', () => faceprint('identify', at('missing.jpg'), '--data-dir', empty));
  start('enroll truncated', () =>
    faceprint('enroll', at('truncated.jpg'), '--name', 'X', '--data-dir', empty),
  );
  start('subjects bogus', () => faceprint('subjects', 'rename', 'a', '--data-dir', empty));
  start('identify noface', () =>
    faceprint('identify', at('noface.png'), '--threads', '1', '--data-dir', empty),
  );
  if (!HAVE_SEED) return;

  // The seed people, one folder each holding a link to their first photo.
  for (const person of SEED_PEOPLE) {
    await mkdir(at('seed', person), { recursive: true });
    await symlink(seedPhoto(person, 1), at('seed', person, 'img_1.jpg'));
  }
  // A photo of two people (two seed photos side by side): refused in the folder, enrolled alone with --largest.
  await mkdir(at('seed', 'two-people'), { recursive: true });
  await writeFile(
    at('seed', 'two-people', 'img_1.jpg'),
    await twoPeoplePhoto(read(seedPhoto('irene', 4)), read(seedPhoto('yeri', 1))),
  );
  const data = at('gallery');
  const enroll = faceprint('enroll', at('seed'), '--json', '--data-dir', data);
  runs.set('enroll folder', enroll);
  const wendy = enroll.then(() =>
    faceprint(
      'enroll',
      at('seed', 'two-people', 'img_1.jpg'),
      '--name',
      'pair',
      '--id',
      'pair',
      '--largest',
      '--data-dir',
      at('pair-gallery'),
    ),
  );
  runs.set('enroll largest', wendy);
  const after = <T>(p: Promise<unknown>, run: () => Promise<T>) => p.then(run);
  start('identify --json', () =>
    after(wendy, () =>
      faceprint('identify', TEST_PHOTO, '--json', '--annotate', at('annotated'), '--data-dir', data),
    ),
  );
  start('identify text', () =>
    after(wendy, () => faceprint('identify', TEST_PHOTO, at('missing.jpg'), '--data-dir', data)),
  );
  const list = after(wendy, () => faceprint('subjects', 'list', '--json', '--data-dir', data));
  runs.set('subjects list', list);
  const remove = after(list, () => faceprint('subjects', 'delete', 'irene', '--data-dir', data));
  runs.set('subjects delete', remove);
  start('subjects show deleted', () =>
    after(remove, () => faceprint('subjects', 'show', 'irene', '--data-dir', data)),
  );
  start('subjects show', () =>
    after(remove, () => faceprint('subjects', 'show', 'joy', '--json', '--data-dir', data)),
  );
});

afterAll(async () => {
  await Promise.allSettled(runs.values());
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.runIf(HAVE_SEED)('faceprint gallery commands on the seed people', () => {
  it(
    'enroll <folder> enrols every subject it can, lists the refused photo, and exits 4',
    async () => {
      const run = await result('enroll folder');
      expectClean(run, EXIT.invalidInput);
      const summary = JSON.parse(run.stdout) as EnrollSummary;
      expect(summary.subjects.map((s) => s.id).sort()).toEqual([...SEED_PEOPLE].sort());
      expect(summary.subjects.every((s) => s.created && s.photos === 1 && s.templates >= 1)).toBe(true);
      expect(summary.enrolled).toMatchObject({ subjects: 5, created: 5, existing: 0, photos: 5 });
      expect(summary.refused).toHaveLength(1);
      expect(summary.refused[0]).toMatchObject({
        path: join(dir, 'seed', 'two-people', 'img_1.jpg'),
        code: 'MULTIPLE_FACES',
      });
    },
    SLOW,
  );

  it(
    'enroll <image> --name --id --largest enrols one photo and exits 0',
    async () => {
      const run = await result('enroll largest');
      expectClean(run, EXIT.ok);
      expect(run.stdout).toMatch(/^enrolled pair \(id pair\): \d+ template\(s\) from /);
    },
    SLOW,
  );

  it(
    'identify --json finds the test photo a match, and --annotate draws it',
    async () => {
      const run = await result('identify --json');
      expectClean(run, EXIT.ok);
      const parsed = JSON.parse(run.stdout) as IdentifyJson;
      expect(parsed.image).toBe(TEST_PHOTO);
      expect([parsed.width, parsed.height]).toEqual([560, 835]);
      expect(parsed.faces).toHaveLength(1);
      const { decision } = parsed.faces[0]!;
      expect(decision).toMatchObject({ kind: 'match', subjectId: 'joy', subjectName: 'joy' });
      expect(decision.similarity).toBeGreaterThanOrEqual(decision.threshold);
      expect(run.stdout).not.toContain('embedding');
      expect(parsed.annotated).toBe(join(dir, 'annotated', 'test_1.jpg.annotated.jpg'));
      const meta = await sharp(parsed.annotated!).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 560, 835]);
    },
    SLOW,
  );

  it(
    'identify prints each decision, reports a missing image in one line, goes on, and exits 4',
    async () => {
      const run = await result('identify text');
      expectOneError(run, EXIT.invalidInput, /missing\.jpg does not exist\.$/);
      expect(run.stdout).toContain(`${TEST_PHOTO}: 560×835, 1 face(s)`);
      expect(run.stdout).toMatch(/^ {2}#1 match joy similarity [\d.]+ ≥ threshold [\d.]+, quality [\d.]+/m);
    },
    SLOW,
  );

  it(
    'subjects list --json has the five people',
    async () => {
      const run = await result('subjects list');
      expectClean(run, EXIT.ok);
      const page = JSON.parse(run.stdout) as {
        items: { id: string; templates: number }[];
        nextCursor?: string;
      };
      expect(page.items.map((s) => s.id).sort()).toEqual([...SEED_PEOPLE]);
      expect(page.items.every((s) => s.templates >= 1)).toBe(true);
      expect(page.nextCursor).toBeUndefined();
    },
    SLOW,
  );

  it(
    'subjects delete removes a subject: show then exits 4 with one line',
    async () => {
      const removed = await result('subjects delete');
      expectClean(removed, EXIT.ok);
      // Issue 13: it says what it erased.
      expect(removed.stdout).toMatch(/^deleted subject irene\n {2}\d+ template\(s\) \(embeddings\) erased\n/);
      expect(removed.stdout).toMatch(/audit row\(s\) rewritten without the subject/);
      expect(removed.stdout).toMatch(/secure_delete/);
      expectOneError(
        await result('subjects show deleted'),
        EXIT.invalidInput,
        /"irene".*\(SUBJECT_NOT_FOUND\)$/,
      );
      const joy = await result('subjects show');
      expectClean(joy, EXIT.ok);
      const view = JSON.parse(joy.stdout) as { id: string; name: string; templates: { variant: string }[] };
      expect(view).toMatchObject({ id: 'joy', name: 'joy' });
      expect(view.templates.map((t) => t.variant)).toContain('original');
    },
    SLOW,
  );
});

describe('faceprint gallery commands on bad input', () => {
  it(
    'identify refuses a truncated JPEG in one line with exit 4',
    async () => {
      expectOneError(
        await result('identify truncated'),
        EXIT.invalidInput,
        /truncated\.jpg: .*\(INVALID_IMAGE\)$/,
      );
    },
    SLOW,
  );

  it(
    'identify reports a missing file in one line with exit 4',
    async () => {
      expectOneError(await result('identify missing'), EXIT.invalidInput, /missing\.jpg does not exist\.$/);
    },
    SLOW,
  );

  it(
    'enroll refuses a truncated JPEG in one line with exit 4',
    async () => {
      expectOneError(await result('enroll truncated'), EXIT.invalidInput, /\(INVALID_IMAGE\)$/);
    },
    SLOW,
  );

  it(
    'identify on a picture without a face exits 3 and says so',
    async () => {
      const run = await result('identify noface');
      expectClean(run, EXIT.noFace);
      expect(run.stdout).toContain('noface.png: 320×240, 0 face(s)');
    },
    SLOW,
  );

  it(
    'subjects with an unknown action is a usage error (exit 2)',
    async () => {
      expectOneError(await result('subjects bogus'), EXIT.usage, /Usage: faceprint subjects/);
    },
    SLOW,
  );
});
