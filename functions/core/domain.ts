/**
 * The gallery's domain: its value types and the rules every entry point shares (the subject-id rule, the
 * display-name and metadata schemas, the template variants, stable audit-row ids). The HTTP app, the AWS adapters,
 * the CLI and the evaluation import these rather than restating them.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Box, FaceQuality, FaceRestoration, ModelRef } from './types.ts';

/** A subject id: safe as a file name, a DynamoDB key and a URL path segment (and never containing `..`). */
export const SUBJECT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Whether `id` is a valid subject id ({@link SUBJECT_ID_PATTERN}, no `..`). */
export function isSubjectId(id: string): boolean {
  return SUBJECT_ID_PATTERN.test(id) && !id.includes('..');
}

/** {@link SUBJECT_ID_PATTERN} as a schema, with sentences a caller can act on. */
export const SubjectIdSchema = z
  .string()
  .regex(
    SUBJECT_ID_PATTERN,
    'must be 1 to 128 letters, digits, "_", "." or "-", starting with a letter or digit',
  )
  .refine((id) => !id.includes('..'), 'must not contain ".."');

/**
 * Bidirectional embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069): they make a name
 * display as something other than what it is ("Trojan Source"), so a reviewer could read the wrong person.
 */
export const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/u;

/**
 * A display name: 1–200 characters, not blank, without control characters (\p{Cc}: NUL, newline, escape, …)
 * and without bidirectional controls ({@link BIDI_CONTROLS}).
 */
export const SubjectNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters')
  .refine((name) => !BIDI_CONTROLS.test(name), 'must not contain bidirectional control characters')
  .regex(/\S/, 'must not be blank');

/**
 * Free-form subject metadata: at most 50 string keys (never `__proto__`) with string values. `JSON.parse` makes
 * `"__proto__"` an own key, but zod's record skips that key without looking at it, so it would vanish silently
 * (a 201 with `metadata: {}`): the raw object is checked for it first and refused.
 */
export const SubjectMetadataSchema = z
  .record(
    z
      .string()
      .min(1, 'keys must not be empty')
      .max(100, 'keys must be at most 100 characters')
      // Assigning it would set the object's prototype instead of a key.
      .refine((k) => k !== '__proto__', 'keys must not be "__proto__"'),
    z.string().max(2000, 'values must be at most 2,000 characters'),
  )
  .refine((m) => Object.keys(m).length <= 50, 'may hold at most 50 keys');

/** {@link SubjectMetadataSchema} behind a check of the raw input for an own `__proto__` key. */
export const SubjectMetadataInputSchema = z.preprocess((value, ctx) => {
  if (value && typeof value === 'object' && Object.hasOwn(value, '__proto__')) {
    ctx.addIssue({ code: 'custom', message: 'keys must not be "__proto__"', input: value });
  }
  return value;
}, SubjectMetadataSchema);

/**
 * How a template's image was made from the enrolment photo. `original` is the photo as given; the rest are
 * degradation-matched variants generated from it so that a clean ID photo also matches dark, blurry probes.
 * The order is stored: a variant's place in this list is its code in index snapshots (append only).
 */
export const TEMPLATE_VARIANTS = [
  'original',
  'dark',
  'blur',
  'lowres',
  'jpeg',
  'mirror',
  'pose:-40,0',
  'pose:-20,0',
  'pose:20,0',
  'pose:40,0',
  'pose:0,-20',
  'camera',
] as const;
export type TemplateVariant = (typeof TEMPLATE_VARIANTS)[number];

/**
 * Pose-synthesised views (`core/pose`): the enrolment face rendered at `pose:<yaw>,<pitch>` degrees (yaw > 0:
 * turned to the image's right; pitch < 0: seen from above). A fixed set, so that each has a snapshot code.
 */
export type PoseVariant = Extract<TemplateVariant, `pose:${string}`>;

/** Every {@link PoseVariant}, in {@link TEMPLATE_VARIANTS} order. */
export const POSE_VARIANTS: readonly PoseVariant[] = TEMPLATE_VARIANTS.filter((v): v is PoseVariant =>
  v.startsWith('pose:'),
);

/** True when `value` names a {@link PoseVariant}. */
export function isPoseVariant(value: unknown): value is PoseVariant {
  return typeof value === 'string' && (POSE_VARIANTS as readonly string[]).includes(value);
}

/** The yaw and pitch (degrees) a {@link PoseVariant} is rendered at. */
export function poseOfVariant(variant: PoseVariant): { yaw: number; pitch: number } {
  const [yaw = '0', pitch = '0'] = variant.slice('pose:'.length).split(',');
  return { yaw: Number(yaw), pitch: Number(pitch) };
}

/** True when `value` names a {@link TemplateVariant}. */
export function isTemplateVariant(value: unknown): value is TemplateVariant {
  return typeof value === 'string' && (TEMPLATE_VARIANTS as readonly string[]).includes(value);
}

/** The degradation-matched variants made from an enrolment crop (every variant but `original` and the pose views). */
export type DerivedVariant = Exclude<TemplateVariant, 'original' | PoseVariant | 'camera'>;

/** Every {@link DerivedVariant}, in the order enrolment and the evaluation make them. */
export const DERIVED_VARIANTS: readonly DerivedVariant[] = ['mirror', 'blur', 'dark', 'lowres', 'jpeg'];

/**
 * The `camera` variant: the enrolment crop degraded to look as a configured camera sees it (`core/camera/`). A
 * camera template names its camera (`FaceTemplate.camera`), lives beside the gallery's own templates in the camera
 * store, is made for every configured camera at enrolment and backfilled when a camera is added, and is searched
 * only by identify calls that name that camera (which also search the gallery as without one).
 */
export type CameraVariant = Extract<TemplateVariant, 'camera'>;

/** A person in the gallery. `metadata` is free-form, caller-supplied, string-valued. */
export interface Subject {
  id: string;
  name: string;
  metadata: Record<string, string>;
  /** ISO-8601 timestamp. */
  createdAt: string;
}

/** One embedding of one face of a subject. */
export interface FaceTemplate {
  id: string;
  subjectId: string;
  /** Where the photo came from: a file name, an object key or `api`. */
  source: string;
  box: Box;
  quality: FaceQuality;
  embedding: Float32Array;
  variant: TemplateVariant;
  model: ModelRef;
  /** ISO-8601 timestamp. */
  createdAt: string;
  /** For the `camera` variant: the configured camera it was degraded to match ({@link CameraVariant}). */
  camera?: string | undefined;
  /**
   * A small JPEG of the aligned face, on the `original` template of each enrolment photo only, so that a
   * reviewer can see who the gallery holds. Stored with the template and erased with it; never in an index.
   */
  thumbnail?: Uint8Array | undefined;
}

/** A camera (profile) name, as identify calls and upload prefixes name it. */
export const CAMERA_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * The name an upload's audit rows are keyed by: its key and the version the claim took. An upload redelivered or
 * retried (an image, or a video's run) names the same decisions; a new version of the object names new ones.
 */
export function uploadAuditKey(key: string, version: string): string {
  return `${key}@${version}`;
}

/**
 * A stable audit-row id (UUID-shaped, from a sha256) for part `part` of the input named `auditKey`: a face index
 * of an upload, or an event of a video run. Writing the same decision again (a redelivered upload, a video job
 * run again after a restart) gives the same id, and the audit stores record each id once.
 */
export function stableAuditId(auditKey: string, part: string | number): string {
  const hex = createHash('sha256').update(`${auditKey}#${part}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Every decision kind, for schemas and metrics. */
export const DECISION_KINDS = ['match', 'unknown', 'ambiguous', 'insufficient_quality'] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** The quality band a decision was made in (`poor`: below the quality gate, see core/search/quality-gate.ts). */
export type QualityBand = 'good' | 'poor';

/** A candidate subject for a probe face, with the fused similarity over that subject's templates. */
export interface Candidate {
  subjectId: string;
  similarity: number;
  /** The template that scored highest for this subject. */
  templateId: string;
}

/** The open-set answer for one probe face, with the evidence a reviewer needs to check it. */
export interface Decision {
  kind: DecisionKind;
  /** Set for `match` (the matched subject) and `ambiguous` (the best of the tied subjects). */
  subjectId: string | undefined;
  similarity: number;
  /** The threshold the similarity was compared with. */
  threshold: number;
  /** For `ambiguous`: the margin that the top two subjects fell within. */
  margin: number;
  /** Rough probability-like confidence in [0, 1] derived from the similarity's distance to the threshold. */
  confidence: number;
  candidates: Candidate[];
  /** The quality band the threshold was chosen for (absent where no quality gate was applied). */
  qualityBand?: QualityBand | undefined;
  /** For `insufficient_quality`: why the face cannot be judged (quality reasons such as `LOW_SHARPNESS`). */
  reasons?: string[] | undefined;
  /** Which camera templates the decision was scored against (absent when the call named no configured camera). */
  camera?: DecisionCamera | undefined;
}

/** The camera-matched templates behind a decision (see {@link CameraVariant}). */
export interface DecisionCamera {
  /** The configured camera the call named. */
  id: string;
  /** Whether its templates were searched (`FACEPRINT_CAMERA_TEMPLATES=on`); off, only the gallery's own were. */
  searched: boolean;
  /** How many of that camera's templates were searched (besides the gallery's own). */
  templates: number;
  /** Whether the decided (or best) subject's best-scoring template was one of that camera's templates. */
  bestIsCameraTemplate: boolean;
}

/** One row of the decision audit log: what was decided, on what evidence. Never an image or an embedding. */
export interface DecisionAuditEntry {
  id: string;
  /** ISO-8601 timestamp. */
  at: string;
  /** `identify`, `verify`, `ingest`, … */
  operation: string;
  /** Request id, object key or file name: whatever lets a reviewer find the input again. */
  source: string;
  faceIndex: number;
  box: Box;
  quality: FaceQuality;
  decision: Decision;
  model: ModelRef;
  /** Calibration file id the threshold came from. */
  calibration: string;
  /** The camera (profile) the identify call named, if any. */
  camera?: string | undefined;
  /** The quality band the decision was made in (also on `decision`). */
  qualityBand?: QualityBand | undefined;
  /** What was done to the face's crop before matching (absent in entries written before pipeline fp8). */
  restoration?: FaceRestoration | undefined;
}
