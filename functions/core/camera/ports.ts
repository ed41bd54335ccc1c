/**
 * Port: the store of record's configured cameras and their camera-matched templates (`domain.ts`,
 * `CameraVariant`). Local mode keeps them in the SQLite database beside the gallery (a subject's camera templates
 * go with the subject); every method is atomic.
 */
import type { FaceTemplate } from '../domain.ts';
import type { Camera } from './profile.ts';

/** A camera template as stored: a `camera` template plus the enrolment photo it was made from. */
export interface CameraTemplate extends FaceTemplate {
  variant: 'camera';
  camera: string;
  /** sha256 (hex) of the enrolment photo it was made from: what a resumed backfill skips. */
  photoId: string;
}

export interface CameraStore {
  /** Creates or replaces a camera; replacing drops its templates (they were made for the old settings). */
  putCamera(camera: Camera): Promise<void>;
  getCamera(id: string): Promise<Camera | undefined>;
  listCameras(): Promise<Camera[]>;
  /** Deletes a camera and its templates; false when there was none. */
  deleteCamera(id: string): Promise<boolean>;
  /** Adds camera templates (their camera and subject must exist, else nothing is written). */
  addCameraTemplates(templates: readonly CameraTemplate[]): Promise<void>;
  /** The templates of one camera (of one model pack when `modelId` is given), in insertion order. */
  listCameraTemplates(cameraId: string, modelId?: string): Promise<CameraTemplate[]>;
  /** A token that changes whenever the camera's templates change (in this process or another). */
  cameraTemplatesVersion(cameraId: string): Promise<string>;
  /**
   * The `subjectId#photoId` pairs that already have a template of this camera in model pack `modelId` (a resumed
   * backfill skips them; after `gallery reembed`, a backfill makes them again for the new pack).
   */
  backfilledPhotos(cameraId: string, modelId: string): Promise<Set<string>>;
  /** Deletes the camera's templates of every model pack but `modelId` (after a re-embed); returns how many. */
  deleteOtherPackCameraTemplates(cameraId: string, modelId: string): Promise<number>;
  /** Deletes every camera template of a subject; returns how many. */
  deleteSubjectCameraTemplates(subjectId: string): Promise<number>;
  /** How many camera templates each camera has. */
  countCameraTemplates(cameraId: string): Promise<number>;
}
