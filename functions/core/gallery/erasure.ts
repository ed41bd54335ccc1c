/**
 * Erasure of a subject beyond its own records: what a deleted person leaves in the decision audit log and in
 * the results of identified uploads, and the rule for taking it out. The policy (documented in the README,
 * Reliability): a decision stays (its kind, similarity, threshold, quality and when it was made: the audit
 * trail of what the system did), but nothing that points to the person's face stays with it:
 *
 * - a face decided as the subject (`match`, or `ambiguous` with the subject on top): the subject id and name,
 *   the probe's source (its file name or request id), the face's box and landmarks become {@link ERASED};
 * - a face where the subject was only a candidate: that candidate's id, name and template id become
 *   {@link ERASED}; the rest of the decision is about someone else and stays.
 *
 * @module
 */
import type { Candidate, Decision, DecisionAuditEntry } from '../domain.ts';

/** What replaces an erased value. */
export const ERASED = '[erased]';

/** What one erasure removed, as `faceprint subjects delete` prints it. */
export interface ErasureReport {
  subjectId: string;
  /** Templates (embeddings) deleted with the subject. */
  templates: number;
  /** Audit rows rewritten without the subject's face (decision kept). */
  auditRowsRedacted: number;
  /** Files removed (the original, annotated copy and JSON of uploads decided as the subject), relative paths. */
  filesRemoved: string[];
  /** Result files rewritten without the subject (it was only a candidate there). */
  filesRedacted: string[];
  /** Ingest-ledger rows removed with the uploads they fingerprinted. */
  ledgerRows: number;
  /** Whether the storage was compacted so that freed pages hold no copy (SQLite: WAL checkpoint completed). */
  storageCompacted: boolean;
  /** Object versions (and delete markers) deleted from a versioned bucket (AWS). */
  objectVersionsDeleted?: number | undefined;
  /** Superseded index-snapshot versions deleted (AWS): they were published with the subject in them. */
  snapshotVersionsDeleted?: number | undefined;
}

/** Removes what a deleted subject leaves outside the face store (audit rows, results); see the module comment. */
export interface SubjectEraser {
  eraseTraces(subjectId: string): Promise<Omit<ErasureReport, 'subjectId' | 'templates'>>;
}

const NO_BOX = { x: 0, y: 0, width: 0, height: 0 };

/** Whether a decision was about the subject itself (its face), rather than the subject being a mere candidate. */
export function decidedAs(decision: Pick<Decision, 'kind' | 'subjectId'>, subjectId: string): boolean {
  return decision.kind !== 'unknown' && decision.subjectId === subjectId;
}

function redactCandidates<C extends Candidate & { name?: string | undefined }>(
  candidates: readonly C[],
  subjectId: string,
): { candidates: C[]; changed: boolean } {
  let changed = false;
  const out = candidates.map((c) => {
    if (c.subjectId !== subjectId) return c;
    changed = true;
    return { ...c, subjectId: ERASED, templateId: ERASED, ...(c.name !== undefined ? { name: ERASED } : {}) };
  });
  return { candidates: out, changed };
}

/**
 * One audit entry without the subject (see the module comment); `undefined` when the entry does not mention it.
 */
export function redactAuditEntry(
  entry: DecisionAuditEntry,
  subjectId: string,
): DecisionAuditEntry | undefined {
  const own = decidedAs(entry.decision, subjectId);
  const { candidates, changed } = redactCandidates(entry.decision.candidates, subjectId);
  if (!own && !changed) return undefined;
  return {
    ...entry,
    ...(own ? { source: ERASED, box: NO_BOX } : {}),
    decision: {
      ...entry.decision,
      // The service also writes the display name beside the id.
      ...(own
        ? { subjectId: ERASED, ...('subjectName' in entry.decision ? { subjectName: ERASED } : {}) }
        : {}),
      candidates,
    },
  };
}

/** A face of an identify result (or ingest event) as it is stored in `results/`. */
export interface StoredFace {
  box: unknown;
  landmarks?: unknown;
  decision: Pick<Decision, 'kind' | 'subjectId'> & {
    subjectName?: string | undefined;
    candidates?: (Candidate & { name?: string | undefined })[] | undefined;
  };
  candidates: (Candidate & { name?: string | undefined })[];
}

/**
 * The faces of one stored result without the subject: `own` when a face was decided as the subject (the whole
 * upload is then removed, not rewritten), `changed` when only candidates were rewritten.
 */
export function redactFaces<F extends StoredFace>(
  faces: readonly F[],
  subjectId: string,
): { faces: F[]; own: boolean; changed: boolean } {
  let own = false;
  let changed = false;
  const out = faces.map((face) => {
    if (decidedAs(face.decision, subjectId)) own = true;
    const redacted = redactCandidates(face.candidates, subjectId);
    // The decision carries its own copy of the candidates.
    const inDecision = redactCandidates(face.decision.candidates ?? [], subjectId);
    if (!redacted.changed && !inDecision.changed) return face;
    changed = true;
    return {
      ...face,
      candidates: redacted.candidates,
      decision: { ...face.decision, candidates: inDecision.candidates },
    };
  });
  return { faces: out, own, changed };
}

/** A video track as it is stored (a result JSON's `tracks[]`, a DynamoDB track item): its decision and evidence. */
export interface StoredTrack {
  decision?:
    | (Pick<Decision, 'kind' | 'subjectId'> & {
        subjectName?: string | undefined;
        candidates?: (Omit<Candidate, 'templateId'> & { templateId?: string | undefined })[] | undefined;
      })
    | undefined;
  evidence?: { box: unknown }[] | undefined;
}

/**
 * The tracks of one video without the subject. Videos are kept (the recording shows everyone who passed; the
 * subject is one track among others): a track decided as the subject keeps its decision (kind, similarity,
 * threshold, faces used, times, qualities) but its subject id and name become {@link ERASED} and its evidence
 * boxes empty, as an audit row's do; a track where the subject was only a candidate has that candidate erased.
 * `own` lists the ids (by position when a track has none) of the tracks decided as the subject, whose best-face
 * thumbnails, showing only that person, the caller deletes.
 */
export function redactTracks<T extends StoredTrack>(
  tracks: readonly T[],
  subjectId: string,
): { tracks: T[]; own: number[]; changed: boolean } {
  const own: number[] = [];
  let changed = false;
  const out = tracks.map((track, index) => {
    const decision = track.decision;
    if (!decision) return track;
    const mine = decidedAs(decision, subjectId);
    const candidates = decision.candidates ?? [];
    const hit = candidates.some((c) => c.subjectId === subjectId);
    if (!mine && !hit) return track;
    changed = true;
    if (mine) own.push(trackIdOf(track, index));
    return {
      ...track,
      decision: {
        ...decision,
        ...(mine ? { subjectId: ERASED } : {}),
        ...(mine && decision.subjectName !== undefined ? { subjectName: ERASED } : {}),
        candidates: candidates.map((c) =>
          c.subjectId === subjectId
            ? { ...c, subjectId: ERASED, ...(c.templateId !== undefined ? { templateId: ERASED } : {}) }
            : c,
        ),
      },
      ...(mine && track.evidence ? { evidence: track.evidence.map((f) => ({ ...f, box: NO_BOX })) } : {}),
    };
  });
  return { tracks: out, own, changed };
}

/** A stored track's id: `id` in a result JSON, `trackId` in a DynamoDB item. */
function trackIdOf(track: object, index: number): number {
  const t = track as { id?: unknown; trackId?: unknown };
  if (typeof t.id === 'number') return t.id;
  if (typeof t.trackId === 'number') return t.trackId;
  return index;
}
