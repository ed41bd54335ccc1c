/**
 * Debian's Chromium driven by playwright-core (its own browser downloads cannot work offline): a fresh profile
 * per launch, headless, nothing reaching beyond loopback. `dropFiles` performs a real HTML5 drop (a DragEvent
 * carrying a DataTransfer of File objects) on an element, as a user dragging photos from a file manager does.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type RunningServer, startServer } from '../../functions/local/server.ts';

export const CHROMIUM = process.env.FACEPRINT_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = resolve(import.meta.dirname, '..', '..', 'test-artifacts');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh user-data dir and a laptop-sized viewport. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does.`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'faceprint-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1366, height: 768 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Writes a full-page screenshot to test-artifacts/<name>.png (git-ignored). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface DroppedFile {
  name: string;
  type: string;
  bytes: Uint8Array;
}

/** Drops files on the element matching `selector` (an HTML5 drop with a DataTransfer). */
export async function dropFiles(page: Page, selector: string, files: DroppedFile[]): Promise<void> {
  const payload = files.map((f) => ({
    name: f.name,
    type: f.type,
    b64: Buffer.from(f.bytes).toString('base64'),
  }));
  await page.locator(selector).first().waitFor();
  // Plain JavaScript run in the page (this file is type-checked without the DOM library).
  await page.evaluate(`(${DROP_SCRIPT})(${JSON.stringify({ selector, payload })})`);
}

const DROP_SCRIPT = `({ selector, payload }) => {
  const target = document.querySelector(selector);
  if (!target) throw new Error('no ' + selector);
  const transfer = new DataTransfer();
  for (const f of payload) {
    const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, { type: f.type }));
  }
  for (const type of ['dragenter', 'dragover', 'drop']) {
    target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}`;

/**
 * Builds the console bundle and starts the real local server on a fresh data folder with no API key: what every
 * console test runs against. `stop` closes the server and removes the folder.
 */
export async function startConsoleServer(
  prefix: string,
  logger: { info(...args: unknown[]): void; error(...args: unknown[]): void },
): Promise<{ server: RunningServer; dataDir: string; stop(): Promise<void> }> {
  const root = resolve(import.meta.dirname, '..', '..');
  execFileSync(process.execPath, [join(root, 'scripts', 'build-console.mjs'), '--quiet'], {
    stdio: 'inherit',
  });
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir, apiKeys: [], logger, env: {} });
  return {
    server,
    dataDir,
    async stop() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
