/**
 * The one table of blame (`ERROR_BLAME`) decides the HTTP status family, the CLI exit code and the ingest
 * behaviour of every error code: these tests check that every code has an entry and that the edges agree.
 */
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeOf } from '../../bin/cli/common.ts';
import {
  ERROR_BLAME,
  FaceprintError,
  type FaceprintErrorCode,
  NO_USABLE_FACE,
} from '../../functions/core/errors.ts';
import type { GalleryService } from '../../functions/core/gallery/service.ts';
import { ingestImage } from '../../functions/core/ingest/ingest.ts';
import { HTTP_STATUS } from '../../functions/handlers/http/errors.ts';

const CODES = Object.keys(ERROR_BLAME) as FaceprintErrorCode[];

/** A gallery whose identify throws the given error: only what ingestImage calls. */
function throwingGallery(error: unknown): GalleryService {
  return {
    identify: () => Promise.reject(error),
    cameraOfUpload: async () => undefined,
  } as unknown as GalleryService;
}

describe('error blame table', () => {
  it('covers every domain code that the HTTP table knows, and only those', () => {
    const httpDomainCodes = Object.keys(HTTP_STATUS).filter((c) => c in ERROR_BLAME);
    expect(httpDomainCodes.sort()).toEqual([...CODES].sort());
    for (const code of CODES) expect(['input', 'state', 'operator']).toContain(ERROR_BLAME[code]);
  });

  it.each(CODES)('HTTP and the CLI agree with the blame of %s', (code) => {
    const status = HTTP_STATUS[code];
    const exit = exitCodeOf(code);
    switch (ERROR_BLAME[code]) {
      case 'operator':
        expect(status).toBeGreaterThanOrEqual(500);
        expect(exit).toBe(EXIT.operator);
        break;
      case 'state':
        expect([404, 409]).toContain(status);
        expect(exit).toBe(EXIT.invalidInput);
        break;
      case 'input':
        expect(status).toBeGreaterThanOrEqual(400);
        expect(status).toBeLessThan(500);
        expect(exit).toBe(NO_USABLE_FACE.has(code) ? EXIT.noFace : EXIT.invalidInput);
        break;
    }
  });

  it.each(CODES)('ingest records %s as the upload’s fault only when the input is to blame', async (code) => {
    const error = new FaceprintError(code, 'A sentence.');
    const run = ingestImage(throwingGallery(error), { key: 'uploads/a.jpg', bytes: new Uint8Array([1]) });
    if (ERROR_BLAME[code] === 'operator') {
      await expect(run).rejects.toBe(error);
    } else {
      const event = await run;
      expect(event.status).toBe('failed');
      expect(event.error).toEqual({ code, message: 'A sentence.' });
    }
  });

  it('rethrows anything that is not a domain error (a bug) for the caller to retry', async () => {
    const bug = new TypeError('x is undefined');
    await expect(ingestImage(throwingGallery(bug), { key: 'k', bytes: new Uint8Array([1]) })).rejects.toBe(
      bug,
    );
  });
});
