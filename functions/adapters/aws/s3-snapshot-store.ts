import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { IndexSnapshotStore } from '../../core/gallery/ports.ts';
import { pruneSupersededSnapshots } from './s3-versions.ts';

function isMissing(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

/**
 * The index snapshot in S3: one object, `<prefix>gallery.fpidx` (the same bytes as the local snapshot file),
 * overwritten on every save. A PUT replaces an object atomically, so readers see the old snapshot or the new
 * one, never a mix; the versioned bucket keeps superseded snapshots for a while (lifecycle rule on `index/`).
 */
export class S3SnapshotStore implements IndexSnapshotStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = 'index/',
  ) {}

  /** The snapshot's object key. */
  get key(): string {
    return `${this.prefix}gallery.fpidx`;
  }

  /** The current snapshot's ETag, or undefined when none has been published: a cheap "is there a newer one?". */
  async version(): Promise<string | undefined> {
    try {
      return (await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key }))).ETag;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async load(): Promise<Uint8Array | undefined> {
    try {
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key }));
      return await object.Body!.transformToByteArray();
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async save(bytes: Uint8Array): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key,
        Body: bytes,
        ContentType: 'application/octet-stream',
      }),
    );
  }

  /**
   * Deletes every superseded version of the snapshot (the bucket is versioned): run after publishing a snapshot
   * without a deleted subject, so no older snapshot keeps its embeddings. Returns how many were deleted.
   */
  pruneSuperseded(): Promise<number> {
    return pruneSupersededSnapshots(this.s3, this.bucket, this.key);
  }
}
