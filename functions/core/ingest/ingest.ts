import { createHash } from 'node:crypto';
import { ERROR_BLAME, isFaceprintError } from '../errors.ts';
import type { GalleryService, IdentifyResult } from '../gallery/service.ts';

/** Version of the ingest event schema; bump on breaking changes. */
export const INGEST_EVENT_VERSION = 1;

/**
 * What processing one uploaded image produced. The local upload folder writes it to `results/<name>.json`; the
 * AWS ingest function stores it as the detection record and publishes it on EventBridge (detail-type
 * `Faceprint Detection`). Never contains an image or an embedding.
 */
export interface IngestEvent {
  version: typeof INGEST_EVENT_VERSION;
  /** Object key (AWS) or file name (local). */
  key: string;
  /** sha256 of the bytes: the idempotency key together with `key`. */
  sha256: string;
  processedAt: string;
  status: 'processed' | 'failed';
  /** Present when `status` is `failed`: machine-readable code and one sentence. */
  error?: { code: string; message: string } | undefined;
  width?: number | undefined;
  height?: number | undefined;
  calibration?: string | undefined;
  model?: { id: string; version: string } | undefined;
  summary: { faces: number; matches: number; unknowns: number; ambiguous: number };
  faces: IdentifyResult['faces'];
}

/** sha256 of some bytes, hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Identifies one uploaded image and summarises the decisions as an {@link IngestEvent} (the identify step of
 * `workflow.ts`). The upload's own faults (corrupt file, unsupported format, …: input or state blame) become a
 * `failed` event with the reason instead of an exception, so the caller records them; the operator's (a bug, a
 * broken model) are thrown for the caller's retry/DLQ policy. `auditKey` (key and version of the claim) makes the
 * audit rows of a retried upload the same rows, not new ones.
 */
export async function ingestImage(
  gallery: GalleryService,
  upload: { key: string; bytes: Uint8Array; auditKey?: string | undefined },
  now: () => Date = () => new Date(),
): Promise<IngestEvent> {
  const sha256 = sha256Hex(upload.bytes);
  try {
    // An upload folder that names a configured camera is the camera of the call (`core/camera/`).
    const camera = await gallery.cameraOfUpload(upload.key);
    const result = await gallery.identify(upload.bytes, {
      source: upload.key,
      operation: 'ingest',
      auditKey: upload.auditKey,
      ...(camera ? { camera } : {}),
    });
    const count = (kind: string) => result.faces.filter((f) => f.decision.kind === kind).length;
    return {
      version: INGEST_EVENT_VERSION,
      key: upload.key,
      sha256,
      processedAt: now().toISOString(),
      status: 'processed',
      width: result.width,
      height: result.height,
      calibration: result.calibration,
      model: result.model,
      summary: {
        faces: result.faces.length,
        matches: count('match'),
        unknowns: count('unknown'),
        ambiguous: count('ambiguous'),
      },
      faces: result.faces,
    };
  } catch (error) {
    // Only the upload's own faults become a record; the operator's (a missing model, a corrupt index, a bug) are
    // thrown, so that the caller retries and, in the end, dead-letters the upload.
    if (!isFaceprintError(error) || ERROR_BLAME[error.code] === 'operator') throw error;
    return failedIngestEvent(upload.key, sha256, { code: error.code, message: error.message }, now());
  }
}

/** The event of an upload that could not be processed: its key, fingerprint and the reason, no faces. */
export function failedIngestEvent(
  key: string,
  sha256: string,
  error: { code: string; message: string },
  at: Date = new Date(),
): IngestEvent {
  return {
    version: INGEST_EVENT_VERSION,
    key,
    sha256,
    processedAt: at.toISOString(),
    status: 'failed',
    error,
    summary: { faces: 0, matches: 0, unknowns: 0, ambiguous: 0 },
    faces: [],
  };
}
