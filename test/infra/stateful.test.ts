import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { PREFIX, TABLE_KEYS } from '../../lib/runtime-config.ts';
import { resourcesOfType, type SynthesizedApp, synthTwoStacks } from './synth.ts';

let synth: SynthesizedApp;
let template: Template;

beforeAll(() => {
  synth = synthTwoStacks();
  template = synth.statefulTemplate;
});

/** Logical id of a stateful resource from its construct. */
function logicalId(construct: { node: { defaultChild?: unknown } }): string {
  return synth.stateful.getLogicalId(construct.node.defaultChild as never);
}

describe('KMS key', () => {
  it('rotates yearly and is retained', () => {
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ EnableKeyRotation: true }),
      DeletionPolicy: 'Retain',
    });
  });

  it('lets S3 and CloudWatch encrypt only on behalf of this account', () => {
    const [, key] = resourcesOfType(template, 'AWS::KMS::Key')[0]!;
    const statements = (key.Properties.KeyPolicy as { Statement: Record<string, unknown>[] }).Statement;
    for (const [service, generate] of [
      ['s3.amazonaws.com', 'kms:GenerateDataKey'],
      ['cloudwatch.amazonaws.com', 'kms:GenerateDataKey*'],
    ]) {
      const statement = statements.find((s) => (s.Principal as { Service?: string }).Service === service);
      expect(statement, service).toMatchObject({
        Effect: 'Allow',
        Action: ['kms:Decrypt', generate],
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      });
    }
  });
});

describe('data bucket', () => {
  it('is encrypted with the customer-managed key and an S3 Bucket Key', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [logicalId(synth.stateful.storage.key), 'Arn'] },
            },
          },
        ],
      },
    });
  });

  it('blocks all public access, is versioned and retained, and logs to the access-log bucket', () => {
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: {
          DestinationBucketName: { Ref: logicalId(synth.stateful.storage.accessLogBucket) },
        },
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('expires noncurrent versions and superseded index/ snapshots, never the current snapshot', () => {
    const id = logicalId(synth.stateful.storage.bucket);
    const bucket = template.findResources('AWS::S3::Bucket')[id];
    const rules = bucket?.Properties.LifecycleConfiguration.Rules as Record<string, unknown>[];
    expect(rules).toContainEqual(
      expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' }),
    );
    const indexRule = rules.find((r) => r.Prefix === PREFIX.index);
    expect(indexRule).toMatchObject({
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      Status: 'Enabled',
    });
    expect(indexRule).not.toHaveProperty('ExpirationInDays');
  });

  it('every bucket denies requests without TLS', () => {
    const buckets = [synth.stateful.storage.bucket, synth.stateful.storage.accessLogBucket].map(logicalId);
    for (const bucket of buckets) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucket },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('every bucket blocks public access', () => {
    const buckets = resourcesOfType(template, 'AWS::S3::Bucket');
    expect(buckets.length).toBeGreaterThan(0);
    for (const [id, bucket] of buckets) {
      expect(bucket.Properties.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    }
  });
});

describe('S3 notifications', () => {
  it.each([
    ['uploads/', 'ingest'],
    ['gallery/', 'enrol'],
  ] as const)('ObjectCreated under %s goes to the %s queue', (prefix, consumer) => {
    const queue = synth.stateful.storage[consumer].queue;
    const id = logicalId(synth.stateful.storage.bucket);
    const bucket = template.findResources('AWS::S3::Bucket')[id];
    const configurations = bucket?.Properties.NotificationConfiguration.QueueConfigurations as unknown[];
    expect(configurations).toContainEqual({
      Event: 's3:ObjectCreated:*',
      Filter: { S3Key: { Rules: [{ Name: 'prefix', Value: prefix }] } },
      Queue: { 'Fn::GetAtt': [logicalId(queue), 'Arn'] },
    });
    // The bucket is created after the queue policy that lets S3 send to the queue.
    expect(bucket?.DependsOn).toEqual(expect.arrayContaining([logicalId(queue)]));
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(queue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 's3.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ]),
      },
    });
  });

  it('needs no custom-resource Lambda (notifications are declared on the bucket)', () => {
    expect(template.findResources('Custom::S3BucketNotifications')).toEqual({});
    expect(template.findResources('AWS::Lambda::Function')).toEqual({});
  });
});

describe('queues', () => {
  it.each(['ingest', 'enrol'] as const)('the %s queue redrives to its DLQ after 3 receives', (name) => {
    const { queue, dlq } = synth.stateful.storage[name];
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(dlq), 'Arn'] }, maxReceiveCount: 3 },
      KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(synth.stateful.storage.key), 'Arn'] },
    });
    expect(logicalId(queue)).not.toEqual(logicalId(dlq));
  });

  it('visibility timeouts are six times the consuming function timeouts', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    expect(queues[logicalId(synth.stateful.storage.ingest.queue)]?.Properties.VisibilityTimeout).toBe(6 * 90);
    expect(queues[logicalId(synth.stateful.storage.enrol.queue)]?.Properties.VisibilityTimeout).toBe(6 * 120);
  });
});

describe('DynamoDB tables', () => {
  it('every table has point-in-time recovery, the customer-managed key, on-demand billing and is retained', () => {
    const tables = resourcesOfType(template, 'AWS::DynamoDB::Table');
    expect(tables.map(([id]) => id).sort()).toEqual(
      [
        synth.stateful.storage.subjectsTable,
        synth.stateful.storage.templatesTable,
        synth.stateful.storage.detectionsTable,
        synth.stateful.storage.idempotencyTable,
        synth.stateful.storage.followUpTable,
      ]
        .map(logicalId)
        .sort(),
    );
    for (const [id, table] of tables) {
      expect(table.Properties, id).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: {
          SSEEnabled: true,
          SSEType: 'KMS',
          KMSMasterKeyId: { 'Fn::GetAtt': [logicalId(synth.stateful.storage.key), 'Arn'] },
        },
        DeletionProtectionEnabled: true,
      });
      expect(table.DeletionPolicy, id).toBe('Retain');
    }
  });

  it('the templates table streams new and old images and has the catch-up index by creation time', () => {
    const { byCreation } = TABLE_KEYS.templates;
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TABLE_KEYS.templates.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_KEYS.templates.sortKey, KeyType: 'RANGE' },
      ],
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      GlobalSecondaryIndexes: [
        {
          IndexName: byCreation.indexName,
          KeySchema: [
            { AttributeName: byCreation.partitionKey, KeyType: 'HASH' },
            { AttributeName: byCreation.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('the idempotency table uses the Powertools key and TTL attribute', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    });
  });
});

describe('stack', () => {
  it('has termination protection', () => {
    expect(synth.stateful.terminationProtection).toBe(true);
  });

  it('creates the Cognito user pool with MFA required and sign-up closed (default authorisation)', () => {
    template.hasResource('AWS::Cognito::UserPool', {
      Properties: Match.objectLike({
        MfaConfiguration: 'ON',
        AdminCreateUserConfig: Match.objectLike({ AllowAdminCreateUserOnly: true }),
        DeletionProtection: 'ACTIVE',
      }),
      DeletionPolicy: 'Retain',
    });
  });
});
