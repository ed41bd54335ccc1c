/**
 * Test-built model packs: a tiny ONNX embedder with a known linear projection (written with onnx-proto, no
 * download), packed beside the shipped detector, landmark and pose models, so a pack with another embedding size
 * can be exercised end to end.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { defaultModelsDir } from '../../functions/core/pipeline/models.ts';
import { rng } from './random.ts';

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function valueInfo(name: string, dims: number[]): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  };
}

/**
 * Writes an ONNX embedder: [1,3,112,112] → 8×8 average pooling → flatten (588) → MatMul by a seeded Gaussian
 * matrix → [1, dim]. Similar crops give similar vectors (a random projection keeps angles), so it is a real,
 * if weak, embedder.
 */
export function writeLinearEmbedder(path: string, dim: number, seed = 7): Uint8Array {
  const inputs = 3 * 14 * 14;
  const random = rng(seed);
  const weights = new Float32Array(inputs * dim);
  for (let i = 0; i < weights.length; i++) {
    // Box–Muller: Gaussian entries make the projection angle-preserving on average.
    const u = Math.max(1e-12, random());
    weights[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  }
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: 'faceprint-test',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: `linear-${dim}`,
      node: [
        {
          opType: 'AveragePool',
          input: ['input'],
          output: ['pooled'],
          attribute: [
            { name: 'kernel_shape', type: onnx.AttributeProto.AttributeType.INTS, ints: [8, 8] },
            { name: 'strides', type: onnx.AttributeProto.AttributeType.INTS, ints: [8, 8] },
          ],
        },
        { opType: 'Flatten', input: ['pooled'], output: ['flat'] },
        { opType: 'MatMul', input: ['flat', 'W'], output: ['embedding'] },
      ],
      initializer: [
        { name: 'W', dims: [inputs, dim], dataType: FLOAT, rawData: new Uint8Array(weights.buffer) },
      ],
      input: [valueInfo('input', [1, 3, 112, 112])],
      output: [valueInfo('embedding', [1, dim])],
    },
  };
  const bytes = onnx.ModelProto.encode(model).finish();
  writeFileSync(path, bytes);
  return bytes;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export interface TestPackOptions {
  id?: string;
  dim?: number;
  /** Declare a wrong sha256 for the embedder. */
  wrongSha?: boolean;
  /** Write a calibration for the pack with this open-set threshold. */
  threshold?: number;
}

/**
 * Writes a pack folder: the shipped detector, landmark and pose models (linked) plus a linear embedder of `dim`.
 *
 * @returns The pack folder.
 */
export function writeTestPack(dir: string, options: TestPackOptions = {}): string {
  const id = options.id ?? `test-linear-${options.dim ?? 64}`;
  const dim = options.dim ?? 64;
  mkdirSync(dir, { recursive: true });
  const shipped = JSON.parse(readFileSync(join(defaultModelsDir(), 'manifest.json'), 'utf8'));
  const models: Record<string, unknown> = {};
  for (const name of ['ulfd-rfb320', 'blazeface-back', 'blazeface-front', 'pfld-68', 'hopenet-pose']) {
    const entry = shipped.models[name];
    const target = join(dir, entry.file);
    try {
      symlinkSync(join(defaultModelsDir(), entry.file), target);
    } catch {
      copyFileSync(join(defaultModelsDir(), entry.file), target);
    }
    models[name] = entry;
  }
  const bytes = writeLinearEmbedder(join(dir, `linear-${dim}.onnx`), dim);
  models[`linear-${dim}`] = {
    file: `linear-${dim}.onnx`,
    sha256: options.wrongSha ? '0'.repeat(64) : sha256(bytes),
    licence: 'Apache-2.0 (written by the test)',
    task: 'test embedder: a seeded random projection of 8x8-pooled pixels',
    input: {
      name: 'input',
      shape: [1, 3, 112, 112],
      layout: 'NCHW',
      channelOrder: 'RGB',
      mean: [127.5, 127.5, 127.5],
      std: [127.5, 127.5, 127.5],
    },
    outputs: { embedding: { shape: [1, dim], meaning: 'embedding; L2-normalise, compare by cosine' } },
  };
  const manifest = {
    schemaVersion: 1,
    pack: { id, version: '1', licence: 'test only' },
    roles: {
      detector: { family: 'ulfd+blazeface' },
      landmarks: { family: 'pfld-68', model: 'pfld-68' },
      embedder: { family: 'arcface', alignment: 'arcface-112', model: `linear-${dim}`, output: 'embedding' },
      pose: { family: 'hopenet', model: 'hopenet-pose' },
    },
    models,
  };
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  if (options.threshold !== undefined) {
    const calibration = JSON.parse(
      readFileSync(join(defaultModelsDir(), '..', '..', 'config', 'calibration.json'), 'utf8'),
    );
    writeFileSync(
      join(dir, 'calibration.json'),
      JSON.stringify({
        ...calibration,
        id: `cal-${id}-test`,
        modelId: id,
        threshold: options.threshold,
        verifyThreshold: options.threshold,
        ambiguityMargin: 0.001,
        method: 'hand-set by the test for a projection embedder',
      }),
    );
  }
  return dir;
}
