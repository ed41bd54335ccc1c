import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
// The exact function cdk-nag uses to turn a policy resource into a finding id, so the ids below match.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';
import { PREFIX, VIDEO_MANIFEST_PREFIX, VIDEO_RESULTS_PREFIX } from '../runtime-config.ts';

/**
 * Wildcard actions that CDK's `grant*` methods emit, with why each is acceptable. They are acknowledged
 * only in statements whose resources are all specific ARNs (never `*`).
 */
export const GRANT_ACTION_WILDCARDS: Readonly<Record<string, string>> = {
  's3:GetObject*':
    'CDK grantRead action group (GetObject, GetObjectVersion, GetObjectTagging…); its resources are one key prefix of the data bucket.',
  's3:GetBucket*':
    'CDK grantRead action group (bucket location, versioning…); its resource is the data bucket only.',
  's3:List*':
    'CDK grantRead action group (ListBucket, ListBucketVersions…); its resource is the data bucket only.',
  's3:DeleteObject*':
    'CDK grantDelete action group (DeleteObject, DeleteObjectVersion…); its resources are one key prefix of the data bucket.',
  's3:Abort*':
    'CDK grantPut: AbortMultipartUpload, so failed uploads under the granted prefix can be cleaned up.',
  'kms:GenerateDataKey*':
    'CDK grant for a KMS-encrypted bucket or queue: GenerateDataKey(WithoutPlaintext); its resource is the Faceprint key only.',
  'kms:ReEncrypt*':
    'CDK grant for a KMS-encrypted bucket or queue: ReEncryptFrom/To; its resource is the Faceprint key only.',
};

/**
 * Actions that IAM only supports on `Resource: '*'` (no resource-level permissions), with why each is
 * needed. A `Resource::*` finding is acknowledged only when every action of its statement is listed here.
 */
export const STAR_RESOURCE_ACTIONS: Readonly<Record<string, string>> = {
  'xray:PutTraceSegments': 'X-Ray tracing (Tracing.ACTIVE); X-Ray has no resource-level permissions.',
  'xray:PutTelemetryRecords': 'X-Ray tracing (Tracing.ACTIVE); X-Ray has no resource-level permissions.',
  'dynamodb:ListStreams':
    'Stream event source of the indexer: ListStreams has no resource-level permission; reading the stream is limited to the templates table’s stream ARN.',
  'ecr:GetAuthorizationToken':
    'Pulling the container image: an ECR authorisation token is account-wide and has no resource-level permission.',
};

/** The parts of a resolved IAM policy statement that matter here. */
interface PolicyStatementJson {
  Effect?: string;
  Action?: string | string[];
  Resource?: unknown;
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * Acknowledges, on each IAM policy under `scope`, exactly the cdk-nag `AwsSolutions-IAM5` findings that are
 * the expected shape of Faceprint's least-privilege grants — and nothing else:
 * - an action wildcard from {@link GRANT_ACTION_WILDCARDS} in a statement without a `*` resource;
 * - a resource ending in `/<prefix>*` for one of the data bucket's prefixes (`uploads/`, `gallery/`, …);
 * - `Resource::*` in a statement whose every action is in {@link STAR_RESOURCE_ACTIONS}.
 *
 * cdk-nag v3 matches acknowledgements by exact finding id, and a finding id contains the resolved
 * reference to the bucket, which for a cross-stack reference exists only after CDK has prepared the app.
 * So the ids are computed in a construct validation, which runs after preparation and before the
 * validation plugins (cdk-nag) run.
 */
export function acknowledgeLeastPrivilegeWildcards(scope: IConstruct): void {
  scope.node.addValidation({
    validate: () => {
      for (const child of scope.node.findAll()) {
        if (child instanceof iam.CfnPolicy) acknowledgePolicy(child);
      }
      return [];
    },
  });
}

function acknowledgePolicy(policy: iam.CfnPolicy): void {
  const document = Stack.of(policy).resolve(policy.policyDocument) as { Statement?: PolicyStatementJson[] };
  const statements = (document.Statement ?? [])
    .filter((statement) => statement.Effect === 'Allow')
    .map((statement) => ({
      actions: asArray(statement.Action),
      resources: asArray(statement.Resource).map((resource) => flattenCfnReference(resource)),
    }));
  // A finding id names an action or a resource, not a statement. So an action granted on `*` anywhere in the
  // policy is never acknowledged, and `Resource::*` only when every statement on `*` is allow-listed.
  const starStatements = statements.filter((s) => s.resources.includes('*'));
  const actionsOnStar = new Set(starStatements.flatMap((s) => s.actions));
  const starReasons = starStatements.flatMap((s) => s.actions.map((action) => STAR_RESOURCE_ACTIONS[action]));

  const acknowledged = new Map<string, string>();
  if (starStatements.length > 0 && starReasons.every((reason) => reason !== undefined)) {
    acknowledged.set('Resource::*', [...new Set(starReasons)].join(' '));
  }
  for (const { actions, resources } of statements) {
    for (const action of actions) {
      const reason = GRANT_ACTION_WILDCARDS[action];
      if (reason && !actionsOnStar.has(action)) acknowledged.set(`Action::${action}`, reason);
    }
    for (const resource of resources) {
      if (resource === '*') continue;
      // `<bucket ARN>/<prefix>*`, with no other wildcard (so never `arn:aws:s3:::*/uploads/*`).
      const prefix = [...Object.values(PREFIX), VIDEO_MANIFEST_PREFIX, VIDEO_RESULTS_PREFIX].find(
        (p) => resource.endsWith(`/${p}*`) && !resource.slice(0, -(p.length + 2)).includes('*'),
      );
      if (prefix) {
        acknowledged.set(
          `Resource::${resource}`,
          `Object-level access limited to the ${prefix} key prefix of the data bucket.`,
        );
      }
    }
  }
  for (const [finding, reason] of acknowledged) {
    Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
  }
}
