import { type DataDir, defaultDataDir, openDataDir } from '../adapters/local/data-dir.ts';
import { defaultGalleryConfig, loadCalibration } from '../core/gallery/config.ts';
import { GalleryService } from '../core/gallery/service.ts';
import { FacePipeline } from '../core/pipeline/pipeline.ts';
import { type FollowUpParts, openLocalFollowUp } from './follow-up-composition.ts';

export interface LocalOptions {
  /** Data directory (default: FACEPRINT_DATA_DIR or ./.faceprint). */
  dataDir?: string | undefined;
  /** ONNX Runtime threads per model (default 1; 0 = all cores). */
  threads?: number | undefined;
  /** Calibration file (default: FACEPRINT_CALIBRATION or the shipped config/calibration.json). */
  calibration?: string | undefined;
  /** The clock (tests move it to check retention). */
  now?: (() => Date) | undefined;
}

export interface LocalGallery {
  gallery: GalleryService;
  pipeline: FacePipeline;
  dataDir: DataDir;
  /** Unknown persons and the review queue over the same database. */
  followUp: FollowUpParts;
  close(): Promise<void>;
}

/**
 * The composition root of the one-machine mode (server, upload folder and CLI): the embedded SQLite store and
 * the snapshot file in one data directory, the face pipeline, and the gallery service over them.
 */
export async function openLocalGallery(options: LocalOptions = {}): Promise<LocalGallery> {
  const dataDir = openDataDir(options.dataDir ?? defaultDataDir());
  const pipeline = new FacePipeline({ threads: options.threads ?? 1 });
  const config = defaultGalleryConfig(loadCalibration(options.calibration));
  const followUp = openLocalFollowUp(dataDir, config.calibration.id, options.now);
  const gallery = new GalleryService({
    pipeline,
    store: dataDir.faceStore,
    feed: dataDir.faceStore,
    snapshots: dataDir.snapshots,
    eraser: dataDir.eraser,
    config,
    followUp: followUp.followUp,
    ...(options.now ? { now: options.now } : {}),
    photos: dataDir.photos,
    approximate: dataDir.approximate,
  });
  followUp.bind(gallery, pipeline);
  await gallery.open();
  return {
    gallery,
    pipeline,
    dataDir,
    followUp,
    async close() {
      await pipeline.dispose();
      dataDir.close();
    },
  };
}
