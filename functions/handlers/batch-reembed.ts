/**
 * The Batch job's `reembed` kind: a manifest `{"kind": "reembed", "pack": "s3://<bucket>/batch/packs/<name>/"}`
 * (or a folder in the image; default: the job's `FACEPRINT_MODEL_PACK`, else the shipped pack) re-embeds every
 * kept enrolment photo (`gallery/` uploads and `photos/`) with that pack through the core's resumable
 * `reembedGallery`: a retried attempt (Spot interruption, a crash) skips the subjects already done, and the
 * old pack's templates stay until every subject has new ones.
 *
 * In AWS the indexer publishes the live index from the templates table's stream, so this job's own copy of the
 * new index goes to `results/reembed/<pack id>/`; deploy the new pack to the functions once the job is complete
 * (their indexer then rebuilds the published index in the new space).
 *
 * @module
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { PREFIX } from '../../lib/runtime-config.ts';
import { S3SnapshotStore } from '../adapters/aws/s3-snapshot-store.ts';
import { defaultGalleryConfig } from '../core/gallery/config.ts';
import { type ReembedResult, reembedGallery } from '../core/gallery/reembed.ts';
import { FacePipeline } from '../core/pipeline/pipeline.ts';
import type { AwsRuntime } from './aws/composition.ts';
import { flushMetrics, logger } from './aws/observability.ts';

/** A `reembed` job document. */
export const ReembedJobSchema = z.object({
  kind: z.literal('reembed'),
  /** The new pack: `s3://bucket/prefix/` (downloaded, then checked against its manifest) or a local folder. */
  pack: z.string().min(1).optional(),
});
export type ReembedJob = z.infer<typeof ReembedJobSchema>;

export interface ReembedJobSummary extends ReembedResult {
  kind: 'reembed';
  manifest: string;
  pack: string;
  startedAt: string;
  finishedAt: string;
}

/** Copies every object under an `s3://bucket/prefix/` into a fresh local folder; returns the folder. */
async function downloadPack(rt: AwsRuntime, location: string): Promise<string> {
  const match = /^s3:\/\/([^/]+)\/(.+\/)$/.exec(location);
  if (!match) throw new Error(`The pack location "${location}" must be s3://bucket/prefix/ or a folder.`);
  const [, bucket, prefix] = match as unknown as [string, string, string];
  const dir = await mkdtemp(join(tmpdir(), 'faceprint-pack-'));
  let token: string | undefined;
  do {
    const page = await rt.clients.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      if (!object.Key || object.Key.endsWith('/')) continue;
      const relative = object.Key.slice(prefix.length);
      if (relative.split('/').includes('..')) continue;
      const body = await rt.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
      const target = join(dir, relative);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, (await body.Body?.transformToByteArray()) ?? new Uint8Array());
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return dir;
}

/**
 * Runs a `reembed` job. Model files are checked against the pack's sha256, and every session (with the
 * execution providers asked for) is created before the first subject, so a broken pack or a missing CUDA
 * provider stops the job at start with one sentence.
 */
export async function runReembedJob(
  rt: AwsRuntime,
  job: ReembedJob,
  location: string,
  progressEvery: number,
): Promise<ReembedJobSummary> {
  const startedAt = new Date();
  const packDir = job.pack?.startsWith('s3://') ? await downloadPack(rt, job.pack) : job.pack;
  const pipeline = new FacePipeline(packDir ? { packDir } : { modelsDir: rt.config.modelsDir });
  try {
    await pipeline.warmUp();
    const pack = `${pipeline.model.id}@${pipeline.model.version}`;
    logger.info('reembed started', { manifest: location, pack });
    const result = await reembedGallery({
      pipeline,
      store: rt.store,
      photos: rt.photos,
      snapshots: new S3SnapshotStore(
        rt.clients.s3,
        rt.config.bucket,
        `${PREFIX.results}reembed/${pipeline.model.id}/`,
      ),
      config: defaultGalleryConfig(rt.config.calibration),
      onProgress: (done, total) => {
        if (done % progressEvery !== 0 && done !== total) return;
        const seconds = (Date.now() - startedAt.getTime()) / 1000;
        const perSecond = done / Math.max(seconds, 0.001);
        logger.info('reembed progress', {
          done,
          total,
          perSecond: Number(perSecond.toFixed(2)),
          etaSeconds: Math.round((total - done) / Math.max(perSecond, 1e-6)),
        });
        flushMetrics();
      },
    });
    return {
      kind: 'reembed',
      manifest: location,
      pack,
      ...result,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
    };
  } finally {
    await pipeline.dispose();
  }
}
