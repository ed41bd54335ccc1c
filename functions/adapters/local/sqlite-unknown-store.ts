/**
 * {@link UnknownStore} on the local SQLite database. Its tables are created here with `IF NOT EXISTS` (not as a
 * numbered migration of the face store), so they arrive in an existing data directory without a schema bump.
 * Crops and embeddings live in the sighting rows: erasing a row erases the face.
 */
import { FaceprintError } from '../../core/errors.ts';
import type { Page } from '../../core/gallery/ports.ts';
import type { Box, FaceQuality } from '../../core/types.ts';
import type {
  Attachment,
  Sighting,
  SightingVector,
  UnknownPerson,
  UnknownSort,
  UnknownStore,
} from '../../core/unknowns/ports.ts';
import { adoptSqliteDatabase, type SqliteDatabase } from './sqlite-face-store.ts';
import { blobOf, decodePageCursor, encodePageCursor, floatsOf } from './sqlite-rows.ts';

interface UnknownRow {
  id: string;
  created_at: string;
  last_seen_at: string;
  sighting_count: number;
  promoted_to: string | null;
  best: string | null;
}

interface SightingRow {
  id: string;
  unknown_id: string | null;
  at: string;
  source: string;
  camera: string | null;
  operation: string;
  face_index: number;
  box: string;
  quality: string;
  embedding: Buffer;
  model_id: string;
  model_version: string;
  audit_id: string;
  expires_at: string;
}

const SIGHTING_COLUMNS =
  'id, unknown_id, at, source, camera, operation, face_index, box, quality, embedding, model_id, model_version, audit_id, expires_at';
const BEST = `(SELECT s.id FROM sightings s WHERE s.unknown_id = u.id ORDER BY s.quality_score DESC, s.at DESC LIMIT 1) AS best`;

export class SqliteUnknownStore implements UnknownStore {
  readonly db: SqliteDatabase;
  readonly #owned: boolean;

  constructor(database: string | SqliteDatabase) {
    const { db, owned } = adoptSqliteDatabase(database);
    this.db = db;
    this.#owned = owned;
  }

  close(): void {
    if (this.#owned && this.db.open) this.db.close();
  }

  async listSightingVectors(): Promise<SightingVector[]> {
    const rows = this.db
      .prepare<[], { id: string; unknown_id: string | null; embedding: Buffer }>(
        `SELECT s.id, s.unknown_id, s.embedding FROM sightings s
         LEFT JOIN unknowns u ON u.id = s.unknown_id WHERE u.promoted_to IS NULL`,
      )
      .all();
    return rows.map((r) => ({
      id: r.id,
      unknownId: r.unknown_id ?? undefined,
      embedding: floatsOf(r.embedding),
    }));
  }

  async addSighting(sighting: Sighting, crop: Uint8Array, attachment: Attachment): Promise<void> {
    this.#tx(() => {
      let unknownId: string | null = null;
      if (attachment.kind === 'new') {
        this.db
          .prepare('INSERT INTO unknowns (id, created_at, last_seen_at, sighting_count) VALUES (?, ?, ?, 0)')
          .run(attachment.unknownId, sighting.at, sighting.at);
        const move = this.db.prepare(
          'UPDATE sightings SET unknown_id = ? WHERE id = ? AND unknown_id IS NULL',
        );
        for (const id of attachment.with) move.run(attachment.unknownId, id);
        unknownId = attachment.unknownId;
      } else if (attachment.kind === 'join') {
        this.#requireActive(attachment.unknownId);
        unknownId = attachment.unknownId;
      }
      this.db
        .prepare(
          `INSERT INTO sightings (${SIGHTING_COLUMNS}, quality_score, crop) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          sighting.id,
          unknownId,
          sighting.at,
          sighting.source,
          sighting.camera ?? null,
          sighting.operation,
          sighting.faceIndex,
          JSON.stringify(sighting.box),
          JSON.stringify(sighting.quality),
          blobOf(sighting.embedding),
          sighting.model.id,
          sighting.model.version,
          sighting.auditId,
          sighting.expiresAt,
          sighting.quality.score,
          Buffer.from(crop),
        );
      if (unknownId) this.#recount(unknownId);
    });
  }

  async getUnknown(id: string): Promise<UnknownPerson | undefined> {
    const row = this.db
      .prepare<[string], UnknownRow>(`SELECT u.*, ${BEST} FROM unknowns u WHERE u.id = ?`)
      .get(id);
    return row ? toUnknown(row) : undefined;
  }

  async listUnknowns(options: {
    sort: UnknownSort;
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<UnknownPerson>> {
    const key = options.sort === 'frequent' ? 'sighting_count' : 'last_seen_at';
    const kind = options.sort === 'frequent' ? 'uf' : 'ur';
    const after = options.cursor === undefined ? undefined : decodePageCursor(options.cursor, kind);
    const where = after ? `AND (u.${key}, u.id) < (?, ?)` : '';
    const rows = this.db
      .prepare<unknown[], UnknownRow>(
        `SELECT u.*, ${BEST} FROM unknowns u WHERE u.promoted_to IS NULL ${where}
         ORDER BY u.${key} DESC, u.id DESC LIMIT ?`,
      )
      .all(...(after ? [after[0], after[1]] : []), options.limit + 1);
    const items = rows.slice(0, options.limit).map(toUnknown);
    const last = rows[options.limit - 1];
    return {
      items,
      nextCursor:
        rows.length > options.limit && last
          ? encodePageCursor(
              kind,
              options.sort === 'frequent' ? last.sighting_count : last.last_seen_at,
              last.id,
            )
          : undefined,
    };
  }

  async listSightings(unknownId: string): Promise<Sighting[]> {
    return this.db
      .prepare<[string], SightingRow>(
        `SELECT ${SIGHTING_COLUMNS} FROM sightings WHERE unknown_id = ? ORDER BY at DESC, id`,
      )
      .all(unknownId)
      .map(toSighting);
  }

  async getSighting(id: string): Promise<Sighting | undefined> {
    const row = this.db
      .prepare<[string], SightingRow>(`SELECT ${SIGHTING_COLUMNS} FROM sightings WHERE id = ?`)
      .get(id);
    return row ? toSighting(row) : undefined;
  }

  async getCrop(sightingId: string): Promise<Uint8Array | undefined> {
    const crop = this.db
      .prepare<[string], Buffer>('SELECT crop FROM sightings WHERE id = ?')
      .pluck()
      .get(sightingId);
    return crop ? new Uint8Array(crop) : undefined;
  }

  async merge(fromId: string, intoId: string): Promise<void> {
    this.#tx(() => {
      this.#requireActive(fromId);
      this.#requireActive(intoId);
      this.db.prepare('UPDATE sightings SET unknown_id = ? WHERE unknown_id = ?').run(intoId, fromId);
      this.db.prepare('DELETE FROM unknowns WHERE id = ?').run(fromId);
      this.#recount(intoId);
    });
  }

  async split(unknownId: string, sightingIds: string[], newId: string, at: string): Promise<void> {
    this.#tx(() => {
      this.#requireActive(unknownId);
      const owner = this.db
        .prepare<[string], string | null>('SELECT unknown_id FROM sightings WHERE id = ?')
        .pluck();
      for (const id of sightingIds) {
        if (owner.get(id) !== unknownId) {
          throw new FaceprintError(
            'SIGHTING_NOT_FOUND',
            `Unknown person ${unknownId} has no sighting ${id}.`,
            {
              sightingId: id,
            },
          );
        }
      }
      this.db
        .prepare('INSERT INTO unknowns (id, created_at, last_seen_at, sighting_count) VALUES (?, ?, ?, 0)')
        .run(newId, at, at);
      const move = this.db.prepare('UPDATE sightings SET unknown_id = ? WHERE id = ?');
      for (const id of sightingIds) move.run(newId, id);
      this.#recount(unknownId);
      this.#recount(newId);
      this.#dropIfEmpty(unknownId);
    });
  }

  async deleteUnknown(id: string): Promise<boolean> {
    // The cascade erases the sightings (their crops and embeddings) in the same statement.
    return this.db.prepare('DELETE FROM unknowns WHERE id = ?').run(id).changes > 0;
  }

  async markPromoted(id: string, subjectId: string): Promise<void> {
    this.#tx(() => {
      this.#requireActive(id);
      this.db.prepare('DELETE FROM sightings WHERE unknown_id = ?').run(id);
      this.db
        .prepare('UPDATE unknowns SET promoted_to = ?, sighting_count = 0 WHERE id = ?')
        .run(subjectId, id);
    });
  }

  async purgeExpired(at: string): Promise<{ sightings: number; unknowns: number }> {
    let result = { sightings: 0, unknowns: 0 };
    this.#tx(() => {
      const touched = this.db
        .prepare<[string], string>(
          'SELECT DISTINCT unknown_id FROM sightings WHERE expires_at <= ? AND unknown_id IS NOT NULL',
        )
        .pluck()
        .all(at);
      const sightings = this.db.prepare('DELETE FROM sightings WHERE expires_at <= ?').run(at).changes;
      let unknowns = 0;
      for (const id of touched) {
        this.#recount(id);
        unknowns += this.#dropIfEmpty(id);
      }
      result = { sightings, unknowns };
    });
    // Deleted pages are zeroed on the next checkpoint only with secure_delete; make the erasure real now.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return result;
  }

  #tx(work: () => void): void {
    this.db.transaction(work).immediate();
  }

  #requireActive(id: string): void {
    const row = this.db
      .prepare<[string], { promoted_to: string | null }>('SELECT promoted_to FROM unknowns WHERE id = ?')
      .get(id);
    if (!row)
      throw new FaceprintError('UNKNOWN_NOT_FOUND', `There is no unknown person "${id}".`, { unknownId: id });
    if (row.promoted_to !== null) {
      throw new FaceprintError(
        'UNKNOWN_PROMOTED',
        `Unknown person "${id}" was already promoted to subject "${row.promoted_to}".`,
        { unknownId: id, subjectId: row.promoted_to },
      );
    }
  }

  #recount(id: string): void {
    this.db
      .prepare(
        `UPDATE unknowns SET sighting_count = (SELECT count(*) FROM sightings WHERE unknown_id = @id),
           last_seen_at = coalesce((SELECT max(at) FROM sightings WHERE unknown_id = @id), last_seen_at)
         WHERE id = @id`,
      )
      .run({ id });
  }

  #dropIfEmpty(id: string): number {
    return this.db
      .prepare('DELETE FROM unknowns WHERE id = ? AND promoted_to IS NULL AND sighting_count = 0')
      .run(id).changes;
  }
}

function toUnknown(row: UnknownRow): UnknownPerson {
  return {
    id: row.id,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    sightingCount: row.sighting_count,
    bestSightingId: row.best ?? undefined,
    ...(row.promoted_to !== null ? { promotedTo: row.promoted_to } : {}),
  };
}

function toSighting(row: SightingRow): Sighting {
  return {
    id: row.id,
    unknownId: row.unknown_id ?? undefined,
    at: row.at,
    source: row.source,
    camera: row.camera ?? undefined,
    operation: row.operation,
    faceIndex: row.face_index,
    box: JSON.parse(row.box) as Box,
    quality: JSON.parse(row.quality) as FaceQuality,
    embedding: floatsOf(row.embedding),
    model: { id: row.model_id, version: row.model_version },
    auditId: row.audit_id,
    expiresAt: row.expires_at,
  };
}
