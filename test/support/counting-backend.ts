/**
 * An {@link OnnxBackend} that counts, per model, its runs and the input pixels it was fed (height × width of each
 * input), so tests and benchmarks can say what a frame cost in model work: since the detector takes any input
 * size, one run of a whole pyramid level and twelve tiles of it differ in runs, not in what they look at.
 */
import { type ModelId, OnnxBackend } from '../../functions/core/pipeline/models.ts';

export class CountingBackend extends OnnxBackend {
  readonly runs = new Map<string, number>();
  readonly pixels = new Map<string, number>();

  override run(id: ModelId, data: Float32Array, shape: readonly number[]) {
    this.runs.set(id, (this.runs.get(id) ?? 0) + 1);
    // Both layouts the shipped models use: NCHW (height, width last) and NHWC (height, width before channels).
    const [, a = 1, b = 1, c = 1] = shape;
    const pixels = a === 1 || a === 3 ? b * c : a * b;
    this.pixels.set(id, (this.pixels.get(id) ?? 0) + pixels);
    return super.run(id, data, shape);
  }

  /** Forgets what was counted. */
  reset(): void {
    this.runs.clear();
    this.pixels.clear();
  }
}
