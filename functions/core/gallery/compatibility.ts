/**
 * Whether what the gallery holds fits the model pack it runs with: a calibration measured for another pack, or
 * subjects enrolled only with another pack, are refused (fail closed) rather than searched with meaningless
 * thresholds or never matched. `faceprint gallery reembed` (`reembed.ts`) is the way out of the second.
 */
import type { FaceTemplate } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { Calibration } from '../search/calibration.ts';

/** Subjects whose templates are all of other model packs than the gallery's. */
export interface ForeignTemplates {
  modelIds: string[];
  subjects: number;
}

/** The subjects that have templates, but none of `modelId` (undefined when every subject has some). */
export function foreignTemplates(templates: FaceTemplate[], modelId: string): ForeignTemplates | undefined {
  const ours = new Set<string>();
  const theirs = new Map<string, Set<string>>();
  for (const t of templates) {
    if (t.model.id === modelId) ours.add(t.subjectId);
    else {
      const ids = theirs.get(t.subjectId) ?? new Set<string>();
      ids.add(t.model.id);
      theirs.set(t.subjectId, ids);
    }
  }
  const modelIds = new Set<string>();
  let subjects = 0;
  for (const [subjectId, ids] of theirs) {
    if (ours.has(subjectId)) continue;
    subjects += 1;
    for (const id of ids) modelIds.add(id);
  }
  return subjects === 0 ? undefined : { modelIds: [...modelIds].sort(), subjects };
}

/**
 * Refuses to search while some subject's only templates are of another model pack (the gallery was enrolled
 * with another pack and `faceprint gallery reembed` has not finished): such a subject could never match.
 *
 * @param foreign what {@link foreignTemplates} found (nothing to refuse when undefined).
 * @param modelId the pack the gallery searches with.
 * @throws FaceprintError `INDEX_INCOMPATIBLE`.
 */
export function assertNoForeignTemplates(foreign: ForeignTemplates | undefined, modelId: string): void {
  if (!foreign) return;
  throw new FaceprintError(
    'INDEX_INCOMPATIBLE',
    `The gallery holds ${foreign.subjects} subject(s) enrolled only with model pack ${foreign.modelIds.join(', ')}, which pack ${modelId} cannot search; run \`faceprint gallery reembed\` with this pack (or select the pack they were enrolled with).`,
    { modelIds: foreign.modelIds, subjects: foreign.subjects, modelId },
  );
}

/**
 * A calibration is valid only for the embedding space it was measured in: thresholds of one pack mean nothing for
 * another. Fails closed.
 *
 * @throws FaceprintError `MODEL_MISMATCH`.
 */
export function assertCalibrationFits(calibration: Calibration, modelId: string): void {
  if (calibration.modelId === modelId) return;
  throw new FaceprintError(
    'MODEL_MISMATCH',
    `Calibration ${calibration.id} was measured for model pack ${calibration.modelId}, not ${modelId}; run \`faceprint calibrate --model-pack <dir> --out <dir>/calibration.json\` for this pack.`,
    { calibrationModelId: calibration.modelId, modelId },
  );
}
