/**
 * Clustering of a photo collection: every face of every photo (above a quality floor) is embedded, the faces are
 * clustered without labels, and each cluster gets a contact sheet (a PNG grid of its aligned face crops).
 */
import sharp from 'sharp';
import { isFaceprintError } from '../errors.ts';
import { encodeImage, type RgbImage } from '../pipeline/image.ts';
import type { AnalyzeOptionsInput, FacePipeline } from '../pipeline/pipeline.ts';
import type { Box, FaceQuality } from '../types.ts';
import { type ClusterParams, clusterEmbeddings, DEFAULT_CLUSTER_PARAMS } from './cluster.ts';

/** One face of the collection and the cluster it was put in (−1: none). */
export interface CollectionFace {
  /** The photo's name as the caller gave it (a path relative to the folder). */
  photo: string;
  faceIndex: number;
  box: Box;
  quality: FaceQuality;
  cluster: number;
}

export interface CollectionClusters {
  params: ClusterParams;
  photos: number;
  /** Photos that could not be read or held no face, with the reason. */
  skipped: { photo: string; reason: string }[];
  /** Faces below `minQuality`: too poor to cluster, listed with cluster −1. */
  lowQuality: number;
  faces: CollectionFace[];
  /** Clusters by size, largest first: face indices into `faces`. */
  clusters: { id: number; faces: number[] }[];
  /** The aligned 112×112 crop of every face (same order as `faces`), for contact sheets. */
  crops: RgbImage[];
}

/** Faces below this quality are not clustered: they would join anyone or no one. */
export const DEFAULT_MIN_CLUSTER_QUALITY = 0.3;

/**
 * Analyses every photo and clusters all faces with at least `minQuality`.
 *
 * @param photos names and a way to read each (read lazily: one photo in memory at a time).
 */
export async function clusterCollection(
  pipeline: FacePipeline,
  photos: readonly { name: string; read: () => Promise<Uint8Array> }[],
  options: {
    params?: Partial<ClusterParams> | undefined;
    minQuality?: number | undefined;
    analyze?: AnalyzeOptionsInput | undefined;
    onPhoto?: (() => void) | undefined;
  } = {},
): Promise<CollectionClusters> {
  const params = { ...DEFAULT_CLUSTER_PARAMS, ...options.params };
  const minQuality = options.minQuality ?? DEFAULT_MIN_CLUSTER_QUALITY;
  const faces: CollectionFace[] = [];
  const crops: RgbImage[] = [];
  const embeddings: Float32Array[] = [];
  const clustered: number[] = [];
  const skipped: CollectionClusters['skipped'] = [];
  for (const photo of photos) {
    try {
      const result = await pipeline.analyze(await photo.read(), { ...options.analyze, keepCrops: true });
      if (result.faces.length === 0) skipped.push({ photo: photo.name, reason: 'no face found' });
      for (const [faceIndex, face] of result.faces.entries()) {
        if (face.quality.score >= minQuality) {
          clustered.push(faces.length);
          embeddings.push(face.embedding);
        }
        faces.push({ photo: photo.name, faceIndex, box: face.box, quality: face.quality, cluster: -1 });
        crops.push(face.crops?.aligned as RgbImage);
      }
    } catch (error) {
      if (!isFaceprintError(error)) throw error;
      skipped.push({ photo: photo.name, reason: error.message });
    }
    options.onPhoto?.();
  }
  const labels = clusterEmbeddings(embeddings, params);
  labels.forEach((label, i) => {
    (faces[clustered[i] as number] as CollectionFace).cluster = label;
  });
  const members = new Map<number, number[]>();
  faces.forEach((f, i) => {
    if (f.cluster >= 0) members.set(f.cluster, [...(members.get(f.cluster) ?? []), i]);
  });
  const clusters = [...members.entries()]
    .map(([id, list]) => ({ id, faces: list }))
    .sort((a, b) => b.faces.length - a.faces.length || a.id - b.id);
  return {
    params,
    photos: photos.length,
    skipped,
    lowQuality: faces.length - clustered.length,
    faces,
    clusters,
    crops,
  };
}

/**
 * A contact sheet: the crops as a grid of `tile`-pixel squares, `columns` wide, on a dark background (PNG).
 */
export async function contactSheet(crops: readonly RgbImage[], tile = 112, columns = 8): Promise<Buffer> {
  const cols = Math.max(1, Math.min(columns, crops.length));
  const rows = Math.max(1, Math.ceil(crops.length / cols));
  const gap = 4;
  const tiles = await Promise.all(
    crops.map(async (crop) =>
      sharp(await encodeImage(crop, 'png'))
        .resize(tile, tile)
        .png()
        .toBuffer(),
    ),
  );
  return sharp({
    create: {
      width: cols * (tile + gap) + gap,
      height: rows * (tile + gap) + gap,
      channels: 3,
      background: { r: 24, g: 24, b: 24 },
    },
  })
    .composite(
      tiles.map((input, i) => ({
        input,
        left: gap + (i % cols) * (tile + gap),
        top: gap + Math.floor(i / cols) * (tile + gap),
      })),
    )
    .png()
    .toBuffer();
}
