/**
 * The AWS Batch job (`node /var/task/batch.mjs <manifest>`): bulk ingest or enrolment without one Lambda
 * invocation per image, on the same container image and with the same per-object workflows as the ingest and
 * enrol functions (ledger, detection records, events), so a job and the functions never process an object twice.
 *
 * The manifest (first argument, else `FACEPRINT_BATCH_MANIFEST`) is `s3://bucket/key`, or a key in the data
 * bucket, of a JSON array (of keys or `{ "key": … }`), a JSON object `{ "keys": [...] }`, or NDJSON (one key or
 * `{ "key": … }` per line); or a prefix ending in `/`: every object under it. Keys under `gallery/` are
 * enrolled, every other key is ingested, videos (by name, else by their first bytes) through the video workflow.
 * A manifest's `kind` picks the job: `{"kind": "video", "keys": [...]}` (what the ingest function writes under
 * `batch/videos/` when it hands a video off) processes every key as a video; any other manifest is `ingest`. Images run with bounded concurrency (`FACEPRINT_BATCH_CONCURRENCY`),
 * a progress line every `FACEPRINT_BATCH_PROGRESS_EVERY` items, and a summary is written to
 * `results/<manifest name>.<time>.summary.json`. Exit code 1 when any object hit an unexpected error (or was
 * claimed elsewhere and left unprocessed), so Batch retries the job; settled objects are skipped on a retry.
 *
 * A manifest that is a JSON object with a `kind` is a job of that kind instead: `{"kind": "reembed", "pack": …}`
 * re-embeds the gallery with another model pack (`batch-reembed.ts`).
 *
 * ONNX Runtime runs on CPU unless `FACEPRINT_EXECUTION_PROVIDERS` names others: the job definition sets
 * `cuda,cpu` on the image's cuda variant (`FACEPRINT_EXECUTION_PROVIDER=cuda` build argument, docs/deploy.md).
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { PREFIX } from '../../lib/runtime-config.ts';
import { AwsRuntime, type ObjectRef, type UploadOutcome } from './aws/composition.ts';
import { type BatchSettings, type ConfigFor, readConfig } from './aws/config.ts';
import { count, flushMetrics, logger } from './aws/observability.ts';
import { AwsVideo } from './aws/video.ts';
import { ReembedJobSchema, runReembedJob } from './batch-reembed.ts';

/** A claim older than this is a crashed attempt's: a Batch item never takes this long. */
const BATCH_STALE_AFTER_MS = 10 * 60_000;

/** Where the manifest is: an object, or a prefix to list. */
export type ManifestSource = { bucket: string; key: string } | { bucket: string; prefix: string };

/** Parses `s3://bucket/key`, `s3://bucket/prefix/`, `key` or `prefix/` (in `defaultBucket`). */
export function parseManifestLocation(location: string, defaultBucket: string): ManifestSource {
  const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(location.trim());
  const bucket = match ? (match[1] as string) : defaultBucket;
  const path = match ? (match[2] as string) : location.trim().replace(/^\/+/, '');
  if (path === '') throw new Error(`The manifest location "${location}" names no key or prefix.`);
  return path.endsWith('/') ? { bucket, prefix: path } : { bucket, key: path };
}

const KeyEntry = z.union([z.string().min(1), z.object({ key: z.string().min(1) }).transform((e) => e.key)]);
const ManifestJson = z.union([
  z.array(KeyEntry),
  z.object({ keys: z.array(KeyEntry) }).transform((m) => m.keys),
]);

/** What a job does with its keys: `ingest` (images, enrolment photos, videos by content) or `video`. */
export type JobKind = 'ingest' | 'video';

/** The `kind` of a manifest document: a JSON object's `kind` field; `ingest` for every other manifest. */
export function manifestKind(text: string): JobKind {
  try {
    const whole = JSON.parse(text.trim()) as { kind?: unknown } | null;
    if (whole && typeof whole === 'object' && !Array.isArray(whole) && whole.kind !== undefined) {
      if (whole.kind === 'video' || whole.kind === 'ingest') return whole.kind;
      throw new Error(`The manifest's kind "${String(whole.kind)}" is not one of ingest, video.`);
    }
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  return 'ingest';
}

/** The job kinds a manifest may name with `{"kind": …}` (a list of keys or a prefix is the object job). */
export const JOB_KINDS = ['ingest', 'video', 'reembed'] as const;

/** A manifest object's `kind`, or undefined for the object manifests (a key list, NDJSON or a prefix). */
async function readJobDocument(
  rt: AwsRuntime,
  source: ManifestSource,
): Promise<{ kind: unknown } | undefined> {
  if (!('key' in source) || !/\.json$/i.test(source.key)) return undefined;
  const object = await rt.clients.s3.send(new GetObjectCommand({ Bucket: source.bucket, Key: source.key }));
  const text = object.Body ? await object.Body.transformToString('utf8') : '';
  try {
    const doc = JSON.parse(text) as unknown;
    return doc !== null && typeof doc === 'object' && !Array.isArray(doc) && 'kind' in doc
      ? (doc as { kind: unknown })
      : undefined;
  } catch {
    return undefined;
  }
}

/** The keys of a manifest document (JSON or NDJSON), deduplicated in order. */
export function parseManifest(text: string): string[] {
  const trimmed = text.trim();
  let whole: unknown;
  try {
    whole = JSON.parse(trimmed);
  } catch {
    whole = undefined;
  }
  if (Array.isArray(whole) || (whole !== null && typeof whole === 'object' && 'keys' in whole)) {
    return [...new Set(ManifestJson.parse(whole))];
  }
  const keys = trimmed
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line, i) => {
      if (!line.startsWith('"') && !line.startsWith('{')) return line;
      const parsed = KeyEntry.safeParse(JSON.parse(line));
      if (!parsed.success) throw new Error(`Manifest line ${i + 1} is neither a key nor {"key": …}.`);
      return parsed.data;
    });
  return [...new Set(keys)];
}

async function readManifest(
  rt: AwsRuntime,
  source: ManifestSource,
): Promise<{ refs: ObjectRef[]; kind: JobKind }> {
  const { s3 } = rt.clients;
  if ('prefix' in source) {
    const refs: ObjectRef[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: source.bucket, Prefix: source.prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key && !object.Key.endsWith('/')) {
          refs.push({ bucket: source.bucket, key: object.Key, eTag: object.ETag?.replace(/"/g, '') });
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { refs, kind: 'ingest' };
  }
  const object = await s3.send(new GetObjectCommand({ Bucket: source.bucket, Key: source.key }));
  const text = object.Body ? await object.Body.transformToString('utf8') : '';
  return {
    refs: parseManifest(text).map((key) => ({ bucket: source.bucket, key })),
    kind: manifestKind(text),
  };
}

export interface BatchSummary {
  manifest: string;
  startedAt: string;
  finishedAt: string;
  total: number;
  processed: number;
  refused: number;
  duplicates: number;
  ignored: number;
  /** Unexpected errors plus objects claimed elsewhere: the job fails, and a retry takes them again. */
  errors: number;
  /** Up to 1,000 of the keys behind `errors`, with the reason. */
  failures: { key: string; reason: string }[];
}

/** Runs one job: every object of the manifest through ingest or enrolment. Never throws for an object. */
export async function runBatch(
  rt: AwsRuntime,
  location: string,
  settings: Pick<BatchSettings, 'concurrency' | 'progressEvery'>,
): Promise<BatchSummary> {
  const startedAt = new Date();
  const source = parseManifestLocation(location, rt.config.bucket);
  const { refs, kind } = await readManifest(rt, source);
  const videos = new AwsVideo(rt);
  logger.info('batch started', {
    manifest: location,
    kind,
    objects: refs.length,
    concurrency: settings.concurrency,
  });
  const summary: BatchSummary = {
    manifest: location,
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    total: refs.length,
    processed: 0,
    refused: 0,
    duplicates: 0,
    ignored: 0,
    errors: 0,
    failures: [],
  };
  const fail = (key: string, reason: string) => {
    summary.errors += 1;
    count('ProcessingErrors');
    if (summary.failures.length < 1000) summary.failures.push({ key, reason });
  };
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let i = next++; i < refs.length; i = next++) {
      const ref = refs[i] as ObjectRef;
      try {
        const outcome: UploadOutcome = ref.key.startsWith(PREFIX.gallery)
          ? await rt.enrolObject(ref, { job: location })
          : kind === 'video' || (await videos.isVideo(ref))
            ? await videos.processObject(ref, { job: location })
            : await rt.ingestObject(ref, { job: location });
        if (outcome.status === 'processed') summary.processed += 1;
        else if (outcome.status === 'refused') summary.refused += 1;
        else if (outcome.status === 'duplicate') summary.duplicates += 1;
        else if (outcome.status === 'ignored') summary.ignored += 1;
        else fail(ref.key, 'claimed by another worker');
      } catch (error) {
        logger.error('object failed', { objectKey: ref.key, error });
        fail(ref.key, error instanceof Error ? error.message : String(error));
      }
      done += 1;
      if (done % settings.progressEvery === 0 || done === refs.length) {
        const seconds = (Date.now() - startedAt.getTime()) / 1000;
        logger.info('batch progress', {
          done,
          total: refs.length,
          processed: summary.processed,
          refused: summary.refused,
          duplicates: summary.duplicates,
          errors: summary.errors,
          perSecond: Number((done / Math.max(seconds, 0.001)).toFixed(2)),
        });
        flushMetrics();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(settings.concurrency, Math.max(refs.length, 1)) }, worker));
  summary.finishedAt = new Date().toISOString();
  return summary;
}

/** `results/<manifest name>.<time>.summary.json`. */
export function summaryKey(location: string, startedAt: string): string {
  const name =
    location
      .replace(/\/+$/, '')
      .split('/')
      .pop()
      ?.replace(/[^\w.-]+/g, '_') || 'manifest';
  return `${PREFIX.results}${name}.${startedAt.replace(/[:.]/g, '-')}.summary.json`;
}

/** The job's entry point; returns the process exit code. */
export async function main(argv: readonly string[], config: ConfigFor<'batch'>): Promise<number> {
  // `Ref::manifest` arrives verbatim when the job was submitted without its parameter.
  const given = argv[0] === 'Ref::manifest' ? undefined : argv[0];
  const location = given ?? config.batch?.manifest;
  if (!location) {
    logger.error('no manifest: pass it as the first argument or set FACEPRINT_BATCH_MANIFEST');
    return 2;
  }
  const rt = new AwsRuntime(config, { staleAfterMs: BATCH_STALE_AFTER_MS });
  try {
    const job = await readJobDocument(rt, parseManifestLocation(location, config.bucket));
    if (job && !(JOB_KINDS as readonly unknown[]).includes(job.kind)) {
      logger.error(`unknown job kind ${JSON.stringify(job.kind)}; use one of ${JOB_KINDS.join(', ')}`);
      return 2;
    }
    if (job?.kind === 'reembed') {
      const parsed = ReembedJobSchema.safeParse(job);
      if (!parsed.success) {
        logger.error('the reembed job document is invalid', { issues: parsed.error.issues });
        return 2;
      }
      const done = await runReembedJob(rt, parsed.data, location, config.batch?.progressEvery ?? 100);
      await rt.clients.s3.send(
        new PutObjectCommand({
          Bucket: config.bucket,
          Key: summaryKey(location, done.startedAt),
          Body: JSON.stringify(done, null, 2),
          ContentType: 'application/json',
        }),
      );
      logger.info('reembed finished', { ...done, refused: done.refused.length });
      // Incomplete (subjects without a usable photo) is not retryable: the summary lists them.
      return 0;
    }
    const summary = await runBatch(rt, location, config.batch ?? { concurrency: 2, progressEvery: 100 });
    const key = summaryKey(location, summary.startedAt);
    await rt.clients.s3.send(
      new PutObjectCommand({
        Bucket: config.bucket,
        Key: key,
        Body: JSON.stringify(summary, null, 2),
        ContentType: 'application/json',
      }),
    );
    logger.info('batch finished', { ...summary, failures: summary.failures.length, summary: key });
    return summary.errors > 0 ? 1 : 0;
  } catch (error) {
    logger.error('batch failed', { manifest: location, error });
    return 1;
  } finally {
    flushMetrics();
    await rt.dispose();
  }
}

// Run when executed (`node batch.mjs …`), not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const config = readConfig('batch');
  process.exitCode = await main(process.argv.slice(2), config);
}
