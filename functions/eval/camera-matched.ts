/**
 * Camera-matched gallery templates for `faceprint eval --camera-matched oracle|estimated`: one extra template per
 * gallery subject, its aligned crop degraded to match the probes' camera and prepared as the probe path prepares
 * a face (`core/camera/match.ts`), scored with the configured fusion beside the original (and any variants).
 *
 * - `oracle`: the crop is degraded with the probe degradation itself (the profile's own steps, at the crop's
 *   scale: `lowres` is taken relative to the crop's inter-ocular distance), the best a camera profile could do.
 * - `estimated`: the camera is estimated from the first few degraded mated probes, as `faceprint camera add`
 *   estimates it from a camera's own files (`estimateCameraProfile` + the faces detected in them), and the crop is
 *   degraded with those settings (`cameraMatchedCrop`): what the product does.
 *
 * The camera's "files" are the degraded probes encoded as the camera would: JPEG at the spec's last `jpeg:Q`
 * quality (the same bytes the degradation itself produces), else lossless PNG.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { estimateCameraProfile } from '../core/camera/estimate.ts';
import { CROP_INTER_OCULAR_PX, cameraMatchedCrop, prepareAsProbe } from '../core/camera/match.ts';
import { type CameraSettings, settingsFromEstimate } from '../core/camera/profile.ts';
import { decodeImage, sharpFromRgb } from '../core/pipeline/image.ts';
import { type AnalyzeOptions, FacePipeline } from '../core/pipeline/pipeline.ts';
import type { IdentificationProtocol } from './dataset.ts';
import { type Degradation, degradeImage } from './degrade.ts';
import { selectFace } from './embed-image.ts';
import type { FaceSelection } from './types.ts';

export type CameraMatchMode = 'oracle' | 'estimated';
export const CAMERA_MATCH_MODES: readonly CameraMatchMode[] = ['oracle', 'estimated'];

/** How many degraded probes the `estimated` camera is measured from ("a few of the camera's images"). */
export const ESTIMATE_IMAGES = 8;

export interface CameraMatchedGallery {
  mode: CameraMatchMode;
  /** Gallery image path → its camera-matched template. */
  templates: Map<string, Float32Array>;
  /** The settings used (estimated mode only). */
  settings?: CameraSettings | undefined;
  /** Gallery images whose face was not found (no camera template). */
  failures: number;
}

function seedOf(bytes: Uint8Array): number {
  return Number.parseInt(createHash('sha256').update(bytes).digest('hex').slice(0, 8), 16);
}

/** A degraded probe encoded as the camera would have written it (see the module header). */
async function cameraFile(
  bytes: Uint8Array,
  degradation: Degradation,
  referenceIod?: number,
): Promise<Uint8Array> {
  const clean = await decodeImage(bytes);
  const last = degradation.steps[degradation.steps.length - 1];
  const before = last?.kind === 'jpeg' ? degradation.steps.slice(0, -1) : degradation.steps;
  const image = await degradeImage(
    clean,
    { spec: degradation.spec, steps: before },
    { seed: seedOf(bytes), ...(referenceIod === undefined ? {} : { referenceIod }) },
  );
  const encoder = sharpFromRgb(image);
  return new Uint8Array(
    last?.kind === 'jpeg'
      ? await encoder.jpeg({ quality: last.quality }).toBuffer()
      : await encoder.png().toBuffer(),
  );
}

/** Estimates the probes' camera from the first {@link ESTIMATE_IMAGES} mated probes. */
export async function estimateProbeCamera(
  pipeline: FacePipeline,
  options: AnalyzeOptions,
  protocol: IdentificationProtocol,
  degradation: Degradation,
  referenceIod?: number,
): Promise<CameraSettings> {
  const chosen = protocol.probes.filter((p) => p.mated).slice(0, ESTIMATE_IMAGES);
  const files = await Promise.all(
    chosen.map(async (p) => cameraFile(new Uint8Array(await readFile(p.image)), degradation, referenceIod)),
  );
  const iods: number[] = [];
  const brightness: number[] = [];
  for (const file of files) {
    const result = await pipeline.analyze(file, { ...options, embed: false });
    const face = selectFace(result.faces, 'centre', result.width, result.height);
    if (!face) continue;
    iods.push(face.quality.interOcularPx);
    brightness.push(face.quality.brightness);
  }
  const profile = await estimateCameraProfile(files, iods);
  brightness.sort((a, b) => a - b);
  const faceBrightness =
    brightness.length > 0 ? (brightness[Math.floor(brightness.length / 2)] as number) : null;
  return settingsFromEstimate(profile, faceBrightness);
}

/**
 * One camera-matched template per gallery image (see the module header), computed in-process (a gallery is a
 * few hundred images; the probes, the expensive part, stay in the cache).
 */
export async function cameraMatchedGallery(
  mode: CameraMatchMode,
  protocol: IdentificationProtocol,
  gallerySelect: FaceSelection,
  degradation: Degradation,
  options: AnalyzeOptions,
  referenceIod?: number,
): Promise<CameraMatchedGallery> {
  const pipeline = new FacePipeline({ threads: 1 });
  try {
    const settings =
      mode === 'estimated'
        ? await estimateProbeCamera(pipeline, options, protocol, degradation, referenceIod)
        : undefined;
    const templates = new Map<string, Float32Array>();
    let failures = 0;
    for (const g of protocol.gallery) {
      const bytes = new Uint8Array(await readFile(g.image));
      const image = await decodeImage(bytes, options.limits);
      const faces = await pipeline.analyzeImage(image, { ...options, keepCrops: true, embed: false });
      const crop = selectFace(faces, gallerySelect, image.width, image.height)?.crops?.aligned;
      if (!crop) {
        failures += 1;
        continue;
      }
      const seed = seedOf(bytes);
      const matched = settings
        ? await cameraMatchedCrop(crop, settings, options, seed)
        : prepareAsProbe(
            await degradeImage(crop, degradation, { seed, referenceIod: CROP_INTER_OCULAR_PX }),
            options,
          );
      const [vector] = await pipeline.embedCrops([matched], options.flip);
      if (vector) templates.set(g.image, vector);
    }
    return { mode, templates, settings, failures };
  } finally {
    await pipeline.dispose();
  }
}

/**
 * Cohort normalisation of camera-template scores (`--camera-norm`), an experiment: a camera template's scores are
 * mapped onto its subject's original-template scale, `s' = μₒ + σₒ / σ_c · (s − μ_c)`, where μ_c, σ_c are the
 * camera template's similarities to the other subjects' camera templates (impostors in the camera's domain) and
 * μₒ, σₒ the original template's similarities to the same cohort (how a camera-domain impostor scores against the
 * original). The camera template then only wins where it stands out from its own impostors, not merely because
 * every degraded face looks alike.
 */
export class CameraScoreNorm {
  readonly #vectors: (Float32Array | undefined)[];
  readonly #scale: Float64Array;
  readonly #shift: Float64Array;

  constructor(originals: readonly Float32Array[], cameras: readonly (Float32Array | undefined)[]) {
    const n = originals.length;
    this.#vectors = [...cameras];
    this.#scale = new Float64Array(n);
    this.#shift = new Float64Array(n);
    const dot = (a: Float32Array, b: Float32Array) => {
      let s = 0;
      for (let d = 0; d < a.length; d++) s += (a[d] as number) * (b[d] as number);
      return s;
    };
    const stats = (xs: number[]) => {
      const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length));
      return { mean, sd: Math.max(1e-3, sd) };
    };
    for (let i = 0; i < n; i++) {
      const cam = cameras[i];
      if (!cam) continue;
      const c: number[] = [];
      const o: number[] = [];
      for (let j = 0; j < n; j++) {
        const other = cameras[j];
        if (j === i || !other) continue;
        c.push(dot(cam, other));
        o.push(dot(originals[i] as Float32Array, other));
      }
      const sc = stats(c);
      const so = stats(o);
      const scale = so.sd / sc.sd;
      this.#scale[i] = scale;
      this.#shift[i] = so.mean - scale * sc.mean;
    }
  }

  /** Raises `scores[i]` to subject i's normalised camera-template score where that is higher (max fusion). */
  apply(query: Float32Array, scores: Float32Array): void {
    for (let i = 0; i < this.#vectors.length; i++) {
      const v = this.#vectors[i];
      if (!v) continue;
      let s = 0;
      for (let d = 0; d < v.length; d++) s += (v[d] as number) * (query[d] as number);
      const adjusted = (this.#shift[i] as number) + (this.#scale[i] as number) * s;
      if (adjusted > (scores[i] as number)) scores[i] = adjusted;
    }
  }
}
