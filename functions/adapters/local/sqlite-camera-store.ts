/**
 * {@link CameraStore} on the local SQLite database: cameras and their camera-matched templates, in tables created
 * with `IF NOT EXISTS` on open (like the follow-up tables of the first builds; no schema version is taken, so the
 * face store's migrations stay as they are). A camera template references its subject and its camera with
 * `ON DELETE CASCADE`: deleting either deletes the templates in the same statement, and `secure_delete` overwrites
 * them.
 */
import type { CameraStore, CameraTemplate } from '../../core/camera/ports.ts';
import type { Camera } from '../../core/camera/profile.ts';
import { FaceprintError } from '../../core/errors.ts';
import { adoptSqliteDatabase, type SqliteDatabase } from './sqlite-face-store.ts';
import { blobOf, floatsOf } from './sqlite-rows.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS cameras (
    id TEXT PRIMARY KEY NOT NULL,
    camera TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS camera_templates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    camera_id TEXT NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    subject_id TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    photo_id TEXT NOT NULL,
    source TEXT NOT NULL,
    box TEXT NOT NULL,
    quality TEXT NOT NULL,
    embedding BLOB NOT NULL CHECK (length(embedding) > 0 AND length(embedding) % 4 = 0),
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS camera_templates_by_camera ON camera_templates (camera_id, seq);
  CREATE INDEX IF NOT EXISTS camera_templates_by_subject ON camera_templates (subject_id);
`;

interface TemplateRow {
  seq: number;
  id: string;
  camera_id: string;
  subject_id: string;
  photo_id: string;
  source: string;
  box: string;
  quality: string;
  embedding: Buffer;
  model_id: string;
  model_version: string;
  created_at: string;
}

function toTemplate(row: TemplateRow): CameraTemplate {
  return {
    id: row.id,
    subjectId: row.subject_id,
    source: row.source,
    box: JSON.parse(row.box),
    quality: JSON.parse(row.quality),
    embedding: floatsOf(row.embedding),
    variant: 'camera',
    camera: row.camera_id,
    photoId: row.photo_id,
    model: { id: row.model_id, version: row.model_version },
    createdAt: row.created_at,
  };
}

export class SqliteCameraStore implements CameraStore {
  readonly db: SqliteDatabase;
  readonly #owned: boolean;

  constructor(database: string | SqliteDatabase) {
    const { db, owned } = adoptSqliteDatabase(database);
    this.db = db;
    this.#owned = owned;
    this.db.exec(SCHEMA);
  }

  close(): void {
    if (this.#owned && this.db.open) this.db.close();
  }

  async putCamera(camera: Camera): Promise<void> {
    this.db
      .transaction(() => {
        // Replacing a camera drops its templates: they were made for the old settings.
        this.db.prepare('DELETE FROM camera_templates WHERE camera_id = ?').run(camera.id);
        this.db
          .prepare(
            'INSERT INTO cameras (id, camera, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET camera = excluded.camera',
          )
          .run(camera.id, JSON.stringify(camera), camera.createdAt);
      })
      .immediate();
  }

  async getCamera(id: string): Promise<Camera | undefined> {
    const row = this.db
      .prepare<[string], { camera: string }>('SELECT camera FROM cameras WHERE id = ?')
      .get(id);
    return row ? (JSON.parse(row.camera) as Camera) : undefined;
  }

  async listCameras(): Promise<Camera[]> {
    return this.db
      .prepare<[], { camera: string }>('SELECT camera FROM cameras ORDER BY id')
      .all()
      .map((row) => JSON.parse(row.camera) as Camera);
  }

  async deleteCamera(id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM cameras WHERE id = ?').run(id).changes > 0;
  }

  async addCameraTemplates(templates: readonly CameraTemplate[]): Promise<void> {
    if (templates.length === 0) return;
    const insert = this.db.prepare(
      `INSERT INTO camera_templates (id, camera_id, subject_id, photo_id, source, box, quality, embedding, model_id,
         model_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    try {
      this.db
        .transaction(() => {
          for (const t of templates) {
            insert.run(
              t.id,
              t.camera,
              t.subjectId,
              t.photoId,
              t.source,
              JSON.stringify(t.box),
              JSON.stringify(t.quality),
              blobOf(t.embedding),
              t.model.id,
              t.model.version,
              t.createdAt,
            );
          }
        })
        .immediate();
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new FaceprintError(
          'CAMERA_NOT_FOUND',
          'A camera template names a camera or subject that no longer exists; nothing was written.',
        );
      }
      throw error;
    }
  }

  async listCameraTemplates(cameraId: string, modelId?: string): Promise<CameraTemplate[]> {
    const rows =
      modelId === undefined
        ? this.db
            .prepare<[string], TemplateRow>('SELECT * FROM camera_templates WHERE camera_id = ? ORDER BY seq')
            .all(cameraId)
        : this.db
            .prepare<[string, string], TemplateRow>(
              'SELECT * FROM camera_templates WHERE camera_id = ? AND model_id = ? ORDER BY seq',
            )
            .all(cameraId, modelId);
    return rows.map(toTemplate);
  }

  async cameraTemplatesVersion(cameraId: string): Promise<string> {
    const row = this.db
      .prepare<[string], { n: number; top: number | null }>(
        'SELECT count(*) AS n, max(seq) AS top FROM camera_templates WHERE camera_id = ?',
      )
      .get(cameraId);
    const camera = this.db
      .prepare<[string], { camera: string }>('SELECT camera FROM cameras WHERE id = ?')
      .get(cameraId);
    const updated = camera ? (JSON.parse(camera.camera) as Camera).updatedAt : 'none';
    return `${row?.n ?? 0}.${row?.top ?? 0}.${updated}`;
  }

  async backfilledPhotos(cameraId: string, modelId: string): Promise<Set<string>> {
    const rows = this.db
      .prepare<[string, string], { subject_id: string; photo_id: string }>(
        'SELECT DISTINCT subject_id, photo_id FROM camera_templates WHERE camera_id = ? AND model_id = ?',
      )
      .all(cameraId, modelId);
    return new Set(rows.map((r) => `${r.subject_id}#${r.photo_id}`));
  }

  async deleteOtherPackCameraTemplates(cameraId: string, modelId: string): Promise<number> {
    return this.db
      .prepare('DELETE FROM camera_templates WHERE camera_id = ? AND model_id <> ?')
      .run(cameraId, modelId).changes;
  }

  async deleteSubjectCameraTemplates(subjectId: string): Promise<number> {
    return this.db.prepare('DELETE FROM camera_templates WHERE subject_id = ?').run(subjectId).changes;
  }

  async countCameraTemplates(cameraId: string): Promise<number> {
    return (
      this.db
        .prepare<[string], { n: number }>('SELECT count(*) AS n FROM camera_templates WHERE camera_id = ?')
        .get(cameraId)?.n ?? 0
    );
  }
}
