/**
 * Fail closed on the models: every file the manifest lists must be present and hash to its recorded sha256
 * before a session is created, so a truncated copy, a swapped file or a half-finished `npm run models` stops
 * the process at start with one sentence instead of producing quietly different embeddings.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FaceprintError } from '../errors.ts';
import { shippedPackDir } from '../models/pack.ts';

/**
 * Where the models live: `FACEPRINT_MODELS_DIR` (e.g. `/opt/models` in the Lambda image), else the
 * repository's `layers/models`.
 */
export function defaultModelsDir(): string {
  return shippedPackDir();
}

/** What the check needs from `manifest.json`: each model's file and its expected digest. */
export interface ManifestFiles {
  models: Record<string, { file: string; sha256: string }>;
}

// A file that passed keeps passing while its size and modification time stay the same (hashing 13 MB costs
// ~40 ms; the CLI, the server and each Lambda cold start check once per process, tests many times).
const verified = new Map<string, string>();

/**
 * Checks every model file of `manifest` in `modelsDir` against its sha256.
 *
 * @throws FaceprintError MODEL_UNAVAILABLE when a file is missing or unreadable, MODEL_MISMATCH when its digest
 *   differs from the manifest's (one sentence naming the file and what to run).
 */
export function verifyModelFiles(modelsDir: string, manifest: ManifestFiles): void {
  for (const [id, entry] of Object.entries(manifest.models ?? {})) {
    const path = join(modelsDir, entry.file);
    let stamp: string;
    try {
      const stat = statSync(path);
      stamp = `${stat.size}:${stat.mtimeMs}:${entry.sha256}`;
    } catch {
      throw new FaceprintError(
        'MODEL_UNAVAILABLE',
        `Model file ${path} (${id}) is missing; run \`npm run models\` or set FACEPRINT_MODELS_DIR.`,
      );
    }
    if (verified.get(path) === stamp) continue;
    let digest: string;
    try {
      digest = createHash('sha256').update(readFileSync(path)).digest('hex');
    } catch {
      throw new FaceprintError('MODEL_UNAVAILABLE', `Model file ${path} (${id}) cannot be read.`);
    }
    if (digest !== entry.sha256) {
      throw new FaceprintError(
        'MODEL_MISMATCH',
        `Model file ${path} (${id}) does not match the checksum in its manifest; run \`npm run models\` to restore it.`,
        { model: id, path },
      );
    }
    verified.set(path, stamp);
  }
}

/**
 * Reads `<modelsDir>/manifest.json` and checks every model it lists ({@link verifyModelFiles}).
 *
 * @throws FaceprintError MODEL_UNAVAILABLE for a missing or malformed manifest, or as {@link verifyModelFiles}.
 */
export function verifyModelsDir(modelsDir: string): ManifestFiles {
  const manifestPath = join(modelsDir, 'manifest.json');
  let manifest: ManifestFiles;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ManifestFiles;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new FaceprintError(
      'MODEL_UNAVAILABLE',
      missing
        ? `No model manifest at ${manifestPath}; run \`npm run models\` or set FACEPRINT_MODELS_DIR.`
        : `The model manifest ${manifestPath} cannot be read as JSON.`,
    );
  }
  if (!manifest || typeof manifest.models !== 'object' || manifest.models === null) {
    throw new FaceprintError('MODEL_UNAVAILABLE', `The model manifest ${manifestPath} lists no models.`);
  }
  verifyModelFiles(modelsDir, manifest);
  return manifest;
}
