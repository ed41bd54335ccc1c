/** Boxes drawn straight into raw RGB frames (an annotated video at encoder speed, no per-frame image codec). */
import type { DecisionKind } from '../domain.ts';
import type { RgbImage } from '../pipeline/image.ts';
import type { Box } from '../types.ts';

/** A decision's kind, or `face` for a face not yet decided. */
export type BoxKind = DecisionKind | 'face';

/** The same colours as the still-image annotation (annotate.ts). */
const COLOURS: Record<BoxKind, [number, number, number]> = {
  match: [0x22, 0xc5, 0x5e],
  unknown: [0xf5, 0x9e, 0x0b],
  ambiguous: [0xd9, 0x46, 0xef],
  insufficient_quality: [0x9c, 0xa3, 0xaf],
  face: [0x22, 0xd3, 0xee],
};

function fill(
  image: RgbImage,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  rgb: [number, number, number],
): void {
  const xa = Math.max(0, Math.floor(x0));
  const xb = Math.min(image.width, Math.ceil(x1));
  const ya = Math.max(0, Math.floor(y0));
  const yb = Math.min(image.height, Math.ceil(y1));
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const i = (y * image.width + x) * 3;
      image.data[i] = rgb[0];
      image.data[i + 1] = rgb[1];
      image.data[i + 2] = rgb[2];
    }
  }
}

/**
 * Draws each track's box in its decision's colour, with a row of small squares above it counting the track id
 * (a reader can tell tracks apart without text rendering). Modifies `image` in place.
 */
export function drawTrackBoxes(image: RgbImage, boxes: { box: Box; kind: BoxKind; id: number }[]): void {
  const stroke = Math.max(2, Math.round(Math.min(image.width, image.height) / 300));
  for (const { box, kind, id } of boxes) {
    const c = COLOURS[kind];
    const { x, y, width: w, height: h } = box;
    fill(image, x, y, x + w, y + stroke, c);
    fill(image, x, y + h - stroke, x + w, y + h, c);
    fill(image, x, y, x + stroke, y + h, c);
    fill(image, x + w - stroke, y, x + w, y + h, c);
    const pip = stroke * 2;
    for (let k = 0; k < Math.min(id, 10); k++)
      fill(image, x + k * pip * 1.5, y - pip * 1.5, x + k * pip * 1.5 + pip, y - pip * 0.5, c);
  }
}
