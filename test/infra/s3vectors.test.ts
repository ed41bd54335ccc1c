/**
 * `index: 's3vectors'`: the S3 Vectors bucket and index synthesise cdk-nag clean (two-stack app), encrypted with
 * Faceprint's key, and each function gets only the S3 Vectors actions it needs, on the index's ARN only.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FaceprintConfigError, resolveOptions } from '../../lib/constructs/options.ts';
import { reportedViolations, resourcesOfType, type SynthesizedApp, synthTwoStacks } from './synth.ts';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** S3 Vectors actions granted per IAM policy, keyed by the policy's logical id, with their resources. */
function s3vectorsGrants(template: Template): { policy: string; actions: string[]; resources: unknown[] }[] {
  const out: { policy: string; actions: string[]; resources: unknown[] }[] = [];
  for (const [id, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
    for (const st of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
      const actions = asArray(st.Action).filter((a) => a.startsWith('s3vectors:'));
      if (actions.length > 0) out.push({ policy: id, actions, resources: asArray(st.Resource) });
    }
  }
  return out;
}

let synth: SynthesizedApp;
beforeAll(() => {
  synth = synthTwoStacks({ index: 's3vectors', batch: false });
}, 120_000);

describe("index: 's3vectors'", () => {
  it('synthesises with no cdk-nag error or warning', () => {
    expect(reportedViolations(synth.assembly)).toEqual([]);
  });

  it('creates one KMS-encrypted vector bucket and a 512-d cosine float32 index, both retained', () => {
    const buckets = resourcesOfType(synth.statefulTemplate, 'AWS::S3Vectors::VectorBucket');
    expect(buckets).toHaveLength(1);
    const [, bucket] = buckets[0] as [
      string,
      { Properties: Record<string, unknown>; DeletionPolicy?: string },
    ];
    expect(bucket.Properties.EncryptionConfiguration).toMatchObject({ SseType: 'aws:kms' });
    expect(bucket.DeletionPolicy).toBe('Retain');
    const indexes = resourcesOfType(synth.statefulTemplate, 'AWS::S3Vectors::Index');
    expect(indexes).toHaveLength(1);
    const [, index] = indexes[0] as [
      string,
      { Properties: Record<string, unknown>; DeletionPolicy?: string },
    ];
    expect(index.Properties).toMatchObject({ Dimension: 512, DistanceMetric: 'cosine', DataType: 'float32' });
    expect(index.DeletionPolicy).toBe('Retain');
  });

  it('grants S3 Vectors actions on the index ARN only, never a wildcard action or resource', () => {
    const grants = s3vectorsGrants(synth.statelessTemplate);
    expect(grants.length).toBeGreaterThanOrEqual(3);
    for (const g of grants) {
      for (const a of g.actions) expect(a).not.toContain('*');
      expect(g.resources).toHaveLength(1);
      expect(JSON.stringify(g.resources[0])).toMatch(/IndexArn/);
      expect(JSON.stringify(g.resources)).not.toMatch(/"\*"/);
    }
  });

  it('splits the grants by role: query for identify, put+delete for the indexer, delete (erasure) for the api', () => {
    const grants = s3vectorsGrants(synth.statelessTemplate);
    const byPolicy = (fragment: string) =>
      new Set(grants.filter((g) => g.policy.includes(fragment)).flatMap((g) => g.actions));
    expect([...byPolicy('Ingest')].sort()).toEqual(['s3vectors:GetVectors', 's3vectors:QueryVectors']);
    expect([...byPolicy('Indexer')].sort()).toEqual(['s3vectors:DeleteVectors', 's3vectors:PutVectors']);
    expect([...byPolicy('Api')].sort()).toEqual([
      's3vectors:DeleteVectors',
      's3vectors:GetVectors',
      's3vectors:QueryVectors',
    ]);
    expect(byPolicy('Enrol').size).toBe(0);
  });

  it("defaults to 'snapshot' and refuses an unknown index backend at synth time", () => {
    expect(resolveOptions({}).index).toBe('snapshot');
    expect(() => resolveOptions({ index: 'faiss' as never })).toThrow(FaceprintConfigError);
    expect(() => resolveOptions({ index: 'faiss' as never })).toThrow(
      /index must be 'snapshot' or 's3vectors'/,
    );
  });

  it('keeps the data (vector bucket) in the stateful stack only', () => {
    expect(synth.stateful.options.index).toBe('s3vectors');
    expect(resourcesOfType(synth.statelessTemplate, 'AWS::S3Vectors::VectorBucket')).toHaveLength(0);
  });
});
