/**
 * The local server's API keys, failing closed: a key list that is set but holds no key (`" , "`, a stray
 * comma) or a blank key is a mistake, never a request to turn authentication off. Only an absent (or empty)
 * `FACEPRINT_API_KEYS` runs the server without keys.
 *
 * @module
 */
import { FaceprintError } from '../core/errors.ts';

/**
 * Parses `FACEPRINT_API_KEYS` (comma-separated; whitespace around a key is ignored).
 *
 * @returns the keys; `[]` only when the variable is unset or the empty string.
 * @throws FaceprintError INVALID_ARGUMENT when it is set to something that parses to no key, or lists a blank one.
 */
export function parseApiKeyList(raw: string | undefined): string[] {
  if (raw === undefined || raw === '') return [];
  const keys = raw.split(',').map((k) => k.trim());
  if (keys.every((k) => k === '')) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      'FACEPRINT_API_KEYS is set but holds no key; list at least one key, or unset it to run without keys.',
    );
  }
  if (keys.some((k) => k === '')) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      'FACEPRINT_API_KEYS holds a blank key (two commas in a row, or a comma at an end); remove it.',
    );
  }
  return keys;
}

/**
 * Checks keys given directly (the `--api-key` option or {@link parseApiKeyList}'s result).
 *
 * @throws FaceprintError INVALID_ARGUMENT when a key is blank: it would otherwise be dropped and turn a
 *   one-key list into "no key required".
 */
export function checkApiKeys(keys: readonly string[]): string[] {
  if (keys.some((k) => k.trim() === '')) {
    throw new FaceprintError('INVALID_ARGUMENT', 'An API key must not be blank.');
  }
  return [...keys];
}
