/**
 * Port: the enrolment photos behind a gallery's templates. Re-embedding a gallery with another model pack needs
 * the photos themselves (templates hold only embeddings), so the gallery keeps each accepted enrolment photo
 * here, keyed by subject and the photo's sha256 (the same photo enrolled twice is kept once).
 */
export interface StoredPhoto {
  subjectId: string;
  /** sha256 of the bytes (hex). */
  id: string;
  /** Where the photo came from, as its templates record it. */
  source: string;
}

export interface EnrolmentPhotoStore {
  /** Keeps a photo (idempotent: the same bytes for the same subject are stored once). */
  put(photo: StoredPhoto, bytes: Uint8Array): Promise<void>;
  /** The photos of one subject, or of every subject. */
  list(subjectId?: string): Promise<StoredPhoto[]>;
  /** A photo's bytes, or undefined when it is gone. */
  get(subjectId: string, id: string): Promise<Uint8Array | undefined>;
  /** Removes every photo of a subject (the subject was deleted). */
  deleteSubject(subjectId: string): Promise<void>;
}

/** Stores that can remove single templates (the re-embedding's last step drops the old pack's templates). */
export interface TemplateRemoval {
  /** Deletes the given templates of one subject in one atomic step; returns how many were removed. */
  deleteTemplates(subjectId: string, templateIds: string[]): Promise<number>;
}
