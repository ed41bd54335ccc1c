import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../functions/local/server.ts';
import { type Browser, launchBrowser, screenshot, startConsoleServer } from '../support/browser.ts';
import { hasData, SEED, SEED_PEOPLE, seedPhoto } from '../support/data.ts';

const HAVE_DATA = hasData(SEED);
const _ROOT = resolve(import.meta.dirname, '..', '..');
const serverErrors: unknown[] = [];
const logger = { info: () => undefined, error: (...args: unknown[]) => serverErrors.push(args) };

let console_: Awaited<ReturnType<typeof startConsoleServer>> | undefined;
let server: RunningServer;
let browser: Browser;
let page: Page;

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
async function call(path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const jpegBody = (path: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'image/jpeg' },
  body: readFileSync(path),
});

/** Enrols img_1 of each person through the API, then identifies the rest (joy/img_3.jpg has strangers). */
async function makeReviews(): Promise<void> {
  for (const person of SEED_PEOPLE) {
    expect((await call(`/subjects?id=${person}&name=${person}`, jpegBody(seedPhoto(person, 1)))).status).toBe(
      201,
    );
  }
  for (const person of SEED_PEOPLE) {
    for (const n of [2, 3, 4, 5])
      expect((await call('/identify', jpegBody(seedPhoto(person, n)))).status).toBe(200);
  }
}

describe.skipIf(!HAVE_DATA)('console review queue and unknown persons in Chromium', () => {
  beforeAll(async () => {
    console_ = await startConsoleServer('faceprint-console-review-', logger);
    server = console_.server;
    await makeReviews();
    browser = await launchBrowser();
    page = browser.page;
  });

  afterAll(async () => {
    await browser?.close();
    await console_?.stop();
  });

  it('shows the Review queue and Unknown persons tabs because the server has those routes', async () => {
    await page.goto(`${server.url}/#/subjects`);
    const nav = page.getByRole('navigation', { name: 'Console' });
    await nav.getByRole('link', { name: 'Review queue' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Unknown persons' }).count()).toBe(1);
  });

  it('rejects a match in the review queue, and the API records the verdict', async () => {
    const pending = await call('/reviews?status=pending&limit=50');
    expect(pending.status).toBe(200);
    expect(
      pending.body.items.length,
      'identifying the seed photos queued no review: adjust makeReviews',
    ).toBeGreaterThan(0);
    await page.goto(`${server.url}/#/reviews`);
    const first = page.getByRole('article').first();
    await first.waitFor();
    await first.getByRole('img', { name: 'The face under review' }).waitFor();
    await screenshot(page, 'reviews');
    const heading = await first.getByRole('heading').getAttribute('id');
    const id = heading?.replace(/^review-/, '');
    expect(id).toBeTruthy();
    await first.getByLabel('Note').fill('not the same person');
    await first.getByRole('button', { name: 'Reject match' }).click();
    await page.getByRole('status').filter({ hasText: 'rejected' }).waitFor();
    const rejected = await call('/reviews?status=rejected&limit=50');
    const review = rejected.body.items.find((r: { id: string }) => r.id === id);
    expect(review).toMatchObject({ status: 'rejected', note: 'not the same person' });
    // A verdict on a review that is no longer pending is refused (409) and the console would say so.
    const again = await call(`/reviews/${id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ verdict: 'confirm' }),
    });
    expect(again.status).toBe(409);
  });

  it('lists unknown persons with their sightings, and dismisses one', async () => {
    const unknowns = await call('/unknowns?sort=frequent');
    expect(unknowns.status).toBe(200);
    await page.goto(`${server.url}/#/unknowns`);
    await page.getByRole('heading', { name: 'Unknown persons' }).waitFor();
    await screenshot(page, 'unknowns');
    if (unknowns.body.items.length === 0) {
      expect(await page.getByText('No unknown persons.').count()).toBe(1);
      return;
    }
    const target = unknowns.body.items[0] as { id: string };
    await page.getByRole('button', { name: target.id.slice(0, 8) }).click();
    await page.getByRole('heading', { name: /sighting\(s\)/ }).waitFor();
    await page.getByRole('button', { name: 'Dismiss' }).click();
    await page.getByRole('status').filter({ hasText: 'Dismissed' }).waitFor();
    expect((await call(`/unknowns/${target.id}`)).status).toBe(404);
    expect(serverErrors).toEqual([]);
  });
});
