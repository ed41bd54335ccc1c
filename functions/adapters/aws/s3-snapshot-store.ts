import {
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { IndexSnapshotStore } from '../../core/gallery/ports.ts';

/** The small object that names the newest snapshot; swapping it is what makes a new snapshot current. */
interface LatestPointer {
  key: string;
  createdAt: string;
  bytes: number;
}

function isMissing(error: unknown): boolean {
  return (
    error instanceof NoSuchKey ||
    error instanceof NotFound ||
    (error as { name?: string }).name === 'NoSuchKey' ||
    (error as { name?: string }).name === 'NotFound'
  );
}

/**
 * Index snapshots in S3: each save writes an immutable object `<prefix>snapshots/<time>.fpidx` (the same bytes
 * as the local snapshot file), then replaces `<prefix>latest.json`, which points at it. Readers therefore see the
 * old snapshot or the new one, never a mix; old snapshots expire by the bucket's lifecycle rule.
 */
export class S3SnapshotStore implements IndexSnapshotStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = 'index/',
  ) {}

  private get pointerKey(): string {
    return `${this.prefix}latest.json`;
  }

  /** The newest snapshot's pointer, or undefined when none has been published. */
  async latest(): Promise<LatestPointer | undefined> {
    try {
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.pointerKey }));
      return JSON.parse(await object.Body!.transformToString()) as LatestPointer;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** The pointer object's ETag: a cheap way to ask "is there a newer snapshot?" */
  async latestTag(): Promise<string | undefined> {
    try {
      return (await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.pointerKey }))).ETag;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async load(): Promise<Uint8Array | undefined> {
    const pointer = await this.latest();
    if (!pointer) return undefined;
    const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: pointer.key }));
    return object.Body!.transformToByteArray();
  }

  async save(bytes: Uint8Array): Promise<void> {
    const createdAt = new Date().toISOString();
    const key = `${this.prefix}snapshots/${createdAt.replace(/[:.]/g, '-')}-${Math.random().toString(36).slice(2, 8)}.fpidx`;
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes,
        ContentType: 'application/vnd.faceprint.index',
      }),
    );
    const pointer: LatestPointer = { key, createdAt, bytes: bytes.byteLength };
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.pointerKey,
        Body: JSON.stringify(pointer),
        ContentType: 'application/json',
      }),
    );
  }
}
