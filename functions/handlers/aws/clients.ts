/**
 * The AWS SDK v3 clients of a runtime, created once per container (the composition root holds them).
 *
 * Endpoints: the SDK itself honours `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB` and
 * `AWS_ENDPOINT_URL_EVENTBRIDGE` (local emulators in tests); with a custom S3 endpoint, path-style addressing
 * is used, since an emulator on 127.0.0.1 has no per-bucket host names.
 *
 * @module
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { tracer } from './observability.ts';

export interface AwsClients {
  s3: S3Client;
  dynamo: DynamoDBClient;
  events: EventBridgeClient;
}

// Bounded waits: a stuck connection fails the record (and SQS retries it) instead of using up the function's
// whole timeout. requestTimeout is the socket's idle time, not the total transfer time.
const requestHandler = { connectionTimeout: 3_000, requestTimeout: 15_000 } as const;

/** Creates the three clients; traced by X-Ray when tracing is on (in Lambda), untouched otherwise. */
export function createClients(env: NodeJS.ProcessEnv = process.env): AwsClients {
  const s3 = new S3Client({
    // Checksums only where the API requires them: S3-compatible emulators (and some proxies) do not
    // understand the flexible-checksum trailers that the SDK would otherwise add to every upload.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3),
    requestHandler,
  });
  const dynamo = new DynamoDBClient({ requestHandler });
  const events = new EventBridgeClient({ requestHandler });
  return {
    s3: tracer.captureAWSv3Client(s3),
    dynamo: tracer.captureAWSv3Client(dynamo),
    events: tracer.captureAWSv3Client(events),
  };
}

/** The S3 Vectors client (created only where the deployment has `index: 's3vectors'`); traced like the others. */
export function createVectorsClient(): S3VectorsClient {
  return tracer.captureAWSv3Client(new S3VectorsClient({ requestHandler }));
}
