#!/usr/bin/env node
/**
 * Starts or stops DynamoDB Local for the AWS end-to-end test, outside the test process (optional: the test
 * starts its own instance when `AWS_ENDPOINT_URL_DYNAMODB` is not set). s3rver is not started here: it must run
 * inside the test process, whose assertions listen to its S3 events.
 *
 *   eval "$(node scripts/emulators.mjs start)"   # exports AWS_ENDPOINT_URL_DYNAMODB and FACEPRINT_EMULATORS_PID
 *   node scripts/emulators.mjs stop              # stops the process named by FACEPRINT_EMULATORS_PID
 *
 * `start [--port N]` runs `java -jar DynamoDBLocal.jar -inMemory -sharedDb -disableTelemetry -port N` in the
 * background (Java 17+), waits until it answers, and prints the `export` lines for the shell to evaluate.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dynamoLocalArgs } from './dynamo-local.mjs';

const HOST = '127.0.0.1';

async function freePort() {
  const server = createServer();
  await new Promise((ok, fail) => server.once('error', fail).listen(0, HOST, ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

async function answers(endpoint) {
  try {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        authorization:
          'AWS4-HMAC-SHA256 Credential=S3RVER/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: '{}',
    });
    return response.ok;
  } catch {
    return false;
  }
}

async function start(args) {
  const portArg = args.indexOf('--port');
  const port = portArg >= 0 ? Number(args[portArg + 1]) : await freePort();
  if (!Number.isInteger(port) || port <= 0) throw new Error('--port needs a port number');
  const child = spawn('java', dynamoLocalArgs(port), { detached: true, stdio: 'ignore' });
  await new Promise((ok, fail) => {
    child.once('spawn', ok);
    child.once('error', (error) => fail(new Error(`cannot run java (install Java 17+): ${error.message}`)));
  });
  child.unref();
  const endpoint = `http://${HOST}:${port}`;
  const deadline = Date.now() + 90_000;
  while (!(await answers(endpoint))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      try {
        process.kill(child.pid);
      } catch {}
      throw new Error(`DynamoDB Local did not start on ${endpoint}`);
    }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  process.stdout.write(
    `export AWS_ENDPOINT_URL_DYNAMODB=${endpoint}\nexport FACEPRINT_EMULATORS_PID=${child.pid}\n`,
  );
}

function stop(args) {
  const pid = Number(args[0] ?? process.env.FACEPRINT_EMULATORS_PID);
  if (!Number.isInteger(pid) || pid <= 0) {
    process.stderr.write('emulators: nothing to stop (FACEPRINT_EMULATORS_PID is not set)\n');
    return;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch (error) {
    if (error.code !== 'ESRCH') throw error;
  }
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === 'start') await start(rest);
  else if (command === 'stop') stop(rest);
  else {
    process.stderr.write('usage: node scripts/emulators.mjs start [--port N] | stop [PID]\n');
    process.exitCode = 2;
  }
} catch (error) {
  process.stderr.write(`emulators: ${error.message}\n`);
  process.exitCode = 1;
}
