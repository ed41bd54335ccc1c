/**
 * Named surveillance degradation profiles for `faceprint eval --degrade <name>` (probes only). Each expands to a
 * spec of `degrade.ts` steps, applied in the order a camera degrades a face: scene light, optics and motion,
 * sensor resolution, sensor noise, then the encoder. Parameters are at LFW scale (250×250 frames, inter-ocular
 * distance ≈ 41 px); every noise step is seeded per image, so a profile gives the same bytes on every run.
 */

export interface DegradationProfile {
  name: string;
  spec: string;
  what: string;
}

export const DEGRADATION_PROFILES: readonly DegradationProfile[] = [
  {
    name: 'night',
    spec: 'dark:0.25+jpeg:20',
    what: 'a dark scene (every value ×0.25, mean luma ≈ 25) compressed after darkening, JPEG q20',
  },
  {
    name: 'lowres',
    spec: 'lowres:16+jpeg:30',
    what: 'a small face (inter-ocular distance 16 px, ≈ 40 px wide) scaled back up, JPEG q30',
  },
  {
    name: 'motion',
    spec: 'motion:9@20+jpeg:40',
    what: 'directional motion blur, a 9 px streak at 20° (a walking subject at 1/25 s), JPEG q40',
  },
  {
    name: 'noisy',
    spec: 'dark:0.5+noise:10+jpeg:30',
    what: 'an under-exposed frame (×0.5) with sensor noise at high gain (σ 10 grey levels), JPEG q30',
  },
  {
    name: 'cctv',
    spec: 'dark:0.35+motion:5@0+lowres:24+noise:6+h264:34',
    what: 'all of it: dark ×0.35, 5 px horizontal motion, 24 px inter-ocular distance, noise σ 6, H.264-like QP 34',
  },
];

/** The profile named `name` (case-insensitive), or undefined. */
export function degradationProfile(name: string): DegradationProfile | undefined {
  const key = name.trim().toLowerCase();
  return DEGRADATION_PROFILES.find((p) => p.name === key);
}
