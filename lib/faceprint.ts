import { Construct } from 'constructs';
import { FaceprintCompute } from './constructs/compute.ts';
import { FaceprintIdentity } from './constructs/identity.ts';
import {
  type FaceprintOptions,
  type ResolvedFaceprintOptions,
  resolveOptions,
} from './constructs/options.ts';
import { FaceprintStorage } from './constructs/storage.ts';

export type {
  ApiAuthorization,
  FaceprintBatchOptions,
  FaceprintOptions,
  FunctionSizing,
} from './constructs/options.ts';
export { FaceprintConfigError } from './constructs/options.ts';

/** Properties of {@link Faceprint}: every option is optional and has a secure default. */
export type FaceprintProps = FaceprintOptions;

/**
 * Faceprint in one construct, for infrastructure teams that add it to a stack of their own app.
 *
 * It creates the same resources as the project's two stacks (`StatefulStack` + `StatelessStack`), in
 * the stack it is added to: an encrypted, versioned, private bucket with `gallery/`, `uploads/`,
 * `index/`, `results/` and `batch/` prefixes; four DynamoDB tables with PITR; upload and gallery queues
 * with DLQs; the ingest, enrol, indexer and api functions from one container image; a REST API on which
 * every method is authorised (Cognito or IAM, plus API keys); a custom EventBridge bus for detection
 * events; alarms on every DLQ; and AWS Batch on GPU instances scaling from zero.
 *
 * Options are checked at synth time (memory 128–10240 MB, api timeout ≤ 29 s, ARM_64 only without
 * Batch, …) and a bad one throws `FaceprintConfigError` naming it. Data-holding resources are retained
 * when the stack is deleted. Add `AwsSolutionsChecks` from cdk-nag to your app: Faceprint synthesises
 * without unacknowledged findings, and each acknowledgement carries its reason.
 *
 * @example
 * const faceprint = new Faceprint(stack, 'Faceprint', { apiAuthorization: 'iam', batch: false });
 * faceprint.restApi.grantInvoke(myServiceRole);
 * faceprint.storage.grantUpload(cameraGatewayRole);
 */
export class Faceprint extends Construct {
  readonly options: ResolvedFaceprintOptions;
  readonly storage: FaceprintStorage;
  readonly identity: FaceprintIdentity | undefined;
  readonly compute: FaceprintCompute;

  constructor(scope: Construct, id: string, props: FaceprintProps = {}) {
    super(scope, id);
    this.options = resolveOptions(props);
    this.storage = new FaceprintStorage(this, 'Storage', { options: this.options });
    this.identity =
      this.options.apiAuthorization === 'cognito' ? new FaceprintIdentity(this, 'Identity') : undefined;
    this.compute = new FaceprintCompute(this, 'Compute', {
      options: this.options,
      storage: this.storage,
      userPool: this.identity?.userPool,
    });
  }

  /** The REST API construct (`grantInvoke` for `iam` authorisation). */
  get restApi() {
    return this.compute.restApi;
  }
}
