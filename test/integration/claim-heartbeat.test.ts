/**
 * Long jobs keep their ledger claim (issue 10: a Batch video longer than the stale window was taken over by a
 * duplicate job). Against DynamoDB Local, with a stale window of 1 s: a job that runs three windows long keeps
 * its claim from start to end; a holder that died (claimed, then nothing) is taken over once the window passed;
 * a job that fails releases its claim so that the retry takes it at once; and a job whose claim was taken over
 * all the same is aborted and records nothing.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoIngestLedger } from '../../functions/adapters/aws/dynamo-ingest-ledger.ts';
import type { RecordedDetection, UploadSource } from '../../functions/core/ingest/ports.ts';
import { type ProcessedUpload, processUpload } from '../../functions/core/ingest/workflow.ts';
import { createTables, dynamoClient, type Emulator, startDynamoLocal } from '../support/emulators.ts';

const STALE_MS = 1_000;
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

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
  let table: string;
  const ledger = () => new DynamoIngestLedger(client, table, { staleAfterMs: STALE_MS, keySchema: 'id' });

  beforeAll(async () => {
    dynamo = await startDynamoLocal();
    table = (await createTables(dynamo.endpoint)).idempotency;
    client = dynamoClient(dynamo.endpoint);
  }, 120_000);

  afterAll(async () => {
    client?.destroy();
    await dynamo?.stop();
  });

  it('renews a third of the window apart', () => {
    expect(ledger().renewEveryMs).toBe(333);
  });

  it('a job running three stale windows keeps its claim: a duplicate job is busy all along, then finds it done', async () => {
    const duplicates: string[] = [];
    const job = processUpload('videos/long.mp4', {
      source,
      ledger: ledger(),
      sink,
      process: async (_ref, _version, signal) => {
        // A duplicate job tries every 400 ms while this one runs (3 s or more, three windows).
        for (let t = 0; t < 8; t++) {
          await sleep(400);
          const claim = await ledger().claim('videos/long.mp4', 'etag-1');
          duplicates.push(claim.acquired ? 'acquired' : claim.state);
        }
        expect(signal.aborted).toBe(false);
        return recorded();
      },
    });
    await expect(job).resolves.toEqual({ status: 'processed', detail: 'done' });
    expect(duplicates).toEqual(Array(8).fill('claimed'));
    expect((await ledger().claim('videos/long.mp4', 'etag-1')).state).toBe('done');
  });

  it('a dead holder (claimed, never renewed) is taken over once the window passed, not before', async () => {
    const dead = await ledger().claim('videos/dead.mp4', 'etag-1');
    expect(dead.acquired).toBe(true);
    expect((await ledger().claim('videos/dead.mp4', 'etag-1')).acquired).toBe(false);
    await sleep(STALE_MS + 100);
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
        // Another worker takes the claim over (as if this one had stalled past the window).
        await ledger().release('videos/stolen.mp4', 'etag-1', {
          state: 'claimed',
          firstClaim: true,
          acquired: true,
          attempts: 1,
        });
        expect((await ledger().claim('videos/stolen.mp4', 'etag-1')).acquired).toBe(true);
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
    // The claim is still the new holder's (attempt 2), not completed by the loser.
    expect((await ledger().claim('videos/stolen.mp4', 'etag-1')).state).toBe('claimed');
  });
});
