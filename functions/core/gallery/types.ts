/**
 * The gallery's public shapes: its configuration, what an enrolment photo is, and what its reads, identify and
 * verify answer. Types only, so every module of the gallery (and its callers) can name them without importing
 * the service.
 */
import type { Candidate, Decision, Subject, TemplateVariant } from '../domain.ts';
import type { AnalyzeOptionsInput } from '../pipeline/pipeline.ts';
import type { Calibration } from '../search/calibration.ts';
import type { DEFAULT_QUALITY_GATE, QualityGate } from '../search/quality-gate.ts';
import type { FusionConfig } from '../search/vector-index.ts';
import type { Box, FaceQuality, FiveLandmarks } from '../types.ts';
import type { FollowUpRefs } from './follow-up.ts';

/** How the gallery enrols and decides. Configuration, not code: change it with measurements. */
export interface GalleryConfig {
  /** Templates stored per enrolment photo besides `original`. */
  variants: Exclude<TemplateVariant, 'original' | 'camera'>[];
  /** How a subject's template scores fuse into one similarity. */
  fusion: FusionConfig;
  /** Enrolment photos whose face scores below this quality are refused, with the reasons. */
  minEnrolQuality: number;
  /** Candidates returned per probe face. */
  topK: number;
  /** Thresholds and their provenance. */
  calibration: Calibration;
  /** Pipeline options for every analysis. */
  analyze: AnalyzeOptionsInput;
  /**
   * Verification by agreement of two views: with `mirror`, each probe face is also searched as its mirror image,
   * and a match stands only when that second view names the same subject above the threshold; otherwise the
   * decision becomes `ambiguous`. (Cosine and L2 agreement would be no check at all: on unit vectors they rank
   * identically.) Off by default until measured to help.
   */
  agreement?: 'none' | 'mirror' | undefined;
  /** Quality-aware decisions (default: the calibration's gate, else {@link DEFAULT_QUALITY_GATE}). */
  qualityGate?: QualityGate | undefined;
  /**
   * Whether an identify call naming a configured camera also searches that camera's templates (default off:
   * measured to hurt, docs/accuracy.md section 8; `FACEPRINT_CAMERA_TEMPLATES`). The templates are made either way.
   */
  searchCameraTemplates?: boolean | undefined;
}

/** An enrolment photo: its bytes, where it came from, and how to treat a photo of several faces. */
export interface PhotoInput {
  bytes: Uint8Array;
  /** File name, object key or `api`: recorded with each template. */
  source: string;
  /** Take the largest face when the photo holds several (default: refuse with MULTIPLE_FACES). */
  takeLargest?: boolean | undefined;
  /** How error messages name the photo (default: `source`), e.g. "the photo" for an HTTP upload. */
  label?: string | undefined;
}

/** A subject with summaries of its templates (never the embeddings). */
export interface SubjectView extends Subject {
  templates: {
    id: string;
    variant: TemplateVariant;
    source: string;
    quality: FaceQuality;
    createdAt: string;
  }[];
}

/** The second view's verdict when {@link GalleryConfig.agreement} is on. */
export interface ViewAgreement {
  view: 'mirror';
  subjectId: string | undefined;
  similarity: number;
  agreed: boolean;
}

/** One face of an identify probe: where it is, its quality, its decision and the candidates behind it. */
export interface IdentifiedFace {
  agreement?: ViewAgreement | undefined;
  box: Box;
  landmarks: FiveLandmarks;
  quality: FaceQuality;
  enhanced: boolean;
  decision: Decision & { subjectName?: string | undefined };
  candidates: (Candidate & { name?: string | undefined })[];
  /** What the follow-up did with the face: its unknown person and sighting, its review. */
  followUp?: FollowUpRefs | undefined;
}

/** What an identify call says besides the image: where it came from, and how to search and log it. */
export interface IdentifyRequest {
  source: string;
  operation?: string | undefined;
  topK?: number | undefined;
  /** Names the input exactly once (an upload's key and version): its audit rows keep the same ids on a retry. */
  auditKey?: string | undefined;
  /** Aborted when the caller has gone (the client disconnected): the analysis stops early. */
  signal?: AbortSignal | undefined;
  camera?: string | undefined;
}

/** An identify answer: every face of the probe, with the calibration and model that decided. */
export interface IdentifyResult {
  width: number;
  height: number;
  faces: IdentifiedFace[];
  calibration: string;
  /** The camera (profile) the call named. */
  camera?: string | undefined;
  model: { id: string; version: string };
}

/** A 1:1 verification: same person or not, with the similarity, threshold and the faces compared. */
export interface VerifyResult {
  match: boolean;
  similarity: number;
  threshold: number;
  confidence: number;
  faces: { box: Box; quality: FaceQuality }[];
  subjectId?: string | undefined;
}
