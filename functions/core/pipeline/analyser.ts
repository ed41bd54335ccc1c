/**
 * The face-analysis port: "analyse this image → faces with boxes, quality and embeddings". The gallery, the
 * ingest workflow and the HTTP app depend on this, not on where the work runs: in-process ({@link FacePipeline}
 * implements it) or on a pool of worker threads (`functions/local/analysis-pool.ts`), which keeps the CPU work
 * off the server's event loop.
 *
 * @module
 */

import type { ModelRef } from '../types.ts';
import type { RgbImage } from './image.ts';
import type { AnalyzeOptionsInput, AnalyzeResult } from './pipeline.ts';

/** Analyses images and embeds aligned crops with one model pack. */
export interface FaceAnalyser {
  /** The embedding space of the results (the model pack's identity). */
  readonly model: ModelRef;
  /** Length of the embeddings. */
  readonly embeddingSize: number;
  /** Loads the models now rather than on the first request. */
  warmUp(): Promise<void>;
  /**
   * Finds and describes every face in an encoded image; `options.signal` cancels it (CANCELLED), its
   * `deadlineMs` bounds it (PROCESSING_TIMEOUT).
   */
  analyze(bytes: Uint8Array, options?: AnalyzeOptionsInput): Promise<AnalyzeResult>;
  /** Embeds aligned 112×112 crops directly. */
  embedCrops(crops: RgbImage[], flip?: boolean): Promise<Float32Array[]>;
  /** Releases the models (and threads). */
  dispose(): Promise<void>;
}
