import sharp from 'sharp';
import { lfwPhoto } from './data.ts';

export interface PastedFace {
  /** Centre of the pasted face in the frame. */
  cx: number;
  cy: number;
  /** Width of the pasted face region. */
  size: number;
}

/** The LFW identities whose first photo is pasted into the synthetic frames (tests and benchmark). */
export const MOSAIC_PEOPLE = [
  'Aaron_Eckhart',
  'Abdullah_Gul',
  'Al_Pacino',
  'Al_Gore',
  'Alejandro_Toledo',
  'Ann_Veneman',
  'Alan_Greenspan',
  'Adam_Scott',
];

/**
 * A 1920×1080 surveillance-like frame: a grey, textured background with 8 LFW faces pasted 40–120 px wide
 * (the face region of each deep-funnelled 250×250 photo, which is centred), optionally darkened.
 */
export async function buildMosaic(brightness = 1): Promise<{ jpeg: Buffer; faces: PastedFace[] }> {
  const sizes = [40, 52, 64, 76, 88, 100, 110, 120];
  const faces: PastedFace[] = [];
  const composites: { input: Buffer; left: number; top: number }[] = [];
  for (let i = 0; i < MOSAIC_PEOPLE.length; i++) {
    const size = sizes[i]!;
    // The face of a deep-funnelled LFW photo spans roughly its central 110×110 px; keep some context around it.
    const crop = await sharp(lfwPhoto(MOSAIC_PEOPLE[i]!, 1))
      .extract({ left: 65, top: 60, width: 120, height: 130 })
      .resize(size, Math.round(size * (130 / 120)))
      .toBuffer();
    const left = 80 + (i % 4) * 460 + ((i * 37) % 90);
    const top = 160 + Math.floor(i / 4) * 480 + ((i * 53) % 120);
    composites.push({ input: crop, left, top });
    faces.push({ cx: left + size / 2, cy: top + (size * (130 / 120)) / 2, size });
  }
  // A mid-grey background with gentle noise, so the frame is not trivially empty around the faces.
  const noise = Buffer.alloc(1920 * 1080 * 3);
  let seed = 12345;
  for (let p = 0; p < noise.length; p++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    noise[p] = 110 + (seed % 30);
  }
  let frame = sharp(noise, { raw: { width: 1920, height: 1080, channels: 3 } }).composite(composites);
  let jpeg = await frame.jpeg({ quality: 92 }).toBuffer();
  if (brightness !== 1) {
    frame = sharp(jpeg).linear(brightness, 0);
    jpeg = await frame.jpeg({ quality: 92 }).toBuffer();
  }
  return { jpeg, faces };
}

/** How many pasted faces have a detection whose centre lies within half the face size of theirs. */
export function countFound(
  faces: PastedFace[],
  boxes: { x: number; y: number; width: number; height: number }[],
): number {
  return faces.filter((f) =>
    boxes.some((b) => Math.hypot(b.x + b.width / 2 - f.cx, b.y + b.height / 2 - f.cy) < f.size / 2),
  ).length;
}
