/**
 * The real `faceprint` command as a user runs it: `node bin/faceprint.js …` in a child process. Checks the
 * face-pipeline commands on real photos, and that every kind of bad input ends with the documented exit status
 * and exactly one `faceprint: …` line on stderr (no stack trace, no unhandled rejection).
 *
 * Every invocation is started up front (two at a time: the machine has two cores and each process loads the
 * models) and the tests await their own.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliRunner, expectClean, expectOneError, namedRuns } from '../support/cli.ts';
import { hasData, SEED, seedPhoto } from '../support/data.ts';
import { pngHeaderClaiming } from '../support/images.ts';

const TEST_PHOTO = join(SEED, 'test', 'test_1.jpg');
const HAVE_SEED = hasData(SEED);

/** Exit statuses from bin/cli/common.ts, restated: the test pins the documented contract. */
const EXIT = { ok: 0, usage: 2, noFace: 3, invalidInput: 4, different: 5 } as const;

const faceprint = createCliRunner({ maxParallel: 2, timeoutMs: 30_000 });
let dir = '';
/** The runs started in `beforeAll`, by name. */
const { runs, result } = namedRuns();

/** A 64×48 colour gradient: a valid picture with no face in it. */
function gradient(width = 64, height = 48) {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) data[i * 3 + c] = (i * (c + 1) + (i % width) * 3) % 256;
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** The bad (or awkward) inputs, written to the temporary directory. */
async function writeFixtures(): Promise<void> {
  const jpeg = await gradient(256, 256).jpeg().toBuffer();
  const frames = await Promise.all(
    [30, 220].map((v) =>
      sharp({ create: { width: 64, height: 64, channels: 3, background: { r: v, g: v, b: v } } })
        .raw()
        .toBuffer(),
    ),
  );
  const gif = await sharp(Buffer.concat(frames), {
    raw: { width: 64, height: 128, channels: 3, pageHeight: 64 },
  } as never)
    .gif()
    .toBuffer();
  const files: Record<string, Buffer | string> = {
    'empty.jpg': Buffer.alloc(0),
    'notes.jpg': 'name,age\nAda,36\n',
    'truncated.jpg': jpeg.subarray(0, Math.floor(jpeg.length / 2)),
    'tiny.png': await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
      .png()
      .toBuffer(),
    'bomb.png': pngHeaderClaiming(100_000, 100_000),
    'animated.gif': gif,
    'cmyk.jpg': await gradient().toColourspace('cmyk').jpeg().toBuffer(),
    'deep.png': await gradient().toColourspace('rgb16').png().toBuffer(),
    'noface.png': await gradient(320, 240).png().toBuffer(),
  };
  await Promise.all(Object.entries(files).map(([name, bytes]) => writeFile(join(dir, name), bytes)));
  // The fixtures must be what their names say, or the test proves nothing.
  expect((await sharp(join(dir, 'cmyk.jpg')).metadata()).space).toBe('cmyk');
  expect((await sharp(join(dir, 'deep.png')).metadata()).depth).toBe('ushort');
  expect((await sharp(join(dir, 'animated.gif')).metadata()).pages).toBe(2);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faceprint-cli-'));
  await writeFixtures();
  const at = (name: string) => join(dir, name);
  const start = (name: string, ...args: string[]) => runs.set(name, faceprint(...args));
  // Cheap ones (refused before any model loads) first, so they do not queue behind the photos.
  for (const name of ['empty.jpg', 'notes.jpg', 'truncated.jpg', 'tiny.png', 'bomb.png']) {
    start(`detect ${name}`, 'detect', at(name));
  }
  start('embed empty', 'embed', at('empty.jpg'));
  start('compare truncated', 'compare', at('truncated.jpg'), at('notes.jpg'));
  start('missing file', 'detect', at('does-not-exist.jpg'));
  start('unknown command', 'recognise', at('noface.png'));
  start('unknown option', 'detect', '--colour', at('noface.png'));
  start('bad threads', 'detect', '--threads', 'many', at('noface.png'));
  for (const name of ['animated.gif', 'cmyk.jpg', 'deep.png', 'noface.png']) {
    start(`detect ${name}`, 'detect', '--threads', '1', at(name));
  }
  start('embed noface', 'embed', '--threads', '1', at('noface.png'));
  if (HAVE_SEED) {
    start('detect', 'detect', TEST_PHOTO);
    start('detect --json', 'detect', '--json', TEST_PHOTO);
    start('detect --annotate', 'detect', TEST_PHOTO, '--annotate', at('out.png'));
    start('embed', 'embed', TEST_PHOTO);
    start('compare same', 'compare', seedPhoto('irene', 1), seedPhoto('irene', 2));
    start('compare different', 'compare', seedPhoto('irene', 1), seedPhoto('joy', 1));
  }
});

afterAll(async () => {
  // Let every child finish before its files go.
  await Promise.allSettled(runs.values());
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.runIf(HAVE_SEED)('faceprint on a photo', () => {
  it('detect prints the one face and exits 0', async () => {
    const run = await result('detect');
    expectClean(run, EXIT.ok);
    expect(run.stdout).toContain('test_1.jpg: 560×835, 1 face(s)');
    expect(run.stdout).toMatch(/^ {2}#1 box \d+,\d+ \d+×\d+ score [\d.]+ \(\w+\) quality [\d.]+/m);
    expect(run.stdout).not.toContain('#2 ');
  });

  it('detect --json gives box, landmarks and quality, and no embedding', async () => {
    const run = await result('detect --json');
    expectClean(run, EXIT.ok);
    const parsed = JSON.parse(run.stdout) as {
      width: number;
      height: number;
      faces: {
        box: Record<string, number>;
        landmarks: Record<string, { x: number; y: number }>;
        quality: { score: number; reasons: string[] };
      }[];
    };
    expect([parsed.width, parsed.height]).toEqual([560, 835]);
    expect(parsed.faces).toHaveLength(1);
    const face = parsed.faces[0]!;
    expect(Object.keys(face.box).sort()).toEqual(['height', 'width', 'x', 'y']);
    expect(face.box.width).toBeGreaterThan(50);
    expect(Object.keys(face.landmarks).sort()).toEqual([
      'leftEye',
      'mouthLeft',
      'mouthRight',
      'nose',
      'rightEye',
    ]);
    // Landmarks lie inside the box.
    for (const p of Object.values(face.landmarks)) {
      expect(p.x).toBeGreaterThan(face.box.x!);
      expect(p.x).toBeLessThan(face.box.x! + face.box.width!);
    }
    expect(face.quality.score).toBeGreaterThan(0);
    expect(face.quality.score).toBeLessThanOrEqual(1);
    expect(Array.isArray(face.quality.reasons)).toBe(true);
    expect(face).not.toHaveProperty('embedding');
  });

  it('detect --annotate writes a PNG of the input size', async () => {
    const run = await result('detect --annotate');
    expectClean(run, EXIT.ok);
    expect(run.stdout).toContain(`annotated image written to ${join(dir, 'out.png')}`);
    const meta = await sharp(join(dir, 'out.png')).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([560, 835]);
  });

  it('embed prints a 512-d unit-norm embedding as JSON', async () => {
    const run = await result('embed');
    expectClean(run, EXIT.ok);
    const parsed = JSON.parse(run.stdout) as { faces: { embedding: number[] }[] };
    expect(parsed.faces).toHaveLength(1);
    const embedding = parsed.faces[0]!.embedding;
    expect(embedding).toHaveLength(512);
    expect(embedding.every((x) => Number.isFinite(x))).toBe(true);
    expect(Math.hypot(...embedding)).toBeCloseTo(1, 3);
  });

  it('compare says "same person" and exits 0 for two photos of one person', async () => {
    const run = await result('compare same');
    expectClean(run, EXIT.ok);
    expect(run.stdout).toMatch(/^similarity [\d.]+ ≥ threshold [\d.]+: same person/);
  });

  it('compare says "different people" and exits 5 for two people', async () => {
    const run = await result('compare different');
    expectClean(run, EXIT.different);
    expect(run.stdout).toMatch(/^similarity -?[\d.]+ < threshold [\d.]+: different people/);
  });
});

describe('faceprint on bad input', () => {
  it('refuses an empty file with exit 4', async () => {
    expectOneError(await result('detect empty.jpg'), EXIT.invalidInput, /empty.*\(INVALID_IMAGE\)$/);
    expectOneError(await result('embed empty'), EXIT.invalidInput, /\(INVALID_IMAGE\)$/);
  });

  it('refuses a text file with exit 4', async () => {
    expectOneError(await result('detect notes.jpg'), EXIT.invalidInput, /\(INVALID_IMAGE\)$/);
  });

  it('refuses a truncated JPEG with exit 4', async () => {
    expectOneError(await result('detect truncated.jpg'), EXIT.invalidInput, /\(INVALID_IMAGE\)$/);
    expectOneError(await result('compare truncated'), EXIT.invalidInput, /\(INVALID_IMAGE\)$/);
  });

  it('refuses a 1×1 PNG with exit 4', async () => {
    expectOneError(await result('detect tiny.png'), EXIT.invalidInput, /1×1.*\(IMAGE_TOO_SMALL\)$/);
  });

  it('refuses a PNG claiming 100,000×100,000 pixels with exit 4', async () => {
    expectOneError(await result('detect bomb.png'), EXIT.invalidInput, /100000×100000.*\(IMAGE_TOO_LARGE\)$/);
  });

  it('reads an animated GIF (its first frame): no face, exit 3', async () => {
    const run = await result('detect animated.gif');
    expectClean(run, EXIT.noFace);
    expect(run.stdout).toContain('64×64, 0 face(s)');
  });

  it('reads a CMYK JPEG: no face, exit 3', async () => {
    const run = await result('detect cmyk.jpg');
    expectClean(run, EXIT.noFace);
    expect(run.stdout).toContain('64×48, 0 face(s)');
  });

  it('reads a 16-bit PNG: no face, exit 3', async () => {
    const run = await result('detect deep.png');
    expectClean(run, EXIT.noFace);
    expect(run.stdout).toContain('64×48, 0 face(s)');
  });

  it('reports an image without a face: detect exits 3, embed exits 3 with one line', async () => {
    const detect = await result('detect noface.png');
    expectClean(detect, EXIT.noFace);
    expect(detect.stdout).toContain('320×240, 0 face(s)');
    expectOneError(await result('embed noface'), EXIT.noFace, /No face was found.*\(NO_FACE\)$/);
  });

  it('reports a missing file as a usage error (exit 2)', async () => {
    expectOneError(await result('missing file'), EXIT.usage, /does-not-exist\.jpg does not exist\.$/);
  });

  it('reports an unknown command with exit 2', async () => {
    expectOneError(await result('unknown command'), EXIT.usage, /Unknown command "recognise"/);
  });

  it('reports an unknown option with exit 2', async () => {
    expectOneError(await result('unknown option'), EXIT.usage, /--colour/);
  });

  it('reports a malformed --threads with exit 2', async () => {
    expectOneError(await result('bad threads'), EXIT.usage, /--threads must be a whole number/);
  });
});
