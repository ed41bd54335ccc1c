/**
 * Probe degradations for evaluation: simulate the surveillance feed (dark, blurred, low-resolution, heavily
 * compressed, noisy) on clean decoded photos. Gallery images stay clean; only probes are degraded.
 *
 * A spec is one or more steps joined by `+`, applied left to right:
 * `dark:<factor>` (every channel value × factor), `blur:<sigma>` (Gaussian, sigma in px),
 * `lowres:<iod>` (downscale so the inter-ocular distance becomes `<iod>` px, then back up),
 * `jpeg:<quality>` (re-encode at that quality, 1–100), `noise:<sigma>` (additive Gaussian noise, seeded),
 * `motion:<length>[@<angle>]` (directional motion blur: a straight streak of that many px at that angle in
 * degrees, default 0 = horizontal), `h264:<qp>` (H.264-like 4×4 intra quantisation at that QP, 0–51, see
 * `degrade-kernels.ts`). A step may also be the name of a profile of `profiles.ts` (`night`, `lowres`,
 * `motion`, `noisy`, `cctv`), which stands for its steps.
 */
import sharp from 'sharp';
import { FaceprintError } from '../core/errors.ts';
import { type RgbImage, rgbFromSharp, sharpFromRgb } from '../core/pipeline/image.ts';
import { h264Quantise, motionKernel } from './degrade-kernels.ts';
import { DEGRADATION_PROFILES, degradationProfile } from './profiles.ts';

export type DegradationStep =
  | { kind: 'dark'; factor: number }
  | { kind: 'blur'; sigma: number }
  | { kind: 'lowres'; iod: number }
  | { kind: 'jpeg'; quality: number }
  | { kind: 'noise'; sigma: number }
  | { kind: 'motion'; length: number; angle: number }
  | { kind: 'h264'; qp: number };

/** A parsed degradation: its normalised spec string (stable, usable in cache keys) and its steps. */
export interface Degradation {
  spec: string;
  steps: DegradationStep[];
}

/**
 * Inter-ocular distance (px) assumed for `lowres` when the caller gives none: the LFW deep-funnelled 250×250
 * images, measured with the default pipeline on 60 lfw-dev identities (median 41.2 px, 10th–90th percentile
 * 37–46 px). Other data (e.g. Yale B crops) should pass `referenceIod`.
 */
export const LFW_REFERENCE_IOD = 41;

export interface DegradeOptions {
  /** Inter-ocular distance of the face in the undegraded image, px (default {@link LFW_REFERENCE_IOD}). */
  referenceIod?: number;
  /** Seed for `noise` (e.g. derived from the file's hash, so every image gets its own but repeatable noise). */
  seed?: number;
}

function invalid(message: string): FaceprintError {
  return new FaceprintError('INVALID_ARGUMENT', message);
}

const RANGES: Record<DegradationStep['kind'], { min: number; max: number; what: string }> = {
  dark: { min: 0, max: 1, what: 'a brightness factor in (0, 1]' },
  blur: { min: 0.3, max: 100, what: 'a Gaussian sigma in px between 0.3 and 100' },
  lowres: { min: 2, max: 1000, what: 'an inter-ocular distance in px between 2 and 1000' },
  jpeg: { min: 1, max: 100, what: 'a JPEG quality between 1 and 100' },
  noise: { min: 0, max: 255, what: 'a noise sigma in grey levels between 0 and 255' },
  motion: {
    min: 2,
    max: 200,
    what: 'a streak length in px between 2 and 200 (optionally @angle in degrees)',
  },
  h264: { min: 0, max: 51, what: 'an H.264 QP, an integer between 0 and 51' },
};

const KINDS = 'dark, blur, lowres, jpeg, noise, motion, h264';

/**
 * Parses a degradation spec such as `dark:0.25+blur:2`. The empty string (or `none`) means no degradation.
 *
 * @throws FaceprintError INVALID_ARGUMENT naming the offending step.
 */
export function parseDegradation(spec: string): Degradation {
  const trimmed = spec.trim();
  if (trimmed === '' || trimmed === 'none') return { spec: '', steps: [] };
  const steps: DegradationStep[] = [];
  for (const part of trimmed.split('+')) {
    const profile = degradationProfile(part);
    if (profile) {
      steps.push(...parseDegradation(profile.spec).steps);
      continue;
    }
    const match = /^\s*([a-z0-9]+)\s*:\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)(?:@(-?[0-9]*\.?[0-9]+))?\s*$/i.exec(
      part,
    );
    if (!match) {
      throw invalid(
        `Degradation step "${part}" is not of the form kind:value (kinds: ${KINDS}; e.g. dark:0.25+blur:2) nor a profile (${DEGRADATION_PROFILES.map((p) => p.name).join(', ')}).`,
      );
    }
    const kind = (match[1] as string).toLowerCase();
    const value = Number(match[2]);
    if (!(kind in RANGES)) {
      throw invalid(`Unknown degradation "${kind}" in "${part}"; use ${KINDS}.`);
    }
    if (match[3] !== undefined && kind !== 'motion') throw invalid(`"${part}": only motion takes an @angle.`);
    const range = RANGES[kind as DegradationStep['kind']];
    const tooLow = kind === 'dark' ? value <= range.min : value < range.min;
    if (!Number.isFinite(value) || tooLow || value > range.max) {
      throw invalid(`"${part}": ${kind} takes ${range.what}.`);
    }
    if ((kind === 'jpeg' || kind === 'h264') && !Number.isInteger(value))
      throw invalid(`"${part}": ${range.what}.`);
    switch (kind) {
      case 'dark':
        steps.push({ kind, factor: value });
        break;
      case 'blur':
      case 'noise':
        steps.push({ kind, sigma: value });
        break;
      case 'lowres':
        steps.push({ kind, iod: value });
        break;
      case 'motion': {
        const angle = Number(match[3] ?? 0);
        if (!Number.isFinite(angle)) throw invalid(`"${part}": the angle must be a number of degrees.`);
        steps.push({ kind, length: value, angle: ((angle % 180) + 180) % 180 });
        break;
      }
      case 'h264':
        steps.push({ kind, qp: value });
        break;
      default:
        steps.push({ kind: 'jpeg', quality: value });
    }
  }
  return { spec: steps.map(stepSpec).join('+'), steps };
}

function stepSpec(step: DegradationStep): string {
  switch (step.kind) {
    case 'dark':
      return `dark:${step.factor}`;
    case 'blur':
      return `blur:${step.sigma}`;
    case 'lowres':
      return `lowres:${step.iod}`;
    case 'jpeg':
      return `jpeg:${step.quality}`;
    case 'noise':
      return `noise:${step.sigma}`;
    case 'motion':
      return `motion:${step.length}@${step.angle}`;
    case 'h264':
      return `h264:${step.qp}`;
  }
}

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1) (seeded noise, tests, benchmarks). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function applyStep(image: RgbImage, step: DegradationStep, options: DegradeOptions): Promise<RgbImage> {
  switch (step.kind) {
    case 'dark': {
      const out = new Uint8Array(image.data.length);
      for (let i = 0; i < out.length; i++) out[i] = Math.round((image.data[i] as number) * step.factor);
      return { width: image.width, height: image.height, data: out };
    }
    case 'blur':
      return rgbFromSharp(sharpFromRgb(image).blur(step.sigma));
    case 'lowres': {
      const scale = Math.min(1, step.iod / (options.referenceIod ?? LFW_REFERENCE_IOD));
      if (scale >= 1) return image;
      const w = Math.max(1, Math.round(image.width * scale));
      const h = Math.max(1, Math.round(image.height * scale));
      const small = await rgbFromSharp(sharpFromRgb(image).resize(w, h, { fit: 'fill', kernel: 'linear' }));
      return rgbFromSharp(
        sharpFromRgb(small).resize(image.width, image.height, { fit: 'fill', kernel: 'linear' }),
      );
    }
    case 'jpeg': {
      const encoded = await sharpFromRgb(image).jpeg({ quality: step.quality }).toBuffer();
      return rgbFromSharp(sharp(encoded));
    }
    case 'noise': {
      const random = prng(options.seed ?? 1);
      const out = new Uint8Array(image.data.length);
      for (let i = 0; i < out.length; i += 2) {
        // Box–Muller: two independent normals per pair of uniforms.
        const u = Math.max(random(), 1e-12);
        const v = random();
        const r = Math.sqrt(-2 * Math.log(u)) * step.sigma;
        out[i] = clamp((image.data[i] as number) + r * Math.cos(2 * Math.PI * v));
        if (i + 1 < out.length)
          out[i + 1] = clamp((image.data[i + 1] as number) + r * Math.sin(2 * Math.PI * v));
      }
      return { width: image.width, height: image.height, data: out };
    }
    case 'motion':
      return rgbFromSharp(sharpFromRgb(image).convolve(motionKernel(step.length, step.angle)));
    case 'h264':
      return h264Quantise(image, step.qp);
  }
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/**
 * Applies a degradation's steps in order. The input is never modified; with no steps it is returned as is.
 * Deterministic: the same image, spec and seed give the same bytes.
 */
export async function degradeImage(
  image: RgbImage,
  degradation: Degradation,
  options: DegradeOptions = {},
): Promise<RgbImage> {
  let current = image;
  for (const step of degradation.steps) current = await applyStep(current, step, options);
  return current;
}

/** Mean luma (BT.601) of an RGB image, 0–255. */
export function meanLuma(image: RgbImage): number {
  const { data } = image;
  let sum = 0;
  for (let i = 0; i + 2 < data.length; i += 3) {
    sum += 0.299 * (data[i] as number) + 0.587 * (data[i + 1] as number) + 0.114 * (data[i + 2] as number);
  }
  return sum / Math.max(1, data.length / 3);
}
