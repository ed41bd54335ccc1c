/**
 * The configuration of the AWS runtimes (the four Lambda functions and the Batch job), read from the
 * environment once, when a handler module is loaded, and validated with zod. A missing or malformed variable
 * stops the cold start with one error that names every problem, instead of failing on the first request.
 *
 * The variable names are the contract in `lib/runtime-config.ts`; each runtime requires exactly the variables
 * the infrastructure binds to it (see the table there), no more: the enrol function, for instance, is not
 * given the detections table and does not ask for it.
 *
 * @module
 */

import { resolve } from 'node:path';
import { z } from 'zod';
import { ENV, METRICS_NAMESPACE } from '../../../lib/runtime-config.ts';
import { loadCalibration, SHIPPED_CALIBRATION_PATH } from '../../core/gallery/config.ts';
import { defaultModelsDir, verifyModelsDir } from '../../core/pipeline/model-integrity.ts';
import { parseReviewRule } from '../../core/review/service.ts';
import type { Calibration } from '../../core/search/calibration.ts';
import { DEFAULT_INDEX_SHARDS, MAX_INDEX_SHARDS } from '../../core/search/shards.ts';
import { parseRetentionDays } from '../../core/unknowns/service.ts';

/** Which runtime reads the configuration: one per Lambda function, plus the Batch job. */
export type Role = 'api' | 'ingest' | 'enrol' | 'indexer' | 'batch';

/** Extra variables of the Batch job (not part of the infrastructure contract; all optional). */
export const BATCH_ENV = {
  /** `s3://bucket/key`, a key, or a prefix ending in `/`; the job's first argument takes precedence. */
  manifest: 'FACEPRINT_BATCH_MANIFEST',
  /** Images in flight at once (default 2). */
  concurrency: 'FACEPRINT_BATCH_CONCURRENCY',
  /** A progress line (and a metrics flush) every this many items (default 100). */
  progressEvery: 'FACEPRINT_BATCH_PROGRESS_EVERY',
} as const;

/** The calibration file (set by the image to the one it carries; the same variable as local mode). */
export const CALIBRATION_ENV = 'FACEPRINT_CALIBRATION';

// S3 bucket naming rules (lower case, 3–63 characters, no leading/trailing dot or dash).
const BucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name');
const TableName = z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name');
// A bus name or ARN.
const EventBusName = z.string().regex(/^[\w/.:-]{1,1600}$/, 'must be an EventBridge bus name or ARN');
const KeyPrefix = z
  .string()
  .regex(/^[\w.-]+(\/[\w.-]+)*\/$/, 'must be a key prefix such as "index/" (ending in "/")');
const BooleanString = z.enum(['true', 'false']).transform((v) => v === 'true');
/**
 * An SQS queue URL: `https://<host>/<12-digit account>/<queue name>`; plain `http` only on the loopback (an
 * emulator), so a typo never sends video hand-offs somewhere unencrypted.
 */
const QueueUrl = z.string().refine((value) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  const scheme = url.protocol === 'https:' || (url.protocol === 'http:' && loopback);
  return scheme && !url.search && !url.hash && /^\/\d{12}\/[\w-]{1,80}(\.fifo)?$/.test(url.pathname);
}, 'must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<queue>)');

/** The resources a runtime may be bound to: variable name and schema. */
const RESOURCES = {
  subjectsTable: { env: ENV.subjectsTable, schema: TableName },
  templatesTable: { env: ENV.templatesTable, schema: TableName },
  detectionsTable: { env: ENV.detectionsTable, schema: TableName },
  idempotencyTable: { env: ENV.idempotencyTable, schema: TableName },
  followUpTable: { env: ENV.followUpTable, schema: TableName },
  indexPrefix: { env: ENV.indexPrefix, schema: KeyPrefix },
  eventBus: { env: ENV.eventBus, schema: EventBusName },
  apiKeysRequired: { env: ENV.apiKeysRequired, schema: BooleanString },
} as const;

type ResourceName = keyof typeof RESOURCES;
type Resources = { [K in ResourceName]: z.output<(typeof RESOURCES)[K]['schema']> };

/** What each runtime is bound to in `lib/constructs/compute.ts` (and therefore requires). */
const REQUIRED = {
  api: [
    'subjectsTable',
    'templatesTable',
    'detectionsTable',
    'idempotencyTable',
    'followUpTable',
    'indexPrefix',
    'apiKeysRequired',
  ],
  ingest: [
    'subjectsTable',
    'templatesTable',
    'detectionsTable',
    'idempotencyTable',
    'followUpTable',
    'indexPrefix',
    'eventBus',
  ],
  enrol: ['subjectsTable', 'templatesTable', 'idempotencyTable'],
  indexer: ['templatesTable', 'indexPrefix'],
  batch: [
    'subjectsTable',
    'templatesTable',
    'detectionsTable',
    'idempotencyTable',
    'followUpTable',
    'indexPrefix',
    'eventBus',
  ],
} as const satisfies Record<Role, readonly ResourceName[]>;

const Common = z.object({
  [ENV.bucket]: BucketName,
  [ENV.serviceName]: z.string().min(1).default('faceprint'),
  [ENV.metricsNamespace]: z.string().min(1).default(METRICS_NAMESPACE),
  [ENV.modelsDir]: z.string().min(1).optional(),
  [CALIBRATION_ENV]: z.string().min(1).optional(),
  // index: 's3vectors' on the construct: identify searches this S3 Vectors index instead of the snapshot.
  [ENV.vectorIndex]: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:s3vectors:[a-z0-9-]+:\d{12}:bucket\/[^/]+\/index\/[^/]+$/,
      'must be an S3 Vectors index ARN',
    )
    .optional(),
  [ENV.unknownRetentionDays]: z.string().optional(),
  [ENV.reviewRule]: z.string().optional(),
  // How many shards the indexer publishes the snapshot in (readers take the count from the manifest).
  [ENV.indexShards]: z.coerce
    .number()
    .int('must be a whole number')
    .min(1)
    .max(MAX_INDEX_SHARDS)
    .default(DEFAULT_INDEX_SHARDS),
  // The element type of the published shards: int8 (default) is a quarter of float32's bytes to fetch and decode
  // at every cold start, at a cosine error around 1e-3 (README, "Millions of people").
  [ENV.indexDtype]: z.enum(['int8', 'float32']).default('int8'),
  // Bound to ingest only where Batch is deployed; a value that is set must be a queue URL.
  [ENV.batchFeedQueueUrl]: QueueUrl.optional(),
});

const PositiveInt = (max: number) => z.coerce.number().int().min(1).max(max);
const Batch = z.object({
  [BATCH_ENV.manifest]: z.string().min(1).optional(),
  [BATCH_ENV.concurrency]: PositiveInt(64).default(2),
  [BATCH_ENV.progressEvery]: PositiveInt(1_000_000).default(100),
});

/** What every runtime has. */
export interface BaseConfig {
  role: Role;
  /** The data bucket. */
  bucket: string;
  serviceName: string;
  metricsNamespace: string;
  /** `FACEPRINT_MODELS_DIR` (`/opt/models` in the image); undefined: the repository's `layers/models`. */
  modelsDir: string | undefined;
  /** The decision thresholds, from `FACEPRINT_CALIBRATION` (else the repository's `config/calibration.json`). */
  calibration: Calibration;
  /** `FACEPRINT_VECTOR_INDEX`: the S3 Vectors index ARN, when the deployment searches one (else the snapshot). */
  vectorIndex?: string | undefined;
  /** `FACEPRINT_INDEX_SHARDS` (default {@link DEFAULT_INDEX_SHARDS}): the shards the indexer publishes. */
  indexShards: number;
  /** `FACEPRINT_INDEX_DTYPE` (default `int8`): the element type of the shards the indexer publishes. */
  indexDtype: 'int8' | 'float32';
  /** Batch job settings (role `batch` only). */
  batch?: BatchSettings | undefined;
  /** `FACEPRINT_BATCH_FEED_QUEUE_URL`: where ingest hands videos to Batch (undefined: no Batch, videos refused). */
  batchFeedQueueUrl?: string | undefined;
  /** Unknown persons and reviews: the configuration texts, checked at cold start (as local mode reads them). */
  followUp: { retentionDays: string | undefined; reviewRule: string | undefined };
}

export interface BatchSettings {
  manifest: string | undefined;
  concurrency: number;
  progressEvery: number;
}

/** The configuration of one runtime: the base plus exactly the resources it is bound to. */
export type ConfigFor<R extends Role> = BaseConfig & Pick<Resources, (typeof REQUIRED)[R][number]>;

/** Any runtime's configuration: resources it is not bound to are absent. */
export type AwsConfig = BaseConfig & Partial<Resources>;

/** Thrown at cold start when the environment does not satisfy the runtime's contract. */
export class ConfigError extends Error {
  constructor(
    readonly role: Role,
    readonly problems: string[],
  ) {
    super(`Faceprint ${role}: invalid configuration: ${problems.join('; ')}.`);
    this.name = 'ConfigError';
  }
}

function problemsOf(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.map(String).join('.')}: ${issue.message}`);
}

/**
 * Reads and validates the configuration of `role` from `env`. Call once per module, at load.
 *
 * @throws ConfigError listing every missing or malformed variable.
 */
export function readConfig<R extends Role>(role: R, env: NodeJS.ProcessEnv = process.env): ConfigFor<R> {
  const names: readonly ResourceName[] = REQUIRED[role];
  const shape: Record<string, z.ZodType> = {};
  for (const name of names) shape[RESOURCES[name].env] = RESOURCES[name].schema;
  const problems: string[] = [];

  const common = Common.safeParse(env);
  if (!common.success) problems.push(...problemsOf(common.error));
  const bound = z.object(shape).safeParse(env);
  if (!bound.success) problems.push(...problemsOf(bound.error));
  const batch = role === 'batch' ? Batch.safeParse(env) : undefined;
  if (batch && !batch.success) problems.push(...problemsOf(batch.error));

  let calibration: Calibration | undefined;
  if (common.success) {
    try {
      // The image sets FACEPRINT_CALIBRATION to the calibration it carries; elsewhere, the repository's file.
      calibration = loadCalibration(common.data[CALIBRATION_ENV] ?? SHIPPED_CALIBRATION_PATH);
    } catch (error) {
      problems.push(`${CALIBRATION_ENV}: ${(error as Error).message}`);
    }
    // Fail closed on the models too: a runtime that embeds faces must not start on altered files.
    if (role !== 'indexer') {
      const modelsDir = common.data[ENV.modelsDir];
      try {
        verifyModelsDir(modelsDir ? resolve(modelsDir) : defaultModelsDir());
      } catch (error) {
        problems.push(`${ENV.modelsDir}: ${(error as Error).message}`);
      }
    }
  }
  if (common.success) {
    try {
      parseRetentionDays(common.data[ENV.unknownRetentionDays]);
    } catch (error) {
      problems.push(`${ENV.unknownRetentionDays}: ${(error as Error).message}`);
    }
    try {
      parseReviewRule(common.data[ENV.reviewRule]);
    } catch (error) {
      problems.push(`${ENV.reviewRule}: ${(error as Error).message}`);
    }
  }
  if (!common.success || !bound.success || problems.length > 0 || !calibration) {
    throw new ConfigError(role, problems);
  }

  const resources: Partial<Record<ResourceName, unknown>> = {};
  for (const name of names) resources[name] = (bound.data as Record<string, unknown>)[RESOURCES[name].env];
  const config: AwsConfig = {
    role,
    bucket: common.data[ENV.bucket],
    serviceName: common.data[ENV.serviceName],
    metricsNamespace: common.data[ENV.metricsNamespace],
    modelsDir: common.data[ENV.modelsDir],
    calibration,
    vectorIndex: common.data[ENV.vectorIndex],
    indexShards: common.data[ENV.indexShards],
    indexDtype: common.data[ENV.indexDtype],
    batchFeedQueueUrl: common.data[ENV.batchFeedQueueUrl],
    followUp: {
      retentionDays: common.data[ENV.unknownRetentionDays],
      reviewRule: common.data[ENV.reviewRule],
    },
    ...(batch?.success
      ? {
          batch: {
            manifest: batch.data[BATCH_ENV.manifest],
            concurrency: batch.data[BATCH_ENV.concurrency],
            progressEvery: batch.data[BATCH_ENV.progressEvery],
          },
        }
      : {}),
    ...(resources as Partial<Resources>),
  };
  // Every resource of REQUIRED[role] was validated above.
  return Object.freeze(config) as ConfigFor<R>;
}

/**
 * A resource that the runtime's role is not bound to, as a value that fails loudly if it is ever used (the
 * adapters take every table name; a runtime only touches the ones its role needs).
 */
export function notBound(name: string): string {
  return `not-bound-to-this-function.${name}`;
}
