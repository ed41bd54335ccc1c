/**
 * The contract between the CDK infrastructure and the code that runs in the container image
 * (`functions/handlers/*.ts`, bundled by `functions/Dockerfile`).
 *
 * Infrastructure only: names and fixed values, no logic. The handlers read their configuration from the
 * environment variables listed here; the stacks set exactly these names, never string literals of their own.
 *
 * | variable | set on | value |
 * |---|---|---|
 * | `FACEPRINT_BUCKET` | every function, Batch job | name of the one data bucket |
 * | `FACEPRINT_SUBJECTS_TABLE` | api, ingest, enrol, Batch | subjects table name |
 * | `FACEPRINT_TEMPLATES_TABLE` | api, ingest, enrol, indexer, Batch | templates table name (streamed to the indexer) |
 * | `FACEPRINT_DETECTIONS_TABLE` | api, ingest, Batch | detections / decision-audit table name |
 * | `FACEPRINT_IDEMPOTENCY_TABLE` | api, ingest, enrol, Batch | Powertools idempotency table name |
 * | `FACEPRINT_FOLLOW_UP_TABLE` | api, ingest, Batch | unknown persons, sightings, reviews, negatives (TTL `expiresAt`) |
 * | `FACEPRINT_UNKNOWN_RETENTION_DAYS` | api, ingest, Batch | days an unknown face is kept (default 30; as in local mode) |
 * | `FACEPRINT_REVIEW` | api, ingest, Batch | review rule: `all`, `below:<similarity>`, `watch:<id>,…`, `off` |
 * | `FACEPRINT_INDEX_PREFIX` | api, ingest, indexer, Batch | `index/` — where the vector-index snapshots live |
 * | `FACEPRINT_EVENT_BUS` | ingest, Batch | name of the custom EventBridge bus for detection events |
 * | `FACEPRINT_BATCH_FEED_QUEUE_URL` | ingest (when Batch is deployed) | URL of the Batch feed queue: videos under `uploads/` are handed to Batch through it |
 * | `FACEPRINT_MODELS_DIR` | the image (Dockerfile `ENV`) | `/opt/models` |
 * | `FACEPRINT_EXECUTION_PROVIDERS` | Batch on the GPU image | `cuda,cpu`: ONNX Runtime providers in order of preference |
 * | `FACEPRINT_API_KEYS_REQUIRED` | api | `"true"` or `"false"`: whether API Gateway demands an API key |
 * | `POWERTOOLS_SERVICE_NAME` | every function, Batch job | `faceprint-api`, `faceprint-ingest`, … |
 * | `POWERTOOLS_METRICS_NAMESPACE` | every function, Batch job | `Faceprint` |
 *
 * @module
 */

/** Names of the environment variables the runtime reads. */
export const ENV = {
  bucket: 'FACEPRINT_BUCKET',
  subjectsTable: 'FACEPRINT_SUBJECTS_TABLE',
  templatesTable: 'FACEPRINT_TEMPLATES_TABLE',
  detectionsTable: 'FACEPRINT_DETECTIONS_TABLE',
  idempotencyTable: 'FACEPRINT_IDEMPOTENCY_TABLE',
  followUpTable: 'FACEPRINT_FOLLOW_UP_TABLE',
  unknownRetentionDays: 'FACEPRINT_UNKNOWN_RETENTION_DAYS',
  reviewRule: 'FACEPRINT_REVIEW',
  indexPrefix: 'FACEPRINT_INDEX_PREFIX',
  indexShards: 'FACEPRINT_INDEX_SHARDS',
  indexDtype: 'FACEPRINT_INDEX_DTYPE',
  eventBus: 'FACEPRINT_EVENT_BUS',
  batchFeedQueueUrl: 'FACEPRINT_BATCH_FEED_QUEUE_URL',
  vectorBucket: 'FACEPRINT_VECTOR_BUCKET',
  vectorIndex: 'FACEPRINT_VECTOR_INDEX',
  modelsDir: 'FACEPRINT_MODELS_DIR',
  executionProviders: 'FACEPRINT_EXECUTION_PROVIDERS',
  apiKeysRequired: 'FACEPRINT_API_KEYS_REQUIRED',
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
} as const;

/** One of the environment variable names in {@link ENV}. */
export type EnvName = (typeof ENV)[keyof typeof ENV];

/**
 * Key prefixes of the data bucket. Each has one meaning, and IAM grants are scoped to them.
 * - `gallery/`: enrolment photos; ObjectCreated → enrol queue → enrol function.
 * - `uploads/`: probe images (camera stills); ObjectCreated → ingest queue → ingest function.
 * - `index/`: vector-index snapshots written by the indexer, read by api and ingest.
 * - `results/`: output of Batch jobs.
 * - `batch/`: bulk input for Batch jobs (manifests and images). No notification watches it, so a bulk
 *   load never fans out into millions of Lambda invocations.
 * - `photos/`: enrolment photos that came through the API (uploads under `gallery/` are kept there), so a
 *   re-embedding job can analyse them with another model pack.
 */
export const PREFIX = {
  gallery: 'gallery/',
  uploads: 'uploads/',
  index: 'index/',
  results: 'results/',
  batch: 'batch/',
  photos: 'photos/',
} as const;

/** Where the ingest function writes the one-video manifests of videos it hands to Batch (inside `batch/`). */
export const VIDEO_MANIFEST_PREFIX = 'batch/videos/';

/** Where the Batch job writes a video's annotated MP4 and track thumbnails (inside `results/`). */
export const VIDEO_RESULTS_PREFIX = 'results/videos/';

/** Where the Dockerfile puts the ONNX models and `manifest.json` (also `FACEPRINT_MODELS_DIR`). */
export const MODELS_DIR = '/opt/models';

/** `POWERTOOLS_METRICS_NAMESPACE` of every function and the Batch job. */
export const METRICS_NAMESPACE = 'Faceprint';

/** `source` of the detection events the ingest function (and the Batch job) put on the custom bus. */
export const DETECTION_EVENT_SOURCE = 'faceprint.ingest';

/**
 * Lambda `CMD` per function: `<file>.<export>` resolved in `/var/task`, where the Dockerfile puts the
 * esbuild bundles (`api.mjs`, `ingest.mjs`, `enrol.mjs`, `indexer.mjs`).
 */
export const HANDLER_CMD = {
  api: 'api.handler',
  ingest: 'ingest.handler',
  enrol: 'enrol.handler',
  indexer: 'indexer.handler',
} as const;

/**
 * Command of the Batch job. `Ref::manifest` is an AWS Batch parameter: the job gets the S3 key of its
 * manifest (under `batch/`) as its first argument. The pipe from the Batch queue fills it from the
 * message body's `manifest` field; `aws batch submit-job --parameters manifest=…` works too.
 */
export const BATCH_COMMAND = ['node', '/var/task/batch.mjs', 'Ref::manifest'] as const;

/** Name of the Batch job parameter that carries the manifest key (see {@link BATCH_COMMAND}). */
export const BATCH_MANIFEST_PARAMETER = 'manifest';

/**
 * Key schema of the DynamoDB tables (all attributes are strings). The DynamoDB adapters must use these
 * attribute names; changing one replaces the table, so treat them as frozen.
 */
export const TABLE_KEYS = {
  /** Subjects: `pk` = subject id, `sk` = record kind (e.g. `SUBJECT`). */
  subjects: { partitionKey: 'pk', sortKey: 'sk' },
  /**
   * Templates: `pk` = subject id, `sk` = template id. Streamed (new and old images) to the indexer. The
   * `byCreation` index (`feedBucket` = `<day>#<shard>`, `createdAt`) lets a reader catch up with the templates
   * created after its snapshot by key, without scanning the table.
   */
  templates: {
    partitionKey: 'pk',
    sortKey: 'sk',
    byCreation: { indexName: 'byCreation', partitionKey: 'feedBucket', sortKey: 'createdAt' },
  },
  /** Detections and the decision audit log: `pk` / `sk` chosen by the adapter; `expiresAt` (epoch s) is the TTL. */
  detections: { partitionKey: 'pk', sortKey: 'sk', timeToLive: 'expiresAt' },
  /** Powertools idempotency table: its defaults, `id` and `expiration`. */
  idempotency: { partitionKey: 'id', timeToLive: 'expiration' },
  /**
   * Unknown persons, sightings, reviews and negatives (`functions/adapters/aws/follow-up-table.ts` lays the
   * item types out): `pk` / `sk`, `expiresAt` (epoch s) the TTL of sightings, GSI1 lists by recency, GSI2 by
   * rank (sighting count, review status, sighting expiry).
   */
  followUp: {
    partitionKey: 'pk',
    sortKey: 'sk',
    timeToLive: 'expiresAt',
    indexes: {
      recent: { name: 'ByRecency', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
      rank: { name: 'ByRank', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
    },
  },
} as const;

/**
 * The routes of the Hono app in `functions/handlers/api.ts`. API Gateway declares exactly these (no
 * catch-all proxy), so an unknown path is answered by API Gateway and never reaches — or bills — Lambda.
 * `{id}` is a path parameter.
 */
export const API_ROUTES = [
  { method: 'POST', path: '/subjects' },
  { method: 'GET', path: '/subjects' },
  { method: 'GET', path: '/subjects/{id}' },
  { method: 'DELETE', path: '/subjects/{id}' },
  { method: 'POST', path: '/subjects/{id}/faces' },
  { method: 'POST', path: '/identify' },
  { method: 'POST', path: '/verify' },
  { method: 'POST', path: '/detect' },
  { method: 'GET', path: '/health' },
  { method: 'GET', path: '/openapi.json' },
  { method: 'GET', path: '/decisions' },
  { method: 'GET', path: '/settings' },
  { method: 'GET', path: '/subjects/{id}/thumbnail' },
  { method: 'GET', path: '/subjects/{id}/templates/{templateId}/thumbnail' },
  // Unknown persons and the review queue (the follow-up table).
  { method: 'GET', path: '/unknowns' },
  { method: 'GET', path: '/unknowns/{id}' },
  { method: 'DELETE', path: '/unknowns/{id}' },
  { method: 'GET', path: '/unknowns/{id}/sightings/{sightingId}/crop' },
  { method: 'POST', path: '/unknowns/{id}/promote' },
  { method: 'POST', path: '/unknowns/{id}/merge' },
  { method: 'POST', path: '/unknowns/{id}/split' },
  { method: 'GET', path: '/reviews' },
  { method: 'GET', path: '/reviews/{id}' },
  { method: 'POST', path: '/reviews/{id}' },
  { method: 'GET', path: '/reviews/{id}/crop' },
] as const;

/**
 * The web console's static shell, served by the same api function (`functions/handlers/http/console-routes.ts`).
 * These methods alone need neither a Cognito token nor an API key: a browser cannot attach either to a page
 * load, and the files hold no data; every API call the console then makes goes through the routes above.
 */
export const CONSOLE_ROUTES = [
  { method: 'GET', path: '/' },
  { method: 'GET', path: '/console/{file}' },
] as const;

/** Request bodies API Gateway passes to Lambda base64-encoded (binary). */
export const API_BINARY_MEDIA_TYPES = ['image/*', 'multipart/form-data'] as const;
