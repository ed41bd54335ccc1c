/**
 * Issue #11 in AWS: the follow-up table (unknown persons, sightings, reviews, negatives) with its keys, GSIs and
 * TTL, and which runtimes may touch it (api, ingest and the Batch job; not enrol, not the indexer).
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV, TABLE_KEYS } from '../../lib/runtime-config.ts';
import { resourcesOfType, type SynthesizedApp, synthTwoStacks } from './synth.ts';

let synth: SynthesizedApp;
let stateful: Template;
let stateless: Template;

beforeAll(() => {
  synth = synthTwoStacks({ unknownRetentionDays: 14, reviewRule: 'below:0.7' });
  stateful = synth.statefulTemplate;
  stateless = synth.statelessTemplate;
});

const k = TABLE_KEYS.followUp;

/** The stateful logical id of the follow-up table (what the stateless stack's imports name). */
function tableId(): string {
  return synth.stateful.getLogicalId(synth.stateful.storage.followUpTable.node.defaultChild as never);
}

function policyOf(role: { node: { findChild(id: string): { node: { defaultChild?: unknown } } } }): string {
  const id = synth.stateless.getLogicalId(role.node.findChild('DefaultPolicy').node.defaultChild as never);
  const policy = resourcesOfType(stateless, 'AWS::IAM::Policy').find(([pid]) => pid === id);
  return JSON.stringify(policy?.[1].Properties ?? {});
}

describe('the follow-up table', () => {
  it('has the adapters’ keys, both GSIs (all attributes projected) and TTL on expiresAt', () => {
    const [[, table] = ['', { Properties: {} }]] = resourcesOfType(stateful, 'AWS::DynamoDB::Table').filter(
      ([id]) => id === tableId(),
    );
    expect(table.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: k.partitionKey, KeyType: 'HASH' },
        { AttributeName: k.sortKey, KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: k.timeToLive, Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      DeletionProtectionEnabled: true,
    });
    const gsis = table.Properties.GlobalSecondaryIndexes as {
      IndexName: string;
      KeySchema: { AttributeName: string; KeyType: string }[];
      Projection: { ProjectionType: string };
    }[];
    expect(gsis.map((g) => g.IndexName).sort()).toEqual(
      Object.values(k.indexes)
        .map((i) => i.name)
        .sort(),
    );
    for (const index of Object.values(k.indexes)) {
      expect(gsis.find((g) => g.IndexName === index.name)).toMatchObject({
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      });
    }
  });

  it('api and ingest may read and write it, with its name and the retention and review settings', () => {
    for (const fn of [synth.stateless.compute.api, synth.stateless.compute.ingest]) {
      const policy = policyOf(fn.role);
      expect(policy).toContain(tableId());
      expect(policy).toContain('dynamodb:PutItem');
      const [, lambda] =
        resourcesOfType(stateless, 'AWS::Lambda::Function').find(
          ([id]) => id === synth.stateless.getLogicalId(fn.function.node.defaultChild as never),
        ) ?? [];
      const environment = lambda?.Properties.Environment as
        | { Variables: Record<string, unknown> }
        | undefined;
      const variables = environment?.Variables ?? {};
      expect(JSON.stringify(variables[ENV.followUpTable])).toContain(tableId());
      expect(variables[ENV.unknownRetentionDays]).toBe('14');
      expect(variables[ENV.reviewRule]).toBe('below:0.7');
    }
  });

  it('the enrol function and the indexer get no access to it', () => {
    for (const fn of [synth.stateless.compute.enrol, synth.stateless.compute.indexer]) {
      expect(policyOf(fn.role)).not.toContain(tableId());
    }
  });

  it('the Batch job (which identifies) is bound to it', () => {
    expect(JSON.stringify(resourcesOfType(stateless, 'AWS::Batch::JobDefinition'))).toContain(
      ENV.followUpTable,
    );
  });

  it('a review rule or retention that makes no sense is refused at synth', () => {
    expect(() => synthTwoStacks({ reviewRule: 'sometimes' })).toThrow(/reviewRule/);
    expect(() => synthTwoStacks({ unknownRetentionDays: 0 })).toThrow(/unknownRetentionDays/);
  });
});
