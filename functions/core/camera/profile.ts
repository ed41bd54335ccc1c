/**
 * A configured camera: its id (the name identify calls and upload prefixes use) and the profile that enrolment
 * templates are degraded to (`match.ts`): how bright its faces are, how noisy, blurred and compressed its frames
 * are, and how small its faces are. Given by the user, or estimated from the camera's own images (`estimate.ts`),
 * and stored with how it was made.
 */
import { z } from 'zod';
import { CAMERA_NAME_PATTERN } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { CameraProfile } from './estimate.ts';

/** What a camera does to a face, in the camera's own pixels. Every field has a neutral value (no change). */
export interface CameraSettings {
  /** Mean luma of the camera's faces (0–255); null leaves the enrolment photo's brightness as it is. */
  faceBrightness: number | null;
  /** Sensor noise σ in grey levels (0: none). */
  noise: number;
  /** Gaussian blur σ in px at the camera's face size (0: none). Not estimated from images (see the module header). */
  blur: number;
  /** JPEG quality 1–100 the camera encodes at; null: not compressed (or not a JPEG camera). */
  jpegQuality: number | null;
  /** Median inter-ocular distance of the camera's faces (px); null: as large as the enrolment photo's. */
  interOcularPx: number | null;
}

/** How a camera's settings were made: typed in, or estimated from its images (with the raw estimate). */
export type CameraProvenance =
  | { method: 'user' }
  | {
      method: 'estimated';
      /** The estimate the settings were read from (`estimateCameraProfile`), including how many images. */
      estimate: CameraProfile;
      /** Median face brightness of the faces detected in the images; null when none was found. */
      faceBrightness: number | null;
      /** The image names (file names or keys), never their bytes. */
      sources: string[];
      /** What the estimate cannot measure and left at its neutral value. */
      notEstimated: string[];
    };

/** A configured camera as the store of record keeps it. */
export interface Camera {
  id: string;
  settings: CameraSettings;
  provenance: CameraProvenance;
  /** ISO-8601 timestamps. */
  createdAt: string;
  updatedAt: string;
}

const nullableNumber = (min: number, max: number, what: string) =>
  z
    .number({ error: `must be ${what}` })
    .min(min, `must be ${what}`)
    .max(max, `must be ${what}`)
    .nullable();

/** The schema of {@link CameraSettings} as the HTTP API and the CLI accept it (missing fields are neutral). */
export const CameraSettingsSchema = z
  .object({
    faceBrightness: nullableNumber(1, 255, 'a mean luma between 1 and 255, or null').default(null),
    noise: z.number().min(0, 'must be between 0 and 64').max(64, 'must be between 0 and 64').default(0),
    blur: z.number().min(0, 'must be between 0 and 20').max(20, 'must be between 0 and 20').default(0),
    jpegQuality: nullableNumber(1, 100, 'a JPEG quality between 1 and 100, or null').default(null),
    interOcularPx: nullableNumber(4, 1000, 'an inter-ocular distance between 4 and 1000 px, or null').default(
      null,
    ),
  })
  .strict();

/**
 * Checks a camera id ({@link CAMERA_NAME_PATTERN}).
 *
 * @throws FaceprintError INVALID_ARGUMENT with the rule.
 */
export function assertCameraId(id: string): void {
  if (!CAMERA_NAME_PATTERN.test(id)) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `The camera id "${id}" is not valid: use 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit.`,
    );
  }
}

/**
 * Parses camera settings given by a user (JSON object or CLI flags turned into one).
 *
 * @throws FaceprintError INVALID_ARGUMENT naming the first bad field.
 */
export function parseCameraSettings(input: unknown): CameraSettings {
  const parsed = CameraSettingsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || 'settings';
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `Camera setting "${field}" ${issue?.message ?? 'is invalid'}.`,
    );
  }
  return parsed.data;
}

/** The settings that are neutral: degrading with them changes nothing. */
export function isNeutral(settings: CameraSettings): boolean {
  return (
    settings.faceBrightness === null &&
    settings.noise === 0 &&
    settings.blur === 0 &&
    settings.jpegQuality === null &&
    settings.interOcularPx === null
  );
}

/**
 * Camera settings from an estimate (`estimateCameraProfile`) and the brightness of the faces detected in the same
 * images: brightness of the faces (else of the frames), noise σ, JPEG quality and face size as measured. Blur is
 * left at 0: the frame's Laplacian variance ranks blur but mixes it with noise and compression, so it gives no σ
 * (docs/accuracy.md, section 8); a user who knows the blur sets it.
 */
export function settingsFromEstimate(estimate: CameraProfile, faceBrightness: number | null): CameraSettings {
  const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    faceBrightness: round(Math.min(255, Math.max(1, faceBrightness ?? estimate.brightness)), 1),
    noise: round(Math.min(64, Math.max(0, estimate.noise))),
    blur: 0,
    jpegQuality: estimate.jpegQuality === null ? null : Math.round(estimate.jpegQuality),
    interOcularPx:
      estimate.interOcularPx === null ? null : round(Math.min(1000, Math.max(4, estimate.interOcularPx)), 1),
  };
}

/**
 * Whether identify calls that name a configured camera also search its camera templates
 * (`FACEPRINT_CAMERA_TEMPLATES`: `off`, the default, or `on`). Off by default because, measured, the templates
 * raise impostor scores more than genuine ones (docs/accuracy.md, section 8: on `night` and `cctv` they cost rank-1
 * and TPIR, and break the shipped threshold's FPIR); the templates are still made, so turning it on needs no
 * backfill. Anything else fails closed.
 *
 * @throws FaceprintError INVALID_ARGUMENT for a value other than on / off.
 */
export function cameraTemplatesSearched(
  value: string | undefined = process.env.FACEPRINT_CAMERA_TEMPLATES,
): boolean {
  const v = (value ?? 'off').trim().toLowerCase();
  if (v === 'on') return true;
  if (v === 'off' || v === '') return false;
  throw new FaceprintError(
    'INVALID_ARGUMENT',
    `FACEPRINT_CAMERA_TEMPLATES must be "on" or "off", not "${value}".`,
  );
}
