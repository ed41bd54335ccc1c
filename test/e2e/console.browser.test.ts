import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../functions/local/server.ts';
import {
  type Browser,
  dropFiles,
  launchBrowser,
  screenshot,
  startConsoleServer,
} from '../support/browser.ts';
import { hasData, SEED, SEED_PEOPLE, seedPhoto } from '../support/data.ts';

const HAVE_DATA = hasData(SEED);
const _ROOT = resolve(import.meta.dirname, '..', '..');
const serverErrors: unknown[] = [];
const logger = { info: () => undefined, error: (...args: unknown[]) => serverErrors.push(args) };

let dataDir: string;
let console_: Awaited<ReturnType<typeof startConsoleServer>> | undefined;
let server: RunningServer;
let browser: Browser;
let page: Page;

const jpeg = (path: string, name = path.split('/').slice(-2).join('-')) => ({
  name,
  type: 'image/jpeg',
  bytes: readFileSync(path),
});

async function api(path: string, key?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${server.url}${path}`, { headers: key ? { 'x-api-key': key } : {} });
  const text = await res.text();
  return {
    status: res.status,
    body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
  };
}

async function subjectIds(key?: string): Promise<string[]> {
  const { body } = await api('/subjects?limit=500', key);
  return (body as { items: { id: string }[] }).items.map((s) => s.id).sort();
}

async function open(hash: string): Promise<void> {
  await page.goto(`${server.url}/${hash}`);
  await page.locator('main').waitFor();
}

/** Enrols through the form: name, optional id, photos dropped on the drop zone; resolves when the form is done. */
async function enrolThroughUi(
  name: string,
  id: string,
  files: Parameters<typeof dropFiles>[2],
): Promise<void> {
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Id (optional)').fill(id);
  await dropFiles(page, '.dropzone', files);
  await page
    .locator('[aria-label="Enrolment results"] li')
    .nth(files.length - 1)
    .waitFor();
  await expect.poll(() => page.getByRole('status').filter({ hasText: 'Enrolling' }).count()).toBe(0);
}

describe.skipIf(!HAVE_DATA)('web console in Chromium', () => {
  beforeAll(async () => {
    console_ = await startConsoleServer('faceprint-console-', logger);
    ({ server, dataDir } = console_);
    browser = await launchBrowser();
    page = browser.page;
  });

  afterAll(async () => {
    await browser?.close();
    await console_?.stop();
  });

  it('serves the console at / with content types and caching headers, and its bundle immutable', async () => {
    const shell = await fetch(`${server.url}/`);
    expect(shell.status).toBe(200);
    expect(shell.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(shell.headers.get('cache-control')).toBe('no-cache');
    expect(shell.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await shell.text();
    const script = html.match(/src="(console\/main-[\w]+\.js)"/)?.[1];
    const style = html.match(/href="(console\/main-[\w]+\.css)"/)?.[1];
    expect(script, html).toBeDefined();
    const js = await fetch(`${server.url}/${script}`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${server.url}/${style}`)).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    );
    expect((await fetch(`${server.url}/console/nope.js`)).status).toBe(404);
    expect((await fetch(`${server.url}/console/..%2Fpackage.json`)).status).toBe(404);
  });

  it('enrols the seed sample by dropping one photo per person on the Subjects page', async () => {
    await open('#/subjects');
    // The local server serves the review and unknowns API: their tabs are shown.
    await expect
      .poll(() => page.getByRole('navigation', { name: 'Console' }).textContent())
      .toContain('Activity');
    const tabs = await page.getByRole('navigation', { name: 'Console' }).textContent();
    expect(tabs).toContain('Review queue');
    expect(tabs).toContain('Unknown persons');
    for (const person of SEED_PEOPLE) {
      await enrolThroughUi(person, person, [jpeg(seedPhoto(person, 1))]);
      await expect(
        page
          .getByRole('status')
          .filter({ hasText: `Enrolled ${person}` })
          .count(),
      ).resolves.toBe(1);
    }
    expect(await subjectIds()).toEqual([...SEED_PEOPLE]);
    await page.getByRole('table').getByRole('link', { name: 'yeri' }).waitFor();
    await screenshot(page, 'subjects');
  });

  it("shows a subject's enrolment photo and templates", async () => {
    await open('#/subjects/joy');
    await page.getByRole('heading', { name: 'joy', level: 1 }).waitFor();
    const photo = page.getByRole('img', { name: /Enrolled face of joy/ });
    await photo.waitFor();
    expect(await photo.evaluate((img: { naturalWidth: number }) => img.naturalWidth)).toBe(112);
    expect(await page.getByRole('heading', { name: /Templates \(5\)/ }).count()).toBe(1);
    await screenshot(page, 'subject');
  });

  it('identifies test_1.jpg as joy, with the face boxed and the evidence beside it', async () => {
    await open('#/identify');
    await dropFiles(page, '.dropzone', [jpeg(join(SEED, 'test', 'test_1.jpg'), 'test_1.jpg')]);
    const card = page.getByRole('article').filter({ hasText: 'Face #1' });
    await card.waitFor({ timeout: 30_000 });
    expect(await card.locator('.decision').textContent()).toBe('match: joy');
    expect(await card.textContent()).toMatch(/similarity 0\.\d{3} ≥ threshold 0\.\d{3}/);
    expect(await page.getByRole('img', { name: /1 face\(s\) boxed: #1 joy/ }).count()).toBe(1);
    // The best candidate's enrolment face is shown beside the probe crop.
    const enrolled = card.getByRole('img', { name: 'Enrolled face of joy' });
    await enrolled.waitFor();
    expect(await enrolled.evaluate((img: { naturalWidth: number }) => img.naturalWidth)).toBe(112);
    expect(await card.getByRole('img', { name: /as found in the image/ }).count()).toBe(1);
    await screenshot(page, 'identify');
  });

  it('refuses bad input with a clear sentence and leaves no half-made subject', async () => {
    const noFace = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#7a8a99' } })
      .jpeg()
      .toBuffer();
    const huge = await sharp({ create: { width: 8500, height: 8000, channels: 3, background: '#333' } })
      .jpeg({ quality: 50 })
      .toBuffer();
    await open('#/subjects');
    const cases: [string, Parameters<typeof dropFiles>[2], RegExp][] = [
      [
        'notes',
        [{ name: 'notes.txt', type: 'text/plain', bytes: Buffer.from('not a photo') }],
        /notes\.txt is not an image/,
      ],
      [
        'fake',
        [{ name: 'fake.jpg', type: 'image/jpeg', bytes: Buffer.from('plain text in a .jpg') }],
        /image|format/i,
      ],
      ['empty-wall', [{ name: 'wall.jpg', type: 'image/jpeg', bytes: noFace }], /No face was found/],
      ['huge', [{ name: 'huge.jpg', type: 'image/jpeg', bytes: huge }], /8500×8000 pixels; the limit is/],
    ];
    for (const [id, files, message] of cases) {
      await enrolThroughUi(`Bad ${id}`, id, files);
      const results = await page.locator('[aria-label="Enrolment results"]').textContent();
      expect(results).toMatch(message);
      expect(results).not.toMatch(/stack|TypeError|sharp|vips|at \w+ \(/i);
      expect(await page.getByRole('alert').filter({ hasText: 'No subject was created' }).count()).toBe(1);
    }
    await screenshot(page, 'subjects-refused');
    expect(await subjectIds()).toEqual([...SEED_PEOPLE]);
    expect(serverErrors).toEqual([]);
  });

  it('says so for an unknown subject URL', async () => {
    await open('#/subjects/nobody-here');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('There is no subject with id "nobody-here".');
  });

  it('lists recent decisions on the Activity page and filters them', async () => {
    await open('#/activity');
    await page.getByRole('cell', { name: 'match: joy' }).first().waitFor();
    await page.getByLabel('Decision', { exact: true }).selectOption('unknown');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('No decisions match.').waitFor();
    await page.getByLabel('Decision', { exact: true }).selectOption('match');
    await page.getByLabel('Source or camera').fill('http:');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('cell', { name: 'match: joy' }).first().waitFor();
    await screenshot(page, 'activity');
  });

  it('shows the calibration and thresholds in use on Settings', async () => {
    await open('#/settings');
    await page.getByRole('heading', { name: 'Calibration in use' }).waitFor();
    const text = await page.locator('.facts').textContent();
    expect(text).toMatch(/Open-set threshold0\.\d{4}/);
    await screenshot(page, 'settings');
  });

  it('deletes a subject after explaining the erasure, and its face data goes with it', async () => {
    await open('#/subjects/wendy');
    await page.getByRole('button', { name: 'Delete wendy…' }).click();
    const dialog = page.getByRole('alertdialog');
    expect((await dialog.textContent())?.replace(/\s+/g, ' ')).toMatch(
      /erases the subject record, its 5 templates.*enrolment thumbnail/s,
    );
    await screenshot(page, 'subject-delete');
    await dialog.getByRole('button', { name: 'Delete permanently' }).click();
    await page.getByRole('status').filter({ hasText: 'all of its face data were erased' }).waitFor();
    expect((await api('/subjects/wendy')).status).toBe(404);
    expect((await api('/subjects/wendy/thumbnail')).status).toBe(404);
    expect(await subjectIds()).toEqual(['irene', 'joy', 'seulgi', 'yeri']);
  });

  it('with an API key configured, asks for it and loads nothing without it', async () => {
    await server.close();
    server = await startServer({
      port: 0,
      host: '127.0.0.1',
      dataDir,
      apiKeys: ['s3cret-key'],
      logger,
      env: {},
    });
    const refused: string[] = [];
    page.on('response', (r) => {
      if (r.status() === 401) refused.push(new URL(r.url()).pathname);
    });
    await open('#/subjects');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.getByRole('navigation').count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('joy');
    await page.locator('input[name=apiKey]').fill('wrong');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('That API key was not accepted').waitFor();
    await screenshot(page, 'sign-in');
    expect(refused.length).toBeGreaterThan(0);
    await page.locator('input[name=apiKey]').fill('s3cret-key');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('table').getByRole('link', { name: 'joy' }).waitFor();
    expect(await subjectIds('s3cret-key')).toEqual(['irene', 'joy', 'seulgi', 'yeri']);
    expect(serverErrors).toEqual([]);
  });
});
