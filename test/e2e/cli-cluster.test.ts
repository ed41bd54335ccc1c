/**
 * `faceprint cluster` on the seed sample (all of train + test) with the default parameters: the five people are
 * five clusters, with a contact sheet each and the JSON and CSV listings; and its command-line mistakes.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliRunner, expectOneError } from '../support/cli.ts';
import { hasData, SEED, SEED_PEOPLE } from '../support/data.ts';

const faceprint = createCliRunner({ maxParallel: 1, timeoutMs: 240_000 });
let out = '';
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'faceprint-cluster-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('faceprint cluster', () => {
  it('refuses an unknown method and a missing folder with exit status 2', async () => {
    expectOneError(await faceprint('cluster', SEED, '--method', 'kmeans'), 2, /--method must be one of/);
    expectOneError(await faceprint('cluster', join(out, 'nowhere')), 2, /not a readable folder/);
  });

  it.runIf(hasData(SEED))(
    'gives the five people of the seed sample as five clusters',
    async () => {
      const run = await faceprint('cluster', SEED, '--out', out, '--threads', '0');
      expect(run.code).toBe(0);
      const listing = JSON.parse(await readFile(join(out, 'clusters.json'), 'utf8'));
      expect(listing.clusters).toHaveLength(5);
      const people = listing.clusters.map((c: { faces: { photo: string }[] }) => {
        const names = new Set(
          c.faces.map((f) => (f.photo.startsWith('test/') ? 'joy' : (f.photo.split('/')[1] as string))),
        );
        expect(names.size).toBe(1);
        return [...names][0];
      });
      expect(people.sort()).toEqual([...SEED_PEOPLE]);
      const sheets = (await readdir(out)).filter((f) => f.endsWith('.png'));
      expect(sheets).toHaveLength(5);
      expect((await sharp(join(out, sheets[0]!)).metadata()).format).toBe('png');
      const csv = (await readFile(join(out, 'faces.csv'), 'utf8')).trim().split('\n');
      expect(csv[0]).toBe('photo,face,cluster,quality,x,y,width,height');
      expect(csv.length - 1).toBe(listing.faces);
    },
    240_000,
  );
});
