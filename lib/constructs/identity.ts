import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';

/**
 * The Cognito user pool whose ID tokens authorise people on the API (`apiAuthorization: 'cognito'`).
 * It holds user accounts and their MFA enrolments, so it lives with the other stateful resources.
 *
 * Default settings: no self sign-up (an administrator creates each user), sign-in with e-mail, TOTP MFA
 * required, 12-character passwords with all character classes, deletion protection, retained on stack
 * deletion. One app client without a secret allows SRP and password sign-in (the latter for the AWS CLI,
 * always followed by the MFA challenge); ID tokens last one hour.
 */
export class FaceprintIdentity extends Construct {
  /** The user pool the API's authoriser trusts. */
  readonly userPool: cognito.UserPool;
  /** App client for people (SRP and CLI password sign-in, no secret). */
  readonly userPoolClient: cognito.UserPoolClient;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.userPool = new cognito.UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireDigits: true,
        requireLowercase: true,
        requireUppercase: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG8',
      reason:
        'Threat protection needs the Cognito Plus feature plan, billed per monthly active user. Sign-up is ' +
        'closed (administrators create users), TOTP MFA is required and passwords are long; choose featurePlan ' +
        'PLUS if your policy requires adaptive authentication.',
    });
    this.userPoolClient = this.userPool.addClient('ApiClient', {
      authFlows: { userSrp: true, userPassword: true },
      generateSecret: false,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });
  }
}
