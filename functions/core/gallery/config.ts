import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cameraTemplatesSearched } from '../camera/profile.ts';
import { FaceprintError } from '../errors.ts';
import { packCalibrationPath } from '../models/pack.ts';
import { parsePoseVariants } from '../pose/views.ts';
import { type Calibration, parseCalibration } from '../search/calibration.ts';
import type { GalleryConfig } from './types.ts';

/** The calibration shipped with Faceprint (made by `faceprint calibrate` on lfw-dev; see its `method`). */
export const SHIPPED_CALIBRATION_PATH = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'config',
  'calibration.json',
);

/**
 * Reads a calibration file: `path`, else `FACEPRINT_CALIBRATION`, else the selected model pack's own
 * `calibration.json` (calibration is per pack), else the shipped one. Fails closed: a file that is missing,
 * unreadable, not JSON or not a valid calibration stops the caller with one sentence (there is no fallback to
 * other thresholds).
 *
 * @throws FaceprintError INVALID_ARGUMENT when the file is missing, unreadable or malformed.
 */
export function loadCalibration(path?: string): Calibration {
  const fromEnv = process.env.FACEPRINT_CALIBRATION;
  if (path === undefined && fromEnv !== undefined && fromEnv.trim() === '') {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      'FACEPRINT_CALIBRATION is set but empty; unset it to use the shipped calibration or name a file.',
    );
  }
  const file = path ?? fromEnv ?? packCalibrationPath() ?? SHIPPED_CALIBRATION_PATH;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new FaceprintError('INVALID_ARGUMENT', `The calibration file ${file} ${unreadable(error)}.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FaceprintError('INVALID_ARGUMENT', `The calibration file ${file} is not valid JSON.`);
  }
  return parseCalibration(json);
}

function unreadable(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)';
    default:
      return 'cannot be read';
  }
}

/**
 * Processing deadline of one analysis (bounded work per request): past it the request fails with
 * PROCESSING_TIMEOUT. Under the pixel budget the slowest frame measured here took 16.5 s with the machine's
 * two cores shared by many jobs (load average ~30; README, Reliability); 30 s leaves room for that.
 */
export const DEFAULT_DEADLINE_MS = 30_000;

/**
 * The default gallery configuration. Variants and fusion follow docs/accuracy.md; the thresholds come from the
 * calibration file. Pose-synthesised views (`pose:<yaw>,<pitch>`) are added only when `FACEPRINT_POSE_VIEWS`
 * names them (`all` or a list): measured, they did not help on lfw-dev.
 *
 * @throws FaceprintError INVALID_ARGUMENT when `FACEPRINT_POSE_VIEWS` names an unknown view, or
 * `FACEPRINT_CAMERA_TEMPLATES` is neither on nor off.
 */
export function defaultGalleryConfig(calibration: Calibration = loadCalibration()): GalleryConfig {
  return {
    variants: ['mirror', 'blur', 'dark', 'lowres', ...parsePoseVariants(process.env.FACEPRINT_POSE_VIEWS)],
    fusion: { method: 'max' },
    minEnrolQuality: 0.2,
    topK: 5,
    calibration,
    analyze: { deadlineMs: DEFAULT_DEADLINE_MS },
    searchCameraTemplates: cameraTemplatesSearched(),
  };
}
