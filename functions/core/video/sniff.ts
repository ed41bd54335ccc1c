/**
 * Which uploads are videos: one rule for the local uploads folder and the AWS ingest function. A known video
 * extension says video and a known image extension says image; any other name (a camera's `uploads/cam1/1234`
 * without one) is decided by the container signature in its first bytes. The decoder checks the content
 * again when it opens the file (`INVALID_VIDEO`, `UNSUPPORTED_VIDEO`, `NO_VIDEO_STREAM`).
 */

/** Extensions of the video containers FFmpeg decodes for Faceprint. */
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set([
  '.mp4',
  '.m4v',
  '.mov',
  '.mkv',
  '.avi',
  '.webm',
  '.ts',
  '.mts',
  '.mjpeg',
  '.mjpg',
]);

const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.bmp',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.heif',
]);

/** Bytes {@link sniffVideoContainer} needs from the start of a file. */
export const SNIFF_BYTES = 192;

function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot).toLowerCase();
}

const ascii = (head: Uint8Array, from: number, to: number) =>
  String.fromCharCode(...head.subarray(from, Math.min(to, head.length)));

/**
 * The video container a file's first bytes announce: ISO BMFF (MP4/MOV: `ftyp` at offset 4), Matroska/WebM
 * (EBML magic), AVI (`RIFF….AVI `) or an MPEG transport stream (the sync byte 0x47 at the start of two
 * consecutive 188-byte packets).
 *
 * @returns the container's name, or undefined when the bytes are not a known video container.
 */
export function sniffVideoContainer(head: Uint8Array): 'mp4' | 'matroska' | 'avi' | 'mpegts' | undefined {
  if (head.length >= 8 && ascii(head, 4, 8) === 'ftyp') return 'mp4';
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3)
    return 'matroska';
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'AVI ') return 'avi';
  if (head.length > 188 && head[0] === 0x47 && head[188] === 0x47) return 'mpegts';
  return undefined;
}

/** What the name alone says: `video`, `image`, or `unknown` (sniff the content). */
export function videoByName(name: string): 'video' | 'image' | 'unknown' {
  const ext = extensionOf(name);
  if (VIDEO_EXTENSIONS.has(ext)) return 'video';
  if (IMAGE_EXTENSIONS.has(ext)) return 'image';
  return 'unknown';
}

/**
 * Whether an upload is a video: by its extension, else (no or an unknown extension) by the container signature
 * of `head` (its first {@link SNIFF_BYTES} or more bytes; without them, not a video).
 */
export function isVideoUpload(name: string, head?: Uint8Array): boolean {
  const byName = videoByName(name);
  if (byName !== 'unknown') return byName === 'video';
  return head !== undefined && sniffVideoContainer(head) !== undefined;
}
