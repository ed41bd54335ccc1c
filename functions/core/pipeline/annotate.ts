import sharp from 'sharp';
import type { Box, FiveLandmarks } from '../types.ts';

/** What to draw for one face. */
export interface Annotation {
  box: Box;
  landmarks?: FiveLandmarks | undefined;
  /** Short text under the box, e.g. a name and similarity or a quality score. */
  label?: string | undefined;
  /** `match` green, `unknown` amber, `ambiguous` magenta, `insufficient_quality` grey, `face` (no decision) cyan. */
  kind?: 'match' | 'unknown' | 'ambiguous' | 'insufficient_quality' | 'face' | undefined;
}

const COLOURS = {
  match: '#22c55e',
  unknown: '#f59e0b',
  ambiguous: '#d946ef',
  insufficient_quality: '#9ca3af',
  face: '#22d3ee',
} as const;

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Draws boxes, landmarks and labels over an encoded image (EXIF orientation applied, matching the coordinates
 * the pipeline reports) and returns it as JPEG, or PNG when `format` says so.
 */
export async function annotateImage(
  bytes: Uint8Array,
  annotations: Annotation[],
  format: 'jpeg' | 'png' = 'jpeg',
): Promise<Buffer> {
  const base = sharp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { pages: 1 }).rotate();
  const { data, info } = await base
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 300));
  const font = Math.max(12, Math.round(Math.min(width, height) / 40));
  const shapes = annotations.map((a) => {
    const colour = COLOURS[a.kind ?? 'face'];
    const { x, y, width: w, height: h } = a.box;
    const points = a.landmarks
      ? Object.values(a.landmarks)
          .map((p) => `<circle cx="${p.x}" cy="${p.y}" r="${stroke * 1.5}" fill="${colour}"/>`)
          .join('')
      : '';
    const label = a.label
      ? `<text x="${x}" y="${Math.min(height - 4, y + h + font)}" font-family="sans-serif" font-size="${font}" fill="${colour}" stroke="black" stroke-width="${stroke / 2}" paint-order="stroke">${escapeXml(a.label)}</text>`
      : '';
    return `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>${points}${label}`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`;
  const out = sharp(data, { raw: { width, height, channels: 3 } }).composite([{ input: Buffer.from(svg) }]);
  return format === 'png' ? out.png().toBuffer() : out.jpeg({ quality: 88 }).toBuffer();
}
