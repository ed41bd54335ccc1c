import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  API_ROUTES,
  BATCH_COMMAND,
  CONSOLE_ROUTES,
  ENV,
  HANDLER_CMD,
  PREFIX,
} from '../../lib/runtime-config.ts';
import { resourcesOfType, type SynthesizedApp, synthTwoStacks } from './synth.ts';

let synth: SynthesizedApp;
let template: Template;

beforeAll(() => {
  synth = synthTwoStacks();
  template = synth.statelessTemplate;
});

function logicalId(construct: { node: { defaultChild?: unknown } }): string {
  return synth.stateless.getLogicalId(construct.node.defaultChild as never);
}

/**
 * The stateful-stack resource a cross-stack value of the stateless template refers to: follows the
 * reference (Fn::GetStackOutput or Fn::ImportValue) to the producing stack's output and returns its value.
 */
function crossStackTarget(value: unknown): unknown {
  const outputs = synth.statefulTemplate.toJSON().Outputs as Record<
    string,
    { Value: unknown; Export?: unknown }
  >;
  const ref = value as { 'Fn::GetStackOutput'?: { OutputName: string }; 'Fn::ImportValue'?: string };
  if (ref['Fn::GetStackOutput']) return outputs[ref['Fn::GetStackOutput'].OutputName]?.Value;
  if (ref['Fn::ImportValue']) {
    return Object.values(outputs).find((o) => JSON.stringify(o.Export).includes(ref['Fn::ImportValue']!))
      ?.Value;
  }
  return undefined;
}

function statefulLogicalId(construct: { node: { defaultChild?: unknown } }): string {
  return synth.stateful.getLogicalId(construct.node.defaultChild as never);
}

const functions = () => ({
  api: synth.stateless.compute.api,
  ingest: synth.stateless.compute.ingest,
  enrol: synth.stateless.compute.enrol,
  indexer: synth.stateless.compute.indexer,
});

describe('functions', () => {
  it.each([
    ['api', 3008, 29],
    ['ingest', 3008, 90],
    ['enrol', 2048, 120],
    ['indexer', 1024, 300],
  ] as const)(
    '%s: %i MB, %i s, its own CMD, X-Ray active, JSON logs to its own log group',
    (name, memory, timeout) => {
      const fn = functions()[name];
      const resource = template.findResources('AWS::Lambda::Function')[logicalId(fn.function)];
      expect(resource?.Properties).toMatchObject({
        PackageType: 'Image',
        MemorySize: memory,
        Timeout: timeout,
        Architectures: ['x86_64'],
        ImageConfig: { Command: [HANDLER_CMD[name]] },
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logicalId(fn.logGroup) } },
      });
    },
  );

  it('the indexer runs one invocation at a time, so snapshot writes never overlap', () => {
    const resource = template.findResources('AWS::Lambda::Function')[logicalId(functions().indexer.function)];
    expect(resource?.Properties.ReservedConcurrentExecutions).toBe(1);
  });

  it('each function gets exactly the environment variables of the runtime-config contract', () => {
    const common = [ENV.serviceName, ENV.metricsNamespace, ENV.bucket];
    const tables = [ENV.subjectsTable, ENV.templatesTable];
    const expected: Record<string, string[]> = {
      api: [
        ...common,
        ...tables,
        ENV.detectionsTable,
        ENV.idempotencyTable,
        ENV.indexPrefix,
        ENV.apiKeysRequired,
      ],
      ingest: [
        ...common,
        ...tables,
        ENV.detectionsTable,
        ENV.idempotencyTable,
        ENV.indexPrefix,
        ENV.eventBus,
        // Batch is deployed by default: videos are handed to it through its feed queue.
        ENV.batchFeedQueueUrl,
      ],
      enrol: [...common, ...tables, ENV.idempotencyTable],
      indexer: [...common, ENV.templatesTable, ENV.indexPrefix, ENV.indexShards, ENV.indexDtype],
    };
    // Unknown persons and reviews (issue #11): api and ingest identify, so both keep the follow-up.
    const followUp = [ENV.followUpTable, ENV.unknownRetentionDays, ENV.reviewRule];
    expected.api?.push(...followUp);
    expected.ingest?.push(...followUp);
    const all = template.findResources('AWS::Lambda::Function');
    for (const [name, fn] of Object.entries(functions())) {
      const variables = all[logicalId(fn.function)]?.Properties.Environment.Variables as Record<
        string,
        unknown
      >;
      expect(Object.keys(variables).sort(), name).toEqual([...(expected[name] ?? [])].sort());
      expect(variables[ENV.serviceName], name).toBe(`faceprint-${name}`);
      expect(variables[ENV.metricsNamespace], name).toBe('Faceprint');
    }
  });

  it('all functions run the same image (the Batch job its GPU variant: test/infra/batch-gpu.test.ts)', () => {
    const imageUris = resourcesOfType(template, 'AWS::Lambda::Function').map(([, fn]) =>
      JSON.stringify((fn.Properties.Code as { ImageUri: unknown }).ImageUri),
    );
    const hash = synth.stateless.compute.image.assetHash;
    expect(imageUris).toHaveLength(4);
    for (const uri of imageUris) expect(uri).toContain(`:${hash}`);
  });

  it('the api function knows whether API keys are required; ingest knows the event bus', () => {
    const all = template.findResources('AWS::Lambda::Function');
    expect(all[logicalId(functions().api.function)]?.Properties.Environment.Variables).toMatchObject({
      [ENV.apiKeysRequired]: 'true',
      [ENV.indexPrefix]: PREFIX.index,
      [ENV.detectionsTable]: expect.anything(),
      [ENV.idempotencyTable]: expect.anything(),
    });
    expect(all[logicalId(functions().ingest.function)]?.Properties.Environment.Variables).toMatchObject({
      [ENV.eventBus]: { Ref: logicalId(synth.stateless.compute.eventBus) },
      [ENV.detectionsTable]: expect.anything(),
    });
  });

  it('every log group in both stacks has a retention', () => {
    for (const t of [synth.statefulTemplate, template]) {
      for (const [id, logGroup] of resourcesOfType(t, 'AWS::Logs::LogGroup')) {
        expect(logGroup.Properties.RetentionInDays, id).toBe(30);
      }
    }
    // …and no function would fall back to an implicit /aws/lambda/<name> group without retention.
    for (const [id, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) {
      expect((fn.Properties.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup, id).toBeDefined();
    }
  });
});

describe('event sources and dead-letter queues', () => {
  it.each(['ingest', 'enrol'] as const)(
    'the %s function consumes the queue S3 notifies, with partial batch failures',
    (name) => {
      const mapping = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').find(
        ([, m]) =>
          JSON.stringify(m.Properties.FunctionName) ===
          JSON.stringify({ Ref: logicalId(functions()[name].function) }),
      );
      expect(mapping).toBeDefined();
      const properties = mapping![1].Properties!;
      expect(properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(crossStackTarget(properties.EventSourceArn)).toEqual({
        'Fn::GetAtt': [statefulLogicalId(synth.stateful.storage[name].queue), 'Arn'],
      });
    },
  );

  it('ingest scales to at most 10 concurrent invocations with batches of 10', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(functions().ingest.function) },
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  it('the indexer reads the templates stream in batches, bisects on error and sends failures to its DLQ', () => {
    const mapping = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').find(
      ([, m]) =>
        JSON.stringify(m.Properties.FunctionName) ===
        JSON.stringify({ Ref: logicalId(functions().indexer.function) }),
    );
    expect(mapping?.[1].Properties).toMatchObject({
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 10,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 3,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(synth.stateless.compute.indexerDlq), 'Arn'] } },
      },
    });
    expect(crossStackTarget(mapping?.[1].Properties.EventSourceArn)).toEqual({
      'Fn::GetAtt': [statefulLogicalId(synth.stateful.storage.templatesTable), 'StreamArn'],
    });
  });

  it('every DLQ has an alarm on visible messages that notifies the alarm topic', () => {
    const dlqArns = [
      crossStackTargetFor(synth.stateful.storage.ingest.dlq),
      crossStackTargetFor(synth.stateful.storage.enrol.dlq),
      logicalId(synth.stateless.compute.indexerDlq),
      logicalId(synth.stateless.compute.batch!.feed.dlq),
    ];
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm');
    for (const dlq of dlqArns) {
      const alarm = alarms.find(([, a]) => JSON.stringify(a.Properties.Dimensions).includes(dlq));
      expect(alarm, dlq).toBeDefined();
      expect(alarm![1].Properties).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        AlarmActions: [{ Ref: logicalId(synth.stateless.compute.alarmTopic) }],
      });
    }
  });
});

/** For a stateful queue, the output name its cross-stack reference (queue name) goes through. */
function crossStackTargetFor(queue: { node: { defaultChild?: unknown } }): string {
  const outputs = synth.statefulTemplate.toJSON().Outputs as Record<string, { Value: unknown }>;
  const id = statefulLogicalId(queue);
  const entry = Object.entries(outputs).find(
    ([, o]) => JSON.stringify(o.Value) === JSON.stringify({ 'Fn::GetAtt': [id, 'QueueName'] }),
  );
  expect(entry, `an output exporting the name of ${id}`).toBeDefined();
  return entry![0];
}

describe('REST API', () => {
  it('declares exactly the routes of the api function, each authorised (Cognito) and requiring an API key', () => {
    const all = resourcesOfType(template, 'AWS::ApiGateway::Method');
    expect(all).toHaveLength(API_ROUTES.length + CONSOLE_ROUTES.length);
    const methods = all.filter(([, m]) => m.Properties.AuthorizationType !== 'NONE');
    expect(methods).toHaveLength(API_ROUTES.length);
    for (const [id, method] of methods) {
      expect(method.Properties.AuthorizationType, id).toBe('COGNITO_USER_POOLS');
      expect(method.Properties.AuthorizerId, id).toBeDefined();
      expect(method.Properties.ApiKeyRequired, id).toBe(true);
      expect(method.Properties.RequestValidatorId, id).toBeDefined();
    }
    expect(methods.map(([, m]) => m.Properties.HttpMethod).sort()).toEqual(
      API_ROUTES.map((r) => r.method).sort(),
    );
  });

  it('leaves only the console shell public: GET, no API key', () => {
    const open = resourcesOfType(template, 'AWS::ApiGateway::Method').filter(
      ([, m]) => m.Properties.AuthorizationType === 'NONE',
    );
    expect(open).toHaveLength(CONSOLE_ROUTES.length);
    for (const [id, method] of open) {
      expect(method.Properties.HttpMethod, id).toBe('GET');
      expect(method.Properties.ApiKeyRequired, id).toBe(false);
    }
    const parts = resourcesOfType(template, 'AWS::ApiGateway::Resource').map(
      ([, r]) => r.Properties.PathPart,
    );
    expect(parts).toContain('console');
    expect(parts).toContain('{file}');
  });

  it('the authoriser trusts the stateful user pool', () => {
    const [, authorizer] = resourcesOfType(template, 'AWS::ApiGateway::Authorizer')[0]!;
    expect(authorizer.Properties.Type).toBe('COGNITO_USER_POOLS');
    expect(crossStackTarget((authorizer.Properties.ProviderARNs as unknown[])[0])).toEqual({
      'Fn::GetAtt': [statefulLogicalId(synth.stateful.identity!.userPool), 'Arn'],
    });
  });

  it('passes images and multipart bodies as binary', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      BinaryMediaTypes: ['image/*', 'multipart/form-data'],
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
  });

  it('requires Content-Type on POST and the path parameter on /subjects/{id} methods', () => {
    const methods = resourcesOfType(template, 'AWS::ApiGateway::Method');
    for (const [id, method] of methods) {
      const parameters = (method.Properties.RequestParameters ?? {}) as Record<string, boolean>;
      if (method.Properties.HttpMethod === 'POST') {
        expect(parameters['method.request.header.Content-Type'], id).toBe(true);
      }
    }
    expect(
      methods.filter(
        ([, m]) =>
          (m.Properties.RequestParameters as Record<string, boolean> | undefined)?.['method.request.path.id'],
      ),
    ).toHaveLength(API_ROUTES.filter((r) => r.path.includes('{id}')).length);
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
      ValidateRequestParameters: true,
      ValidateRequestBody: true,
    });
  });

  it('the stage has access logs, tracing and throttling', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      MethodSettings: [
        Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100, HttpMethod: '*' }),
      ],
    });
  });

  it('a usage plan with throttling carries the client API key', () => {
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 50, BurstLimit: 100 },
    });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', { KeyType: 'API_KEY' });
  });

  it('Lambda permissions are scoped to one method each and exclude test invocations', () => {
    for (const [id, permission] of resourcesOfType(template, 'AWS::Lambda::Permission')) {
      expect(permission.Properties.Principal, id).toBe('apigateway.amazonaws.com');
      expect(JSON.stringify(permission.Properties.SourceArn), id).not.toContain('test-invoke-stage');
    }
  });
});

describe('event bus', () => {
  it('is a custom bus that only the ingest function and the Batch job may put events on', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    const busArn = { 'Fn::GetAtt': [logicalId(synth.stateless.compute.eventBus), 'Arn'] };
    const putters = resourcesOfType(template, 'AWS::IAM::Policy').filter(([, p]) =>
      JSON.stringify(p.Properties.PolicyDocument).includes('events:PutEvents'),
    );
    expect(putters.map(([id]) => id).sort()).toEqual(
      [synth.stateless.compute.ingest.role, synth.stateless.compute.node.findChild('BatchJobRole')]
        .map((role) =>
          logicalId(
            (role as typeof synth.stateless.compute.ingest.role).node.findChild('DefaultPolicy') as never,
          ),
        )
        .sort(),
    );
    for (const [, policy] of putters) {
      expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain(JSON.stringify(busArn));
    }
  });
});

describe('AWS Batch', () => {
  it('a managed EC2 compute environment of g4dn/g5 GPU instances that scales from zero', () => {
    template.hasResourceProperties('AWS::Batch::ComputeEnvironment', {
      Type: 'managed',
      ComputeResources: Match.objectLike({
        Type: 'EC2',
        MinvCpus: 0,
        MaxvCpus: 64,
        InstanceTypes: ['g4dn', 'g5'],
        Ec2Configuration: Match.arrayWith([{ ImageType: 'ECS_AL2023_NVIDIA' }]),
      }),
    });
  });

  it('the job definition runs batch.mjs with one GPU, a job role, a timeout and retries', () => {
    template.hasResourceProperties('AWS::Batch::JobDefinition', {
      Type: 'container',
      RetryStrategy: { Attempts: 3 },
      Timeout: { AttemptDurationSeconds: 4 * 3600 },
      ContainerProperties: Match.objectLike({
        Command: [...BATCH_COMMAND],
        JobRoleArn: Match.anyValue(),
        ResourceRequirements: Match.arrayWith([{ Type: 'GPU', Value: '1' }]),
        Environment: Match.arrayWith([{ Name: ENV.indexPrefix, Value: PREFIX.index }]),
      }),
    });
  });

  it('an EventBridge pipe turns each feed-queue message into a job with the manifest parameter', () => {
    const batch = synth.stateless.compute.batch!;
    template.hasResourceProperties('AWS::Pipes::Pipe', {
      Source: { 'Fn::GetAtt': [logicalId(batch.feed.queue), 'Arn'] },
      SourceParameters: { SqsQueueParameters: { BatchSize: 1 } },
      TargetParameters: {
        BatchJobParameters: Match.objectLike({
          JobDefinition: { Ref: logicalId(batch.jobDefinition) },
          Parameters: { manifest: '$.body.manifest' },
        }),
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(batch.feed.dlq), 'Arn'] },
        maxReceiveCount: 3,
      },
    });
  });

  it('instances get a security group with no ingress and HTTPS-only egress', () => {
    const batch = synth.stateless.compute.batch!;
    const group = template.findResources('AWS::EC2::SecurityGroup')[logicalId(batch.securityGroup)];
    expect(group?.Properties.SecurityGroupIngress).toBeUndefined();
    expect(group?.Properties.SecurityGroupEgress).toEqual([
      expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
    ]);
  });

  it('the VPC has no NAT gateway, has S3 and DynamoDB gateway endpoints and logs rejected traffic', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    const endpoints = resourcesOfType(template, 'AWS::EC2::VPCEndpoint').map(([, e]) =>
      JSON.stringify(e.Properties.ServiceName),
    );
    expect(endpoints.some((s) => s.includes('.s3'))).toBe(true);
    expect(endpoints.some((s) => s.includes('.dynamodb'))).toBe(true);
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT', ResourceType: 'VPC' });
  });
});
