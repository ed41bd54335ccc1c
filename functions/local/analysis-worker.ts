/**
 * The thread side of the analysis pool (`analysis-pool.ts`): one {@link FacePipeline} per thread, loaded and
 * warmed before the thread says it is ready, answering one job at a time. A job's cancellation arrives as a
 * message and aborts the signal the pipeline checks between its steps, so the thread (and its loaded models)
 * survives a client that went away. Started through tsx's loader, like the evaluation's workers.
 *
 * @module
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { isFaceprintError } from '../core/errors.ts';
import type { RgbImage } from '../core/pipeline/image.ts';
import type { OnnxBackendOptions } from '../core/pipeline/models.ts';
import { type AnalyzeOptionsInput, FacePipeline } from '../core/pipeline/pipeline.ts';

/** What the pool hands each thread at start. */
export interface AnalysisWorkerInit {
  faceprintAnalysisWorker: true;
  backend: OnnxBackendOptions;
}

/** Main → thread. `crash` ends the thread abruptly: fault injection for the pool's tests and drills. */
export type ToWorker =
  | { type: 'analyze'; id: number; bytes: Uint8Array; options: AnalyzeOptionsInput }
  | { type: 'embed'; id: number; crops: RgbImage[]; flip: boolean }
  | { type: 'cancel'; id: number }
  | { type: 'crash' }
  | { type: 'exit' };

/** An error as it crosses the thread boundary: a FaceprintError keeps its code, anything else only its message. */
export interface WireError {
  code?: string | undefined;
  message: string;
  details?: Record<string, unknown> | undefined;
}

/** Thread → main. */
export type FromWorker =
  | { type: 'ready'; model: { id: string; version: string }; embeddingSize: number }
  | { type: 'start-failed'; error: WireError }
  | { type: 'done'; id: number; result: unknown }
  | { type: 'error'; id: number; error: WireError };

function toWire(error: unknown): WireError {
  if (isFaceprintError(error)) return { code: error.code, message: error.message, details: error.details };
  return { message: error instanceof Error ? error.message : String(error) };
}

if (!isMainThread && (workerData as AnalysisWorkerInit | undefined)?.faceprintAnalysisWorker && parentPort) {
  const port = parentPort;
  const init = workerData as AnalysisWorkerInit;
  const running = new Map<number, AbortController>();
  const post = (message: FromWorker) => port.postMessage(message);
  let pipeline: FacePipeline;
  try {
    pipeline = new FacePipeline(init.backend);
  } catch (error) {
    post({ type: 'start-failed', error: toWire(error) });
    throw error;
  }
  pipeline.warmUp().then(
    () => post({ type: 'ready', model: pipeline.model, embeddingSize: pipeline.embeddingSize }),
    (error: unknown) => post({ type: 'start-failed', error: toWire(error) }),
  );
  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'analyze': {
        const controller = new AbortController();
        running.set(message.id, controller);
        pipeline
          .analyze(message.bytes, { ...message.options, signal: controller.signal })
          .then(
            (result) => post({ type: 'done', id: message.id, result }),
            (error: unknown) => post({ type: 'error', id: message.id, error: toWire(error) }),
          )
          .finally(() => running.delete(message.id));
        break;
      }
      case 'embed':
        pipeline.embedCrops(message.crops, message.flip).then(
          (result) => post({ type: 'done', id: message.id, result }),
          (error: unknown) => post({ type: 'error', id: message.id, error: toWire(error) }),
        );
        break;
      case 'cancel':
        running.get(message.id)?.abort();
        break;
      case 'crash':
        process.exit(70);
        break;
      case 'exit':
        void pipeline.dispose().finally(() => port.close());
        break;
    }
  });
}
