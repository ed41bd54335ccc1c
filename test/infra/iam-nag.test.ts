import { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  acknowledgeLeastPrivilegeWildcards,
  GRANT_ACTION_WILDCARDS,
  STAR_RESOURCE_ACTIONS,
} from '../../lib/constructs/nag.ts';
import {
  acknowledgements,
  newApp,
  reportedViolations,
  resourcesOfType,
  type SynthesizedApp,
  synthTwoStacks,
} from './synth.ts';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Every Allow statement of every identity policy in a template: AWS::IAM::Policy and roles' inline policies. */
function allowStatements(template: Template): { where: string; statement: Statement }[] {
  const found: { where: string; statement: Statement }[] = [];
  for (const [id, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
    const document = policy.Properties.PolicyDocument as { Statement: Statement[] };
    for (const statement of document.Statement) found.push({ where: id, statement });
  }
  for (const [id, role] of resourcesOfType(template, 'AWS::IAM::Role')) {
    for (const inline of asArray(
      role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[],
    )) {
      for (const statement of inline.PolicyDocument.Statement) found.push({ where: id, statement });
    }
  }
  return found.filter(({ statement }) => statement.Effect === 'Allow');
}

let synth: SynthesizedApp;

beforeAll(() => {
  synth = synthTwoStacks();
});

describe('IAM least privilege', () => {
  it('no statement in either stack grants Resource "*", except actions that have no resource-level permissions', () => {
    const templates = { stateful: synth.statefulTemplate, stateless: synth.statelessTemplate };
    let starStatements = 0;
    for (const [stack, template] of Object.entries(templates)) {
      for (const { where, statement } of allowStatements(template)) {
        if (!asArray(statement.Resource).includes('*')) continue;
        starStatements += 1;
        for (const action of asArray(statement.Action)) {
          expect(STAR_RESOURCE_ACTIONS, `${stack}/${where} grants ${action} on "*"`).toHaveProperty([action]);
        }
      }
    }
    // X-Ray on each of the four functions at least: the allow-list is exercised, not vacuous.
    expect(starStatements).toBeGreaterThanOrEqual(4);
  });

  it('no action is a service-wide wildcard, and every other wildcard action is a known CDK grant group', () => {
    for (const template of [synth.statefulTemplate, synth.statelessTemplate]) {
      for (const { where, statement } of allowStatements(template)) {
        for (const action of asArray(statement.Action)) {
          expect(action, where).not.toMatch(/^(\*|[a-z0-9-]+:\*)$/);
          if (action.includes('*'))
            expect(GRANT_ACTION_WILDCARDS, `${where}: ${action}`).toHaveProperty([action]);
        }
      }
    }
  });

  it('object-level S3 grants are limited to key prefixes', () => {
    const s3ObjectResources = allowStatements(synth.statelessTemplate)
      .filter(({ statement }) =>
        asArray(statement.Action).some((a) => /^s3:(GetObject|PutObject|DeleteObject)/.test(a)),
      )
      .flatMap(({ statement }) => asArray(statement.Resource))
      .filter((resource) => JSON.stringify(resource).includes('/'));
    expect(s3ObjectResources.length).toBeGreaterThan(0);
    for (const resource of s3ObjectResources) {
      expect(JSON.stringify(resource)).toMatch(
        /"\/(gallery|uploads|index|results|results\/videos|batch|batch\/videos|photos)\/\*"/,
      );
    }
  });

  it('the ingest function reads uploads/ and index/, writes only video manifests under batch/videos/, deletes nothing', () => {
    const policyId = synth.stateless.getLogicalId(
      synth.stateless.compute.ingest.role.node.findChild('DefaultPolicy').node.defaultChild as never,
    );
    const statements = allowStatements(synth.statelessTemplate).filter(({ where }) => where === policyId);
    const actions = statements.flatMap(({ statement }) => asArray(statement.Action));
    expect(actions).toContain('s3:GetObject*');
    expect(actions.filter((a) => /^s3:Delete/.test(a))).toEqual([]);
    const writes = statements.filter(({ statement }) =>
      asArray(statement.Action).some((a) => /^s3:Put/.test(a)),
    );
    expect(writes.length).toBeGreaterThan(0);
    for (const { statement } of writes) {
      expect(JSON.stringify(statement.Resource)).toMatch(/"\/batch\/videos\/\*"/);
      expect(JSON.stringify(statement.Resource)).not.toMatch(/"\/(uploads|index|results|gallery)\/\*"/);
    }
    const prefixes = JSON.stringify(statements.map(({ statement }) => statement.Resource)).match(
      /"\/[a-z/]+\/\*"/g,
    );
    expect(new Set(prefixes)).toEqual(new Set(['"/uploads/*"', '"/index/*"', '"/batch/videos/*"']));
  });

  it('the ingest function may send to the Batch feed queue (its URL in the environment) and call no Batch API', () => {
    const policyId = synth.stateless.getLogicalId(
      synth.stateless.compute.ingest.role.node.findChild('DefaultPolicy').node.defaultChild as never,
    );
    const statements = allowStatements(synth.statelessTemplate).filter(({ where }) => where === policyId);
    const feed = synth.stateless.getLogicalId(
      synth.stateless.compute.batch!.feed.queue.node.defaultChild as never,
    );
    const send = statements.filter(({ statement }) => asArray(statement.Action).includes('sqs:SendMessage'));
    expect(send).toHaveLength(1);
    expect(JSON.stringify(send[0]!.statement.Resource)).toContain(feed);
    const actions = statements.flatMap(({ statement }) => asArray(statement.Action));
    expect(actions.filter((a) => a.startsWith('batch:'))).toEqual([]);
    const fn =
      synth.statelessTemplate.findResources('AWS::Lambda::Function')[
        synth.stateless.getLogicalId(synth.stateless.compute.ingest.function.node.defaultChild as never)
      ];
    expect(JSON.stringify(fn?.Properties.Environment.Variables.FACEPRINT_BATCH_FEED_QUEUE_URL)).toContain(
      feed,
    );
  });

  it('the api may delete video track thumbnails (results/videos/) for erasure, and nothing else of results/', () => {
    const policyId = synth.stateless.getLogicalId(
      synth.stateless.compute.api.role.node.findChild('DefaultPolicy').node.defaultChild as never,
    );
    const deletes = allowStatements(synth.statelessTemplate)
      .filter(({ where }) => where === policyId)
      .filter(({ statement }) => asArray(statement.Action).some((a) => /^s3:Delete/.test(a)));
    const prefixes = JSON.stringify(deletes.map(({ statement }) => statement.Resource)).match(
      /"\/[a-z/]+\/\*"/g,
    );
    expect(prefixes).toContain('"/results/videos/*"');
    expect(prefixes).not.toContain('"/results/*"');
  });

  it('the Batch job reads uploads/ (the videos handed to it) and writes only results/', () => {
    const role = synth.stateless.compute.node.findChild('BatchJobRole') as never as {
      node: { findChild(id: string): { node: { defaultChild: unknown } } };
    };
    const policyId = synth.stateless.getLogicalId(
      role.node.findChild('DefaultPolicy').node.defaultChild as never,
    );
    const statements = allowStatements(synth.statelessTemplate).filter(({ where }) => where === policyId);
    const reads = statements.filter(({ statement }) => asArray(statement.Action).includes('s3:GetObject*'));
    expect(JSON.stringify(reads.map((r) => r.statement.Resource))).toContain('"/uploads/*"');
    const writes = statements.filter(({ statement }) =>
      asArray(statement.Action).some((a) => /^s3:Put/.test(a)),
    );
    for (const { statement } of writes) expect(JSON.stringify(statement.Resource)).toMatch(/"\/results\/\*"/);
  });

  it('the functions’ roles carry no AWS managed policies', () => {
    for (const fn of [
      synth.stateless.compute.api,
      synth.stateless.compute.ingest,
      synth.stateless.compute.enrol,
    ]) {
      const role =
        synth.statelessTemplate.findResources('AWS::IAM::Role')[
          synth.stateless.getLogicalId(fn.role.node.defaultChild as never)
        ];
      expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no error and no warning for the two-stack app (default options)', () => {
    expect(reportedViolations(synth.assembly)).toEqual([]);
  });

  // CDK itself acknowledges a CloudFormation-Validate warning about literal AZs on stacks with a VPC;
  // these tests are about Faceprint's cdk-nag acknowledgements.
  const nagAcknowledgements = () =>
    acknowledgements(synth.app).filter(({ id }) => !id.startsWith('CloudFormation-Validate'));

  it('every acknowledgement names a specific rule (or finding) and gives a reason', () => {
    const acks = nagAcknowledgements();
    expect(acks.length).toBeGreaterThan(0);
    for (const { id, reason, path } of acks) {
      expect(id, path).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(reason.length, `${path} ${id}`).toBeGreaterThanOrEqual(40);
      // No blanket acknowledgement of a wildcard rule: IAM5 is only ever acknowledged finding by finding.
      if (id.startsWith('AwsSolutions-IAM5')) expect(id, path).toMatch(/\[(Action|Resource)::.+\]$/);
      if (id.startsWith('AwsSolutions-IAM5[Resource::')) {
        expect(id, path).toMatch(
          /(\/(gallery|uploads|index|results|results\/videos|batch|batch\/videos|photos)\/\*|::\*)\]$/,
        );
      }
    }
  });

  it('acknowledgements sit on the resource they are about, never on a stack or the app', () => {
    for (const { path } of nagAcknowledgements()) {
      expect(path.split('/').length, path).toBeGreaterThanOrEqual(3);
    }
  });
});

describe('acknowledgeLeastPrivilegeWildcards', () => {
  /** Synthesises one role with `statements` under the acknowledger; returns the cdk-nag error, if any. */
  function nagErrorFor(statements: iam.PolicyStatement[]): string | undefined {
    const app = newApp();
    const stack = new Stack(app, 'Probe');
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    acknowledgeLeastPrivilegeWildcards(stack);
    try {
      app.synth();
      return undefined;
    } catch (error) {
      return String(error);
    }
  }
  const bucketArn = 'arn:aws:s3:::faceprint-data';

  it('acknowledges prefix-scoped grant groups and X-Ray on "*"', () => {
    expect(
      nagErrorFor([
        new iam.PolicyStatement({
          actions: ['s3:GetObject*', 's3:List*'],
          resources: [bucketArn, `${bucketArn}/uploads/*`],
        }),
        new iam.PolicyStatement({
          actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
          resources: ['*'],
        }),
      ]),
    ).toBeUndefined();
  });

  it.each([
    [
      'a prefix on any bucket',
      [new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::*/uploads/*'] })],
    ],
    [
      'a key outside the prefixes',
      [new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${bucketArn}/*`] })],
    ],
    ['a grant group on "*"', [new iam.PolicyStatement({ actions: ['s3:GetObject*'], resources: ['*'] })]],
    [
      'another action next to X-Ray on "*"',
      [new iam.PolicyStatement({ actions: ['xray:PutTraceSegments', 'dynamodb:GetItem'], resources: ['*'] })],
    ],
    [
      'a service-wide wildcard',
      [new iam.PolicyStatement({ actions: ['s3:*'], resources: [`${bucketArn}/uploads/*`] })],
    ],
  ])('leaves %s to cdk-nag', (_label, statements) => {
    expect(nagErrorFor(statements)).toMatch(/AwsSolutions-IAM5/);
  });
});
