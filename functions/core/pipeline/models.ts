import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { FaceprintError } from '../errors.ts';
import { defaultModelsDir, verifyModelsDir } from './model-integrity.ts';

/** One model's entry in `layers/models/manifest.json`. */
export interface ModelManifestEntry {
  file: string;
  source: { package: string; path: string };
  sha256: string;
  task: string;
  input: {
    name: string;
    shape: number[];
    layout: string;
    channelOrder: string;
    mean: number[];
    std: number[];
  };
  outputs: Record<string, { shape: number[]; meaning: string }>;
}

export interface ModelManifest {
  schemaVersion: number;
  models: Record<string, ModelManifestEntry>;
}

export type ModelId = 'ulfd-rfb320' | 'pfld-68' | 'mobilefacenet-512' | 'hopenet-pose' | 'blazeface-back';

export { defaultModelsDir } from './model-integrity.ts';

export interface OnnxBackendOptions {
  modelsDir?: string;
  /**
   * Intra-op threads per session; 0 lets ONNX Runtime use every core. Default 1: these models are small, so extra
   * threads mostly spin (measured: whole pipeline 27 ms with 1 thread, 31 ms with all cores, and several times
   * slower with all cores on a busy machine), and one thread per session lets concurrent requests use the cores.
   */
  threads?: number;
  /**
   * ONNX Runtime execution providers in order of preference, e.g. `['cuda', 'cpu']` on a GPU Batch instance
   * (needs onnxruntime-node's CUDA binaries). Default: `FACEPRINT_EXECUTION_PROVIDERS` (comma-separated) or CPU.
   */
  executionProviders?: string[];
}

/**
 * The one place ONNX Runtime is touched: reads the manifest, creates each session once per process
 * (lazily, on first use), and checks the model's declared input against what the pipeline will feed it.
 */
export class OnnxBackend {
  readonly modelsDir: string;
  readonly threads: number;
  readonly manifest: ModelManifest;
  readonly executionProviders: string[];
  private readonly sessions = new Map<ModelId, Promise<ort.InferenceSession>>();

  constructor(options: OnnxBackendOptions = {}) {
    this.modelsDir = options.modelsDir ?? defaultModelsDir();
    this.threads = options.threads ?? 1;
    this.executionProviders =
      options.executionProviders ??
      (process.env.FACEPRINT_EXECUTION_PROVIDERS?.split(',')
        .map((p) => p.trim())
        .filter(Boolean) || ['cpu']);
    // Fails closed: a missing, unreadable or altered model stops the process here, before any session exists.
    this.manifest = verifyModelsDir(this.modelsDir) as ModelManifest;
  }

  /** The manifest entry of a model. */
  entry(id: ModelId): ModelManifestEntry {
    const entry = this.manifest.models[id];
    if (!entry)
      throw new FaceprintError('MODEL_UNAVAILABLE', `Model ${id} is not listed in the model manifest.`);
    return entry;
  }

  /** The session of a model, created on first use and shared afterwards. */
  session(id: ModelId): Promise<ort.InferenceSession> {
    let pending = this.sessions.get(id);
    if (!pending) {
      pending = this.createSession(id);
      // A failed load must not be cached forever: the next call retries.
      pending.catch(() => this.sessions.delete(id));
      this.sessions.set(id, pending);
    }
    return pending;
  }

  private async createSession(id: ModelId): Promise<ort.InferenceSession> {
    const entry = this.entry(id);
    const path = join(this.modelsDir, entry.file);
    if (!existsSync(path)) {
      throw new FaceprintError(
        'MODEL_UNAVAILABLE',
        `Model file ${path} (${id}) is missing; run \`npm run models\`.`,
      );
    }
    const session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: this.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      executionProviders: this.executionProviders,
    });
    const declared = session.inputMetadata.find((m) => m.name === entry.input.name);
    if (!declared?.isTensor) {
      throw new FaceprintError(
        'MODEL_MISMATCH',
        `Model ${id} has inputs [${session.inputNames.join(', ')}]; the manifest expects "${entry.input.name}".`,
      );
    }
    const shape = declared.shape.map((d) => (typeof d === 'number' ? d : -1));
    const expected = entry.input.shape;
    const compatible =
      shape.length === expected.length && shape.every((d, i) => d === -1 || d === expected[i]);
    if (!compatible) {
      throw new FaceprintError(
        'MODEL_MISMATCH',
        `Model ${id} input "${entry.input.name}" has shape [${shape.join(',')}]; the manifest expects [${expected.join(',')}].`,
      );
    }
    return session;
  }

  /** Runs a model on one input tensor, checking its shape against the manifest first. */
  async run(id: ModelId, data: Float32Array, shape: readonly number[]): Promise<Record<string, ort.Tensor>> {
    const entry = this.entry(id);
    const expected = entry.input.shape;
    if (shape.length !== expected.length || shape.some((d, i) => i > 0 && d !== expected[i])) {
      throw new FaceprintError(
        'MODEL_MISMATCH',
        `Model ${id} expects input [${expected.join(',')}], the pipeline built [${shape.join(',')}].`,
      );
    }
    const session = await this.session(id);
    const tensor = new ort.Tensor('float32', data, shape);
    return session.run({ [entry.input.name]: tensor }) as Promise<Record<string, ort.Tensor>>;
  }

  /** Loads every model now (cold-start work done once, before the first request). */
  async warmUp(ids: ModelId[]): Promise<void> {
    await Promise.all(ids.map((id) => this.session(id)));
  }

  /** Releases every session. */
  async dispose(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map(async (s) => (await s.catch(() => undefined))?.release()));
  }
}

/** Reads a tensor output by name, failing with a message that names the model. */
export function output(outputs: Record<string, ort.Tensor>, model: ModelId, name: string): Float32Array {
  const tensor = outputs[name];
  if (!tensor) {
    throw new FaceprintError('MODEL_MISMATCH', `Model ${model} produced no output named "${name}".`);
  }
  return tensor.data as Float32Array;
}
