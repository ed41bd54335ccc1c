/**
 * The gallery's decisions: open-set identification of every face of a probe (search, quality-aware decision,
 * two-view agreement, the follow-up's veto, camera templates) and 1:1 verification, each written to the audit
 * log. Functions over the parts `GalleryService` lends them (`service.ts`), which owns the index and the store.
 */
import { randomUUID } from 'node:crypto';
import { type CameraGallery, mergeCandidates } from '../camera/service.ts';
import {
  type Candidate,
  type Decision,
  type DecisionAuditEntry,
  type Subject,
  stableAuditId,
} from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { FaceAnalyser } from '../pipeline/analyser.ts';
import {
  type AnalyzeOptionsInput,
  compare,
  type FaceWithCrops,
  largestFace,
  resolveOptions,
} from '../pipeline/pipeline.ts';
import { type DecisionPolicy, verifyDecision } from '../search/decision.ts';
import { DEFAULT_QUALITY_GATE, decideWithQuality } from '../search/quality-gate.ts';
import type { Box, FaceQuality } from '../types.ts';
import type { IdentifyFollowUp } from './follow-up.ts';
import type { FaceStore } from './ports.ts';
import type {
  GalleryConfig,
  IdentifiedFace,
  IdentifyRequest,
  IdentifyResult,
  VerifyResult,
  ViewAgreement,
} from './types.ts';
import { makeVariant } from './variants.ts';

/** What identify and verify work with: the service's parts, lent for each call. */
export interface DecisionParts {
  pipeline: FaceAnalyser;
  store: Pick<FaceStore, 'appendAudit' | 'listTemplates' | 'subjectNames'>;
  config: GalleryConfig;
  now: () => Date;
  /** The model pack whose templates are compared (the pipeline's). */
  modelId: string;
  /** Top-k subjects for an embedding, from whichever index the gallery searches. */
  search: (embedding: Float32Array, k: number) => Promise<Candidate[]>;
  /** The subject with this id, or `SUBJECT_NOT_FOUND`. */
  requireSubject: (id: string) => Promise<Subject>;
  cameras?: CameraGallery | undefined;
  followUp?: IdentifyFollowUp | undefined;
}

/** The camera an identify call named, and what searching its templates found. */
interface CameraSearch {
  id: string;
  /** How many of the camera's templates were searched (0 when they were not). */
  templates: number;
  /** The ids of the camera templates among the candidates. */
  templateIds: Set<string>;
}

/**
 * Identifies every face in a probe image: top-k candidate subjects and an open-set decision per face, each kept
 * in the audit log with its similarity, threshold and quality, then handed to the follow-up. The caller checks
 * first that the gallery is searchable.
 *
 * @throws FaceprintError `CAMERA_NOT_FOUND` for a camera the deployment does not know (before any work), and
 *   whatever the analysis throws for the image.
 */
export async function identifyProbe(
  parts: DecisionParts,
  bytes: Uint8Array,
  request: IdentifyRequest,
): Promise<IdentifyResult> {
  const { config, followUp, pipeline } = parts;
  // A camera the deployment does not know is refused before any work (CAMERA_NOT_FOUND).
  const camera = request.camera && parts.cameras ? await parts.cameras.require(request.camera) : undefined;
  const agreementOn = config.agreement === 'mirror';
  const result = await pipeline.analyze(bytes, {
    ...config.analyze,
    keepCrops: agreementOn || followUp?.wantsCrops === true,
    signal: request.signal,
  });
  const { calibration } = config;
  const policy = { threshold: calibration.threshold, ambiguityMargin: calibration.ambiguityMargin };
  const mirrored = agreementOn ? await mirroredEmbeddings(pipeline, result.faces, config.analyze) : [];
  const k = request.topK ?? config.topK;
  const searched = await searchFaces(parts, result.faces, k, camera?.id);
  // Every candidate's name in one round trip (one BatchGetItem in DynamoDB), not one look-up per candidate.
  const names = await parts.store.subjectNames(searched.candidates.flat().map((c) => c.subjectId));
  const nameOf = (id: string) => names.get(id);
  const faces: IdentifiedFace[] = [];
  for (const [i, face] of result.faces.entries()) {
    const candidates = searched.candidates[i] ?? [];
    const { decision, agreement } = await decideFace(
      parts,
      face,
      candidates,
      policy,
      mirrored[i],
      searched.camera,
    );
    faces.push({
      agreement,
      box: face.box,
      landmarks: face.landmarks,
      quality: face.quality,
      enhanced: face.enhanced,
      restoration: face.restoration,
      decision: {
        ...decision,
        subjectName: decision.subjectId ? nameOf(decision.subjectId) : undefined,
      },
      candidates: candidates.map((c) => ({ ...c, name: nameOf(c.subjectId) })),
    });
  }
  const at = parts.now().toISOString();
  const auditIds = faces.map((_, faceIndex) =>
    request.auditKey === undefined ? randomUUID() : stableAuditId(request.auditKey, faceIndex),
  );
  await parts.store.appendAudit(
    faces.map(
      (face, faceIndex): DecisionAuditEntry => ({
        id: auditIds[faceIndex] as string,
        at,
        operation: request.operation ?? 'identify',
        source: request.source,
        faceIndex,
        box: face.box,
        quality: face.quality,
        decision: face.decision,
        model: pipeline.model,
        calibration: calibration.id,
        qualityBand: face.decision.qualityBand,
        restoration: face.restoration,
        ...(request.camera ? { camera: request.camera } : {}),
      }),
    ),
  );
  if (followUp && faces.length > 0) {
    const refs = await followUp.record(
      faces.map((face, faceIndex) => ({
        auditId: auditIds[faceIndex] as string,
        faceIndex,
        box: face.box,
        quality: face.quality,
        embedding: result.faces[faceIndex]?.embedding as Float32Array,
        crop: result.faces[faceIndex]?.crops?.aligned,
        decision: face.decision,
      })),
      {
        at,
        source: request.source,
        operation: request.operation ?? 'identify',
        camera: request.camera,
        model: pipeline.model,
      },
    );
    refs.forEach((ref, i) => {
      if (faces[i] && (ref.unknownId || ref.sightingId || ref.reviewId)) faces[i].followUp = ref;
    });
  }
  return {
    width: result.width,
    height: result.height,
    faces,
    calibration: calibration.id,
    ...(request.camera ? { camera: request.camera } : {}),
    model: pipeline.model,
  };
}

/** The embeddings of the faces' mirror images, the second view that {@link GalleryConfig.agreement} checks. */
async function mirroredEmbeddings(
  pipeline: FaceAnalyser,
  faces: readonly FaceWithCrops[],
  analyze: AnalyzeOptionsInput,
): Promise<Float32Array[]> {
  return pipeline.embedCrops(
    await Promise.all(faces.map((f) => makeVariant(f.crops!.embedded, 'mirror', resolveOptions(analyze)))),
  );
}

/**
 * Each face's top-k candidates: the gallery's own, merged with the named camera's templates when those are
 * searched ({@link GalleryConfig.searchCameraTemplates}).
 */
async function searchFaces(
  parts: DecisionParts,
  faces: readonly FaceWithCrops[],
  k: number,
  cameraId: string | undefined,
): Promise<{ candidates: Candidate[][]; camera: CameraSearch | undefined }> {
  const { cameras, config } = parts;
  const templateIds = new Set<string>();
  let templates = 0;
  const candidates = await Promise.all(
    faces.map(async (face) => {
      const own = await parts.search(face.embedding, k);
      if (!cameraId || !cameras || !config.searchCameraTemplates) return own;
      const matched = await cameras.search(cameraId, face.embedding, k, config.fusion);
      templates = matched.templates;
      for (const c of matched.candidates) templateIds.add(c.templateId);
      return mergeCandidates(own, matched.candidates, k);
    }),
  );
  return { candidates, camera: cameraId ? { id: cameraId, templates, templateIds } : undefined };
}

/**
 * One face's decision as it is logged: quality-aware, taken down to `ambiguous` when the mirrored view disagrees,
 * adjusted by the follow-up (a reviewer's rejection), and annotated with the camera templates behind it.
 */
async function decideFace(
  parts: DecisionParts,
  face: FaceWithCrops,
  candidates: Candidate[],
  policy: DecisionPolicy,
  mirrored: Float32Array | undefined,
  camera: CameraSearch | undefined,
): Promise<{ decision: Decision; agreement: ViewAgreement | undefined }> {
  const { config } = parts;
  let decision = decideWithQuality(
    candidates,
    policy,
    face.quality,
    config.qualityGate ?? config.calibration.qualityGate ?? DEFAULT_QUALITY_GATE,
  );
  let agreement: ViewAgreement | undefined;
  if (mirrored) {
    const [best] = await parts.search(mirrored, 1);
    const agreed =
      best !== undefined && best.subjectId === decision.subjectId && best.similarity >= policy.threshold;
    agreement = { view: 'mirror', subjectId: best?.subjectId, similarity: best?.similarity ?? 0, agreed };
    if (decision.kind === 'match' && !agreed) decision = { ...decision, kind: 'ambiguous' };
  }
  if (parts.followUp) decision = await parts.followUp.adjust(face.embedding, decision, candidates, policy);
  if (camera) {
    const best = candidates.find((c) => c.subjectId === decision.subjectId) ?? candidates[0];
    decision = {
      ...decision,
      camera: {
        id: camera.id,
        searched: config.searchCameraTemplates === true,
        templates: camera.templates,
        bestIsCameraTemplate: best !== undefined && camera.templateIds.has(best.templateId),
      },
    };
  }
  return { decision, agreement };
}

/**
 * 1:1 verification of the largest face of a probe against a second image or an enrolled subject (its best
 * template of this model pack), written to the audit log.
 *
 * @throws FaceprintError `NO_FACE` for a probe or second image without a face, or a subject without a template
 *   of this pack; `SUBJECT_NOT_FOUND` for an unknown subject.
 */
export async function verifyProbe(
  parts: DecisionParts,
  probe: Uint8Array,
  against: { image: Uint8Array } | { subjectId: string },
  source: string,
): Promise<VerifyResult> {
  const { config, pipeline } = parts;
  const probeFace = largestFace(await pipeline.analyze(probe, config.analyze), 'the probe image');
  let similarity: number;
  let other: { box: Box; quality: FaceQuality } | undefined;
  let subjectId: string | undefined;
  if ('image' in against) {
    const face = largestFace(await pipeline.analyze(against.image, config.analyze), 'the second image');
    similarity = compare(probeFace.embedding, face.embedding);
    other = { box: face.box, quality: face.quality };
  } else {
    const subject = await parts.requireSubject(against.subjectId);
    subjectId = subject.id;
    const templates = (await parts.store.listTemplates(subject.id)).filter(
      (t) => t.model.id === parts.modelId,
    );
    if (templates.length === 0) {
      throw new FaceprintError('NO_FACE', `Subject "${subject.id}" has no enrolled face to verify against.`);
    }
    similarity = Math.max(...templates.map((t) => compare(probeFace.embedding, t.embedding)));
  }
  const threshold = config.calibration.verifyThreshold;
  const decision = verifyDecision(similarity, threshold);
  await parts.store.appendAudit([
    {
      id: randomUUID(),
      at: parts.now().toISOString(),
      operation: 'verify',
      source,
      faceIndex: 0,
      box: probeFace.box,
      quality: probeFace.quality,
      decision: {
        kind: decision.match ? 'match' : 'unknown',
        subjectId,
        similarity: decision.similarity,
        threshold,
        margin: 0,
        confidence: decision.confidence,
        candidates: [],
      },
      model: pipeline.model,
      calibration: config.calibration.id,
    },
  ]);
  return {
    ...decision,
    subjectId,
    faces: [{ box: probeFace.box, quality: probeFace.quality }, ...(other ? [other] : [])],
  };
}
