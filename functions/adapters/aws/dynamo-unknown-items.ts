/**
 * The items of unknown persons and sightings in the follow-up table (layout in `follow-up-table.ts`), and the
 * summary a person's item keeps of its members: count, last sighting, best face, expiry.
 */
import { FaceprintError } from '../../core/errors.ts';
import type { Box, FaceQuality, ModelRef } from '../../core/types.ts';
import type { Sighting, UnknownPerson } from '../../core/unknowns/ports.ts';
import { bytesOfFloats, floatsOfBytes, type Item, ttlOf } from './follow-up-table.ts';

export const PERSON_SK = 'PERSON';
export const SIGHTING_SK = 'SIGHTING';
export const CROP_SK = 'CROP';
export const personPk = (id: string) => `UNKNOWN#${id}`;
export const sightingPk = (id: string) => `SIGHTING#${id}`;

/** What a person's item keeps of each of its sightings. */
export interface Member {
  id: string;
  at: string;
  q: number;
  exp: string;
}

export interface PersonRecord {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  members: Member[];
  promotedTo?: string | undefined;
  version: number;
}

export function memberOf(s: Pick<Sighting, 'id' | 'at' | 'quality' | 'expiresAt'>): Member {
  return { id: s.id, at: s.at, q: s.quality.score, exp: s.expiresAt };
}

export function best(members: readonly Member[]): Member | undefined {
  let top: Member | undefined;
  for (const m of members) {
    if (!top || m.q > top.q || (m.q === top.q && m.at > top.at)) top = m;
  }
  return top;
}

/** The latest of ISO-8601 times ('' for none). */
export function latest(times: readonly string[]): string {
  let top = '';
  for (const t of times) if (t > top) top = t;
  return top;
}

export function withMembers(person: PersonRecord, members: Member[]): PersonRecord {
  const lastSeenAt = latest(members.map((m) => m.at));
  return { ...person, members, lastSeenAt: lastSeenAt || person.lastSeenAt };
}

export function personItem(p: PersonRecord): Item {
  const count = p.members.length;
  const expiry = latest(p.members.map((m) => m.exp));
  return {
    pk: personPk(p.id),
    sk: PERSON_SK,
    id: p.id,
    createdAt: p.createdAt,
    lastSeenAt: p.lastSeenAt,
    sightingCount: count,
    members: p.members,
    bestSightingId: best(p.members)?.id,
    version: p.version + 1,
    ...(p.promotedTo !== undefined
      ? { promotedTo: p.promotedTo }
      : {
          gsi1pk: 'UNKNOWN',
          gsi1sk: `${p.lastSeenAt}#${p.id}`,
          gsi2pk: 'UNKNOWN',
          gsi2sk: `${String(count).padStart(10, '0')}#${p.id}`,
        }),
    // The TTL backstop: a person outlives its last sighting by nothing (a promoted one keeps its tombstone).
    ...(expiry && p.promotedTo === undefined ? { expiresAt: ttlOf(expiry) } : {}),
  };
}

export function personFrom(item: Item): PersonRecord {
  return {
    id: item.id as string,
    createdAt: item.createdAt as string,
    lastSeenAt: item.lastSeenAt as string,
    members: (item.members as Member[] | undefined) ?? [],
    promotedTo: item.promotedTo as string | undefined,
    version: Number(item.version ?? 0),
  };
}

export function toUnknown(p: PersonRecord): UnknownPerson {
  return {
    id: p.id,
    createdAt: p.createdAt,
    lastSeenAt: p.lastSeenAt,
    sightingCount: p.members.length,
    bestSightingId: best(p.members)?.id,
    ...(p.promotedTo !== undefined ? { promotedTo: p.promotedTo } : {}),
  };
}

export function sightingItem(s: Sighting): Item {
  return {
    pk: sightingPk(s.id),
    sk: SIGHTING_SK,
    id: s.id,
    unknownId: s.unknownId,
    at: s.at,
    source: s.source,
    camera: s.camera,
    operation: s.operation,
    faceIndex: s.faceIndex,
    box: s.box,
    quality: s.quality,
    embedding: bytesOfFloats(s.embedding),
    model: s.model,
    auditId: s.auditId,
    expiresAtIso: s.expiresAt,
    expiresAt: ttlOf(s.expiresAt),
    gsi2pk: 'SIGHTING',
    gsi2sk: `${s.expiresAt}#${s.id}`,
  };
}

export function sightingFrom(item: Item): Sighting {
  return {
    id: item.id as string,
    unknownId: item.unknownId as string | undefined,
    at: item.at as string,
    source: item.source as string,
    camera: item.camera as string | undefined,
    operation: item.operation as string,
    faceIndex: Number(item.faceIndex),
    box: item.box as Box,
    quality: item.quality as FaceQuality,
    embedding: floatsOfBytes(item.embedding),
    model: item.model as ModelRef,
    auditId: item.auditId as string,
    expiresAt: item.expiresAtIso as string,
  };
}

export function notFound(id: string): FaceprintError {
  return new FaceprintError('UNKNOWN_NOT_FOUND', `There is no unknown person "${id}".`, { unknownId: id });
}

export function promoted(p: PersonRecord): FaceprintError {
  return new FaceprintError(
    'UNKNOWN_PROMOTED',
    `Unknown person "${p.id}" was already promoted to subject "${p.promotedTo}".`,
    { unknownId: p.id, subjectId: p.promotedTo },
  );
}
