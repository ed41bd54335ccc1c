import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, IgnoreMode, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as cognito from 'aws-cdk-lib/aws-cognito';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  ENV,
  HANDLER_CMD,
  METRICS_NAMESPACE,
  PREFIX,
  VIDEO_MANIFEST_PREFIX,
  VIDEO_RESULTS_PREFIX,
} from '../runtime-config.ts';
import { FaceprintApi } from './api.ts';
import { FaceprintBatch } from './batch.ts';
import { RuntimeBinding } from './binding.ts';
import { FaceprintFunction } from './faceprint-function.ts';
import { acknowledgeLeastPrivilegeWildcards } from './nag.ts';
import type { ResolvedFaceprintOptions } from './options.ts';
import type { FaceprintStorage } from './storage.ts';

/** The repository root: the Docker build context of `functions/Dockerfile`. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Path of the Dockerfile, relative to {@link REPO_ROOT}. */
export const DOCKERFILE = 'functions/Dockerfile';

/** Properties of {@link FaceprintCompute}. */
export interface FaceprintComputeProps {
  /** Resolved deployment options (see `resolveOptions`); the same object the storage was built with. */
  readonly options: ResolvedFaceprintOptions;
  /** The stateful resources (possibly in another stack). */
  readonly storage: FaceprintStorage;
  /** Required when `options.apiAuthorization` is `cognito`. */
  readonly userPool?: cognito.IUserPool | undefined;
}

/**
 * Everything in Faceprint that holds no data and can be replaced at will: the container image, the four
 * functions and their event sources, the REST API, the detection event bus, the alarms and AWS Batch.
 *
 * Flow: `uploads/` → ingest queue → ingest → detections table + `faceprint.ingest` events on the bus;
 * `gallery/` → enrol queue → enrol → subjects and templates tables; templates stream → indexer →
 * `index/` snapshot; API → api function; Batch feed queue → pipe → Batch job.
 */
export class FaceprintCompute extends Construct {
  /** The one container image; its hash covers only what `.dockerignore` lets into the build context. */
  readonly image: DockerImageAsset;
  readonly api: FaceprintFunction;
  readonly ingest: FaceprintFunction;
  readonly enrol: FaceprintFunction;
  readonly indexer: FaceprintFunction;
  /** DLQ of the indexer's stream event source (on-failure destination). */
  readonly indexerDlq: sqs.Queue;
  readonly restApi: FaceprintApi;
  /** Custom bus for detection events (`source: faceprint.ingest`). */
  readonly eventBus: events.EventBus;
  /** Alarm notifications (DLQs not empty). */
  readonly alarmTopic: sns.Topic;
  readonly batch: FaceprintBatch | undefined;

  constructor(scope: Construct, id: string, props: FaceprintComputeProps) {
    super(scope, id);
    const { options, storage } = props;

    const arm = options.architecture === Architecture.ARM_64;
    this.image = new DockerImageAsset(this, 'Image', {
      directory: REPO_ROOT,
      file: DOCKERFILE,
      // The repository's .dockerignore (an allow-list) is read by CDK for the asset hash and by Docker for the
      // build context, so both see the same files and node_modules is never walked.
      ignoreMode: IgnoreMode.DOCKER,
      platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
      buildArgs: { FACEPRINT_NPM_CPU: arm ? 'arm64' : 'x64' },
    });

    this.eventBus = new events.EventBus(this, 'DetectionBus', {
      description: 'Faceprint detection events (source faceprint.ingest)',
    });

    const common = {
      image: this.image,
      architecture: options.architecture,
      logRetention: options.logRetention,
    };

    this.api = new FaceprintFunction(this, 'Api', {
      ...common,
      cmd: HANDLER_CMD.api,
      serviceName: 'faceprint-api',
      description: 'Faceprint REST API (subjects, identify, verify, detect)',
      sizing: options.functions.api,
    })
      // Reads index snapshots. Erasure on DELETE /subjects/{id} deletes (every version of) the subject's
      // enrolment photos, the uploads decided as the subject and superseded snapshots. It does not write
      // gallery/: that would make the enrol function enrol the same photo a second time.
      // Keeps photos enrolled through the API under photos/ (for a re-embedding job) and erases them with the subject.
      // Erasure also deletes the best-face thumbnails of the subject's video tracks (results/videos/ only).
      .useBucket(storage.bucket, {
        read: [PREFIX.index, PREFIX.photos],
        write: [PREFIX.photos],
        delete: [PREFIX.gallery, PREFIX.uploads, PREFIX.index, PREFIX.photos, VIDEO_RESULTS_PREFIX],
      })
      .useTable(ENV.subjectsTable, storage.subjectsTable, 'readWrite')
      .useTable(ENV.templatesTable, storage.templatesTable, 'readWrite')
      .useTable(ENV.detectionsTable, storage.detectionsTable, 'readWrite')
      .useTable(ENV.idempotencyTable, storage.idempotencyTable, 'readWrite')
      .useTable(ENV.followUpTable, storage.followUpTable, 'readWrite')
      .setEnv(ENV.unknownRetentionDays, String(options.unknownRetentionDays))
      .setEnv(ENV.reviewRule, options.reviewRule)
      .setEnv(ENV.indexPrefix, PREFIX.index)
      .setEnv(ENV.apiKeysRequired, String(options.apiKeysRequired));

    this.ingest = new FaceprintFunction(this, 'Ingest', {
      ...common,
      cmd: HANDLER_CMD.ingest,
      serviceName: 'faceprint-ingest',
      description: 'Faceprint: detect and identify faces in images uploaded under uploads/',
      sizing: options.functions.ingest,
    })
      .useBucket(storage.bucket, { read: [PREFIX.uploads, PREFIX.index] })
      .useTable(ENV.subjectsTable, storage.subjectsTable, 'read')
      .useTable(ENV.templatesTable, storage.templatesTable, 'read')
      .useTable(ENV.detectionsTable, storage.detectionsTable, 'readWrite')
      .useTable(ENV.idempotencyTable, storage.idempotencyTable, 'readWrite')
      // Unknown faces become sightings, matches enter the review queue, negatives veto matches.
      .useTable(ENV.followUpTable, storage.followUpTable, 'readWrite')
      .setEnv(ENV.unknownRetentionDays, String(options.unknownRetentionDays))
      .setEnv(ENV.reviewRule, options.reviewRule)
      .useEventBus(this.eventBus)
      .setEnv(ENV.indexPrefix, PREFIX.index)
      .consumeQueue(storage.ingest.queue, { batchSize: 10, maxConcurrency: options.ingestMaxConcurrency });

    this.enrol = new FaceprintFunction(this, 'Enrol', {
      ...common,
      cmd: HANDLER_CMD.enrol,
      serviceName: 'faceprint-enrol',
      description: 'Faceprint: enrol subjects from photos uploaded under gallery/',
      sizing: options.functions.enrol,
    })
      .useBucket(storage.bucket, { read: [PREFIX.gallery] })
      .useTable(ENV.subjectsTable, storage.subjectsTable, 'readWrite')
      .useTable(ENV.templatesTable, storage.templatesTable, 'readWrite')
      .useTable(ENV.idempotencyTable, storage.idempotencyTable, 'readWrite')
      .consumeQueue(storage.enrol.queue, { batchSize: 5 });

    this.indexerDlq = new sqs.Queue(this, 'IndexerDlq', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: storage.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.indexerDlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself a dead-letter queue: the on-failure destination of the indexer’s stream.',
    });
    this.indexer = new FaceprintFunction(this, 'Indexer', {
      ...common,
      cmd: HANDLER_CMD.indexer,
      serviceName: 'faceprint-indexer',
      description: 'Faceprint: rebuild the vector-index snapshot under index/ when templates change',
      // One writer at a time: two indexers loading the same snapshot and saving their own changes would each
      // drop the other's (parallelization factor 1 is per shard only).
      sizing: { ...options.functions.indexer, reservedConcurrentExecutions: 1 },
    })
      // Deletes superseded snapshot versions once a deleted subject is out of the published one.
      .useBucket(storage.bucket, { read: [PREFIX.index], write: [PREFIX.index], delete: [PREFIX.index] })
      .useTable(ENV.templatesTable, storage.templatesTable, 'read')
      .setEnv(ENV.indexPrefix, PREFIX.index)
      .setEnv(ENV.indexShards, String(options.indexShards))
      .setEnv(ENV.indexDtype, options.indexDtype)
      .consumeTableStream(storage.templatesTable, this.indexerDlq, {
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(10),
        retryAttempts: 3,
      });

    if (storage.vectors) {
      // index: 's3vectors': identify queries the index; the indexer writes it; the api also erases from it.
      storage.vectors.grantQuery(this.api);
      storage.vectors.grantWrite(this.api, ['delete']);
      storage.vectors.grantQuery(this.ingest);
      storage.vectors.grantWrite(this.indexer);
    }

    this.restApi = new FaceprintApi(this, 'RestApi', {
      handler: this.api.function,
      authorization: options.apiAuthorization,
      userPool: props.userPool,
      apiKeysRequired: options.apiKeysRequired,
      throttle: options.apiThrottle,
      webAclArn: options.webAclArn,
      logRetention: options.logRetention,
    });

    this.batch = options.batch ? this.createBatch(props, options.batch) : undefined;
    if (this.batch) {
      // Videos under uploads/ go to Batch (Lambda's 15 minutes are too short): the ingest function writes a
      // one-video manifest under batch/videos/ and puts one message on the feed queue; it never calls Batch.
      this.ingest
        .useBucket(storage.bucket, { write: [VIDEO_MANIFEST_PREFIX] })
        .setEnv(ENV.batchFeedQueueUrl, this.batch.feed.queue.queueUrl);
      this.batch.feed.queue.grantSendMessages(this.ingest);
    }

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Faceprint alarms',
      masterKey: storage.key,
      enforceSSL: true,
    });
    if (options.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(options.alarmEmail));
    }
    const dlqs: [string, sqs.IQueue][] = [
      ['IngestDlq', storage.ingest.dlq],
      ['EnrolDlq', storage.enrol.dlq],
      ['IndexerDlq', this.indexerDlq],
    ];
    if (this.batch) dlqs.push(['BatchFeedDlq', this.batch.feed.dlq]);
    for (const [name, dlq] of dlqs) this.alarmOnMessages(name, dlq);

    acknowledgeLeastPrivilegeWildcards(this);
  }

  /** An alarm that fires as soon as one message is visible in `dlq`. */
  private alarmOnMessages(name: string, dlq: sqs.IQueue): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, `${name}NotEmpty`, {
      alarmDescription: `Faceprint: messages are waiting in ${name}; inspect, fix, then redrive them`,
      metric: dlq.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.alarmTopic));
    return alarm;
  }

  private createBatch(
    props: FaceprintComputeProps,
    batchOptions: NonNullable<ResolvedFaceprintOptions['batch']>,
  ) {
    const { options, storage } = props;
    const jobRole = new iam.Role(this, 'BatchJobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description:
        'Faceprint Batch job: reads batch/, uploads/ (videos), index/ and the enrolment photos, writes results/',
    });
    const environment: Record<string, string> = {
      [ENV.serviceName]: 'faceprint-batch',
      [ENV.metricsNamespace]: METRICS_NAMESPACE,
    };
    new RuntimeBinding(jobRole, (name, value) => {
      environment[name] = value;
    })
      // gallery/ and photos/: the enrolment photos a `reembed` job analyses with a new model pack.
      .useBucket(storage.bucket, {
        read: [PREFIX.batch, PREFIX.uploads, PREFIX.index, PREFIX.gallery, PREFIX.photos],
        write: [PREFIX.results],
      })
      .useTable(ENV.subjectsTable, storage.subjectsTable, 'read')
      // readWrite: a `reembed` job adds the new pack's templates and then removes the old ones.
      .useTable(ENV.templatesTable, storage.templatesTable, 'readWrite')
      .useTable(ENV.detectionsTable, storage.detectionsTable, 'readWrite')
      .useTable(ENV.idempotencyTable, storage.idempotencyTable, 'readWrite')
      .useTable(ENV.followUpTable, storage.followUpTable, 'readWrite')
      .setEnv(ENV.unknownRetentionDays, String(options.unknownRetentionDays))
      .setEnv(ENV.reviewRule, options.reviewRule)
      .useEventBus(this.eventBus)
      .setEnv(ENV.indexPrefix, PREFIX.index);

    // GPU instances run the image's cuda variant (CPU image as the fallback, `batch.image: 'cpu'`).
    const gpuImage =
      batchOptions.image === 'gpu'
        ? new DockerImageAsset(this, 'GpuImage', {
            directory: REPO_ROOT,
            file: DOCKERFILE,
            ignoreMode: IgnoreMode.DOCKER,
            platform: Platform.LINUX_AMD64,
            buildArgs: { FACEPRINT_NPM_CPU: 'x64', FACEPRINT_EXECUTION_PROVIDER: 'cuda' },
          })
        : undefined;
    if (gpuImage) environment[ENV.executionProviders] = 'cuda,cpu';

    return new FaceprintBatch(this, 'Batch', {
      image: gpuImage ?? this.image,
      options: batchOptions,
      jobRole,
      environment,
      key: storage.key,
      maxReceiveCount: options.maxReceiveCount,
      logRetention: options.logRetention,
    });
  }
}
