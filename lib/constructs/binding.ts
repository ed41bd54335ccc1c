import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { ENV, type EnvName } from '../runtime-config.ts';

/** Object-level access to key prefixes of a bucket. Each entry is a prefix such as `uploads/`. */
export interface BucketAccess {
  readonly read?: readonly string[];
  readonly write?: readonly string[];
  readonly delete?: readonly string[];
}

/** Table access levels, mapped to the table's `grant*Data` methods. */
export type TableAccess = 'read' | 'write' | 'readWrite';

/**
 * Binds resources to a runtime (a Lambda function or the Batch job): each `use*` call sets the
 * environment variable of `runtime-config.ts` and makes the least-privilege IAM grant together, so the
 * code never gets a permission without the resource's name, nor a name without a permission.
 */
export class RuntimeBinding implements iam.IGrantable {
  readonly grantPrincipal: iam.IPrincipal;
  private readonly setEnvironment: (name: EnvName, value: string) => void;

  /**
   * @param grantPrincipal the role the runtime runs as
   * @param setEnvironment sets one environment variable on the runtime
   */
  constructor(grantPrincipal: iam.IPrincipal, setEnvironment: (name: EnvName, value: string) => void) {
    this.grantPrincipal = grantPrincipal;
    this.setEnvironment = setEnvironment;
  }

  /** Sets one variable of the contract in `runtime-config.ts`. */
  setEnv(name: EnvName, value: string): this {
    this.setEnvironment(name, value);
    return this;
  }

  /**
   * Sets `FACEPRINT_BUCKET` and grants object-level access to the given prefixes only, plus the KMS
   * permissions that access needs. Read also allows listing the bucket, as `grantRead` does.
   */
  useBucket(bucket: s3.IBucket, access: BucketAccess): this {
    this.setEnv(ENV.bucket, bucket.bucketName);
    for (const prefix of access.read ?? []) bucket.grantRead(this, `${prefix}*`);
    for (const prefix of access.write ?? []) bucket.grantPut(this, `${prefix}*`);
    for (const prefix of access.delete ?? []) bucket.grantDelete(this, `${prefix}*`);
    return this;
  }

  /** Sets the table's variable and grants `access` to its items (and its key). */
  useTable(name: EnvName, table: dynamodb.ITable, access: TableAccess): this {
    this.setEnv(name, table.tableName);
    if (access === 'read') table.grantReadData(this);
    else if (access === 'write') table.grantWriteData(this);
    else table.grantReadWriteData(this);
    return this;
  }

  /** Sets `FACEPRINT_EVENT_BUS` and grants `events:PutEvents` on that bus only. */
  useEventBus(bus: events.IEventBus): this {
    this.setEnv(ENV.eventBus, bus.eventBusName);
    bus.grantPutEventsTo(this);
    return this;
  }
}
