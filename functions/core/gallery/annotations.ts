import type { Annotation } from '../pipeline/annotate.ts';
import type { IdentifiedFace } from './types.ts';

/**
 * Boxes and labels for identified faces: name and similarity for a match, else "unknown" or "ambiguous". Used
 * wherever an identify answer is drawn (the uploads folder's annotated copies, `faceprint identify --annotate`).
 */
export function identifyAnnotations(faces: readonly IdentifiedFace[]): Annotation[] {
  return faces.map((face) => {
    const { decision } = face;
    const label =
      decision.kind === 'match'
        ? `${decision.subjectName ?? decision.subjectId ?? '?'} ${decision.similarity.toFixed(2)}`
        : decision.kind;
    return { box: face.box, landmarks: face.landmarks, label, kind: decision.kind };
  });
}
