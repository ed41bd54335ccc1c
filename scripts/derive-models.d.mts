/** Applies a recipe of scripts/derive-models.mjs (e.g. `ulfd-raw-heads`) to a source model's ONNX bytes. */
export function deriveModel(name: string, sourceBytes: Uint8Array): Uint8Array;
