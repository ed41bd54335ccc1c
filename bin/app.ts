#!/usr/bin/env node
// CDK app entry (`cdk.json` runs `npx tsx bin/app.ts`). The stacks are environment-agnostic: nothing is
// looked up in an account at synth time, so `cdk synth` works offline, and `cdk deploy` takes the account
// and region from the AWS profile.
//
// Deployment options come from context, e.g.
//   npx cdk deploy --all -c faceprint:apiAuthorization=iam -c faceprint:alarmEmail=ops@example.com
// Keys: apiAuthorization (cognito | iam), apiKeysRequired (true | false), alarmEmail, webAclArn, batch (false
// to leave AWS Batch out), batchImage (gpu | cpu: the Batch job's image; cpu where the CUDA variant cannot be built). Every value is checked by resolveOptions (lib/constructs/options.ts).
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { ApiAuthorization, FaceprintOptions } from '../lib/faceprint.ts';
import { StatefulStack } from '../lib/stateful-stack.ts';
import { StatelessStack } from '../lib/stateless-stack.ts';

const app = new App();

function context(key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(`faceprint:${key}`);
  return value === undefined ? undefined : String(value);
}

const options: FaceprintOptions = {
  ...(context('apiAuthorization') && { apiAuthorization: context('apiAuthorization') as ApiAuthorization }),
  ...(context('apiKeysRequired') && { apiKeysRequired: context('apiKeysRequired') !== 'false' }),
  ...(context('alarmEmail') && { alarmEmail: context('alarmEmail') }),
  ...(context('webAclArn') && { webAclArn: context('webAclArn') }),
  ...(context('batch') === 'false' && { batch: false }),
  ...(context('batch') !== 'false' &&
    context('batchImage') && { batch: { image: context('batchImage') as 'gpu' | 'cpu' } }),
};

const stateful = new StatefulStack(app, 'FaceprintStateful', { faceprint: options });
new StatelessStack(app, 'FaceprintStateless', { stateful });

Tags.of(app).add('project', 'faceprint');
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
