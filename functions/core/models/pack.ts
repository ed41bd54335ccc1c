/**
 * Model packs: one folder holding a `manifest.json` and the ONNX files it names. The manifest says, per model, the
 * file, its sha256, its licence, its input (name, shape, layout, colour order, mean/std) and the meaning of each
 * output; per role (detector, landmarks, embedder, optional pose), which model plays it and which decoder family
 * reads its outputs; and the pack's identity (`id@version`), which every template records. The shipped models in
 * `layers/models` are the default pack; `FACEPRINT_MODEL_PACK` (or `--model-pack <dir>`) selects another.
 *
 * Loading a pack only reads and validates JSON; each ONNX file is hashed when its session is first created
 * (`OnnxBackend`), and a file whose sha256 differs from the manifest's is refused.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { FaceprintError } from '../errors.ts';

/** The environment variable that selects a model pack folder. */
export const MODEL_PACK_ENV = 'FACEPRINT_MODEL_PACK';

const numbers = z.array(z.number());

const modelEntrySchema = z.object({
  file: z.string().min(1),
  source: z
    .object({
      package: z.string(),
      path: z.string(),
      /** For a derived model: the recipe of scripts/derive-models.mjs that makes it from the package's file. */
      derive: z.string().optional(),
      /** For a derived model: the package file's sha256 (the entry's own sha256 is the derived file's). */
      sha256: z.string().optional(),
    })
    .optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  licence: z.string().optional(),
  task: z.string().optional(),
  input: z.object({
    name: z.string().min(1),
    shape: z.array(z.number().int()),
    layout: z.enum(['NCHW', 'NHWC']),
    channelOrder: z.enum(['RGB', 'BGR', 'GREY']),
    mean: numbers,
    std: numbers,
  }),
  outputs: z.record(z.string(), z.object({ shape: z.array(z.number().int()), meaning: z.string() })),
});

/** One model's entry in a pack manifest. */
export type ModelManifestEntry = z.infer<typeof modelEntrySchema>;

const embedderMemberSchema = z.object({
  model: z.string().min(1),
  output: z.string().min(1),
  /** Test-time augmentation: average the vector with the mirror image's. */
  flip: z.boolean().optional(),
  /** Share of this member in a fused similarity (default 1). */
  weight: z.number().positive().optional(),
});

const scrfdSchema = z.object({
  family: z.literal('scrfd'),
  model: z.string().min(1),
  strides: z.array(z.number().int().positive()).min(1).default([8, 16, 32]),
  anchorsPerCell: z.number().int().positive().default(2),
  outputs: z.object({
    scores: z.array(z.string()).min(1),
    boxes: z.array(z.string()).min(1),
    keypoints: z.array(z.string()).min(1),
  }),
  scoreThreshold: z.number().min(0).max(1).default(0.5),
  nmsIouThreshold: z.number().min(0).max(1).default(0.4),
});

const retinafaceSchema = z.object({
  family: z.literal('retinaface'),
  model: z.string().min(1),
  minSizes: z.array(z.array(z.number().positive())).default([
    [16, 32],
    [64, 128],
    [256, 512],
  ]),
  steps: z.array(z.number().int().positive()).default([8, 16, 32]),
  variance: z.tuple([z.number(), z.number()]).default([0.1, 0.2]),
  outputs: z.object({ boxes: z.string(), scores: z.string(), keypoints: z.string() }),
  scoreThreshold: z.number().min(0).max(1).default(0.5),
  nmsIouThreshold: z.number().min(0).max(1).default(0.4),
});

/** The BlazeFace models the ulfd+blazeface detector runs beside ULFD: the whole frame, and confirmations. */
const BLAZEFACE_MODELS = ['blazeface-back', 'blazeface-front'] as const;

const DETECTOR_FAMILIES = ['ulfd+blazeface', 'scrfd', 'retinaface'] as const;
const EMBEDDER_FAMILIES = ['arcface'] as const;
const ALIGNMENTS = ['arcface-112'] as const;

const rolesSchema = z.object({
  detector: z.union([z.object({ family: z.literal('ulfd+blazeface') }), scrfdSchema, retinafaceSchema]),
  landmarks: z.object({ family: z.literal('pfld-68'), model: z.string().min(1) }).optional(),
  embedder: z.object({
    family: z.literal('arcface'),
    alignment: z.literal('arcface-112'),
    model: z.string().optional(),
    output: z.string().optional(),
    flip: z.boolean().optional(),
    members: z.array(embedderMemberSchema).min(1).optional(),
  }),
  pose: z.object({ family: z.literal('hopenet'), model: z.string().min(1) }).optional(),
});

const manifestSchema = z.object({
  schemaVersion: z.number().int(),
  pack: z.object({
    id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only'),
    version: z.string().min(1),
    licence: z.string().min(1),
    description: z.string().optional(),
  }),
  executionProviders: z.array(z.string().min(1)).min(1).optional(),
  roles: rolesSchema,
  models: z.record(z.string(), modelEntrySchema),
  packages: z.record(z.string(), z.unknown()).optional(),
  comment: z.string().optional(),
});

export type PackManifest = z.infer<typeof manifestSchema>;
export type DetectorRole = PackManifest['roles']['detector'];
export type ScrfdRole = z.infer<typeof scrfdSchema>;
export type RetinafaceRole = z.infer<typeof retinafaceSchema>;

/** One embedding model of the embedder role; several are fused by weighted concatenation. */
export interface EmbedderMember {
  model: string;
  output: string;
  flip: boolean;
  /** Normalised so that the members' weights sum to 1. */
  weight: number;
  /** The output's length (the member's embedding size). */
  size: number;
}

/** A validated model pack. */
export interface ModelPack {
  dir: string;
  id: string;
  version: string;
  licence: string;
  /** True for the shipped pack (the repository's or the image's `layers/models`). */
  isDefault: boolean;
  manifest: PackManifest;
  detector: DetectorRole;
  landmarks: { family: 'pfld-68'; model: string } | undefined;
  pose: { family: 'hopenet'; model: string } | undefined;
  embedder: { alignment: 'arcface-112'; members: EmbedderMember[] };
  /** Length of the pack's embeddings (the sum over fused members). */
  embeddingSize: number;
  /** Execution providers the pack asks for (CPU unless it says otherwise). */
  executionProviders: string[] | undefined;
}

/** The shipped pack's folder: `FACEPRINT_MODELS_DIR` (`/opt/models` in the image), else `layers/models`. */
export function shippedPackDir(): string {
  const fromEnv = process.env.FACEPRINT_MODELS_DIR;
  if (fromEnv) return resolve(fromEnv);
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'layers', 'models');
}

/** The folder of the selected pack: an explicit one, else `FACEPRINT_MODEL_PACK`, else the shipped pack. */
export function selectedPackDir(explicit?: string): string {
  const chosen = explicit ?? process.env[MODEL_PACK_ENV];
  return chosen ? resolve(chosen) : shippedPackDir();
}

function packError(dir: string, what: string): FaceprintError {
  return new FaceprintError('MODEL_UNAVAILABLE', `Model pack ${dir}: ${what}`, { pack: dir });
}

/** Names what a role's `family` must be when the manifest asks for an unknown one. */
function familyProblem(raw: unknown): string | undefined {
  const roles = (raw as { roles?: Record<string, { family?: unknown; alignment?: unknown }> }).roles;
  if (!roles || typeof roles !== 'object') {
    return 'manifest.json must have "roles" with "detector", "embedder" and, for the ulfd+blazeface detector, "landmarks".';
  }
  const detector = roles.detector?.family;
  if (!DETECTOR_FAMILIES.includes(detector as (typeof DETECTOR_FAMILIES)[number])) {
    return `roles.detector.family is ${JSON.stringify(detector)}; it must be one of ${DETECTOR_FAMILIES.join(', ')} (a detector of another family needs a decoder in functions/core/models/).`;
  }
  const embedder = roles.embedder?.family;
  if (!EMBEDDER_FAMILIES.includes(embedder as (typeof EMBEDDER_FAMILIES)[number])) {
    return `roles.embedder.family is ${JSON.stringify(embedder)}; it must be "arcface" (a 112×112 aligned crop in, one embedding vector of any length out).`;
  }
  const alignment = roles.embedder?.alignment;
  if (!ALIGNMENTS.includes(alignment as (typeof ALIGNMENTS)[number])) {
    return `roles.embedder.alignment is ${JSON.stringify(alignment)}; it must be "arcface-112" (the five-point ArcFace template on a 112×112 crop).`;
  }
  return undefined;
}

/**
 * Reads and validates a pack's manifest (no ONNX file is opened here).
 *
 * @param dir The pack folder; default: {@link selectedPackDir}.
 * @throws FaceprintError `MODEL_UNAVAILABLE` with one sentence naming what the manifest must say.
 */
export function loadModelPack(dir: string = selectedPackDir()): ModelPack {
  const root = resolve(dir);
  const manifestPath = join(root, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw packError(
      root,
      'there is no manifest.json; run `npm run models` for the shipped pack or point FACEPRINT_MODEL_PACK at a pack folder.',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch {
    throw packError(root, 'manifest.json is not valid JSON.');
  }
  const family = familyProblem(raw);
  if (family) throw packError(root, family);
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw packError(root, `manifest.json is invalid (${problems.join('; ')}).`);
  }
  const manifest = parsed.data;
  const need = (role: string, model: string | undefined): ModelManifestEntry => {
    const entry = model ? manifest.models[model] : undefined;
    if (!model || !entry) {
      throw packError(
        root,
        `roles.${role} names model ${JSON.stringify(model)}, which has no entry under "models" (file, sha256, input, outputs).`,
      );
    }
    return entry;
  };
  const { detector, landmarks, pose, embedder } = manifest.roles;
  if (detector.family === 'ulfd+blazeface') {
    const ulfd = need('detector', 'ulfd-rfb320');
    if (!ulfd.outputs.locations || !ulfd.outputs.scores) {
      throw packError(
        root,
        'model ulfd-rfb320 must be the any-size ULFD that `npm run models` derives (outputs "scores" and "locations"; layers/models/ulfd-rfb320-heads.onnx and its manifest entry), not the export that decodes its boxes in the graph.',
      );
    }
    for (const model of BLAZEFACE_MODELS) {
      if (!manifest.models[model]) {
        throw packError(
          root,
          `the ulfd+blazeface detector also runs model "${model}" (layers/models/manifest.json has its entry), which has no entry under "models".`,
        );
      }
    }
    if (!landmarks) {
      throw packError(
        root,
        'the ulfd+blazeface detector gives no five keypoints, so roles.landmarks (family pfld-68) is required.',
      );
    }
  } else {
    need('detector', detector.model);
  }
  if (landmarks) need('landmarks', landmarks.model);
  if (pose) need('pose', pose.model);

  const declared =
    embedder.members ??
    (embedder.model && embedder.output
      ? [{ model: embedder.model, output: embedder.output, flip: embedder.flip }]
      : undefined);
  if (!declared) {
    throw packError(
      root,
      'roles.embedder must name "model" and "output" (or a list of "members", each with model and output).',
    );
  }
  const totalWeight = declared.reduce((sum, m) => sum + ((m as { weight?: number }).weight ?? 1), 0);
  const members: EmbedderMember[] = declared.map((m, i) => {
    const entry = need(`embedder.members[${i}]`, m.model);
    const [, channels, height, width] = entry.input.layout === 'NCHW' ? entry.input.shape : [];
    const nhwc = entry.input.layout === 'NHWC' ? entry.input.shape : undefined;
    const h = nhwc ? nhwc[1] : height;
    const w = nhwc ? nhwc[2] : width;
    const c = nhwc ? nhwc[3] : channels;
    if (entry.input.shape.length !== 4 || h !== 112 || w !== 112 || c !== 3) {
      throw packError(
        root,
        `embedder ${m.model} declares input shape [${entry.input.shape.join(',')}]; an arcface-112 embedder takes [1,3,112,112] (NCHW) or [1,112,112,3] (NHWC).`,
      );
    }
    if (
      entry.input.channelOrder === 'GREY' ||
      entry.input.mean.length !== 3 ||
      entry.input.std.length !== 3
    ) {
      throw packError(
        root,
        `embedder ${m.model} must declare channelOrder RGB or BGR and three mean and three std values.`,
      );
    }
    const out = entry.outputs[m.output];
    const size = out?.shape.at(-1);
    if (!out || size === undefined || size <= 0) {
      throw packError(
        root,
        `embedder ${m.model} must declare output "${m.output}" under outputs with a shape whose last dimension is the embedding size, e.g. [1,512].`,
      );
    }
    return {
      model: m.model,
      output: m.output,
      flip: m.flip ?? false,
      weight: ((m as { weight?: number }).weight ?? 1) / totalWeight,
      size,
    };
  });
  return {
    dir: root,
    id: manifest.pack.id,
    version: manifest.pack.version,
    licence: manifest.pack.licence,
    isDefault: root === shippedPackDir(),
    manifest,
    detector,
    landmarks,
    pose,
    embedder: { alignment: embedder.alignment, members },
    embeddingSize: members.reduce((sum, m) => sum + m.size, 0),
    executionProviders: manifest.executionProviders,
  };
}

/** The pack's identity as people write it: `id@version`. */
export function packLabel(pack: Pick<ModelPack, 'id' | 'version'>): string {
  return `${pack.id}@${pack.version}`;
}

/** The sha256 (hex) of a file's bytes. */
export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Checks one model file of a pack against the manifest's sha256.
 *
 * @returns The file's path.
 * @throws FaceprintError `MODEL_UNAVAILABLE` when the file is missing, `MODEL_MISMATCH` when its sha256 differs.
 */
export function verifyModelFile(pack: ModelPack, model: string): string {
  const entry = pack.manifest.models[model];
  if (!entry) throw packError(pack.dir, `model ${model} has no entry under "models".`);
  const path = join(pack.dir, entry.file);
  if (!existsSync(path)) {
    throw new FaceprintError(
      'MODEL_UNAVAILABLE',
      `Model file ${path} (${model}) is missing; ${pack.isDefault ? 'run `npm run models`' : `copy it into the pack ${packLabel(pack)}`}.`,
    );
  }
  const actual = sha256File(path);
  if (actual !== entry.sha256) {
    throw new FaceprintError(
      'MODEL_MISMATCH',
      `Model file ${path} has sha256 ${actual.slice(0, 12)}… but pack ${packLabel(pack)} declares ${entry.sha256.slice(0, 12)}… for ${model}, so it is refused.`,
      { model, expected: entry.sha256, actual },
    );
  }
  return path;
}

/** Every model the pack's roles use (each once). */
export function packModels(pack: ModelPack): string[] {
  const ids = new Set<string>();
  if (pack.detector.family === 'ulfd+blazeface') {
    ids.add('ulfd-rfb320');
    for (const model of BLAZEFACE_MODELS) ids.add(model);
  } else {
    ids.add(pack.detector.model);
  }
  if (pack.landmarks) ids.add(pack.landmarks.model);
  for (const m of pack.embedder.members) ids.add(m.model);
  if (pack.pose) ids.add(pack.pose.model);
  return [...ids];
}

/** The calibration a non-default pack carries (`calibration.json` in its folder), if any. */
export function packCalibrationPath(dir: string = selectedPackDir()): string | undefined {
  if (resolve(dir) === shippedPackDir()) return undefined;
  const path = join(dir, 'calibration.json');
  return existsSync(path) ? path : undefined;
}
