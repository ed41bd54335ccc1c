/**
 * The gallery's public shapes: its configuration and dependencies, what an enrolment photo is, and what its reads,
 * identify and verify answer. Types only, so every module of the gallery (and its callers) can name them without
 * importing the service.
 */
import type { CameraGallery } from '../camera/service.ts';
import type { Candidate, Decision, Subject, TemplateVariant } from '../domain.ts';
import type { FaceAnalyser } from '../pipeline/analyser.ts';
import type { AnalyzeOptionsInput } from '../pipeline/pipeline.ts';
import type { Calibration } from '../search/calibration.ts';
import type { DEFAULT_QUALITY_GATE, QualityGate } from '../search/quality-gate.ts';
import type { RemoteVectorIndex } from '../search/remote-index.ts';
import type { ApproximateIndexing } from '../search/tiered-index.ts';
import type { FusionConfig } from '../search/vector-index.ts';
import type { Box, FaceQuality, FaceRestoration, FiveLandmarks } from '../types.ts';
import type { SubjectEraser } from './erasure.ts';
import type { FollowUpRefs, IdentifyFollowUp } from './follow-up.ts';
import type { EnrolmentPhotoStore } from './photo-store.ts';
import type { FaceStore, IndexSnapshotStore, TemplateFeed } from './ports.ts';

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
  /** What was done to the aligned crop before embedding ({@link AnalyzedFace.restoration}). */
  restoration: FaceRestoration;
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

/** What the `GalleryService` (`service.ts`) is made of: its ports, configuration and a deployment's optional parts. */
export interface GalleryDeps {
  /** The face analysis: in-process (a FacePipeline) or a pool of worker threads. */
  pipeline: FaceAnalyser;
  store: FaceStore;
  snapshots: IndexSnapshotStore;
  config: GalleryConfig;
  /** The store's change feed the index is derived from (usually the store itself). */
  feed: TemplateFeed;
  now?: () => Date;
  /**
   * `self` (local mode): the service saves a snapshot after its writes. `indexer` (AWS): a separate indexer
   * publishes snapshots from the store's change stream; the service reloads the newest one and catches up with
   * the feed. Either way the index follows the feed (`search/gallery-index.ts`).
   */
  snapshotOwner?: 'self' | 'indexer';
  /** How stale the index may be before an identify looks at the feed again (default 0: every request). */
  indexRefreshIntervalMs?: number | undefined;
  /** A failed index refresh while serving (the loaded index keeps serving). */
  onIndexStale?: ((error: unknown) => void) | undefined;
  /** Erases a deleted subject's traces beyond the store (audit rows, stored results); see `erasure.ts`. */
  eraser?: SubjectEraser | undefined;
  /** Unknown persons, the review queue and reviewers' negatives (see `follow-up.ts`); none when omitted. */
  followUp?: IdentifyFollowUp | undefined;
  /** Where accepted enrolment photos are kept, so `gallery reembed` can re-embed them with another pack. */
  photos?: EnrolmentPhotoStore | undefined;
  /** An approximate graph past a crossover (local mode at scale, `search/tiered-index.ts`); exact when omitted. */
  approximate?: ApproximateIndexing | undefined;
  /**
   * A remote vector index (AWS `index: 's3vectors'`): searched instead of a loaded snapshot, erased from on
   * delete; its one writer is the AWS indexer, so a new template is searchable once the indexer has put it.
   */
  remoteIndex?: RemoteVectorIndex | undefined;
  /**
   * Configured cameras and their camera-matched templates (`core/camera/service.ts`): made at enrolment, searched
   * when an identify call names its camera. Without it, a camera name is only recorded.
   */
  cameras?: CameraGallery | undefined;
}
