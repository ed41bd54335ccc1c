/**
 * The enrolment thumbnail: the aligned 112×112 face crop as a small JPEG (a few kilobytes), kept with the
 * `original` template so the console can show the enrolled face beside a probe. It is the face the gallery
 * matched on, not the uploaded photo: nothing else of the photo is kept.
 */
import { encodeImage, type RgbImage } from '../pipeline/image.ts';

/** JPEG quality of thumbnails: faces stay recognisable at about 3–5 KB each. */
export const THUMBNAIL_JPEG_QUALITY = 80;

/** Encodes an aligned face crop as the enrolment thumbnail (JPEG bytes). */
export async function faceThumbnail(crop: RgbImage): Promise<Uint8Array> {
  const bytes = await encodeImage(crop, 'jpeg', THUMBNAIL_JPEG_QUALITY);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
