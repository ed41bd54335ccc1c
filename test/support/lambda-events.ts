/**
 * Lambda events as AWS delivers them, for tests that call the real handlers: the invocation context, S3
 * notifications as SQS carries them (URL-encoded keys), SQS batches, and API Gateway REST (v1) proxy events.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, Context, S3Event, SQSEvent } from 'aws-lambda';

/** A Lambda context as the runtime passes it. */
export function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '3008',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/01/[$LATEST]test',
    getRemainingTimeInMillis: () => 90_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** An object key as S3 writes it into a notification: form-encoded per path segment. */
function s3EncodedKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%20/g, '+'))
    .join('/');
}

/** s3rver's event as S3 delivers it to SQS (URL-encoded key). */
export function asDelivered(event: S3Event): S3Event {
  return {
    Records: event.Records.map((r) => ({
      ...r,
      s3: { ...r.s3, object: { ...r.s3.object, key: s3EncodedKey(r.s3.object.key) } },
    })),
  };
}

/** One SQS batch, one message per notification (a string body is sent as it is). */
export function sqsEvent(...bodies: (S3Event | string)[]): SQSEvent {
  const now = String(Date.now());
  return {
    Records: bodies.map((body) => ({
      messageId: randomUUID(),
      receiptHandle: randomUUID(),
      body: typeof body === 'string' ? body : JSON.stringify(body),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: now,
        SenderId: 'AROAEXAMPLE',
        ApproximateFirstReceiveTimestamp: now,
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:faceprint-queue',
      awsRegion: 'us-east-1',
    })),
  };
}

/** A REST API (v1) proxy event, as API Gateway sends it with `image/*` as a binary media type. */
export function restEvent(
  method: string,
  path: string,
  body?: { bytes: Buffer; contentType: string },
): APIGatewayProxyEvent {
  const headers: Record<string, string> = { host: 'abc123.execute-api.us-east-1.amazonaws.com' };
  if (body) headers['content-type'] = body.contentType;
  return {
    resource: path,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '000000000000',
      apiId: 'abc123',
      authorizer: undefined,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '127.0.0.1',
        user: null,
        userAgent: 'vitest',
        userArn: null,
      },
      path: `/v1${path}`,
      stage: 'v1',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'abc',
      resourcePath: path,
    },
    body: body ? body.bytes.toString('base64') : null,
    isBase64Encoded: Boolean(body),
  };
}
