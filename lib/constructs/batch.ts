import { Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { DockerImageAsset } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as pipes from 'aws-cdk-lib/aws-pipes';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { BATCH_COMMAND, BATCH_MANIFEST_PARAMETER } from '../runtime-config.ts';
import type { ResolvedBatchOptions } from './options.ts';
import type { QueueWithDlq } from './storage.ts';

/** Properties of {@link FaceprintBatch}. */
export interface FaceprintBatchProps {
  /** The Faceprint container image (the same one the functions run). */
  readonly image: DockerImageAsset;
  /** Resolved Batch options (instance classes, limits, job size). */
  readonly options: ResolvedBatchOptions;
  /** Role the job's container runs as; bind resources to it before creating this construct. */
  readonly jobRole: iam.IRole;
  /** Environment of the job's container (the `runtime-config.ts` contract). */
  readonly environment: Readonly<Record<string, string>>;
  /** Encrypts the feed queue and its DLQ. */
  readonly key: kms.IKey;
  /** Receives of a feed message before it moves to the feed DLQ. */
  readonly maxReceiveCount: number;
  /** Retention of the job and flow-log log groups. */
  readonly logRetention: logs.RetentionDays;
}

/**
 * Bulk processing with AWS Batch on GPU instances, running the same container image as the functions.
 *
 * Use it for work that is too big or too long for Lambda: back-filling an archive of millions of images,
 * re-identifying every past upload after the gallery changed. A message `{"manifest": "batch/<name>.json"}`
 * on the feed queue becomes one job (through an EventBridge pipe); the job reads the manifest and the
 * images under `batch/` and writes under `results/`.
 *
 * Default settings: a managed EC2 compute environment of g4dn / g5 instances (ECS GPU AMI, AL2023) that
 * scales from 0 vCPUs, so an empty queue costs nothing; a security group without ingress and with egress
 * on 443 only; a VPC with public subnets only (no NAT gateway), S3 and DynamoDB gateway endpoints, and
 * rejected-traffic flow logs; job attempts retried twice and bounded by a timeout; container logs in a
 * log group with retention.
 */
export class FaceprintBatch extends Construct {
  readonly vpc: ec2.IVpc;
  readonly securityGroup: ec2.SecurityGroup;
  readonly computeEnvironment: batch.ManagedEc2EcsComputeEnvironment;
  readonly jobQueue: batch.JobQueue;
  readonly jobDefinition: batch.EcsJobDefinition;
  /** Messages `{"manifest": "<key under batch/>"}` submit one job each. */
  readonly feed: QueueWithDlq;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: FaceprintBatchProps) {
    super(scope, id);
    const { options } = props;

    this.vpc = options.vpc ?? this.createVpc(props.logRetention);
    const subnets = options.vpcSubnets ?? {
      subnetType: options.vpc ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC,
    };

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description:
        'Faceprint Batch instances: no ingress; HTTPS out to ECR, ECS, S3, DynamoDB, SQS, CloudWatch',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs');

    this.computeEnvironment = new batch.ManagedEc2EcsComputeEnvironment(this, 'ComputeEnvironment', {
      vpc: this.vpc,
      vpcSubnets: subnets,
      securityGroups: [this.securityGroup],
      instanceClasses: options.instanceClasses,
      useOptimalInstanceClasses: false,
      // Batch picks the NVIDIA AMI for GPU instance types and the plain one for the others.
      images: [
        { imageType: batch.EcsMachineImageType.ECS_AL2023_NVIDIA },
        { imageType: batch.EcsMachineImageType.ECS_AL2023 },
      ],
      minvCpus: 0,
      maxvCpus: options.maxvCpus,
      spot: options.spot,
      allocationStrategy: options.spot
        ? batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED
        : batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
      updateToLatestImageVersion: true,
    });
    Validations.of(this.computeEnvironment.instanceRole ?? this.computeEnvironment).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
      reason:
        'The ECS container-instance role of the Batch instances: the ECS agent needs exactly this AWS-maintained ' +
        'policy (register the instance, poll for tasks, pull images, send logs), and AWS updates it with the agent.',
    });

    this.jobQueue = new batch.JobQueue(this, 'JobQueue', {
      priority: 1,
      computeEnvironments: [{ computeEnvironment: this.computeEnvironment, order: 1 }],
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.jobDefinition = new batch.EcsJobDefinition(this, 'JobDefinition', {
      container: new batch.EcsEc2ContainerDefinition(this, 'Container', {
        image: ecs.ContainerImage.fromDockerImageAsset(props.image),
        command: [...BATCH_COMMAND],
        cpu: options.jobVcpus,
        memory: Size.mebibytes(options.jobMemoryMiB),
        gpu: options.jobGpus > 0 ? options.jobGpus : undefined,
        environment: { ...props.environment },
        jobRole: props.jobRole,
        logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'job' }),
      }),
      retryAttempts: 3,
      timeout: options.jobTimeout,
      propagateTags: true,
    });

    this.feed = this.createFeed(props);
  }

  private createVpc(logRetention: logs.RetentionDays): ec2.Vpc {
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      // Nothing is attached to the default security group (the instances use the one below). Locking it
      // down from CloudFormation needs a custom-resource Lambda with an AWS-managed policy and a log group
      // without retention; an organisation-wide AWS Config remediation is the better tool for that.
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    vpc.addFlowLog('RejectedTraffic', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    return vpc;
  }

  /** SQS queue (with DLQ) → EventBridge pipe → SubmitJob, one job per message. */
  private createFeed(props: FaceprintBatchProps): QueueWithDlq {
    const encryption = {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      dataKeyReuse: Duration.hours(1),
      enforceSSL: true,
    } satisfies Partial<sqs.QueueProps>;
    const dlq = new sqs.Queue(this, 'FeedDlq', { ...encryption, retentionPeriod: Duration.days(14) });
    const queue = new sqs.Queue(this, 'FeedQueue', {
      ...encryption,
      visibilityTimeout: Duration.minutes(5),
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: dlq, maxReceiveCount: props.maxReceiveCount },
    });

    const pipeRole = new iam.Role(this, 'PipeRole', {
      assumedBy: new iam.ServicePrincipal('pipes.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'Faceprint: reads the Batch feed queue and submits one job per message',
    });
    queue.grantConsumeMessages(pipeRole);
    // The exact revision the pipe submits (a new revision replaces the pipe's target parameters too).
    pipeRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['batch:SubmitJob'],
        resources: [this.jobQueue.jobQueueArn, this.jobDefinition.jobDefinitionArn],
      }),
    );

    const pipe = new pipes.CfnPipe(this, 'FeedPipe', {
      description: 'Faceprint: one Batch job per message of the feed queue',
      roleArn: pipeRole.roleArn,
      source: queue.queueArn,
      sourceParameters: { sqsQueueParameters: { batchSize: 1 } },
      target: this.jobQueue.jobQueueArn,
      targetParameters: {
        batchJobParameters: {
          jobDefinition: this.jobDefinition.jobDefinitionArn,
          jobName: 'faceprint-batch',
          // Dynamic path: the `manifest` field of the JSON message body becomes the job parameter that
          // BATCH_COMMAND passes to the container.
          parameters: { [BATCH_MANIFEST_PARAMETER]: `$.body.${BATCH_MANIFEST_PARAMETER}` },
        },
      },
    });
    pipe.node.addDependency(pipeRole);

    Validations.of(dlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the Batch feed queue.',
    });
    return { queue, dlq };
  }
}
