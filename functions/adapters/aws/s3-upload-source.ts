/**
 * The upload workflow's source in AWS (`UploadSource`): objects of the data bucket, versioned by ETag. The ETag
 * of an S3 notification is used as given; without one, a HeadObject looks it up. A body larger than the decode
 * limit is refused from its Content-Length without being read.
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { UploadRead, UploadSource, VersionLookup } from '../../core/ingest/ports.ts';

/** An object named by an S3 notification (key already URL-decoded), a manifest or a listing. */
export interface ObjectRef {
  bucket: string;
  key: string;
  /** Without quotes. Looked up with HeadObject when absent. */
  eTag?: string | undefined;
  /** Set by S3 notifications on a versioned bucket: the exact version the event is about. */
  versionId?: string | undefined;
}

/** An ETag without its quotes (S3 notifications carry none, HeadObject/GetObject do). */
export function normaliseETag(eTag: string | undefined): string | undefined {
  return eTag?.replace(/^W\//, '').replace(/"/g, '') || undefined;
}

function isMissing(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion';
}

/** Decodes the RFC 2047 `=?UTF-8?B?…?=` form that S3 clients use for non-ASCII metadata values. */
export function decodeMetadataValue(value: string): string {
  const encoded = /^=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=$/i.exec(value.trim());
  return encoded ? Buffer.from(encoded[1] ?? '', 'base64').toString('utf8') : value;
}

export class S3UploadSource implements UploadSource<ObjectRef> {
  constructor(
    private readonly s3: S3Client,
    /** Largest object read (the decoder's byte limit). */
    private readonly maxBytes: number,
  ) {}

  keyOf(ref: ObjectRef): string {
    return ref.key;
  }

  async version(ref: ObjectRef): Promise<VersionLookup> {
    if (ref.eTag) return { version: normaliseETag(ref.eTag) as string };
    try {
      const head = await this.s3.send(
        new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
      );
      const eTag = normaliseETag(head.ETag);
      return eTag ? { version: eTag } : { gone: true };
    } catch (error) {
      if (isMissing(error)) return { gone: true };
      throw error;
    }
  }

  async read(ref: ObjectRef, version: string): Promise<UploadRead> {
    try {
      const object = await this.s3.send(
        new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
      );
      const size = object.ContentLength ?? 0;
      if (size > this.maxBytes) {
        (object.Body as { destroy?: () => void } | undefined)?.destroy?.();
        return { tooLarge: size, limit: this.maxBytes };
      }
      const eTag = normaliseETag(object.ETag);
      if (eTag !== undefined && eTag !== version) {
        (object.Body as { destroy?: () => void } | undefined)?.destroy?.();
        return { replaced: eTag };
      }
      const bytes = object.Body ? await object.Body.transformToByteArray() : new Uint8Array(0);
      const metadata = Object.fromEntries(
        Object.entries(object.Metadata ?? {}).map(([k, v]) => [k, decodeMetadataValue(v)]),
      );
      return { bytes, metadata };
    } catch (error) {
      if (isMissing(error)) return { gone: true };
      throw error;
    }
  }
}
