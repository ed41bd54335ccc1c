import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { DockerImageAsset } from 'aws-cdk-lib/aws-ecr-assets';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, type EnvName, METRICS_NAMESPACE } from '../runtime-config.ts';
import { type BucketAccess, RuntimeBinding, type TableAccess } from './binding.ts';
import type { ResolvedSizing } from './options.ts';

/** Properties of {@link FaceprintFunction}. */
export interface FaceprintFunctionProps {
  /** The one Faceprint container image (all functions and the Batch job share it). */
  readonly image: DockerImageAsset;
  /** Lambda `CMD`, `<bundle>.<export>`, e.g. `api.handler` (see `HANDLER_CMD`). */
  readonly cmd: string;
  /** `POWERTOOLS_SERVICE_NAME`, e.g. `faceprint-api`. */
  readonly serviceName: string;
  readonly description: string;
  /** Memory, timeout and reserved concurrency. */
  readonly sizing: ResolvedSizing;
  /** Must match the platform the image was built for. */
  readonly architecture: lambda.Architecture;
  /** Retention of the function's log group. */
  readonly logRetention: logs.RetentionDays;
}

/**
 * An opinionated Lambda function running the Faceprint container image.
 *
 * Defaults in one place: the image's `CMD` selects the handler; JSON logs into its own log group with
 * retention (destroyed with the stack); X-Ray tracing ACTIVE; Powertools service name and metrics
 * namespace set; an execution role with no managed policies (log writing is granted on its own log group
 * only). Resources are attached with the `use*` methods of {@link RuntimeBinding} (environment variable and
 * grant together) and the `consume*` methods (event source with its failure handling).
 */
export class FaceprintFunction extends Construct implements iam.IGrantable {
  readonly function: lambda.DockerImageFunction;
  readonly logGroup: logs.LogGroup;
  readonly role: iam.Role;
  private readonly binding: RuntimeBinding;

  constructor(scope: Construct, id: string, props: FaceprintFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.serviceName}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new lambda.DockerImageFunction(this, 'Function', {
      description: props.description,
      code: lambda.DockerImageCode.fromEcr(props.image.repository, {
        tagOrDigest: props.image.imageTag,
        cmd: [props.cmd],
      }),
      architecture: props.architecture,
      memorySize: props.sizing.memorySize,
      timeout: props.sizing.timeout,
      reservedConcurrentExecutions: props.sizing.reservedConcurrentExecutions,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        [ENV.serviceName]: props.serviceName,
        [ENV.metricsNamespace]: METRICS_NAMESPACE,
      },
    });
    this.binding = new RuntimeBinding(this.role, (name, value) => {
      this.function.addEnvironment(name, value);
    });
  }

  get grantPrincipal(): iam.IPrincipal {
    return this.role;
  }

  /** Sets one variable of the contract in `runtime-config.ts`. */
  setEnv(name: EnvName, value: string): this {
    this.binding.setEnv(name, value);
    return this;
  }

  /** See {@link RuntimeBinding.useBucket}. */
  useBucket(bucket: s3.IBucket, access: BucketAccess): this {
    this.binding.useBucket(bucket, access);
    return this;
  }

  /** See {@link RuntimeBinding.useTable}. */
  useTable(name: EnvName, table: dynamodb.ITable, access: TableAccess): this {
    this.binding.useTable(name, table, access);
    return this;
  }

  /** See {@link RuntimeBinding.useEventBus}. */
  useEventBus(bus: events.IEventBus): this {
    this.binding.useEventBus(bus);
    return this;
  }

  /**
   * Consumes `queue` (which must have its own DLQ): partial batch responses on, so one bad image does
   * not send its nine neighbours back to the queue.
   */
  consumeQueue(queue: sqs.IQueue, options: { batchSize: number; maxConcurrency?: number }): this {
    this.function.addEventSource(
      new sources.SqsEventSource(queue, {
        batchSize: options.batchSize,
        reportBatchItemFailures: true,
        ...(options.maxConcurrency === undefined ? {} : { maxConcurrency: options.maxConcurrency }),
      }),
    );
    return this;
  }

  /**
   * Consumes the table's stream in batches: a failing batch is split in two until the bad record is
   * alone, retried `retryAttempts` times, then its metadata goes to `dlq` and the shard moves on.
   */
  consumeTableStream(
    table: dynamodb.ITable,
    dlq: sqs.IQueue,
    options: { batchSize: number; maxBatchingWindow: Duration; retryAttempts: number },
  ): this {
    this.function.addEventSource(
      new sources.DynamoEventSource(table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: options.batchSize,
        maxBatchingWindow: options.maxBatchingWindow,
        bisectBatchOnError: true,
        retryAttempts: options.retryAttempts,
        reportBatchItemFailures: true,
        onFailure: new sources.SqsDlq(dlq),
      }),
    );
    return this;
  }
}
