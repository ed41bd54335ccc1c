import type { Box, FaceQuality, ModelRef } from '../types.ts';

/** A person in the gallery. `metadata` is free-form, caller-supplied, string-valued. */
export interface Subject {
  id: string;
  name: string;
  metadata: Record<string, string>;
  /** ISO-8601 timestamp. */
  createdAt: string;
}

/**
 * How a template's image was made from the enrolment photo. `original` is the photo as given; the rest are
 * degradation-matched variants generated from it so that a clean ID photo also matches dark, blurry probes.
 */
export type TemplateVariant = 'original' | 'dark' | 'blur' | 'lowres' | 'jpeg' | 'mirror';

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
}

export type DecisionKind = 'match' | 'unknown' | 'ambiguous';

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
}
