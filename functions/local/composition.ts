import { type DataDir, defaultDataDir, openDataDir } from '../adapters/local/data-dir.ts';
import { SqliteCameraStore } from '../adapters/local/sqlite-camera-store.ts';
import { CameraGallery } from '../core/camera/service.ts';
import { defaultGalleryConfig, loadCalibration } from '../core/gallery/config.ts';
import { GalleryService } from '../core/gallery/service.ts';
import type { FaceAnalyser } from '../core/pipeline/analyser.ts';
import { FacePipeline } from '../core/pipeline/pipeline.ts';
import { AnalysisPool } from './analysis-pool.ts';
import { type FollowUpParts, openLocalFollowUp } from './follow-up-composition.ts';

export interface LocalOptions {
  /** Data directory (default: FACEPRINT_DATA_DIR or ./.faceprint). */
  dataDir?: string | undefined;
  /** ONNX Runtime threads per model (default 1; 0 = all cores). */
  threads?: number | undefined;
  /** Calibration file (default: FACEPRINT_CALIBRATION or the shipped config/calibration.json). */
  calibration?: string | undefined;
  /**
   * Analysis worker threads for the gallery's requests (the server: one per core); 0 or absent analyses
   * in-process (the CLI, which runs one command at a time).
   */
  analysisWorkers?: number | undefined;
  /** Told when an analysis thread dies and is replaced. */
  onWorkerLost?: ((why: string) => void) | undefined;
  /** The clock (tests move it to check retention). */
  now?: (() => Date) | undefined;
}

export interface LocalGallery {
  gallery: GalleryService;
  /** In-process pipeline (videos; loads its models on first use). */
  pipeline: FacePipeline;
  /** What the gallery analyses with: the worker pool when there is one, else {@link LocalGallery.pipeline}. */
  analyser: FaceAnalyser;
  dataDir: DataDir;
  /** Unknown persons and the review queue over the same database. */
  followUp: FollowUpParts;
  /** Configured cameras and their camera-matched templates, in the same database. */
  cameras: CameraGallery;
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
  const workers = options.analysisWorkers ?? 0;
  const analyser: FaceAnalyser =
    workers > 0
      ? await AnalysisPool.start({
          size: workers,
          threadsPerWorker: options.threads || undefined,
          onWorkerLost: options.onWorkerLost,
        })
      : pipeline;
  const cameras = new CameraGallery({
    store: new SqliteCameraStore(dataDir.faceStore.db),
    pipeline: analyser,
    analyze: config.analyze,
    photos: dataDir.photos,
    ...(options.now ? { now: options.now } : {}),
  });
  const gallery = new GalleryService({
    pipeline: analyser,
    store: dataDir.faceStore,
    feed: dataDir.faceStore,
    snapshots: dataDir.snapshots,
    eraser: dataDir.eraser,
    config,
    followUp: followUp.followUp,
    ...(options.now ? { now: options.now } : {}),
    photos: dataDir.photos,
    approximate: dataDir.approximate,
    cameras,
  });
  // Promotion embeds its variants where the gallery analyses: in the worker pool when there is one.
  followUp.bind(gallery, analyser);
  try {
    await gallery.open();
  } catch (error) {
    if (analyser !== pipeline) await analyser.dispose();
    throw error;
  }
  return {
    gallery,
    pipeline,
    analyser,
    dataDir,
    followUp,
    cameras,
    async close() {
      if (analyser !== pipeline) await analyser.dispose();
      await pipeline.dispose();
      dataDir.close();
    },
  };
}
