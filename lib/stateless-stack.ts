import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { FaceprintCompute } from './constructs/compute.ts';
import type { StatefulStack } from './stateful-stack.ts';

/** Properties of {@link StatelessStack}. */
export interface StatelessStackProps extends StackProps {
  /** The stack with the data; its options (already checked) are reused, so both stacks agree. */
  readonly stateful: StatefulStack;
}

/**
 * The stack without data: container image, functions, REST API, event bus, alarms and AWS Batch. It can
 * be destroyed and redeployed at any time; it depends on the stateful stack, never the other way round.
 */
export class StatelessStack extends Stack {
  readonly compute: FaceprintCompute;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, {
      description: 'Faceprint: compute (functions, API, event bus, Batch)',
      ...props,
    });
    const { stateful } = props;
    this.compute = new FaceprintCompute(this, 'Compute', {
      options: stateful.options,
      storage: stateful.storage,
      userPool: stateful.identity?.userPool,
    });

    const { restApi } = this.compute;
    new CfnOutput(this, 'ApiUrl', { value: restApi.restApi.url });
    if (restApi.apiKey) {
      new CfnOutput(this, 'ApiKeyId', {
        value: restApi.apiKey.keyId,
        description: 'aws apigateway get-api-key --include-value --api-key <id> prints the key',
      });
    }
    new CfnOutput(this, 'EventBusName', { value: this.compute.eventBus.eventBusName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.compute.alarmTopic.topicArn });
    if (this.compute.batch) {
      new CfnOutput(this, 'BatchFeedQueueUrl', { value: this.compute.batch.feed.queue.queueUrl });
      new CfnOutput(this, 'BatchJobQueueArn', { value: this.compute.batch.jobQueue.jobQueueArn });
      new CfnOutput(this, 'BatchJobDefinitionArn', {
        value: this.compute.batch.jobDefinition.jobDefinitionArn,
      });
    }
  }
}
