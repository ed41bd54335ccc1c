/**
 * `faceprint camera …` as a user runs it (`node bin/faceprint.js` in child processes, one temporary `--data-dir`):
 * two seed people enrolled, a camera configured from settings, its templates listed, backfilled again (nothing
 * made twice), used by `identify --camera`, removed; a camera profile estimated from a photo; and the bad input
 * (no settings, a setting that is not a number, an unknown camera) ending with the documented status and one
 * `faceprint: …` line.
 */
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliRunner, expectClean, expectOneError } from '../support/cli.ts';
import { hasData, SEED, seedPhoto } from '../support/data.ts';

const TEST_PHOTO = join(SEED, 'test', 'test_1.jpg');
/** Exit statuses from bin/cli/common.ts, restated: the test pins the documented contract. */
const EXIT = { ok: 0, usage: 2, invalidInput: 4 } as const;
const PEOPLE = ['irene', 'joy'] as const;

const faceprint = createCliRunner({ maxParallel: 1, timeoutMs: 180_000, unsetEnv: ['FACEPRINT_DATA_DIR'] });
let dir = '';
let data = '';

beforeAll(async () => {
  // The runs inherit this process's environment; the test sets the camera-template switch itself.
  delete process.env.FACEPRINT_CAMERA_TEMPLATES;
  dir = await mkdtemp(join(tmpdir(), 'faceprint-cli-camera-'));
  data = join(dir, 'gallery');
  if (!hasData(SEED)) return;
  for (const person of PEOPLE) {
    await mkdir(join(dir, 'seed', person), { recursive: true });
    await symlink(seedPhoto(person, 1), join(dir, 'seed', person, 'img_1.jpg'));
  }
  expectClean(await faceprint('enroll', join(dir, 'seed'), '--json', '--data-dir', data), EXIT.ok);
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface CameraJson {
  id: string;
  settings: { noise: number; blur: number; jpegQuality: number | null; faceBrightness: number | null };
  provenance: { method: string };
  templates?: number;
}

interface BackfillJson {
  camera: string;
  made: number;
  skipped: number;
  photos: number;
  failed: unknown[];
}

describe.runIf(hasData(SEED))('faceprint camera on two enrolled seed people', () => {
  it('adds a camera from settings and makes one template per enrolment photo', async () => {
    const run = await faceprint(
      'camera',
      'add',
      'lobby',
      '--noise',
      '6',
      '--blur',
      '1.5',
      '--jpeg-quality',
      '25',
      '--brightness',
      '50',
      '--json',
      '--data-dir',
      data,
    );
    expect(run.code, run.stderr).toBe(EXIT.ok);
    const { camera, backfill } = JSON.parse(run.stdout) as { camera: CameraJson; backfill: BackfillJson };
    expect(camera.id).toBe('lobby');
    expect(camera.settings).toMatchObject({ noise: 6, blur: 1.5, jpegQuality: 25, faceBrightness: 50 });
    expect(camera.provenance.method).toBe('user');
    expect(backfill).toMatchObject({ camera: 'lobby', made: 2, skipped: 0, photos: 2, failed: [] });
  }, 200_000);

  it('lists it with its templates, and a second backfill makes none twice', async () => {
    const list = await faceprint('camera', 'list', '--json', '--data-dir', data);
    expectClean(list, EXIT.ok);
    const cameras = JSON.parse(list.stdout) as CameraJson[];
    expect(cameras.map((c) => [c.id, c.templates])).toEqual([['lobby', 2]]);
    const again = await faceprint('camera', 'backfill', 'lobby', '--json', '--data-dir', data);
    expect(again.code, again.stderr).toBe(EXIT.ok);
    expect(JSON.parse(again.stdout)).toMatchObject({ made: 0, skipped: 2, failed: [] });
  }, 200_000);

  it('is named by identify --camera, which says whether its templates were searched', async () => {
    type Result = {
      faces: { decision: { camera?: { id: string; searched: boolean; templates: number } } }[];
    };
    /** The camera part of the first face's decision of one `identify --camera lobby` run. */
    const identifiedCamera = async () => {
      const run = await faceprint('identify', TEST_PHOTO, '--camera', 'lobby', '--json', '--data-dir', data);
      expectClean(run, EXIT.ok);
      return (JSON.parse(run.stdout) as Result).faces[0]?.decision.camera;
    };
    // Off by default (FACEPRINT_CAMERA_TEMPLATES, docs/accuracy.md): the camera is recorded, its templates unused.
    expect(await identifiedCamera()).toMatchObject({ id: 'lobby', searched: false, templates: 0 });
    process.env.FACEPRINT_CAMERA_TEMPLATES = 'on';
    try {
      expect(await identifiedCamera()).toMatchObject({ id: 'lobby', searched: true, templates: 2 });
    } finally {
      delete process.env.FACEPRINT_CAMERA_TEMPLATES;
    }
  }, 200_000);

  it('refuses an add without images or settings, a setting that is not a number, and an unknown camera', async () => {
    expectOneError(
      await faceprint('camera', 'add', 'x', '--data-dir', data),
      EXIT.usage,
      /at least one setting/,
    );
    expectOneError(
      await faceprint('camera', 'add', 'x', '--noise', 'loud', '--data-dir', data),
      EXIT.usage,
      /--noise must be a number/,
    );
    expectOneError(
      await faceprint('camera', 'show', 'nowhere', '--data-dir', data),
      EXIT.invalidInput,
      /CAMERA_NOT_FOUND/,
    );
  }, 200_000);

  it('estimates a profile from a photo without storing anything', async () => {
    const run = await faceprint('camera', 'estimate', TEST_PHOTO, '--json');
    expectClean(run, EXIT.ok);
    const profile = JSON.parse(run.stdout) as { images: number; jpegQuality: number | null; noise: number };
    expect(profile.images).toBe(1);
    expect(profile.jpegQuality).toBeGreaterThan(0);
    expect(profile.noise).toBeGreaterThanOrEqual(0);
  }, 200_000);

  it('removes the camera and its templates', async () => {
    expectClean(await faceprint('camera', 'remove', 'lobby', '--data-dir', data), EXIT.ok);
    const list = await faceprint('camera', 'list', '--data-dir', data);
    expectClean(list, EXIT.ok);
    expect(list.stdout).toBe('no camera configured\n');
  }, 200_000);
});
