/**
 * Long jobs keep their ledger claim (issue 10: a Batch video longer than the stale window was taken over by a
 * duplicate job). Against DynamoDB Local, with a stale window of 1 s: a job that runs three windows long keeps
 * its claim from start to end; a holder that died (claimed, then nothing) is taken over once the window passed;
 * a job that fails releases its claim so that the retry takes it at once; and a job whose claim was taken over
 * all the same is aborted and records nothing.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoIngestLedger } from '../../functions/adapters/aws/dynamo-ingest-ledger.ts';
import type { RecordedDetection, UploadSource } from '../../functions/core/ingest/ports.ts';
import { type ProcessedUpload, processUpload } from '../../functions/core/ingest/workflow.ts';
import { createTables, dynamoClient, type Emulator, startDynamoLocal } from '../support/emulators.ts';

const STALE_MS = 60_000;
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
/** The ledger's clock, moved by the tests. */
let clock = Date.parse('2026-12-01T12:00:00.000Z');

/** An upload source of one always-present object: the ledger decides everything. */
const source: UploadSource<string> = {
  keyOf: (key) => key,
  version: async () => ({ version: 'etag-1' }),
  read: async () => ({ gone: true }),
};

const record: RecordedDetection = {
  resultRef: 'VIDEO#x|etag-1',
  settle: async () => undefined,
  abandon: () => undefined,
};
const recorded = (): ProcessedUpload => ({ ok: true, recorded: record, detail: 'done' });
/** The sink is not used by `processUpload`'s own step (it records through `process`); refusals only. */
const sink = { record: async () => record, refuse: async () => record };

describe('claim heartbeat on the DynamoDB ingest ledger', () => {
  let dynamo: Emulator;
  let client: DynamoDBClient;
  let doc: DynamoDBDocumentClient;
  let table: string;
  // Renewals every 50 ms of real time; staleness is judged on the test's clock.
  const ledger = () =>
    new DynamoIngestLedger(client, table, {
      staleAfterMs: STALE_MS,
      keySchema: 'id',
      now: () => clock,
      renewEveryMs: 50,
    });

  beforeAll(async () => {
    dynamo = await startDynamoLocal();
    table = (await createTables(dynamo.endpoint)).idempotency;
    client = dynamoClient(dynamo.endpoint);
    doc = DynamoDBDocumentClient.from(client);
  }, 120_000);

  afterAll(async () => {
    client?.destroy();
    await dynamo?.stop();
  });

  it('renews a third of the window apart by default', () => {
    expect(new DynamoIngestLedger(client, table, { staleAfterMs: 600_000 }).renewEveryMs).toBe(200_000);
  });

  it('a job running two stale windows keeps its claim: a duplicate job is busy all along, then finds it done', async () => {
    const duplicates: string[] = [];
    const held = ledger();
    const renewals = vi.spyOn(held, 'renew');
    const job = processUpload('videos/long.mp4', {
      source,
      ledger: held,
      sink,
      process: async (_ref, _version, signal) => {
        // Half a window passes, the job renews, a duplicate job tries: four times (two windows).
        for (let t = 0; t < 4; t++) {
          clock += STALE_MS / 2;
          const before = renewals.mock.calls.length;
          // Two calls started: the first has finished (renewals run one after another).
          while (renewals.mock.calls.length < before + 2) await sleep(10);
          const claim = await ledger().claim('videos/long.mp4', 'etag-1');
          duplicates.push(claim.acquired ? 'acquired' : claim.state);
        }
        expect(signal.aborted).toBe(false);
        return recorded();
      },
    });
    await expect(job).resolves.toEqual({ status: 'processed', detail: 'done' });
    expect(duplicates).toEqual(Array(4).fill('claimed'));
    expect((await ledger().claim('videos/long.mp4', 'etag-1')).state).toBe('done');
  });

  it('a dead holder (claimed, never renewed) is taken over once the window passed, not before', async () => {
    const dead = await ledger().claim('videos/dead.mp4', 'etag-1');
    expect(dead.acquired).toBe(true);
    clock += STALE_MS - 1_000;
    expect((await ledger().claim('videos/dead.mp4', 'etag-1')).acquired).toBe(false);
    clock += 2_000;
    const outcome = await processUpload('videos/dead.mp4', {
      source,
      ledger: ledger(),
      sink,
      process: async () => recorded(),
    });
    expect(outcome.status).toBe('processed');
    // The dead holder, were it to wake up, can no longer renew the claim it lost.
    expect(await ledger().renew('videos/dead.mp4', 'etag-1', dead)).toBe(false);
  });

  it('a job that fails releases its claim: the retry takes it at once, without waiting for the window', async () => {
    const failing = processUpload('videos/fails.mp4', {
      source,
      ledger: ledger(),
      sink,
      process: async () => {
        throw new Error('the GPU went away');
      },
    });
    await expect(failing).rejects.toThrow('the GPU went away');
    const retry = await ledger().claim('videos/fails.mp4', 'etag-1');
    expect(retry).toMatchObject({ acquired: true, firstClaim: false, attempts: 2 });
  });

  it('a job whose claim was taken over is aborted, records nothing and reports busy', async () => {
    let recordedByLoser = false;
    let aborted = false;
    const loser = processUpload('videos/stolen.mp4', {
      source,
      ledger: ledger(),
      sink,
      process: async (_ref, _version, signal) => {
        // Another worker takes the claim over (as if this one had stalled past the window): what a take-over
        // writes, a new attempt number and claim time.
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: { id: 'INGEST#etag-1#videos/stolen.mp4' },
            UpdateExpression: 'SET attempts = attempts + :one, claimedAt = :now',
            ExpressionAttributeValues: { ':one': 1, ':now': clock },
          }),
        );
        // The next renewal finds the claim no longer this job's.
        await new Promise<void>((ok) => signal.addEventListener('abort', () => ok(), { once: true }));
        aborted = signal.aborted;
        if (!signal.aborted) recordedByLoser = true;
        return recorded();
      },
    });
    await expect(loser).resolves.toEqual({ status: 'busy' });
    expect(aborted).toBe(true);
    expect(recordedByLoser).toBe(false);
    // The claim is still the new holder's (attempt 2), neither completed nor released by the loser.
    expect(await ledger().claim('videos/stolen.mp4', 'etag-1')).toMatchObject({
      acquired: false,
      state: 'claimed',
    });
  });
});
