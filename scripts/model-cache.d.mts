/** The folder under `modelsDir` that holds every package scripts/models.mjs unpacked. */
export function modelCacheDir(modelsDir: string): string;
/** The folder scripts/models.mjs unpacks `spec` (`name@version`) into. */
export function unpackedPackageDir(modelsDir: string, spec: string): string;
