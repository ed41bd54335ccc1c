import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { FaceprintError } from '../errors.ts';
import {
  loadModelPack,
  type ModelManifestEntry,
  type ModelPack,
  type PackManifest,
  packLabel,
  packModels,
  selectedPackDir,
  verifyModelFile,
} from '../models/pack.ts';

export type { ModelManifestEntry } from '../models/pack.ts';
export type ModelManifest = PackManifest;

/** The shipped models' ids; a model pack may name others (any string). */
export type ModelId =
  | 'ulfd-rfb320'
  | 'pfld-68'
  | 'mobilefacenet-512'
  | 'hopenet-pose'
  | 'blazeface-back'
  | 'blazeface-front'
  | (string & {});

export { defaultModelsDir } from './model-integrity.ts';

export interface OnnxBackendOptions {
  /** The shipped pack's folder (default {@link defaultModelsDir}); used when no `packDir` is chosen. */
  modelsDir?: string;
  /** A model pack folder; default `FACEPRINT_MODEL_PACK`, else `modelsDir`, else the shipped pack. */
  packDir?: string;
  /**
   * Intra-op threads per session; 0 lets ONNX Runtime use every core. Default 1: these models are small, so extra
   * threads mostly spin (measured: whole pipeline 27 ms with 1 thread, 31 ms with all cores, and several times
   * slower with all cores on a busy machine), and one thread per session lets concurrent requests use the cores.
   */
  threads?: number;
  /**
   * ONNX Runtime execution providers in order of preference, e.g. `['cuda', 'cpu']` on a GPU Batch instance
   * (needs onnxruntime-node's CUDA binaries). Default: `FACEPRINT_EXECUTION_PROVIDERS` (comma-separated), else
   * the pack's `executionProviders`, else CPU.
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
  /** The model pack the sessions come from. */
  readonly pack: ModelPack;
  readonly executionProviders: string[];
  private readonly sessions = new Map<ModelId, Promise<ort.InferenceSession>>();
  /** Model files whose sha256 was checked at construction, by id. */
  private readonly verified = new Map<ModelId, string>();

  constructor(options: OnnxBackendOptions = {}) {
    const explicit = options.packDir ?? (process.env.FACEPRINT_MODEL_PACK ? undefined : options.modelsDir);
    this.pack = loadModelPack(selectedPackDir(explicit));
    this.modelsDir = this.pack.dir;
    // Fails closed: a missing, unreadable or altered model stops the process here, before any session exists.
    for (const id of packModels(this.pack)) this.verified.set(id, verifyModelFile(this.pack, id));
    this.threads = options.threads ?? 1;
    const fromEnv = process.env.FACEPRINT_EXECUTION_PROVIDERS?.split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    this.executionProviders = options.executionProviders ??
      (fromEnv?.length ? fromEnv : undefined) ??
      this.pack.executionProviders ?? ['cpu'];
    this.manifest = this.pack.manifest;
  }

  /** Every model the pack's roles use. */
  get models(): ModelId[] {
    return packModels(this.pack);
  }

  /** The manifest entry of a model. */
  entry(id: ModelId): ModelManifestEntry {
    const entry = this.manifest.models[id];
    if (!entry)
      throw new FaceprintError(
        'MODEL_UNAVAILABLE',
        `Model ${id} is not listed in the manifest of model pack ${packLabel(this.pack)}.`,
      );
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
    // The file must be the one the pack was measured with: a sha256 mismatch refuses to load.
    const path = this.verified.get(id) ?? verifyModelFile(this.pack, id);
    assertProvidersAvailable(this.executionProviders, packLabel(this.pack));
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

  /** Runs a model on one input tensor, checking its shape against the manifest first (-1 there: any size). */
  async run(id: ModelId, data: Float32Array, shape: readonly number[]): Promise<Record<string, ort.Tensor>> {
    const entry = this.entry(id);
    const expected = entry.input.shape;
    // A side the manifest declares as -1 is dynamic (a model that takes any input size).
    if (
      shape.length !== expected.length ||
      shape.some((d, i) => i > 0 && expected[i] !== -1 && d !== expected[i])
    ) {
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

/** Shared libraries onnxruntime-node needs for an execution provider besides the CPU. */
const PROVIDER_LIBRARIES: Record<string, string> = {
  cuda: 'libonnxruntime_providers_cuda.so',
  tensorrt: 'libonnxruntime_providers_tensorrt.so',
};

/** The folder holding onnxruntime-node's native binding and provider libraries. */
function onnxRuntimeBinDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('onnxruntime-node/package.json'));
    return join(root, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

/**
 * Refuses, with one sentence, an execution provider whose libraries this onnxruntime-node does not carry (the npm
 * build has CPU only on Linux; the GPU container image adds CUDA), instead of ONNX Runtime's native error.
 *
 * @throws FaceprintError `MODEL_UNAVAILABLE`.
 */
export function assertProvidersAvailable(
  providers: readonly string[],
  pack: string,
  binDir = onnxRuntimeBinDir(),
): void {
  for (const provider of providers) {
    const name = provider.toLowerCase();
    if (name === 'cpu') continue;
    const library = PROVIDER_LIBRARIES[name];
    if (!library) {
      throw new FaceprintError(
        'MODEL_UNAVAILABLE',
        `Execution provider "${provider}" (asked for by model pack ${pack} or FACEPRINT_EXECUTION_PROVIDERS) is not one Faceprint knows; use cpu, cuda or tensorrt.`,
      );
    }
    if (!binDir || !existsSync(join(binDir, library))) {
      throw new FaceprintError(
        'MODEL_UNAVAILABLE',
        `Execution provider "${provider}" was asked for (model pack ${pack} or FACEPRINT_EXECUTION_PROVIDERS) but this onnxruntime-node has no ${library}; run the GPU image (docs/deploy.md) or ask for cpu.`,
        { provider },
      );
    }
  }
}
