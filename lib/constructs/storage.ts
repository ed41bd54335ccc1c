import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PREFIX, TABLE_KEYS } from '../runtime-config.ts';
import { type ResolvedFaceprintOptions, visibilityTimeoutFor } from './options.ts';
import { FaceprintVectorStore } from './vector-store.ts';

/** Properties of {@link FaceprintStorage}. */
export interface FaceprintStorageProps {
  /** Resolved deployment options (see `resolveOptions`). */
  readonly options: ResolvedFaceprintOptions;
}

/** A queue that feeds a function, with the dead-letter queue it redrives to. */
export interface QueueWithDlq {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
}

/**
 * Everything in Faceprint that holds data: the KMS key, the data bucket and its access-log bucket, the four
 * DynamoDB tables, and the two queues the bucket notifies (they live here because an S3 notification must
 * be declared on the bucket, and a queue in the other stack would make the stacks depend on each other).
 *
 * Default settings:
 * - One customer-managed KMS key (yearly rotation) encrypts the bucket (with an S3 Bucket Key, which cuts
 *   KMS requests by orders of magnitude), the tables and the queues.
 * - Data bucket: all public access blocked, TLS 1.2+ only, versioned, server access logs to a separate
 *   bucket, noncurrent versions (superseded `index/` snapshots sooner) expire, incomplete multipart uploads aborted.
 * - Tables: on-demand, point-in-time recovery, deletion protection, customer-managed KMS key.
 * - The key, both buckets and the tables are retained when the stack is deleted (the queues are not:
 *   they only hold messages in flight).
 * - `uploads/` and `gallery/` ObjectCreated notifications go to SQS queues (not straight to Lambda), so a
 *   throttled or failing function gets the message again, and after `maxReceiveCount` receives the
 *   message waits in a DLQ (14 days) instead of being dropped.
 */
export class FaceprintStorage extends Construct {
  /** Encrypts the bucket, the tables and the queues. */
  readonly key: kms.Key;
  /** The data bucket (`gallery/`, `uploads/`, `index/`, `results/`, `batch/`). */
  readonly bucket: s3.Bucket;
  /** Target of the data bucket's server access logs. */
  readonly accessLogBucket: s3.Bucket;
  /** Subjects (people in the gallery). */
  readonly subjectsTable: dynamodb.Table;
  /** Streams NEW_AND_OLD_IMAGES to the indexer. */
  readonly templatesTable: dynamodb.Table;
  /** Detections and the decision audit log (TTL `expiresAt`). */
  readonly detectionsTable: dynamodb.Table;
  /** Powertools idempotency records (TTL `expiration`). */
  readonly idempotencyTable: dynamodb.Table;
  /** Unknown persons, sightings, reviews and negatives (TTL `expiresAt`; GSIs by recency and by rank). */
  readonly followUpTable: dynamodb.Table;
  /** ObjectCreated under `uploads/` → ingest. */
  readonly ingest: QueueWithDlq;
  /** ObjectCreated under `gallery/` → enrol. */
  readonly enrol: QueueWithDlq;
  /** The S3 Vectors bucket and index, with `index: 's3vectors'`. */
  readonly vectors: FaceprintVectorStore | undefined;

  constructor(scope: Construct, id: string, props: FaceprintStorageProps) {
    super(scope, id);
    const { options } = props;

    this.key = new kms.Key(this, 'Key', {
      description: 'Faceprint: encrypts the data bucket, the DynamoDB tables and the SQS queues',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // S3 encrypts the notification messages it sends to the KMS-encrypted queues, and CloudWatch encrypts
    // the alarm messages it publishes to the KMS-encrypted alarm topic. Both only for this account. (In a
    // key policy, `Resource: '*'` means this key.)
    for (const [sid, service, actions] of [
      ['AllowS3NotificationsToEncrypt', 's3.amazonaws.com', ['kms:GenerateDataKey', 'kms:Decrypt']],
      ['AllowCloudWatchAlarmsToEncrypt', 'cloudwatch.amazonaws.com', ['kms:GenerateDataKey*', 'kms:Decrypt']],
    ] as const) {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          principals: [new iam.ServicePrincipal(service)],
          actions: [...actions],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
      );
    }

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      // S3 delivers server access logs only to buckets encrypted with SSE-S3.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: false,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(options.accessLogExpirationDays) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the target of the data bucket’s server access logs; logging it to itself would loop.',
    });

    this.bucket = new s3.Bucket(this, 'Data', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'data-bucket/',
      lifecycleRules: [
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: Duration.days(options.noncurrentVersionExpirationDays),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
          expiredObjectDeleteMarker: true,
        },
        {
          // The current snapshot is overwritten in place (one key); superseded versions expire. Expiring current
          // objects here would delete the live index of a gallery that saw no change for that long.
          id: 'expire-old-index-snapshots',
          prefix: PREFIX.index,
          noncurrentVersionExpiration: Duration.days(options.indexSnapshotExpirationDays),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const tableDefaults = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    } satisfies Partial<dynamodb.TableProps>;
    const str = dynamodb.AttributeType.STRING;

    this.subjectsTable = new dynamodb.Table(this, 'Subjects', {
      ...tableDefaults,
      partitionKey: { name: TABLE_KEYS.subjects.partitionKey, type: str },
      sortKey: { name: TABLE_KEYS.subjects.sortKey, type: str },
    });
    this.templatesTable = new dynamodb.Table(this, 'Templates', {
      ...tableDefaults,
      partitionKey: { name: TABLE_KEYS.templates.partitionKey, type: str },
      sortKey: { name: TABLE_KEYS.templates.sortKey, type: str },
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    });
    // Catch-up by key (the adapter's feed): templates of a day and shard, ordered by creation time.
    this.templatesTable.addGlobalSecondaryIndex({
      indexName: TABLE_KEYS.templates.byCreation.indexName,
      partitionKey: { name: TABLE_KEYS.templates.byCreation.partitionKey, type: str },
      sortKey: { name: TABLE_KEYS.templates.byCreation.sortKey, type: str },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    this.detectionsTable = new dynamodb.Table(this, 'Detections', {
      ...tableDefaults,
      partitionKey: { name: TABLE_KEYS.detections.partitionKey, type: str },
      sortKey: { name: TABLE_KEYS.detections.sortKey, type: str },
      timeToLiveAttribute: TABLE_KEYS.detections.timeToLive,
    });
    this.idempotencyTable = new dynamodb.Table(this, 'Idempotency', {
      ...tableDefaults,
      partitionKey: { name: TABLE_KEYS.idempotency.partitionKey, type: str },
      timeToLiveAttribute: TABLE_KEYS.idempotency.timeToLive,
    });

    // Issue #11. TTL is the backstop of retention: the runtime's own sweep erases expired sightings on time.
    const followUp = TABLE_KEYS.followUp;
    this.followUpTable = new dynamodb.Table(this, 'FollowUp', {
      ...tableDefaults,
      partitionKey: { name: followUp.partitionKey, type: str },
      sortKey: { name: followUp.sortKey, type: str },
      timeToLiveAttribute: followUp.timeToLive,
    });
    for (const index of Object.values(followUp.indexes)) {
      this.followUpTable.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: str },
        sortKey: { name: index.sortKey, type: str },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    this.ingest = this.notifiedQueue(
      'Ingest',
      visibilityTimeoutFor(options.functions.ingest.timeout),
      options,
    );
    this.enrol = this.notifiedQueue('Enrol', visibilityTimeoutFor(options.functions.enrol.timeout), options);
    this.vectors =
      options.index === 's3vectors'
        ? new FaceprintVectorStore(this, 'Vectors', { key: this.key })
        : undefined;
    this.declareNotifications([
      { prefix: PREFIX.uploads, queue: this.ingest.queue },
      { prefix: PREFIX.gallery, queue: this.enrol.queue },
    ]);
  }

  /**
   * Lets `grantee` put images under `uploads/` (object-level only, with the KMS permissions the upload
   * needs). For cameras, gateways or people who upload straight to S3.
   */
  grantUpload(grantee: iam.IGrantable): iam.Grant {
    return this.bucket.grantPut(grantee, `${PREFIX.uploads}*`);
  }

  /** Lets `grantee` put enrolment photos under `gallery/`. */
  grantEnrolmentUpload(grantee: iam.IGrantable): iam.Grant {
    return this.bucket.grantPut(grantee, `${PREFIX.gallery}*`);
  }

  private notifiedQueue(
    id: string,
    visibilityTimeout: Duration,
    options: ResolvedFaceprintOptions,
  ): QueueWithDlq {
    const encryption = {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      dataKeyReuse: Duration.hours(1),
      enforceSSL: true,
    } satisfies Partial<sqs.QueueProps>;
    const dlq = new sqs.Queue(this, `${id}Dlq`, { ...encryption, retentionPeriod: Duration.days(14) });
    const queue = new sqs.Queue(this, `${id}Queue`, {
      ...encryption,
      visibilityTimeout,
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: dlq, maxReceiveCount: options.maxReceiveCount },
    });
    // S3 must be able to send ObjectCreated events. The condition names the account, not the bucket: the
    // bucket's notification configuration is validated against this policy when the bucket is created, so
    // the policy cannot wait for the bucket's ARN (see declareNotifications).
    queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowS3ObjectCreatedFromThisAccount',
        principals: [new iam.ServicePrincipal('s3.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [queue.queueArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    return { queue, dlq };
  }

  /**
   * Declares the bucket's notifications natively on AWS::S3::Bucket instead of `addEventNotification`,
   * which would deploy a custom-resource Lambda whose role may call s3:PutBucketNotification on `*`.
   */
  private declareNotifications(targets: { prefix: string; queue: sqs.Queue }[]): void {
    const cfnBucket = this.bucket.node.defaultChild as s3.CfnBucket;
    cfnBucket.notificationConfiguration = {
      queueConfigurations: targets.map(({ prefix, queue }) => ({
        event: 's3:ObjectCreated:*',
        queue: queue.queueArn,
        filter: { s3Key: { rules: [{ name: 'prefix', value: prefix }] } },
      })),
    };
    // S3 checks that it may send to each queue when the configuration is applied: depending on the queue
    // construct makes the bucket wait for its queue policy too. (The key policy that lets S3 encrypt for the
    // queues is part of the key, which the bucket already depends on through its encryption settings.)
    for (const { queue } of targets) cfnBucket.node.addDependency(queue);
  }
}
