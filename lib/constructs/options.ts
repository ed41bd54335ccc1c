import { Duration, Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { InstanceClass } from 'aws-cdk-lib/aws-ec2';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/** Size and limits of one function. Every field is optional; unset fields keep Faceprint's default. */
export interface FunctionSizing {
  /**
   * Memory in MB, 128–10240. Lambda gives CPU in proportion to memory (one vCPU at 1769 MB), and the ONNX
   * models are CPU-bound, so the inference functions default high.
   * @default api 3008, ingest 3008, enrol 2048, indexer 1024
   */
  readonly memorySize?: number;
  /**
   * Timeout. The api function is capped at 29 s (the API Gateway integration timeout).
   * @default api 29 s, ingest 90 s, enrol 120 s, indexer 300 s
   */
  readonly timeout?: Duration;
  /**
   * Reserved concurrency. Unset by default: on a new account (concurrency quota 10) any reservation
   * fails the deployment, because Lambda keeps 10 unreserved.
   * @default - none
   */
  readonly reservedConcurrentExecutions?: number;
}

/** Authorisation of the REST API. Every method uses it; none is open. */
export type ApiAuthorization = 'cognito' | 'iam';

/** AWS Batch options (bulk processing on GPU instances with the same container image). */
export interface FaceprintBatchOptions {
  /**
   * EC2 instance classes of the managed compute environment (any size of each).
   * @default [G4DN, G5]
   */
  readonly instanceClasses?: InstanceClass[];
  /**
   * Upper bound of the compute environment. The lower bound is always 0: nothing runs, nothing is billed,
   * while the job queue is empty.
   * @default 64
   */
  readonly maxvCpus?: number;
  /** Use Spot capacity (cheaper, can be interrupted; jobs are retried). @default false */
  readonly spot?: boolean;
  /** vCPUs of one job. @default 4 */
  readonly jobVcpus?: number;
  /** Memory of one job in MiB. @default 14336 (fits a g4dn.xlarge / g5.xlarge next to the ECS agent) */
  readonly jobMemoryMiB?: number;
  /** GPUs of one job. @default 1 */
  readonly jobGpus?: number;
  /** Wall-clock limit of one job attempt. @default 4 hours */
  readonly jobTimeout?: Duration;
  /**
   * The job's container image. `gpu`: the image's cuda variant (`FACEPRINT_EXECUTION_PROVIDER=cuda` build
   * argument; its build fetches ONNX Runtime's CUDA provider and the CUDA runtime, so it needs network), run with
   * `FACEPRINT_EXECUTION_PROVIDERS=cuda,cpu`. `cpu`: the functions' image, ONNX Runtime on the instances' CPUs
   * (the fallback where the cuda variant cannot be built).
   * @default 'gpu' when jobGpus > 0, else 'cpu'
   */
  readonly image?: 'gpu' | 'cpu';
  /**
   * VPC for the compute environment. By default Faceprint creates a small VPC with public subnets only
   * (no NAT gateway, so nothing is billed while idle), S3 and DynamoDB gateway endpoints, flow logs, and a
   * security group without ingress.
   * @default - a new VPC
   */
  readonly vpc?: ec2.IVpc;
  /** Subnets of {@link vpc} for the instances. @default - public subnets of the created VPC; private ones of yours */
  readonly vpcSubnets?: ec2.SubnetSelection;
}

/**
 * Options of a Faceprint deployment, shared by `Faceprint`, `StatefulStack` and `StatelessStack`.
 * Defaults are secure and cheap at idle; every number is checked at synth time.
 */
export interface FaceprintOptions {
  /**
   * CPU architecture of the container image and the functions. ARM_64 is about 20% cheaper per GB-s but
   * the Batch GPU instances (g4dn, g5) are x86_64, so ARM_64 requires `batch: false`.
   * @default Architecture.X86_64
   */
  readonly architecture?: Architecture;
  /** Per-function sizing. */
  readonly functions?: {
    readonly api?: FunctionSizing;
    readonly ingest?: FunctionSizing;
    readonly enrol?: FunctionSizing;
    readonly indexer?: FunctionSizing;
  };
  /** Retention of every log group Faceprint creates. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /**
   * How callers authenticate to the API: `cognito` (a user pool JWT in `Authorization`, for people) or
   * `iam` (SigV4-signed requests, for roles and SSO users).
   * @default 'cognito'
   */
  readonly apiAuthorization?: ApiAuthorization;
  /** Also require an API key (`x-api-key`) on every method, metered by a usage plan. @default true */
  readonly apiKeysRequired?: boolean;
  /** Stage-wide throttling, requests per second and burst. @default { rateLimit: 50, burstLimit: 100 } */
  readonly apiThrottle?: { readonly rateLimit: number; readonly burstLimit: number };
  /** ARN of a WAFv2 web ACL (REGIONAL scope) to associate with the API stage. @default - none */
  readonly webAclArn?: string;
  /** E-mail address subscribed to the alarm topic (DLQ alarms). @default - no subscription */
  readonly alarmEmail?: string;
  /** Maximum concurrent ingest invocations the upload queue may drive (2–1000). @default 10 */
  readonly ingestMaxConcurrency?: number;
  /** Receives of an upload or gallery message before it moves to its DLQ. @default 3 */
  readonly maxReceiveCount?: number;
  /** Days after which noncurrent object versions are deleted. @default 30 */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Days after which superseded versions of the objects under `index/` expire. The indexer overwrites the
   * snapshot on every change of the templates table, which is the source of truth, so old versions are only
   * worth keeping for a short roll-back window. The current snapshot never expires.
   * @default 30
   */
  readonly indexSnapshotExpirationDays?: number;
  /** Days after which server access logs are deleted. @default 365 */
  readonly accessLogExpirationDays?: number;
  /**
   * Days an unknown face (sighting, crop, embedding) is kept before it is erased (`FACEPRINT_UNKNOWN_RETENTION_DAYS`).
   * @default 30
   */
  readonly unknownRetentionDays?: number;
  /**
   * Which matches enter the review queue (`FACEPRINT_REVIEW`): `all`, `below:<similarity>`, `watch:<id>,…` or `off`.
   * @default 'all'
   */
  readonly reviewRule?: string;
  /** AWS Batch for bulk jobs on GPU instances, or `false` for none. @default {} (enabled, defaults above) */
  readonly batch?: FaceprintBatchOptions | false;
  /**
   * Where identify searches: `snapshot` (the exact index loaded from `index/` in S3; right for small and
   * medium galleries) or `s3vectors` (an Amazon S3 Vectors bucket and index, for millions of templates; see
   * docs/deploy.md for the crossover, latency and cost).
   * @default 'snapshot'
   */
  readonly index?: IndexBackend;
  /**
   * How many shards the indexer publishes the snapshot in (`FACEPRINT_INDEX_SHARDS`, 1–256): a stream batch
   * rewrites only its subjects' shards, and a cold container fetches them side by side. Readers take the count
   * from the published manifest, so changing it re-shards on the next batch.
   * @default 16
   */
  readonly indexShards?: number;
  /**
   * The element type of the published shards (`FACEPRINT_INDEX_DTYPE`): `int8` is a quarter of float32's bytes for
   * every cold container to fetch and decode (52 MB instead of 198 MB at 100k templates), at a cosine error around
   * 1e-3 (exact-int8 recall@1 1.000 at 100k, 0.998 at 1M against float32); `float32` is exact.
   * @default 'int8'
   */
  readonly indexDtype?: 'int8' | 'float32';
}

/** Which vector index identify uses in AWS. */
export type IndexBackend = 'snapshot' | 's3vectors';

/** {@link FunctionSizing} with every default applied. */
export interface ResolvedSizing {
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly reservedConcurrentExecutions: number | undefined;
}

/** {@link FaceprintBatchOptions} with every default applied. */
export interface ResolvedBatchOptions {
  readonly instanceClasses: InstanceClass[];
  readonly maxvCpus: number;
  readonly spot: boolean;
  readonly jobVcpus: number;
  readonly jobMemoryMiB: number;
  readonly jobGpus: number;
  readonly jobTimeout: Duration;
  readonly image: 'gpu' | 'cpu';
  readonly vpc: ec2.IVpc | undefined;
  readonly vpcSubnets: ec2.SubnetSelection | undefined;
}

/** {@link FaceprintOptions} with every default applied and every value checked. */
export interface ResolvedFaceprintOptions {
  readonly architecture: Architecture;
  readonly functions: {
    readonly api: ResolvedSizing;
    readonly ingest: ResolvedSizing;
    readonly enrol: ResolvedSizing;
    readonly indexer: ResolvedSizing;
  };
  readonly logRetention: RetentionDays;
  readonly apiAuthorization: ApiAuthorization;
  readonly apiKeysRequired: boolean;
  readonly apiThrottle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly webAclArn: string | undefined;
  readonly alarmEmail: string | undefined;
  readonly ingestMaxConcurrency: number;
  readonly maxReceiveCount: number;
  readonly noncurrentVersionExpirationDays: number;
  readonly indexSnapshotExpirationDays: number;
  readonly accessLogExpirationDays: number;
  readonly unknownRetentionDays: number;
  readonly reviewRule: string;
  readonly batch: ResolvedBatchOptions | undefined;
  readonly index: IndexBackend;
  readonly indexShards: number;
  readonly indexDtype: 'int8' | 'float32';
}

/** Defaults of each function, in one place. */
export const FUNCTION_DEFAULTS = {
  api: { memorySize: 3008, timeout: Duration.seconds(29) },
  ingest: { memorySize: 3008, timeout: Duration.seconds(90) },
  enrol: { memorySize: 2048, timeout: Duration.seconds(120) },
  indexer: { memorySize: 1024, timeout: Duration.seconds(300) },
} as const;

/** SQS visibility timeout = this × the consumer's timeout (AWS's guidance for Lambda event sources). */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/** Thrown for an option that would not deploy or would deploy something unsafe. */
export class FaceprintConfigError extends Error {
  constructor(message: string) {
    super(`Faceprint: ${message}`);
    this.name = 'FaceprintConfigError';
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new FaceprintConfigError(message);
}

function checkInteger(value: number, min: number, max: number, name: string): void {
  if (Token.isUnresolved(value)) return;
  check(
    Number.isInteger(value) && value >= min && value <= max,
    `${name} must be an integer in [${min}, ${max}], got ${value}`,
  );
}

function resolveSizing(
  name: keyof typeof FUNCTION_DEFAULTS,
  sizing: FunctionSizing | undefined,
  maxTimeoutSeconds: number,
): ResolvedSizing {
  const defaults = FUNCTION_DEFAULTS[name];
  const memorySize = sizing?.memorySize ?? defaults.memorySize;
  const timeout = sizing?.timeout ?? defaults.timeout;
  const reserved = sizing?.reservedConcurrentExecutions;
  checkInteger(memorySize, 128, 10_240, `functions.${name}.memorySize`);
  const seconds = timeout.toSeconds();
  check(
    seconds >= 1 && seconds <= maxTimeoutSeconds,
    `functions.${name}.timeout must be between 1 s and ${maxTimeoutSeconds} s, got ${seconds} s`,
  );
  if (reserved !== undefined)
    checkInteger(reserved, 0, 10_000, `functions.${name}.reservedConcurrentExecutions`);
  return { memorySize, timeout, reservedConcurrentExecutions: reserved };
}

/**
 * Applies defaults and checks every option. Throws {@link FaceprintConfigError} with the option's name.
 * Both stacks call it with the same options, so the queue visibility timeouts (stateful stack) always
 * match the function timeouts (stateless stack).
 */
export function resolveOptions(options: FaceprintOptions = {}): ResolvedFaceprintOptions {
  const architecture = options.architecture ?? Architecture.X86_64;
  const functions = {
    // API Gateway REST integrations time out after 29 s; a longer function timeout only hides failures.
    api: resolveSizing('api', options.functions?.api, 29),
    ingest: resolveSizing('ingest', options.functions?.ingest, 900),
    enrol: resolveSizing('enrol', options.functions?.enrol, 900),
    indexer: resolveSizing('indexer', options.functions?.indexer, 900),
  };
  // The queue visibility timeout (6 × the function timeout) must stay within SQS's 12-hour limit: true for ≤ 900 s.

  const apiAuthorization = options.apiAuthorization ?? 'cognito';
  check(
    apiAuthorization === 'cognito' || apiAuthorization === 'iam',
    `apiAuthorization must be 'cognito' or 'iam', got ${String(apiAuthorization)}`,
  );

  const apiThrottle = options.apiThrottle ?? { rateLimit: 50, burstLimit: 100 };
  check(apiThrottle.rateLimit > 0, `apiThrottle.rateLimit must be > 0, got ${apiThrottle.rateLimit}`);
  checkInteger(apiThrottle.burstLimit, 1, 5000, 'apiThrottle.burstLimit');

  const ingestMaxConcurrency = options.ingestMaxConcurrency ?? 10;
  checkInteger(ingestMaxConcurrency, 2, 1000, 'ingestMaxConcurrency');
  const maxReceiveCount = options.maxReceiveCount ?? 3;
  checkInteger(maxReceiveCount, 1, 1000, 'maxReceiveCount');

  const noncurrentVersionExpirationDays = options.noncurrentVersionExpirationDays ?? 30;
  checkInteger(noncurrentVersionExpirationDays, 1, 3650, 'noncurrentVersionExpirationDays');
  const indexSnapshotExpirationDays = options.indexSnapshotExpirationDays ?? 30;
  checkInteger(indexSnapshotExpirationDays, 1, 3650, 'indexSnapshotExpirationDays');
  const accessLogExpirationDays = options.accessLogExpirationDays ?? 365;
  checkInteger(accessLogExpirationDays, 1, 3650, 'accessLogExpirationDays');
  const unknownRetentionDays = options.unknownRetentionDays ?? 30;
  checkInteger(unknownRetentionDays, 1, 3650, 'unknownRetentionDays');
  const indexShards = options.indexShards ?? 16;
  checkInteger(indexShards, 1, 256, 'indexShards');
  const indexDtype = options.indexDtype ?? 'int8';
  check(
    indexDtype === 'int8' || indexDtype === 'float32',
    `indexDtype must be 'int8' or 'float32', got ${String(indexDtype)}`,
  );
  const reviewRule = options.reviewRule ?? 'all';
  // The same grammar the runtime parses at cold start (core/review/service.ts parseReviewRule), refused here first.
  if (!/^(all|off|below:-?(\d+\.?\d*|\.\d+)|watch:[^,\s]+(,[^,\s]+)*)$/.test(reviewRule)) {
    throw new Error(
      `reviewRule must be all, off, below:<similarity> or watch:<id>,<id>…, not "${reviewRule}".`,
    );
  }

  const alarmEmail = options.alarmEmail;
  if (alarmEmail !== undefined && !Token.isUnresolved(alarmEmail)) {
    check(
      /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail),
      `alarmEmail is not an e-mail address: ${alarmEmail}`,
    );
  }
  const webAclArn = options.webAclArn;
  if (webAclArn !== undefined && !Token.isUnresolved(webAclArn)) {
    check(
      /^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\//.test(webAclArn),
      `webAclArn must be a REGIONAL WAFv2 web ACL ARN, got ${webAclArn}`,
    );
  }

  const index = options.index ?? 'snapshot';
  check(
    index === 'snapshot' || index === 's3vectors',
    `index must be 'snapshot' or 's3vectors', got ${String(index)}`,
  );

  let batch: ResolvedBatchOptions | undefined;
  if (options.batch !== false) {
    const b = options.batch ?? {};
    batch = {
      instanceClasses: b.instanceClasses ?? [InstanceClass.G4DN, InstanceClass.G5],
      maxvCpus: b.maxvCpus ?? 64,
      spot: b.spot ?? false,
      jobVcpus: b.jobVcpus ?? 4,
      jobMemoryMiB: b.jobMemoryMiB ?? 14_336,
      jobGpus: b.jobGpus ?? 1,
      jobTimeout: b.jobTimeout ?? Duration.hours(4),
      image: b.image ?? ((b.jobGpus ?? 1) > 0 ? 'gpu' : 'cpu'),
      vpc: b.vpc,
      vpcSubnets: b.vpcSubnets,
    };
    check(batch.instanceClasses.length > 0, 'batch.instanceClasses must not be empty');
    checkInteger(batch.maxvCpus, 1, 10_000, 'batch.maxvCpus');
    checkInteger(batch.jobVcpus, 1, batch.maxvCpus, 'batch.jobVcpus');
    checkInteger(batch.jobMemoryMiB, 512, 1_048_576, 'batch.jobMemoryMiB');
    checkInteger(batch.jobGpus, 0, 16, 'batch.jobGpus');
    check(batch.jobTimeout.toSeconds() >= 60, 'batch.jobTimeout must be at least 60 s (AWS Batch minimum)');
    check(batch.image === 'gpu' || batch.image === 'cpu', 'batch.image must be "gpu" or "cpu"');
    check(batch.image !== 'gpu' || batch.jobGpus > 0, 'batch.image "gpu" needs batch.jobGpus of at least 1');
    check(
      architecture === Architecture.X86_64,
      'architecture ARM_64 cannot share its image with the x86_64 GPU instances of AWS Batch; set batch: false',
    );
  }

  return {
    architecture,
    functions,
    logRetention: options.logRetention ?? RetentionDays.ONE_MONTH,
    apiAuthorization,
    apiKeysRequired: options.apiKeysRequired ?? true,
    apiThrottle,
    webAclArn,
    alarmEmail,
    ingestMaxConcurrency,
    maxReceiveCount,
    noncurrentVersionExpirationDays,
    indexSnapshotExpirationDays,
    accessLogExpirationDays,
    unknownRetentionDays,
    reviewRule,
    batch,
    index,
    indexShards,
    indexDtype,
  };
}

/** Visibility timeout of a queue consumed by a function with `timeout`. */
export function visibilityTimeoutFor(timeout: Duration): Duration {
  return Duration.seconds(timeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR);
}
