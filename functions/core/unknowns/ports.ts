/**
 * The store of unknown persons and their sightings (faces that matched nobody), implemented by the local SQLite
 * database and by DynamoDB. Every method is atomic: a failure leaves nothing half-written.
 */
import type { Page } from '../gallery/ports.ts';
import type { Box, FaceQuality, ModelRef } from '../types.ts';

/** One face that came back unknown, kept until it expires. */
export interface Sighting {
  id: string;
  /** The unknown person it is attached to; undefined while it is held back (not enough agreeing evidence). */
  unknownId: string | undefined;
  /** ISO-8601 time of the identification. */
  at: string;
  /** Request id, object key or file name of the photo. */
  source: string;
  /** Camera or feed name when the caller knows it. */
  camera?: string | undefined;
  operation: string;
  faceIndex: number;
  box: Box;
  quality: FaceQuality;
  embedding: Float32Array;
  model: ModelRef;
  /** The audit entry of the decision that made this face unknown. */
  auditId: string;
  /** ISO-8601 time after which the sighting, its crop and its embedding are erased. */
  expiresAt: string;
}

/** A sighting's embedding and links, for attachment (no crop, no quality details). */
export interface SightingVector {
  id: string;
  unknownId: string | undefined;
  embedding: Float32Array;
}

/** Someone seen at least twice who matches no subject. */
export interface UnknownPerson {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  sightingCount: number;
  /** The sighting with the best face quality (its crop is the person's picture). */
  bestSightingId: string | undefined;
  /** Set once the person was promoted to this subject (its sightings are then erased). */
  promotedTo?: string | undefined;
}

export type UnknownSort = 'recent' | 'frequent';

/** How a new sighting is stored: held back, starting a person (with held-back faces that agree), or joining one. */
export type Attachment =
  | { kind: 'hold' }
  | { kind: 'new'; unknownId: string; with: string[] }
  | { kind: 'join'; unknownId: string };

export interface UnknownStore {
  /** Every live sighting's vector (attached and held back). */
  listSightingVectors(): Promise<SightingVector[]>;
  /**
   * Stores a sighting with its JPEG crop and applies the attachment: `new` creates the person and moves the held
   * sightings `with` into it; `join` adds to an existing person (throws UNKNOWN_NOT_FOUND when it is gone).
   */
  addSighting(sighting: Sighting, crop: Uint8Array, attachment: Attachment): Promise<void>;
  getUnknown(id: string): Promise<UnknownPerson | undefined>;
  listUnknowns(options: {
    sort: UnknownSort;
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<UnknownPerson>>;
  /** A person's sightings, newest first. */
  listSightings(unknownId: string): Promise<Sighting[]>;
  getSighting(id: string): Promise<Sighting | undefined>;
  getCrop(sightingId: string): Promise<Uint8Array | undefined>;
  /** Moves every sighting of `fromId` into `intoId` and deletes `fromId`. */
  merge(fromId: string, intoId: string): Promise<void>;
  /** Moves the given sightings of a person into a new person `newId` (split). */
  split(unknownId: string, sightingIds: string[], newId: string, at: string): Promise<void>;
  /** Marks a person promoted to `subjectId` and erases its sightings. UNKNOWN_NOT_FOUND, UNKNOWN_PROMOTED. */
  markPromoted(id: string, subjectId: string): Promise<void>;
  /** Deletes a person with every sighting, crop and embedding. Returns false when there was none. */
  deleteUnknown(id: string): Promise<boolean>;
  /** Erases sightings (crops, embeddings) that expired before `at`, and persons left without sightings. */
  purgeExpired(at: string): Promise<{ sightings: number; unknowns: number }>;
}
