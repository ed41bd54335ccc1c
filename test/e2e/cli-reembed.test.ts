/**
 * `faceprint gallery reembed` as a user runs it, killed halfway: the five seed people enrolled with the shipped
 * pack by the real CLI, then `--model-pack <test pack> gallery reembed` in a child process that gets SIGKILL as
 * soon as it reports its first subject done. The old templates must all still be there, a second run must finish
 * without duplicating anyone, and `identify` with the new pack must find the people (the shipped pack is then
 * refused, as the gallery lives in the new space).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataDir } from '../../functions/adapters/local/data-dir.ts';
import type { FaceTemplate } from '../../functions/core/domain.ts';
import { createCliRunner, expectNoCrash } from '../support/cli.ts';
import { hasData, SEED, SEED_PEOPLE, seedPhoto } from '../support/data.ts';
import { writeTestPack } from '../support/model-pack.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'faceprint.js');
const SHIPPED = 'mobilefacenet-512';
const NEW = 'test-linear-32';
const faceprint = createCliRunner({
  maxParallel: 1,
  timeoutMs: 180_000,
  unsetEnv: ['FACEPRINT_DATA_DIR', 'FACEPRINT_MODEL_PACK', 'FACEPRINT_CALIBRATION'],
});

let dir = '';
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Starts `reembed` and SIGKILLs it once its progress says the first subject is done. */
function reembedKilledAfterFirstSubject(
  pack: string,
  data: string,
): Promise<{ signal: string | null; stderr: string }> {
  return new Promise((done, fail) => {
    const env = { ...process.env };
    for (const name of [
      'FACEPRINT_DEBUG',
      'FACEPRINT_DATA_DIR',
      'FACEPRINT_MODEL_PACK',
      'FACEPRINT_CALIBRATION',
    ]) {
      delete env[name];
    }
    const child = spawn(
      process.execPath,
      [CLI, '--model-pack', pack, 'gallery', 'reembed', '--data-dir', data],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/reembed 1\/5 subjects/.test(stderr)) child.kill('SIGKILL');
    });
    child.on('error', fail);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      done({ signal, stderr });
    });
  });
}

async function templatesOf(data: string): Promise<FaceTemplate[]> {
  const store = openDataDir(data);
  try {
    return await store.faceStore.listTemplates();
  } finally {
    store.close();
  }
}

describe.runIf(hasData(SEED))('faceprint gallery reembed, killed halfway', () => {
  it('keeps every old template while killed, then finishes without duplicates, and identify works with the new pack', async () => {
    dir = await mkdtemp(join(tmpdir(), 'faceprint-cli-reembed-'));
    for (const person of SEED_PEOPLE) {
      await mkdir(join(dir, 'seed', person), { recursive: true });
      await symlink(seedPhoto(person, 1), join(dir, 'seed', person, 'img_1.jpg'));
    }
    const data = join(dir, 'gallery');
    const pack = writeTestPack(join(dir, 'pack32'), { dim: 32, threshold: 0.97 });

    const enrolled = await faceprint('enroll', join(dir, 'seed'), '--json', '--data-dir', data);
    expectNoCrash(enrolled);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const before = await templatesOf(data);
    const perSubject = before.length / SEED_PEOPLE.length;
    expect(perSubject).toBeGreaterThanOrEqual(1);
    expect(before.every((t) => t.model.id === SHIPPED)).toBe(true);

    const killed = await reembedKilledAfterFirstSubject(pack, data);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const half = await templatesOf(data);
    const halfNew = half.filter((t) => t.model.id === NEW);
    const convertedSubjects = new Set(halfNew.map((t) => t.subjectId));
    // Killed after one subject and before the last: some subjects converted, not all, and no old template lost.
    expect(convertedSubjects.size).toBeGreaterThanOrEqual(1);
    expect(convertedSubjects.size).toBeLessThan(SEED_PEOPLE.length);
    expect(halfNew).toHaveLength(convertedSubjects.size * perSubject);
    expect(
      half
        .filter((t) => t.model.id === SHIPPED)
        .map((t) => t.id)
        .sort(),
    ).toEqual(before.map((t) => t.id).sort());

    const finished = await faceprint(
      '--model-pack',
      pack,
      'gallery',
      'reembed',
      '--json',
      '--data-dir',
      data,
    );
    expectNoCrash(finished);
    expect(finished.code, finished.stderr).toBe(0);
    const result = JSON.parse(finished.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      subjects: SEED_PEOPLE.length,
      skipped: convertedSubjects.size,
      reembedded: SEED_PEOPLE.length - convertedSubjects.size,
      complete: true,
      removed: before.length,
      templates: before.length,
    });
    // Progress lines (done/total, rate, ETA) on stderr, one per subject.
    expect(finished.stderr).toMatch(/reembed 5\/5 subjects, [\d.]+\/s, ETA 0s/);

    const after = await templatesOf(data);
    expect(after).toHaveLength(before.length);
    expect(after.every((t) => t.model.id === NEW && t.embedding.length === 32)).toBe(true);
    const keys = after.map((t) => `${t.subjectId}/${t.variant}/${t.source}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const person of SEED_PEOPLE) {
      expect(after.filter((t) => t.subjectId === person)).toHaveLength(perSubject);
    }

    const found = await faceprint(
      '--model-pack',
      pack,
      'identify',
      seedPhoto('wendy', 1),
      '--json',
      '--data-dir',
      data,
    );
    expectNoCrash(found);
    expect(found.code, found.stderr).toBe(0);
    const faces = (
      JSON.parse(found.stdout) as { faces: { decision: { kind: string; subjectId?: string } }[] }
    ).faces;
    expect(faces[0]?.decision).toMatchObject({ kind: 'match', subjectId: 'wendy' });

    // The shipped pack can no longer search the re-embedded gallery: a clear refusal, exit 6 (operator).
    const refused = await faceprint('identify', seedPhoto('wendy', 1), '--data-dir', data);
    expectNoCrash(refused);
    expect(refused.code, refused.stderr).toBe(6);
    expect(refused.stderr).toMatch(/model pack test-linear-32.*INDEX_INCOMPATIBLE/);
  }, 400_000);
});

describe('faceprint gallery reembed with a missing execution provider', () => {
  it('stops at start with one sentence and exit 6 when the CUDA provider is asked for and missing', async () => {
    const data = join(tmpdir(), `faceprint-never-written-${process.pid}`);
    const run = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const env: NodeJS.ProcessEnv = { ...process.env, FACEPRINT_EXECUTION_PROVIDERS: 'cuda,cpu' };
      delete env.FACEPRINT_DEBUG;
      delete env.FACEPRINT_MODEL_PACK;
      const child = spawn(process.execPath, [CLI, 'gallery', 'reembed', '--data-dir', data], {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('exit', (code) => done({ code, stderr }));
    });
    expect(run.code, run.stderr).toBe(6);
    expect(run.stderr).toMatch(
      /^faceprint: Execution provider "cuda" .*libonnxruntime_providers_cuda\.so.*\(MODEL_UNAVAILABLE\)\n$/,
    );
    expect(run.stderr).not.toMatch(/reembed \d/);
    expect(existsSync(data)).toBe(false);
  }, 120_000);
});
