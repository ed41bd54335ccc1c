/**
 * The Batch job's image: by default (one GPU per job) the container image's cuda variant, a second image asset
 * built from the same Dockerfile with `FACEPRINT_EXECUTION_PROVIDER=cuda` for linux/amd64, run with
 * `FACEPRINT_EXECUTION_PROVIDERS=cuda,cpu` and a GPU resource requirement; `batch.image: 'cpu'` falls back to the
 * functions' CPU image (no CUDA download at build). Nothing is built: synth only hashes the build context.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import type { DockerImageAsset } from 'aws-cdk-lib/aws-ecr-assets';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveOptions } from '../../lib/constructs/options.ts';
import { ENV } from '../../lib/runtime-config.ts';
import { type SynthesizedApp, synthTwoStacks } from './synth.ts';

/** The docker image assets of the stateless stack's asset manifest: hash → build arguments and platform. */
function dockerAssets(
  synth: SynthesizedApp,
): Map<string, { buildArgs?: Record<string, string>; platform?: string }> {
  const dir = synth.assembly.directory;
  const manifest = JSON.parse(
    readFileSync(join(dir, `${synth.stateless.artifactId}.assets.json`), 'utf8'),
  ) as {
    dockerImages: Record<string, { source: { dockerBuildArgs?: Record<string, string>; platform?: string } }>;
  };
  return new Map(
    Object.entries(manifest.dockerImages).map(([hash, image]) => [
      hash,
      { buildArgs: image.source.dockerBuildArgs, platform: image.source.platform },
    ]),
  );
}

const jobImage = (synth: SynthesizedApp) => {
  const [definition] = Object.values(synth.statelessTemplate.findResources('AWS::Batch::JobDefinition'));
  return JSON.stringify(definition?.Properties.ContainerProperties.Image);
};

describe('the Batch job image', () => {
  // One synth for the default (GPU) image, shared, and one for the fallback: each takes ~20-60 s with cdk-nag.
  let synth: SynthesizedApp;
  beforeAll(() => {
    synth = synthTwoStacks();
  }, 300_000);

  it('runs the cuda variant of the image on GPU instances by default, with the CUDA provider first', () => {
    const gpu = synth.stateless.compute.node.findChild('GpuImage') as DockerImageAsset;
    const cpu = synth.stateless.compute.image;
    expect(gpu.assetHash).not.toBe(cpu.assetHash);
    expect(jobImage(synth)).toContain(`:${gpu.assetHash}`);
    const assets = dockerAssets(synth);
    expect(assets.get(gpu.assetHash)).toEqual({
      buildArgs: { FACEPRINT_NPM_CPU: 'x64', FACEPRINT_EXECUTION_PROVIDER: 'cuda' },
      platform: 'linux/amd64',
    });
    // The functions' image is the cpu variant (no execution-provider argument: the Dockerfile's default).
    expect(assets.get(cpu.assetHash)?.buildArgs).toEqual({ FACEPRINT_NPM_CPU: 'x64' });
    synth.statelessTemplate.hasResourceProperties('AWS::Batch::JobDefinition', {
      ContainerProperties: Match.objectLike({
        ResourceRequirements: Match.arrayWith([{ Type: 'GPU', Value: '1' }]),
        Environment: Match.arrayWith([{ Name: ENV.executionProviders, Value: 'cuda,cpu' }]),
      }),
    });
    // No function asks for CUDA.
    for (const fn of Object.values(synth.statelessTemplate.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables[ENV.executionProviders]).toBeUndefined();
    }
  });

  it("falls back to the functions' CPU image with batch.image 'cpu', on the same GPU instances", () => {
    const fallback = synthTwoStacks({ batch: { image: 'cpu' } });
    expect(fallback.stateless.compute.node.tryFindChild('GpuImage')).toBeUndefined();
    expect(jobImage(fallback)).toContain(`:${fallback.stateless.compute.image.assetHash}`);
    const [definition] = Object.values(fallback.statelessTemplate.findResources('AWS::Batch::JobDefinition'));
    const env = definition?.Properties.ContainerProperties.Environment as { Name: string }[];
    expect(env.map((e) => e.Name)).not.toContain(ENV.executionProviders);
    expect(dockerAssets(fallback).size).toBe(1);
  }, 300_000);

  it('defaults to the CPU image for jobs without a GPU, and refuses the GPU image without one', () => {
    expect(resolveOptions({ batch: { jobGpus: 0 } }).batch?.image).toBe('cpu');
    expect(() => resolveOptions({ batch: { jobGpus: 0, image: 'gpu' } })).toThrow(/needs batch.jobGpus/);
    expect(() => resolveOptions({ batch: { image: 'tpu' as never } })).toThrow(/"gpu" or "cpu"/);
  });
});
