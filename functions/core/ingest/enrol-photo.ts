import { SubjectNameSchema } from '../domain.ts';
import { isFaceprintError } from '../errors.ts';
import type { GalleryService, PhotoInput } from '../gallery/service.ts';

/**
 * Enrols one photo of a subject known only by its id (an upload under `gallery/<subjectId>/<file>`): the first
 * photo creates the subject, named `givenName` when that is a valid display name and by its id otherwise; later
 * photos add faces. Two first photos arriving at once both land: the loser of the race adds its face.
 */
export async function enrolPhotoOfSubject(
  gallery: GalleryService,
  subjectId: string,
  photo: PhotoInput,
  givenName: string | undefined,
): Promise<{ created: boolean; templates: number }> {
  if (!(await gallery.hasSubject(subjectId))) {
    const name = SubjectNameSchema.safeParse(givenName).success ? (givenName as string) : subjectId;
    try {
      const subject = await gallery.createSubject(
        { id: subjectId, name, metadata: { enrolledFrom: photo.source } },
        photo,
      );
      return { created: true, templates: subject.templates.length };
    } catch (error) {
      // Two photos of a new subject at once: the other one created it; add this one.
      if (!isFaceprintError(error, 'SUBJECT_EXISTS')) throw error;
    }
  }
  const subject = await gallery.addFace(subjectId, photo);
  return { created: false, templates: subject.templates.length };
}
