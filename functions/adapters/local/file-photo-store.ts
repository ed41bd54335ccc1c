import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EnrolmentPhotoStore, StoredPhoto } from '../../core/gallery/photo-store.ts';
import { writeFileAtomic } from './atomic-file.ts';

/**
 * Enrolment photos as files: `<root>/<subject id, URI-encoded>/<sha256>.img` beside `<sha256>.json` (its source).
 * The JSON is written last, atomically, so a listed photo always has its bytes.
 */
export class FilePhotoStore implements EnrolmentPhotoStore {
  constructor(private readonly root: string) {}

  private dir(subjectId: string): string {
    return join(this.root, encodeURIComponent(subjectId));
  }

  async put(photo: StoredPhoto, bytes: Uint8Array): Promise<void> {
    const dir = this.dir(photo.subjectId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const target = join(dir, `${photo.id}.img`);
    await writeFileAtomic(target, bytes, `${target}.tmp`);
    await writeFile(join(dir, `${photo.id}.json`), JSON.stringify(photo), { mode: 0o600 });
  }

  async list(subjectId?: string): Promise<StoredPhoto[]> {
    const subjects = subjectId
      ? [encodeURIComponent(subjectId)]
      : await readdir(this.root).catch(() => [] as string[]);
    const photos: StoredPhoto[] = [];
    for (const subject of subjects.sort()) {
      const names = await readdir(join(this.root, subject)).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
        photos.push(JSON.parse(await readFile(join(this.root, subject, name), 'utf8')) as StoredPhoto);
      }
    }
    return photos;
  }

  async get(subjectId: string, id: string): Promise<Uint8Array | undefined> {
    return readFile(join(this.dir(subjectId), `${id}.img`)).catch(() => undefined);
  }

  async deleteSubject(subjectId: string): Promise<void> {
    await rm(this.dir(subjectId), { recursive: true, force: true });
  }
}
