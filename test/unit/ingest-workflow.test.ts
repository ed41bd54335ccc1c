/**
 * The upload workflow (`core/ingest/workflow.ts`) with in-memory adapters: a ledger with stale-claim take-over,
 * an object source and a detection sink keyed like the real ones (key + version). The gallery is a stand-in whose
 * identify decodes the bytes with the real decoder (so a corrupt image fails as it does in production) and
 * answers one face; everything the workflow itself decides is real.
 */

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { FaceprintError } from '../../functions/core/errors.ts';
import type { GalleryService, IdentifyResult } from '../../functions/core/gallery/service.ts';
import type { IngestEvent } from '../../functions/core/ingest/ingest.ts';
import type {
  DetectionSink,
  IngestLedger,
  IngestState,
  LedgerClaim,
  RecordedDetection,
  UploadRead,
  UploadSource,
  VersionLookup,
} from '../../functions/core/ingest/ports.ts';
import { enrolUpload, ingestUpload } from '../../functions/core/ingest/workflow.ts';
import { decodeImage } from '../../functions/core/pipeline/image.ts';

class MemoryLedger implements IngestLedger {
  readonly rows = new Map<
    string,
    { state: IngestState; claimedAt: number; attempts: number; ref?: string }
  >();
  now = 0;
  failNextComplete = false;
  constructor(private readonly staleAfter = 1000) {}

  async claim(key: string, fingerprint: string): Promise<LedgerClaim> {
    const id = `${key}|${fingerprint}`;
    const row = this.rows.get(id);
    if (!row) {
      this.rows.set(id, { state: 'claimed', claimedAt: this.now, attempts: 1 });
      return { state: 'claimed', firstClaim: true, acquired: true, attempts: 1 };
    }
    if (row.state === 'claimed' && this.now - row.claimedAt >= this.staleAfter) {
      row.claimedAt = this.now;
      row.attempts += 1;
      return { state: 'claimed', firstClaim: false, acquired: true, attempts: row.attempts };
    }
    return { state: row.state, firstClaim: false, acquired: false, attempts: row.attempts };
  }
  async complete(key: string, fingerprint: string, resultRef: string): Promise<void> {
    if (this.failNextComplete) {
      this.failNextComplete = false;
      throw new Error('the process died here');
    }
    this.rows.set(`${key}|${fingerprint}`, {
      state: 'done',
      claimedAt: this.now,
      attempts: 1,
      ref: resultRef,
    });
  }
  async fail(key: string, fingerprint: string, reason: string): Promise<void> {
    this.rows.set(`${key}|${fingerprint}`, {
      state: 'failed',
      claimedAt: this.now,
      attempts: 1,
      ref: reason,
    });
  }
}

class MemoryBucket implements UploadSource<string> {
  readonly objects = new Map<string, { bytes: Uint8Array; version: string }>();
  put(key: string, bytes: Uint8Array, version: string): void {
    this.objects.set(key, { bytes, version });
  }
  keyOf(key: string): string {
    return key;
  }
  async version(key: string): Promise<VersionLookup> {
    const object = this.objects.get(key);
    return object ? { version: object.version } : { gone: true };
  }
  async read(key: string, version: string): Promise<UploadRead> {
    const object = this.objects.get(key);
    if (!object) return { gone: true };
    if (object.version !== version) return { replaced: object.version };
    return { bytes: object.bytes, metadata: {} };
  }
}

class MemorySink implements DetectionSink<string> {
  /** Keyed like the detections table: (key, version). */
  readonly records = new Map<string, IngestEvent>();
  readonly refusals: IngestEvent[] = [];
  readonly settled: string[] = [];
  readonly duplicates: string[] = [];
  async record(key: string, version: string, event: IngestEvent): Promise<RecordedDetection> {
    this.records.set(`${key}|${version}`, event);
    return this.settling(`DETECTION#${key}|${version}`, key);
  }
  async refuse(key: string, _version: string | undefined, event: IngestEvent): Promise<RecordedDetection> {
    this.refusals.push(event);
    return this.settling('', key);
  }
  async duplicate(key: string): Promise<void> {
    this.duplicates.push(key);
  }
  private settling(resultRef: string, key: string): RecordedDetection {
    return { resultRef, settle: async () => void this.settled.push(key), abandon: () => undefined };
  }
}

/** Identify as far as the workflow can tell: decode for real, then one face; audit keys collected. */
function standInGallery(auditKeys: (string | undefined)[]): GalleryService {
  return {
    cameraOfUpload: async () => undefined,
    async identify(bytes: Uint8Array, context: { auditKey?: string }): Promise<IdentifyResult> {
      const image = await decodeImage(bytes);
      auditKeys.push(context.auditKey);
      const decision = {
        kind: 'unknown' as const,
        subjectId: undefined,
        similarity: 0.1,
        threshold: 0.5,
        margin: 0,
        confidence: 0.9,
        candidates: [],
      };
      const box = { x: 1, y: 1, width: 10, height: 10 };
      const point = { x: 5, y: 5 };
      return {
        width: image.width,
        height: image.height,
        calibration: 'test',
        model: { id: 'm', version: '1' },
        faces: [
          {
            box,
            landmarks: { leftEye: point, rightEye: point, nose: point, mouthLeft: point, mouthRight: point },
            quality: {
              score: 1,
              reasons: [],
              brightness: 100,
              contrast: 40,
              sharpness: 100,
              interOcularPx: 40,
              detectionScore: 0.99,
              yaw: 0,
              pitch: 0,
              roll: 0,
            },
            enhanced: false,
            restoration: 'none',
            decision,
            candidates: [],
          },
        ],
      };
    },
  } as unknown as GalleryService;
}

/** A small real JPEG (a grey frame): decodes, so the stand-in identify answers. */
function makeJpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .jpeg()
    .toBuffer();
}

async function setup() {
  const ledger = new MemoryLedger();
  const bucket = new MemoryBucket();
  const sink = new MemorySink();
  const auditKeys: (string | undefined)[] = [];
  const gallery = standInGallery(auditKeys);
  const run = (key: string) =>
    ingestUpload(key, { source: bucket, ledger, sink, gallery: async () => gallery, maxAttempts: 3 });
  bucket.put('uploads/cam1/a.jpg', await makeJpeg(64, 48), 'etag-a');
  return { ledger, bucket, sink, auditKeys, run };
}

describe('ingestUpload', () => {
  it('claims, identifies, records and settles an upload', async () => {
    const { ledger, sink, auditKeys, run } = await setup();
    const outcome = await run('uploads/cam1/a.jpg');
    expect(outcome).toMatchObject({ status: 'processed', detail: '1 faces, 0 matches' });
    expect([...sink.records.keys()]).toEqual(['uploads/cam1/a.jpg|etag-a']);
    expect(sink.records.get('uploads/cam1/a.jpg|etag-a')).toMatchObject({
      status: 'processed',
      width: 64,
      height: 48,
      summary: { faces: 1, unknowns: 1 },
    });
    expect(ledger.rows.get('uploads/cam1/a.jpg|etag-a')).toMatchObject({
      state: 'done',
      ref: 'DETECTION#uploads/cam1/a.jpg|etag-a',
    });
    expect(sink.settled).toEqual(['uploads/cam1/a.jpg']);
    expect(auditKeys).toEqual(['uploads/cam1/a.jpg@etag-a']);
  });

  it('processes a redelivered upload once: one record, the second delivery a duplicate', async () => {
    const { sink, auditKeys, run } = await setup();
    await run('uploads/cam1/a.jpg');
    const again = await run('uploads/cam1/a.jpg');
    expect(again).toEqual({ status: 'duplicate', state: 'done' });
    expect(sink.records.size).toBe(1);
    expect(sink.duplicates).toEqual(['uploads/cam1/a.jpg']);
    expect(auditKeys).toHaveLength(1);
  });

  it('takes over a crash between record and settle and ends with one record, audited under the same key', async () => {
    const { ledger, sink, auditKeys, run } = await setup();
    ledger.failNextComplete = true;
    await expect(run('uploads/cam1/a.jpg')).rejects.toThrow('the process died here');
    expect(sink.records.size).toBe(1);
    expect(sink.settled).toEqual([]);
    // Redelivered while the claim is still fresh: someone is on it.
    expect(await run('uploads/cam1/a.jpg')).toEqual({ status: 'busy' });
    ledger.now += 5000;
    expect(await run('uploads/cam1/a.jpg')).toMatchObject({ status: 'processed' });
    expect(sink.records.size).toBe(1);
    expect(ledger.rows.get('uploads/cam1/a.jpg|etag-a')?.state).toBe('done');
    expect(sink.settled).toEqual(['uploads/cam1/a.jpg']);
    expect(new Set(auditKeys)).toEqual(new Set(['uploads/cam1/a.jpg@etag-a']));
  });

  it('records a corrupt image as failed, with its reason, and never retries it', async () => {
    const { ledger, bucket, sink, run } = await setup();
    bucket.put('uploads/bad.jpg', new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), 'etag-bad');
    const outcome = await run('uploads/bad.jpg');
    expect(outcome).toMatchObject({ status: 'refused', code: 'INVALID_IMAGE' });
    const record = sink.records.get('uploads/bad.jpg|etag-bad');
    expect(record).toMatchObject({ status: 'failed', error: { code: 'INVALID_IMAGE' }, faces: [] });
    expect(record?.error?.message).toMatch(/\S/);
    expect(ledger.rows.get('uploads/bad.jpg|etag-bad')?.state).toBe('failed');
    expect(await run('uploads/bad.jpg')).toEqual({ status: 'duplicate', state: 'failed' });
  });

  it('refuses a replaced, vanished or abandoned upload before identifying it', async () => {
    const { ledger, bucket, sink, auditKeys } = await setup();
    const gallery = standInGallery(auditKeys);
    const replacedSource: UploadSource<string> = {
      keyOf: (k) => k,
      version: async () => ({ version: 'old' }),
      read: async () => ({ replaced: 'new' }),
    };
    const replaced = await ingestUpload('uploads/x.jpg', {
      source: replacedSource,
      ledger,
      sink,
      gallery: async () => gallery,
    });
    expect(replaced).toMatchObject({ status: 'refused', code: 'SUPERSEDED' });
    expect(
      await ingestUpload('uploads/none.jpg', { source: bucket, ledger, sink, gallery: async () => gallery }),
    ).toEqual({
      status: 'ignored',
      reason: 'the upload no longer exists',
    });
    // A claim taken over twice more than allowed: set aside.
    bucket.put('uploads/crashy.jpg', new Uint8Array([1]), 'v');
    for (let i = 0; i < 3; i++) {
      await ledger.claim('uploads/crashy.jpg', 'v');
      ledger.now += 5000;
    }
    const abandoned = await ingestUpload('uploads/crashy.jpg', {
      source: bucket,
      ledger,
      sink,
      gallery: async () => gallery,
      maxAttempts: 3,
    });
    expect(abandoned).toMatchObject({ status: 'refused', code: 'PROCESSING_ABANDONED' });
    expect(auditKeys).toEqual([]);
    expect(sink.refusals.map((e) => e.error?.code)).toEqual(['SUPERSEDED', 'PROCESSING_ABANDONED']);
  });

  it('throws an operator error with the claim left open, so that a retry takes it over', async () => {
    const { ledger, bucket, sink } = await setup();
    const broken = {
      identify: () => Promise.reject(new FaceprintError('MODEL_UNAVAILABLE', 'The models are missing.')),
      cameraOfUpload: async () => undefined,
    } as unknown as GalleryService;
    await expect(
      ingestUpload('uploads/cam1/a.jpg', { source: bucket, ledger, sink, gallery: async () => broken }),
    ).rejects.toMatchObject({ code: 'MODEL_UNAVAILABLE' });
    expect(sink.records.size).toBe(0);
    expect(ledger.rows.get('uploads/cam1/a.jpg|etag-a')?.state).toBe('claimed');
  });
});

describe('enrolUpload', () => {
  it('enrols once, refuses what the gallery refuses, and refuses a bad key unread', async () => {
    const ledger = new MemoryLedger();
    const bucket = new MemoryBucket();
    bucket.put('gallery/jane/1.jpg', new Uint8Array([1]), 'e1');
    bucket.put('gallery/jane/2.jpg', new Uint8Array([2]), 'e2');
    let enrolled = 0;
    const deps = {
      source: bucket,
      ledger,
      enrol: async (bytes: Uint8Array) => {
        if (bytes[0] === 2) throw new FaceprintError('NO_FACE', 'No face was found in the photo.');
        enrolled += 1;
        return { resultRef: 'SUBJECT#jane', detail: 'subject created' };
      },
    };
    expect(await enrolUpload('gallery/jane/1.jpg', deps)).toEqual({
      status: 'processed',
      detail: 'subject created',
    });
    expect(await enrolUpload('gallery/jane/1.jpg', deps)).toEqual({ status: 'duplicate', state: 'done' });
    expect(await enrolUpload('gallery/jane/2.jpg', deps)).toMatchObject({
      status: 'refused',
      code: 'NO_FACE',
    });
    expect(enrolled).toBe(1);
    bucket.put('gallery/bad key', new Uint8Array([1]), 'e3');
    const unreadable: UploadSource<string> = {
      keyOf: (key) => key,
      version: (key) => bucket.version(key),
      read: () => Promise.reject(new Error('a refused key must not be read')),
    };
    const invalid = await enrolUpload('gallery/bad key', {
      ...deps,
      source: unreadable,
      invalid: { code: 'INVALID_KEY', message: 'Enrolment photos go under gallery/<subject id>/<file>.' },
    });
    expect(invalid).toMatchObject({ status: 'refused', code: 'INVALID_KEY' });
    expect(ledger.rows.get('gallery/bad key|e3')?.state).toBe('failed');
  });
});
