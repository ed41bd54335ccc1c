/**
 * Enrolment photos in the data bucket, for `gallery reembed` in AWS. A photo enrolled by upload already lies at
 * `gallery/<subject id>/<file>` (kept until the subject is deleted), so it is listed from there and never
 * copied; a photo enrolled through the API (no object behind it) is kept at `photos/<subject id>/<sha256>.img`
 * beside `<sha256>.json` (its source), the JSON written last so a listed photo always has its bytes. Photo ids
 * are the sha256 for `photos/` and `gallery:<file>` for uploads, so `get` knows where to look.
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { EnrolmentPhotoStore, StoredPhoto } from '../../core/gallery/photo-store.ts';

const GALLERY = 'gallery/';
const UPLOAD_ID = 'gallery:';

function isMissing(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

export class S3PhotoStore implements EnrolmentPhotoStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = 'photos/',
  ) {}

  private keys(prefix: string): AsyncGenerator<string> {
    const { s3, bucket } = this;
    return (async function* () {
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) if (object.Key) yield object.Key;
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    })();
  }

  private async read(key: string): Promise<Uint8Array | undefined> {
    try {
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await object.Body?.transformToByteArray();
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async put(photo: StoredPhoto, bytes: Uint8Array): Promise<void> {
    // An uploaded enrolment photo is its own kept copy (and writing under gallery/ would enrol it again).
    if (photo.source.startsWith(`${GALLERY}${photo.subjectId}/`)) return;
    const base = `${this.prefix}${encodeURIComponent(photo.subjectId)}/${photo.id}`;
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: `${base}.img`, Body: bytes }));
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `${base}.json`,
        Body: JSON.stringify(photo),
        ContentType: 'application/json',
      }),
    );
  }

  async list(subjectId?: string): Promise<StoredPhoto[]> {
    const photos: StoredPhoto[] = [];
    const kept = `${this.prefix}${subjectId === undefined ? '' : `${encodeURIComponent(subjectId)}/`}`;
    for await (const key of this.keys(kept)) {
      if (!key.endsWith('.json')) continue;
      const text = await this.read(key);
      if (text) photos.push(JSON.parse(Buffer.from(text).toString('utf8')) as StoredPhoto);
    }
    const uploads = `${GALLERY}${subjectId === undefined ? '' : `${subjectId}/`}`;
    for await (const key of this.keys(uploads)) {
      const [owner, ...file] = key.slice(GALLERY.length).split('/');
      if (!owner || file.length === 0 || key.endsWith('/')) continue;
      photos.push({ subjectId: owner, id: `${UPLOAD_ID}${file.join('/')}`, source: key });
    }
    return photos.sort((a, b) =>
      a.subjectId === b.subjectId ? (a.id < b.id ? -1 : 1) : a.subjectId < b.subjectId ? -1 : 1,
    );
  }

  get(subjectId: string, id: string): Promise<Uint8Array | undefined> {
    return this.read(
      id.startsWith(UPLOAD_ID)
        ? `${GALLERY}${subjectId}/${id.slice(UPLOAD_ID.length)}`
        : `${this.prefix}${encodeURIComponent(subjectId)}/${id}.img`,
    );
  }

  /** Removes the photos kept under `photos/` (the uploads under `gallery/` are erased with the subject's objects). */
  async deleteSubject(subjectId: string): Promise<void> {
    const keys: string[] = [];
    for await (const key of this.keys(`${this.prefix}${encodeURIComponent(subjectId)}/`)) keys.push(key);
    for (let i = 0; i < keys.length; i += 1000) {
      await this.s3.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
  }
}
