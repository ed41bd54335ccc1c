import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaceprintError } from '../errors.ts';
import { packCalibrationPath } from '../models/pack.ts';
import { type Calibration, parseCalibration } from '../search/calibration.ts';
import type { GalleryConfig } from './service.ts';

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
 * `calibration.json` (calibration is per pack), else the shipped one.
 *
 * @throws FaceprintError INVALID_ARGUMENT when the file is missing or malformed.
 */
export function loadCalibration(path?: string): Calibration {
  const file = path ?? process.env.FACEPRINT_CALIBRATION ?? packCalibrationPath() ?? SHIPPED_CALIBRATION_PATH;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not valid JSON';
    throw new FaceprintError('INVALID_ARGUMENT', `The calibration file ${file} ${why}.`);
  }
  return parseCalibration(json);
}

/**
 * The default gallery configuration. Variants and fusion follow docs/accuracy.md; the thresholds come from the
 * calibration file.
 */
export function defaultGalleryConfig(calibration: Calibration = loadCalibration()): GalleryConfig {
  return {
    variants: ['mirror', 'blur', 'dark', 'lowres'],
    fusion: { method: 'max' },
    minEnrolQuality: 0.2,
    topK: 5,
    calibration,
    analyze: {},
  };
}
