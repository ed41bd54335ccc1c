/**
 * Incremental attachment of an unknown face to an unknown person, without chaining look-alikes.
 *
 * The rule is incremental DBSCAN with `minAgree` (default 2) neighbours, as photo managers do it: a face is
 * never attached on the strength of one resemblance to a person seen several times.
 * - It **joins** a person when at least `min(minAgree, size)` of that person's sightings are within `similarity`
 *   (so a look-alike close to one photo of a person seen five times is not enough).
 * - It **starts** a new person with the held-back faces it is close to, when no person is close at all and at
 *   least `minAgree − 1` held-back faces agree.
 * - Otherwise it is **held back** (kept, expiring like any sighting): no neighbour yet, evidence split between
 *   two persons (they are never merged automatically), or too few agreeing sightings of a person.
 */
import type { Attachment, SightingVector } from './ports.ts';

export interface AttachParams {
  /** Cosine similarity at which two sightings count as the same person. */
  similarity: number;
  /** Agreeing neighbours needed to join or start a person. */
  minAgree: number;
  /** Two persons that both qualify within this score of each other: held back (ambiguous). */
  margin: number;
}

export const DEFAULT_ATTACH_PARAMS: AttachParams = { similarity: 0.55, minAgree: 2, margin: 0.05 };

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** What to do with a new unknown face, given every live sighting. `newId` names a person it would start. */
export function decideAttachment(
  embedding: Float32Array,
  sightings: readonly SightingVector[],
  newId: string,
  params: AttachParams = DEFAULT_ATTACH_PARAMS,
): Attachment & { score?: number } {
  const byPerson = new Map<string, number[]>();
  const heldClose: string[] = [];
  for (const s of sightings) {
    const sim = dot(embedding, s.embedding);
    if (s.unknownId === undefined) {
      if (sim >= params.similarity) heldClose.push(s.id);
      continue;
    }
    const list = byPerson.get(s.unknownId) ?? [];
    list.push(sim);
    byPerson.set(s.unknownId, list);
  }
  const qualified: { unknownId: string; score: number }[] = [];
  let nearSomeone = false;
  for (const [unknownId, sims] of byPerson) {
    const close = sims.filter((s) => s >= params.similarity).sort((a, b) => b - a);
    if (close.length === 0) continue;
    nearSomeone = true;
    const needed = Math.min(params.minAgree, sims.length);
    if (close.length >= needed) {
      const top = close.slice(0, needed);
      qualified.push({ unknownId, score: top.reduce((a, b) => a + b, 0) / top.length });
    }
  }
  qualified.sort((a, b) => b.score - a.score);
  const [best, second] = qualified;
  if (best) {
    if (second && best.score - second.score <= params.margin) return { kind: 'hold' };
    return { kind: 'join', unknownId: best.unknownId, score: best.score };
  }
  if (!nearSomeone && heldClose.length >= params.minAgree - 1 && heldClose.length > 0) {
    return { kind: 'new', unknownId: newId, with: heldClose };
  }
  if (!nearSomeone && params.minAgree <= 1) return { kind: 'new', unknownId: newId, with: [] };
  return { kind: 'hold' };
}
