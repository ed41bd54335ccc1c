import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { FaceprintIdentity } from './constructs/identity.ts';
import {
  type FaceprintOptions,
  type ResolvedFaceprintOptions,
  resolveOptions,
} from './constructs/options.ts';
import { FaceprintStorage } from './constructs/storage.ts';

/** Properties of {@link StatefulStack}. */
export interface StatefulStackProps extends StackProps {
  /** The deployment's options; pass the same object to `StatelessStack`. */
  readonly faceprint?: FaceprintOptions;
}

/**
 * The stack that holds data: KMS key, buckets, tables, the notified queues and (with Cognito
 * authorisation) the user pool. Every data-holding resource is retained on deletion, and the stack has
 * termination protection, so `cdk destroy` cannot remove it by accident.
 */
export class StatefulStack extends Stack {
  readonly options: ResolvedFaceprintOptions;
  readonly storage: FaceprintStorage;
  /** Present when `apiAuthorization` is `cognito`. */
  readonly identity: FaceprintIdentity | undefined;

  constructor(scope: Construct, id: string, props: StatefulStackProps = {}) {
    super(scope, id, {
      description: 'Faceprint: data (bucket, tables, key, queues, user pool)',
      terminationProtection: true,
      ...props,
    });
    this.options = resolveOptions(props.faceprint);
    this.storage = new FaceprintStorage(this, 'Storage', { options: this.options });
    this.identity =
      this.options.apiAuthorization === 'cognito' ? new FaceprintIdentity(this, 'Identity') : undefined;

    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName });
    new CfnOutput(this, 'KeyArn', { value: this.storage.key.keyArn });
    new CfnOutput(this, 'SubjectsTableName', { value: this.storage.subjectsTable.tableName });
    new CfnOutput(this, 'TemplatesTableName', { value: this.storage.templatesTable.tableName });
    new CfnOutput(this, 'DetectionsTableName', { value: this.storage.detectionsTable.tableName });
    new CfnOutput(this, 'FollowUpTableName', { value: this.storage.followUpTable.tableName });
    if (this.identity) {
      new CfnOutput(this, 'UserPoolId', { value: this.identity.userPool.userPoolId });
      new CfnOutput(this, 'UserPoolClientId', { value: this.identity.userPoolClient.userPoolClientId });
    }
  }
}
