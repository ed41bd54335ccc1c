/**
 * Serves the web console (the static files that `npm run build:console` writes to `console/dist`) from the one
 * HTTP app: `GET /` is the shell (`index.html`, never cached, so a new build is picked up at once) and
 * `GET /console/<file>` the content-hashed bundle (cached for a year, immutable). These paths need no API key:
 * they hold no data, and the console then asks for the key before it calls the API. Files are read once into
 * memory (the bundle is ~60 KB); the set of names is fixed, so no request path ever reaches the file system.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppDeps, AppEnv } from './env.ts';
import { errorResponse } from './errors.ts';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

/** Same origin only, no inline script, images from the API (blob: URLs) and canvas (data:). */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Paths of the console's static files: public, like `/health`. */
export function isConsolePath(path: string): boolean {
  return path === '/' || /^\/console\/[\w.-]+$/.test(path);
}

interface Asset {
  bytes: Uint8Array;
  type: string;
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type && /^[\w.-]+$/.test(name)) assets.set(name, { bytes: readFileSync(join(dir, name)), type });
  }
  return assets;
}

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Faceprint</title>
<p>The Faceprint console is not built. Run <code>npm run build:console</code> (it also runs on
<code>npm ci</code>) and reload. The API itself works: see <a href="openapi.json">openapi.json</a>.</p></html>`;

/** Registers `GET /` and `GET /console/{file}`; without a built console, `/` explains how to build it. */
export function registerConsoleRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const assets = deps.consoleDir ? loadAssets(deps.consoleDir) : new Map<string, Asset>();
  const shell = (): Response => {
    const index = assets.get('index.html');
    return new Response(index ? index.bytes : NOT_BUILT, {
      status: index ? 200 : 503,
      headers: { 'content-type': CONTENT_TYPES['.html']!, 'cache-control': 'no-cache', ...SECURITY_HEADERS },
    });
  };
  // Only `/`: API Gateway declares exactly the console routes of lib/runtime-config.ts (CONSOLE_ROUTES).
  app.get('/', shell);
  app.get('/console/:file', (c) => {
    const name = c.req.param('file');
    const asset = name === 'index.html' ? undefined : assets.get(name);
    if (!asset) {
      const { body, status } = errorResponse('NOT_FOUND', `The console has no file "${name}".`);
      return c.json(body, status);
    }
    return new Response(asset.bytes, {
      status: 200,
      headers: {
        'content-type': asset.type,
        // Every name but index.html carries its content hash: a new build gets new names.
        'cache-control': 'public, max-age=31536000, immutable',
        ...SECURITY_HEADERS,
      },
    });
  });
}
