/**
 * Issue 13, finding 7 (the small things a hostile test of local mode found), against a real server on
 * 127.0.0.1 with the real models: client disconnects are logged as such (not as 500s), decoder failures are
 * told in our words (no libvips wording), metadata with a `__proto__` key and names with bidirectional
 * controls are refused with a 400, and requests Node's parser refuses get the JSON error body too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../functions/core/pipeline/image.ts';
import { type RunningServer, startServer } from '../../functions/local/server.ts';

const infos: { message: string; fields: Record<string, unknown> }[] = [];
const errors: unknown[] = [];
const logger = {
  info: (message: string, fields?: unknown) =>
    infos.push({ message, fields: (fields ?? {}) as Record<string, unknown> }),
  error: (...args: unknown[]) => errors.push(args),
};

let dataDir: string;
let server: RunningServer;
let port: number;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'faceprint-hostile-'));
  server = await startServer({ port: 0, host: '127.0.0.1', dataDir, apiKeys: [], logger, env: {} });
  port = Number(new URL(server.url).port);
}, 120_000);

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Sends raw bytes on a fresh connection and returns everything the server wrote before closing. */
function raw(request: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.end(request);
  });
}

function parse(response: string): {
  status: number;
  type: string;
  body: { error: { code: string; message: string } };
} {
  const [head = '', body = ''] = response.split('\r\n\r\n');
  const status = Number(head.split(' ')[1]);
  const type = /content-type: *([^\r\n]+)/i.exec(head)?.[1] ?? '';
  return { status, type, body: JSON.parse(body) };
}

async function noisyJpeg(): Promise<Buffer> {
  const pixels = Buffer.alloc(256 * 256 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width: 256, height: 256, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

const LIBRARY_WORDING = /vips|libjpeg|libpng|spng|premature|huffman|marker|load:/i;

describe('local server under hostile input', () => {
  it('logs a client that disconnects mid-body as abandoned (499), not as a 500', async () => {
    const before = errors.length;
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          'POST /identify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n',
        );
        socket.write(Buffer.alloc(2000, 0xff));
        setTimeout(() => socket.destroy(), 150);
      });
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
    });
    await expect.poll(() => infos.some((i) => i.fields.path === '/identify'), { timeout: 5000 }).toBe(true);
    const entry = infos.find((i) => i.fields.path === '/identify')!;
    expect(entry.message).toBe('request abandoned by the client');
    expect(entry.fields.status).toBe(499);
    expect(errors.length).toBe(before);
  });

  it('tells a truncated JPEG in its own words, never the decoder library', async () => {
    const jpeg = await noisyJpeg();
    const cut = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    const res = await fetch(`${server.url}/identify`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: cut,
    });
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(400);
    expect(body.error.code).toBe('INVALID_IMAGE');
    expect(body.error.message).toBe('The jpeg image is truncated: the file ends before its last pixel.');
    // Corrupt (not cut) data inside a valid header: also our sentence.
    const garbled = Buffer.from(jpeg);
    for (let i = 700; i < garbled.length - 2; i += 7) garbled[i] = 0xff;
    const error = await decodeImage(garbled).then(
      () => undefined,
      (e: Error) => e,
    );
    if (error) expect(error.message).not.toMatch(LIBRARY_WORDING);
    expect(body.error.message).not.toMatch(LIBRARY_WORDING);
  });

  it('refuses metadata with a "__proto__" key with a 400 (it used to be dropped silently)', async () => {
    const res = await fetch(`${server.url}/subjects`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // Written as text: an object literal would set the prototype instead of an own key.
      body: '{"id":"proto-test","name":"Proto","metadata":{"__proto__":"x","badge":"1"}}',
    });
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(400);
    expect(body.error.code).toBe('VALIDATION_ERROR');
    expect(body.error.message).toContain('__proto__');
    expect((await fetch(`${server.url}/subjects/proto-test`)).status).toBe(404);
  });

  it('refuses names with bidirectional override or isolate controls', async () => {
    for (const control of ['\u202E', '\u202A', '\u2066', '\u2069']) {
      const res = await fetch(`${server.url}/subjects`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'bidi-test', name: `Ad${control}rian` }),
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status).toBe(400);
      expect(body.error.message).toMatch(/bidirectional control/);
    }
    expect((await fetch(`${server.url}/subjects/bidi-test`)).status).toBe(404);
  });

  it('answers requests the HTTP parser refuses with the JSON error body', async () => {
    const badLength = parse(
      await raw('POST /subjects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 12x\r\n\r\n{}'),
    );
    expect(badLength.status).toBe(400);
    expect(badLength.type).toMatch(/application\/json/);
    expect(badLength.body.error.code).toBe('MALFORMED_REQUEST');

    const hugeUrl = parse(
      await raw(`GET /subjects?x=${'a'.repeat(1024 * 1024)} HTTP/1.1\r\nHost: h\r\n\r\n`),
    );
    expect(hugeUrl.status).toBe(431);
    expect(hugeUrl.body.error.code).toBe('HEADERS_TOO_LARGE');

    const headers = Array.from({ length: 2000 }, (_, i) => `x-h${i}: ${i}\r\n`).join('');
    const many = parse(await raw(`GET /health HTTP/1.1\r\nHost: h\r\n${headers}\r\n`));
    expect(many.status).toBe(431);
    expect(many.body.error.message).toMatch(/16 KiB/);
  });
});
