/** The API's JSON shapes, as far as the console reads them (see `GET /openapi.json`). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface Quality {
  score: number;
  reasons: string[];
  brightness?: number;
  sharpness?: number;
  interOcularPx?: number;
}
export interface Subject {
  id: string;
  name: string;
  metadata: Record<string, string>;
  createdAt: string;
}
export interface TemplateSummary {
  id: string;
  variant: string;
  source: string;
  quality: Quality;
  createdAt: string;
}
export interface SubjectView extends Subject {
  templates: TemplateSummary[];
}
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
export interface Candidate {
  subjectId: string;
  similarity: number;
  templateId: string;
  name?: string;
}
export type DecisionKind = 'match' | 'unknown' | 'ambiguous';
export interface Decision {
  kind: DecisionKind;
  subjectId?: string;
  subjectName?: string;
  similarity: number;
  threshold: number;
  confidence: number;
  candidates?: Candidate[];
}
export interface IdentifiedFace {
  box: Box;
  quality: Quality;
  enhanced: boolean;
  /** What was done to the aligned face before embedding. */
  restoration?: 'none' | 'smoothed' | 'deblurred';
  decision: Decision;
  candidates: Candidate[];
}
export interface IdentifyResult {
  width: number;
  height: number;
  faces: IdentifiedFace[];
  calibration: string;
}
export interface AuditEntry {
  id: string;
  at: string;
  operation: string;
  source: string;
  faceIndex: number;
  box: Box;
  quality: Quality;
  decision: Decision;
  calibration: string;
}
export interface Settings {
  calibration: {
    id: string;
    createdAt: string;
    modelId: string;
    dataset: { description: string; identities: number; matedProbes: number; nonMatedProbes: number };
    targetFpir: number;
    threshold: number;
    verifyThreshold: number;
    targetFar: number;
    ambiguityMargin: number;
    measured: { tpirAtThreshold: number; fpirAtThreshold: number };
    method: string;
  };
  minEnrolQuality: number;
  topK: number;
  variants: string[];
  model: { id: string; version: string };
}
export interface Health {
  status: string;
  index: { templates: number; subjects: number; kernel: string };
  model: { id: string; version: string };
  calibration: string;
}
/** Issue 11's review queue (built against its contract). */
export interface Review {
  id: string;
  status: 'pending' | 'confirmed' | 'rejected';
  createdAt: string;
  operation: string;
  source: string;
  faceIndex: number;
  box: Box;
  quality: Quality;
  decision: Decision;
  reviewer?: string;
  note?: string;
  reviewedAt?: string;
}
export interface UnknownPerson {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  sightingCount: number;
  sightings?: { id: string; at: string; source: string; quality: Quality }[];
}
