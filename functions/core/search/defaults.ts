/**
 * Decision thresholds used when no calibration file is configured. They are the values of the shipped
 * calibration (`config/calibration.json`), repeated here so the core works without reading a file; the
 * calibration loader overrides them.
 */

/** Cosine similarity at or above which two faces are called the same person (1:1 verify). */
export const DEFAULT_VERIFY_THRESHOLD = 0.4;
