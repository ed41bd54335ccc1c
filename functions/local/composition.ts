import { type DataDir, defaultDataDir, openDataDir } from '../adapters/local/data-dir.ts';
import { defaultGalleryConfig, loadCalibration } from '../core/gallery/config.ts';
import { GalleryService } from '../core/gallery/service.ts';
import { FacePipeline } from '../core/pipeline/pipeline.ts';

export interface LocalOptions {
  /** Data directory (default: FACEPRINT_DATA_DIR or ./.faceprint). */
  dataDir?: string | undefined;
  /** ONNX Runtime threads per model (default 1; 0 = all cores). */
  threads?: number | undefined;
  /** Calibration file (default: FACEPRINT_CALIBRATION or the shipped config/calibration.json). */
  calibration?: string | undefined;
}

export interface LocalGallery {
  gallery: GalleryService;
  pipeline: FacePipeline;
  dataDir: DataDir;
  close(): Promise<void>;
}

/**
 * The composition root of the one-machine mode (server, upload folder and CLI): the embedded SQLite store and
 * the snapshot file in one data directory, the face pipeline, and the gallery service over them.
 */
export async function openLocalGallery(options: LocalOptions = {}): Promise<LocalGallery> {
  const dataDir = openDataDir(options.dataDir ?? defaultDataDir());
  const pipeline = new FacePipeline({ threads: options.threads ?? 1 });
  const gallery = new GalleryService({
    pipeline,
    store: dataDir.faceStore,
    snapshots: dataDir.snapshots,
    photos: dataDir.photos,
    config: defaultGalleryConfig(loadCalibration(options.calibration)),
  });
  await gallery.open();
  return {
    gallery,
    pipeline,
    dataDir,
    async close() {
      await pipeline.dispose();
      dataDir.close();
    },
  };
}
