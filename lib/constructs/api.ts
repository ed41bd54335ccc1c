import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { API_BINARY_MEDIA_TYPES, API_ROUTES, CONSOLE_ROUTES } from '../runtime-config.ts';
import type { ApiAuthorization } from './options.ts';

/** Properties of {@link FaceprintApi}. */
export interface FaceprintApiProps {
  /** The function that serves every route (the Hono app). */
  readonly handler: lambda.IFunction;
  /** `cognito` (user pool ID token) or `iam` (SigV4). */
  readonly authorization: ApiAuthorization;
  /** Required when `authorization` is `cognito`. */
  readonly userPool?: cognito.IUserPool;
  /** Require `x-api-key` on every method as well. */
  readonly apiKeysRequired: boolean;
  /** Stage-wide and usage-plan throttling. */
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  /** Regional WAFv2 web ACL to associate with the stage. */
  readonly webAclArn?: string | undefined;
  /** Retention of the access-log group. */
  readonly logRetention: logs.RetentionDays;
}

/**
 * The REST API in front of the api function.
 *
 * Default settings: a REGIONAL endpoint with exactly the routes of `API_ROUTES` (no catch-all); every
 * method authorised (Cognito user pool authoriser or AWS_IAM) and, by default, also requiring an API key
 * of the usage plan; a request validator that rejects a POST without `Content-Type` and a request without
 * its path parameter before Lambda runs; `image/*` and `multipart/form-data` passed as binary; JSON access
 * logs with retention; X-Ray tracing; stage throttling. Execution logging is off: it needs an account-wide
 * API Gateway CloudWatch role, which one application should not own.
 */
export class FaceprintApi extends Construct {
  readonly restApi: apigw.RestApi;
  readonly usagePlan: apigw.UsagePlan;
  /** The API key created for the first machine client, when API keys are required. */
  readonly apiKey: apigw.IApiKey | undefined;
  readonly accessLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: FaceprintApiProps) {
    super(scope, id);

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.restApi = new apigw.RestApi(this, 'RestApi', {
      description: 'Faceprint face identification API',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      binaryMediaTypes: [...API_BINARY_MEDIA_TYPES],
      cloudWatchRole: false,
      deployOptions: {
        stageName: 'v1',
        tracingEnabled: true,
        metricsEnabled: true,
        throttlingRateLimit: props.throttle.rateLimit,
        throttlingBurstLimit: props.throttle.burstLimit,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields({
          caller: true,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: true,
        }),
      },
    });

    const authorizer =
      props.authorization === 'cognito'
        ? new apigw.CognitoUserPoolsAuthorizer(this, 'Authorizer', {
            cognitoUserPools: [requireUserPool(props.userPool)],
            resultsCacheTtl: Duration.minutes(5),
          })
        : undefined;
    const authorizationType =
      props.authorization === 'cognito' ? apigw.AuthorizationType.COGNITO : apigw.AuthorizationType.IAM;

    const validator = new apigw.RequestValidator(this, 'RequestValidator', {
      restApi: this.restApi,
      validateRequestParameters: true,
      // Applies to methods with a request model. Image and multipart bodies have none: the api function
      // validates them (zod at the edge); the validator still rejects missing headers and path parameters.
      validateRequestBody: true,
    });
    const integration = new apigw.LambdaIntegration(props.handler, { proxy: true, allowTestInvoke: false });

    for (const route of API_ROUTES) {
      const resource = this.restApi.root.resourceForPath(route.path);
      const requestParameters: Record<string, boolean> = {};
      for (const match of route.path.matchAll(/\{(\w+)\}/g)) {
        requestParameters[`method.request.path.${match[1]}`] = true;
      }
      if (route.method === 'POST') requestParameters['method.request.header.Content-Type'] = true;
      resource.addMethod(route.method, integration, {
        authorizationType,
        ...(authorizer ? { authorizer } : {}),
        apiKeyRequired: props.apiKeysRequired,
        requestValidator: validator,
        requestParameters,
      });
    }

    // The console's static shell: public, GET only, no body, served by the same function (see CONSOLE_ROUTES).
    for (const route of CONSOLE_ROUTES) {
      const resource = this.restApi.root.resourceForPath(route.path);
      const requestParameters: Record<string, boolean> = {};
      for (const match of route.path.matchAll(/\{(\w+)\}/g)) {
        requestParameters[`method.request.path.${match[1]}`] = true;
      }
      const method = resource.addMethod(route.method, integration, {
        authorizationType: apigw.AuthorizationType.NONE,
        apiKeyRequired: false,
        requestValidator: validator,
        requestParameters,
      });
      const reason =
        'The web console shell (index.html and its content-hashed bundle): a browser cannot attach a token or ' +
        'an API key to a page load, the files hold no data, and every API call the console makes needs both.';
      Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason });
      Validations.of(method).acknowledge({ id: 'AwsSolutions-COG4', reason });
    }

    this.usagePlan = this.restApi.addUsagePlan('UsagePlan', {
      description: 'Faceprint machine clients',
      throttle: { rateLimit: props.throttle.rateLimit, burstLimit: props.throttle.burstLimit },
      apiStages: [{ api: this.restApi, stage: this.restApi.deploymentStage }],
    });
    if (props.apiKeysRequired) {
      this.apiKey = this.restApi.addApiKey('ClientKey', { description: 'Faceprint: first machine client' });
      this.usagePlan.addApiKey(this.apiKey);
    } else {
      this.apiKey = undefined;
    }

    if (props.webAclArn) {
      new wafv2.CfnWebACLAssociation(this, 'WebAcl', {
        resourceArn: this.restApi.deploymentStage.stageArn,
        webAclArn: props.webAclArn,
      });
    } else {
      Validations.of(this.restApi).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason:
          'WAF is opt-in (webAclArn): a web ACL costs a fixed monthly fee, and every method already requires ' +
          'authorisation, an API key by default, and is throttled.',
      });
    }
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-APIG6',
      reason:
        'Access logging is on for the stage. Execution logging needs the account-wide API Gateway CloudWatch ' +
        'role (AWS::ApiGateway::Account), a per-region singleton an application stack should not own.',
    });
    if (props.authorization === 'iam') {
      Validations.of(this.restApi).acknowledge({
        id: 'AwsSolutions-COG4',
        reason:
          'apiAuthorization is iam: every method requires a SigV4-signed request (AWS_IAM), not a Cognito token.',
      });
    }
  }

  /** With `iam` authorisation: lets `grantee` call every route of the deployed stage (and nothing else). */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [this.restApi.arnForExecuteApi('*', '/*', this.restApi.deploymentStage.stageName)],
    });
  }
}

function requireUserPool(userPool: cognito.IUserPool | undefined): cognito.IUserPool {
  if (!userPool) throw new Error('FaceprintApi: authorization "cognito" needs a userPool');
  return userPool;
}
