import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, IgnoreStrategy, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { DOCKERFILE, REPO_ROOT } from '../../lib/constructs/compute.ts';
import { type FaceprintOptions, resolveOptions } from '../../lib/constructs/options.ts';
import { Faceprint, FaceprintConfigError } from '../../lib/faceprint.ts';
import { CONSOLE_ROUTES } from '../../lib/runtime-config.ts';
import {
  newApp,
  reportedViolations,
  type SynthesizedApp,
  synthSingleStack,
  synthTwoStacks,
} from './synth.ts';

describe('synth-time option checks', () => {
  it.each<[string, FaceprintOptions, RegExp]>([
    [
      'memory below 128 MB',
      { functions: { ingest: { memorySize: 64 } } },
      /functions\.ingest\.memorySize must be an integer in \[128, 10240\]/,
    ],
    ['memory above 10240 MB', { functions: { api: { memorySize: 20_000 } } }, /functions\.api\.memorySize/],
    [
      'an api timeout above 29 s',
      { functions: { api: { timeout: Duration.seconds(30) } } },
      /functions\.api\.timeout must be between 1 s and 29 s/,
    ],
    [
      'a timeout above 15 min',
      { functions: { indexer: { timeout: Duration.minutes(16) } } },
      /functions\.indexer\.timeout/,
    ],
    [
      'negative reserved concurrency',
      { functions: { enrol: { reservedConcurrentExecutions: -1 } } },
      /reservedConcurrentExecutions/,
    ],
    [
      'ingest concurrency below 2',
      { ingestMaxConcurrency: 1 },
      /ingestMaxConcurrency must be an integer in \[2, 1000\]/,
    ],
    ['a malformed alarm e-mail', { alarmEmail: 'not-an-address' }, /alarmEmail is not an e-mail address/],
    [
      'a CloudFront-scope web ACL',
      { webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1' },
      /REGIONAL WAFv2 web ACL ARN/,
    ],
    [
      'ARM_64 with Batch',
      { architecture: Architecture.ARM_64 },
      /ARM_64 cannot share its image with the x86_64 GPU instances/,
    ],
    [
      'Batch without instance classes',
      { batch: { instanceClasses: [] } },
      /batch\.instanceClasses must not be empty/,
    ],
    ['no index shards', { indexShards: 0 }, /indexShards must be an integer in \[1, 256\]/],
    ['a fractional shard count', { indexShards: 2.5 }, /indexShards must be an integer in \[1, 256\]/],
    ['an unknown index dtype', { indexDtype: 'float16' as 'int8' }, /indexDtype must be 'int8' or 'float32'/],
    [
      'an unknown authorisation',
      { apiAuthorization: 'none' as 'iam' },
      /apiAuthorization must be 'cognito' or 'iam'/,
    ],
  ])('rejects %s', (_label, options, message) => {
    expect(() => resolveOptions(options)).toThrow(FaceprintConfigError);
    expect(() => resolveOptions(options)).toThrow(message);
  });

  it('the L3 construct fails synth with the option name', () => {
    const stack = new Stack(newApp(), 'Host');
    expect(() => new Faceprint(stack, 'Faceprint', { functions: { api: { memorySize: 100 } } })).toThrow(
      /Faceprint: functions\.api\.memorySize/,
    );
  });

  it('applies the documented defaults', () => {
    const options = resolveOptions();
    expect(options.functions.api).toMatchObject({
      memorySize: 3008,
      reservedConcurrentExecutions: undefined,
    });
    expect(options.functions.enrol.memorySize).toBe(2048);
    expect(options.functions.api.timeout.toSeconds()).toBe(29);
    expect(options).toMatchObject({ apiAuthorization: 'cognito', apiKeysRequired: true, maxReceiveCount: 3 });
    expect(options.batch).toMatchObject({ maxvCpus: 64, jobGpus: 1, spot: false });
    expect(options.indexShards).toBe(16);
    expect(options.indexDtype).toBe('int8');
  });
});

describe('option variants', () => {
  let iamApp: SynthesizedApp;
  let single: ReturnType<typeof synthSingleStack>;
  const webAclArn = 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/faceprint/0123abcd';

  beforeAll(() => {
    iamApp = synthTwoStacks({
      apiAuthorization: 'iam',
      apiKeysRequired: false,
      batch: false,
      alarmEmail: 'ops@example.com',
    });
    single = synthSingleStack({ architecture: Architecture.ARM_64, batch: false, webAclArn });
  });

  it('cdk-nag reports nothing for IAM authorisation without Batch, nor for the L3 construct in one stack', () => {
    expect(reportedViolations(iamApp.assembly)).toEqual([]);
    expect(reportedViolations(single.assembly)).toEqual([]);
  });

  it('iam authorisation: every method is AWS_IAM, no user pool, the api function is told keys are optional', () => {
    const all = Object.entries(iamApp.statelessTemplate.findResources('AWS::ApiGateway::Method'));
    // The console shell alone is public (see CONSOLE_ROUTES); every API route is signed.
    const methods = all.filter(([, m]) => m.Properties.AuthorizationType !== 'NONE');
    expect(all.length - methods.length).toBe(CONSOLE_ROUTES.length);
    expect(methods.length).toBeGreaterThan(0);
    for (const [id, method] of methods) {
      expect(method.Properties.AuthorizationType, id).toBe('AWS_IAM');
      expect(method.Properties.ApiKeyRequired, id).toBe(false);
    }
    iamApp.statefulTemplate.resourceCountIs('AWS::Cognito::UserPool', 0);
    iamApp.statelessTemplate.resourceCountIs('AWS::Batch::ComputeEnvironment', 0);
    iamApp.statelessTemplate.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['api.handler'] },
      Environment: { Variables: Match.objectLike({ FACEPRINT_API_KEYS_REQUIRED: 'false' }) },
    });
  });

  it('alarmEmail subscribes the address to the alarm topic', () => {
    iamApp.statelessTemplate.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: {
        Ref: iamApp.stateless.getLogicalId(iamApp.stateless.compute.alarmTopic.node.defaultChild as never),
      },
    });
  });

  it('webAclArn associates the web ACL with the API stage', () => {
    single.template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', { WebACLArn: webAclArn });
  });

  it('ARM_64 without Batch builds the image for linux/arm64 and runs the functions on arm64', () => {
    single.template.hasResourceProperties('AWS::Lambda::Function', {
      Architectures: ['arm64'],
      ImageConfig: { Command: ['ingest.handler'] },
    });
    // The platform is part of the image asset: an x86_64 deployment builds (and hashes) a different image.
    const x86 = new Faceprint(new Stack(newApp(), 'X86'), 'Faceprint', { batch: false });
    expect(single.faceprint.compute.image.assetHash).not.toEqual(x86.compute.image.assetHash);
  });

  it('the single-stack construct puts the S3 notification and the ingest consumer on the same queue', () => {
    const { faceprint, template } = single;
    const stack = Stack.of(faceprint);
    const queueId = stack.getLogicalId(faceprint.storage.ingest.queue.node.defaultChild as never);
    template.hasResourceProperties('AWS::S3::Bucket', {
      NotificationConfiguration: {
        QueueConfigurations: Match.arrayWith([
          Match.objectLike({
            Queue: { 'Fn::GetAtt': [queueId, 'Arn'] },
            Filter: { S3Key: { Rules: [{ Name: 'prefix', Value: 'uploads/' }] } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionName: { Ref: stack.getLogicalId(faceprint.compute.ingest.function.node.defaultChild as never) },
    });
  });
});

describe('container image build context', () => {
  const patterns = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').filter(Boolean);
  const ignore = IgnoreStrategy.docker(REPO_ROOT, patterns);
  const ignored = (path: string) => ignore.ignores(join(REPO_ROOT, path));

  it('.dockerignore keeps node_modules, tests, cdk.out, git, local data and the model cache out', () => {
    for (const path of [
      'node_modules/sharp/package.json',
      'functions/node_modules/x/index.js',
      'test/infra/stateful.test.ts',
      'cdk.out/manifest.json',
      '.git/HEAD',
      '.faceprint/faceprint.db',
      'layers/models/.cache/x/package/model/fr_detect.onnx',
      'docs/deploy.md',
      'lib/stateful-stack.ts',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
    expect(ignore.completelyIgnores(join(REPO_ROOT, 'node_modules')), 'node_modules is never walked').toBe(
      true,
    );
  });

  it('every file the Dockerfile copies from the context is let in', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, DOCKERFILE), 'utf8');
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      m[1]!.split(/\s+/),
    );
    expect(sources).toEqual(
      expect.arrayContaining(['package-lock.json', 'functions/', 'layers/models/manifest.json']),
    );
    const examples: Record<string, string> = {
      'functions/': 'functions/handlers/api.ts',
      'layers/models/*.onnx': 'layers/models/mobilefacenet-512.onnx',
      'console/src/': 'console/src/main.ts',
    };
    for (const source of sources) expect(ignored(examples[source] ?? source), source).toBe(false);
    expect(ignored(DOCKERFILE)).toBe(false);
  });

  it('the Dockerfile bundles every handler the stacks start', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, DOCKERFILE), 'utf8');
    for (const handler of ['api', 'ingest', 'enrol', 'indexer', 'batch']) {
      expect(dockerfile).toContain(`functions/handlers/${handler}.ts`);
    }
    expect(dockerfile).toMatch(/--external:sharp --external:onnxruntime-node --external:better-sqlite3/);
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(finalStage).toMatch(/^ENV [\s\S]*?FACEPRINT_MODELS_DIR=\/opt\/models/m);
    expect(finalStage).toContain('COPY --from=build /opt/models/ /opt/models/');
    expect(dockerfile).toMatch(/sha256sum --check/);
  });
});
