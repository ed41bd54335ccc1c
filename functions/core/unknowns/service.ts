/**
 * Unknown persons, online: every unknown face becomes a sighting (time, source, camera, crop, quality) attached
 * incrementally to an unknown person by {@link decideAttachment}; operators list, show, promote (enrol as a
 * subject), merge, split and delete them; sightings expire after the retention period and are erased.
 */
import { randomUUID } from 'node:crypto';
import type { FaceTemplate, Subject } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { SightingContext } from '../gallery/follow-up.ts';
import type { Page } from '../gallery/ports.ts';
import type { SubjectView } from '../gallery/service.ts';
import { makeVariant } from '../gallery/variants.ts';
import type { FaceAnalyser } from '../pipeline/analyser.ts';
import { decodeImage } from '../pipeline/image.ts';
import { type AnalyzeOptionsInput, resolveOptions } from '../pipeline/pipeline.ts';
import type { Box, FaceQuality } from '../types.ts';
import { type AttachParams, DEFAULT_ATTACH_PARAMS, decideAttachment } from './attach.ts';
import type { Sighting, UnknownPerson, UnknownSort, UnknownStore } from './ports.ts';

export interface UnknownsConfig {
  attach: AttachParams;
  /** Days a sighting (crop, embedding) is kept. */
  retentionDays: number;
  /** Faces below this quality are not kept as sightings: too poor to tell anyone apart. */
  minQuality: number;
  /** Best sightings enrolled when a person is promoted. */
  promoteFaces: number;
}

export const DEFAULT_UNKNOWNS_CONFIG: UnknownsConfig = {
  attach: DEFAULT_ATTACH_PARAMS,
  retentionDays: 30,
  minQuality: 0.3,
  promoteFaces: 3,
};

/** A person with its sightings, as `show` returns it (no embeddings). */
export interface UnknownView extends UnknownPerson {
  sightings: {
    id: string;
    at: string;
    source: string;
    camera?: string | undefined;
    faceIndex: number;
    box: Box;
    quality: FaceQuality;
  }[];
}

/** What enrolling a promoted person needs from the gallery. */
export interface PromotionGallery {
  createSubjectFromTemplates(subject: Subject, templates: FaceTemplate[]): Promise<SubjectView>;
  /** Takes back a subject this promotion made when another process promoted the same person first. */
  deleteSubject(id: string): Promise<unknown>;
  readonly config: { variants: FaceTemplate['variant'][]; analyze: AnalyzeOptionsInput };
}

export interface UnknownsDeps {
  store: UnknownStore;
  config?: Partial<UnknownsConfig> | undefined;
  now?: (() => Date) | undefined;
}

/** Parses a retention period in days (from configuration); fails closed on anything but a positive number. */
export function parseRetentionDays(
  text: string | undefined,
  fallback = DEFAULT_UNKNOWNS_CONFIG.retentionDays,
): number {
  if (text === undefined || text === '') return fallback;
  const days = Number(text);
  if (!Number.isFinite(days) || days <= 0) {
    throw new FaceprintError(
      'INVALID_ARGUMENT',
      `The retention period must be a positive number of days, not "${text}".`,
    );
  }
  return days;
}

export class UnknownsService {
  readonly store: UnknownStore;
  readonly config: UnknownsConfig;
  private readonly now: () => Date;
  /** Attachment reads every vector and then writes: one at a time, so two faces cannot both start a person. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(deps: UnknownsDeps) {
    this.store = deps.store;
    this.config = { ...DEFAULT_UNKNOWNS_CONFIG, ...deps.config };
    this.now = deps.now ?? (() => new Date());
  }

  private serialise<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work, work);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Records one unknown face (from an image or a video track's best face) and attaches it. Faces below the
   * quality floor are not kept. Returns the sighting and the person it joined or started, if any.
   */
  recordFace(
    face: {
      embedding: Float32Array;
      crop: Uint8Array;
      box: Box;
      quality: FaceQuality;
      faceIndex: number;
      auditId: string;
    },
    context: SightingContext,
  ): Promise<{ sightingId: string; unknownId: string | undefined } | undefined> {
    if (face.quality.score < this.config.minQuality) return Promise.resolve(undefined);
    return this.serialise(async () => {
      const vectors = await this.store.listSightingVectors();
      const attachment = decideAttachment(face.embedding, vectors, randomUUID(), this.config.attach);
      const expiresAt = new Date(
        Date.parse(context.at) + this.config.retentionDays * 86_400_000,
      ).toISOString();
      const sighting: Sighting = {
        id: randomUUID(),
        unknownId: attachment.kind === 'hold' ? undefined : attachment.unknownId,
        at: context.at,
        source: context.source,
        camera: context.camera,
        operation: context.operation,
        faceIndex: face.faceIndex,
        box: face.box,
        quality: face.quality,
        embedding: face.embedding,
        model: context.model,
        auditId: face.auditId,
        expiresAt,
      };
      await this.store.addSighting(sighting, face.crop, attachment);
      return { sightingId: sighting.id, unknownId: sighting.unknownId };
    });
  }

  /** Persons seen at least twice, most recent or most frequent first. */
  list(sort: UnknownSort, limit: number, cursor?: string): Promise<Page<UnknownPerson>> {
    return this.store.listUnknowns({ sort, limit, cursor });
  }

  private async requireActive(id: string): Promise<UnknownPerson> {
    const person = await this.store.getUnknown(id);
    if (!person)
      throw new FaceprintError('UNKNOWN_NOT_FOUND', `There is no unknown person "${id}".`, { unknownId: id });
    if (person.promotedTo !== undefined) {
      throw new FaceprintError(
        'UNKNOWN_PROMOTED',
        `Unknown person "${id}" was already promoted to subject "${person.promotedTo}".`,
        { unknownId: id, subjectId: person.promotedTo },
      );
    }
    return person;
  }

  /** A person with its sightings, newest first. */
  async show(id: string): Promise<UnknownView> {
    const person = await this.requireActive(id);
    const sightings = await this.store.listSightings(id);
    return {
      ...person,
      sightings: sightings.map((s) => ({
        id: s.id,
        at: s.at,
        source: s.source,
        ...(s.camera !== undefined ? { camera: s.camera } : {}),
        faceIndex: s.faceIndex,
        box: s.box,
        quality: s.quality,
      })),
    };
  }

  /** The JPEG crop of one of a person's sightings. */
  async crop(id: string, sightingId: string): Promise<Uint8Array> {
    await this.requireActive(id);
    const sighting = await this.store.getSighting(sightingId);
    const crop = sighting?.unknownId === id ? await this.store.getCrop(sightingId) : undefined;
    if (!crop) {
      throw new FaceprintError(
        'SIGHTING_NOT_FOUND',
        `Unknown person "${id}" has no sighting "${sightingId}".`,
        {
          sightingId,
        },
      );
    }
    return crop;
  }

  /** Merges person `id` into `into` (every sighting moves; `id` is gone). */
  merge(id: string, into: string): Promise<UnknownView> {
    if (id === into) {
      return Promise.reject(
        new FaceprintError('INVALID_ARGUMENT', 'An unknown person cannot be merged into itself.'),
      );
    }
    return this.serialise(async () => {
      await this.requireActive(id);
      await this.requireActive(into);
      await this.store.merge(id, into);
      return this.show(into);
    });
  }

  /** Splits the given sightings off into a new person (the rest stay). */
  split(id: string, sightingIds: string[]): Promise<UnknownView> {
    if (sightingIds.length === 0) {
      return Promise.reject(
        new FaceprintError('INVALID_ARGUMENT', 'Name at least one sighting to split off.'),
      );
    }
    return this.serialise(async () => {
      await this.requireActive(id);
      const newId = randomUUID();
      await this.store.split(id, [...new Set(sightingIds)], newId, this.now().toISOString());
      return this.show(newId);
    });
  }

  /** Deletes a person with every sighting, crop and embedding (dismiss). */
  delete(id: string): Promise<void> {
    return this.serialise(async () => {
      if (!(await this.store.deleteUnknown(id))) {
        throw new FaceprintError('UNKNOWN_NOT_FOUND', `There is no unknown person "${id}".`, {
          unknownId: id,
        });
      }
    });
  }

  /** Erases every sighting past its retention, and persons left without any. */
  purgeExpired(): Promise<{ sightings: number; unknowns: number }> {
    return this.serialise(() => this.store.purgeExpired(this.now().toISOString()));
  }

  /**
   * Promotes a person to a subject: its best sightings (by quality) are enrolled — each sighting's embedding as
   * the original template plus the gallery's degradation-matched variants made from its crop — and the person's
   * sightings are erased. A second promotion is refused with UNKNOWN_PROMOTED, a taken id with SUBJECT_EXISTS
   * (and nothing changes); a promotion that loses a race with another process's takes its subject back.
   * `pipeline` embeds the variants: the gallery's analyser (local mode's worker pool, off the event loop).
   */
  promote(
    id: string,
    input: { name: string; id?: string | undefined; metadata?: Record<string, string> | undefined },
    gallery: PromotionGallery,
    pipeline: Pick<FaceAnalyser, 'embedCrops'>,
  ): Promise<SubjectView> {
    return this.serialise(async () => {
      await this.requireActive(id);
      const sightings = (await this.store.listSightings(id))
        .sort((a, b) => b.quality.score - a.quality.score)
        .slice(0, this.config.promoteFaces);
      if (sightings.length === 0) {
        throw new FaceprintError('NO_FACE', `Unknown person "${id}" has no sighting left to enrol.`);
      }
      const createdAt = this.now().toISOString();
      const subject: Subject = {
        id: input.id ?? randomUUID(),
        name: input.name,
        metadata: input.metadata ?? {},
        createdAt,
      };
      const options = resolveOptions({ ...gallery.config.analyze, keepCrops: true });
      const variants = gallery.config.variants.filter((v) => v !== 'original');
      const templates: FaceTemplate[] = [];
      for (const s of sightings) {
        const base = {
          subjectId: subject.id,
          source: `unknown:${id}/${s.id}`,
          box: s.box,
          quality: s.quality,
          model: s.model,
          createdAt,
        };
        templates.push({ ...base, id: randomUUID(), embedding: s.embedding, variant: 'original' });
        const bytes = await this.store.getCrop(s.id);
        if (!bytes || variants.length === 0) continue;
        const crop = await decodeImage(bytes);
        const images = await Promise.all(variants.map((v) => makeVariant(crop, v as never, options)));
        const vectors = await pipeline.embedCrops(images, options.flip);
        variants.forEach((variant, i) => {
          templates.push({ ...base, id: randomUUID(), embedding: vectors[i] as Float32Array, variant });
        });
      }
      const view = await gallery.createSubjectFromTemplates(subject, templates);
      try {
        // Conditional in the store: of two processes promoting one person at once, one wins.
        await this.store.markPromoted(id, subject.id);
      } catch (error) {
        await gallery.deleteSubject(subject.id).catch(() => undefined);
        throw error;
      }
      return view;
    });
  }
}
