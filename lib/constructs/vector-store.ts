import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3vectors from 'aws-cdk-lib/aws-s3vectors';
import { Construct } from 'constructs';
import type { EnvName } from '../runtime-config.ts';
import { ENV } from '../runtime-config.ts';

/** A function (or the Batch job's binding) that can take an environment variable and a grant. */
export type VectorRuntime = iam.IGrantable & { setEnv(name: EnvName, value: string): unknown };

/** Name of the one vector index in the bucket; the runtime gets its ARN in `FACEPRINT_VECTOR_INDEX`. */
export const VECTOR_INDEX_NAME = 'templates';

/** Metadata keys the adapter writes that a query never filters on (cheaper: not indexed for filtering). */
export const NON_FILTERABLE_METADATA = ['templateId'] as const;

/** Properties of {@link FaceprintVectorStore}. */
export interface FaceprintVectorStoreProps {
  /** The deployment's customer-managed key: encrypts the vector bucket (SSE-KMS). */
  readonly key: kms.IKey;
}

/**
 * `index: 's3vectors'`: an Amazon S3 Vectors bucket (SSE-KMS with Faceprint's key, retained on stack deletion)
 * with one cosine, float32, 512-dimension index of face templates. Metadata per vector: `subjectId` and
 * `variant` (filterable, and any `list:*` keys such as a watch list), `templateId` (not filterable).
 *
 * Grants are least privilege: on this index's ARN only, split into query (identify) and write (the indexer,
 * and the api for erasure).
 */
export class FaceprintVectorStore extends Construct {
  readonly bucket: s3vectors.CfnVectorBucket;
  readonly index: s3vectors.CfnIndex;
  readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: FaceprintVectorStoreProps) {
    super(scope, id);
    this.key = props.key;
    this.bucket = new s3vectors.CfnVectorBucket(this, 'Bucket', {
      encryptionConfiguration: { sseType: 'aws:kms', kmsKeyArn: props.key.keyArn },
    });
    this.bucket.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.index = new s3vectors.CfnIndex(this, 'Index', {
      vectorBucketArn: this.bucket.attrVectorBucketArn,
      indexName: VECTOR_INDEX_NAME,
      dataType: 'float32',
      dimension: 512,
      distanceMetric: 'cosine',
      metadataConfiguration: { nonFilterableMetadataKeys: [...NON_FILTERABLE_METADATA] },
    });
    this.index.applyRemovalPolicy(RemovalPolicy.RETAIN);
    // S3 Vectors' background indexing uses the key (documented requirement for SSE-KMS), for this
    // account's vector buckets only.
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowS3VectorsIndexingToDecrypt',
        principals: [new iam.ServicePrincipal('indexing.s3vectors.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:s3vectors:${Aws.REGION}:${Aws.ACCOUNT_ID}:bucket/*`,
          },
        },
      }),
    );
  }

  /**
   * Identify: `QueryVectors` (with `GetVectors`, which a query that filters or returns metadata needs) on this
   * index only, plus decrypt with the key.
   */
  grantQuery(runtime: VectorRuntime): void {
    this.bind(runtime, ['s3vectors:QueryVectors', 's3vectors:GetVectors']);
    this.key.grantDecrypt(runtime);
  }

  /** Indexer and erasure: `PutVectors` and `DeleteVectors` on this index only, plus encrypt/decrypt. */
  grantWrite(runtime: VectorRuntime, actions: ('put' | 'delete')[] = ['put', 'delete']): void {
    this.bind(
      runtime,
      actions.map((a) => (a === 'put' ? 's3vectors:PutVectors' : 's3vectors:DeleteVectors')),
    );
    this.key.grantEncryptDecrypt(runtime);
  }

  private bind(runtime: VectorRuntime, actions: string[]): void {
    // The adapter addresses the index by ARN (the SDK's `indexArn`), so no name is guessed at run time.
    runtime.setEnv(ENV.vectorBucket, this.bucket.attrVectorBucketArn);
    runtime.setEnv(ENV.vectorIndex, this.index.attrIndexArn);
    runtime.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions, resources: [this.index.attrIndexArn] }),
    );
  }
}
