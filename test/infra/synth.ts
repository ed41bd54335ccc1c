// Shared by the infrastructure tests: builds the app the way bin/app.ts does, with cdk.json's feature flags
// and cdk-nag, and synthesises it in memory. No Docker: the image asset is only hashed, and asset staging
// (copying the build context into cdk.out) is switched off.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { REPO_ROOT } from '../../lib/constructs/compute.ts';
import { Faceprint, type FaceprintProps } from '../../lib/faceprint.ts';
import { StatefulStack } from '../../lib/stateful-stack.ts';
import { StatelessStack } from '../../lib/stateless-stack.ts';

/** The `context` block of cdk.json: the feature flags `cdk synth` uses. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/** A new App with cdk.json's context, in-memory reporting of validation failures, and cdk-nag. */
export function newApp(): App {
  const app = new App({
    outdir: mkdtempSync(join(tmpdir(), 'faceprint-cdk-')),
    context: {
      ...cdkJsonContext(),
      'aws:cdk:disable-asset-staging': true,
      // A validation failure (a cdk-nag error) throws from synth() with the full report in the message.
      '@aws-cdk/core:appMode': 'inmemory',
    },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return app;
}

/** A violation in CDK's validation report (validation-report.json of the cloud assembly). */
export interface ReportedViolation {
  plugin: string;
  ruleName: string;
  severity: string;
  paths: string[];
}

/** Every violation (errors and warnings) in the assembly's validation report. */
export function reportedViolations(assembly: CloudAssembly): ReportedViolation[] {
  let report: {
    pluginReports?: {
      pluginName: string;
      violations: { ruleName: string; severity: string; violatingConstructs?: { constructPath: string }[] }[];
    }[];
  };
  try {
    report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'));
  } catch {
    return [];
  }
  return (report.pluginReports ?? []).flatMap((plugin) =>
    plugin.violations.map((violation) => ({
      plugin: plugin.pluginName,
      ruleName: violation.ruleName,
      severity: violation.severity,
      paths: (violation.violatingConstructs ?? []).map((c) => c.constructPath),
    })),
  );
}

/** The two-stack deployment of bin/app.ts, synthesised. */
export interface SynthesizedApp {
  app: App;
  assembly: CloudAssembly;
  stateful: StatefulStack;
  stateless: StatelessStack;
  statefulTemplate: Template;
  statelessTemplate: Template;
}

/** Synthesises StatefulStack + StatelessStack with `options`; throws if cdk-nag reports an error. */
export function synthTwoStacks(options: FaceprintProps = {}): SynthesizedApp {
  const app = newApp();
  const stateful = new StatefulStack(app, 'FaceprintStateful', { faceprint: options });
  const stateless = new StatelessStack(app, 'FaceprintStateless', { stateful });
  const assembly = app.synth();
  return {
    app,
    assembly,
    stateful,
    stateless,
    statefulTemplate: Template.fromJSON(assembly.getStackArtifact(stateful.artifactId).template),
    statelessTemplate: Template.fromJSON(assembly.getStackArtifact(stateless.artifactId).template),
  };
}

/** The L3 `Faceprint` in one stack of a host app, synthesised. */
export function synthSingleStack(props: FaceprintProps = {}): {
  assembly: CloudAssembly;
  faceprint: Faceprint;
  template: Template;
} {
  const app = newApp();
  const stack = new Stack(app, 'HostStack');
  const faceprint = new Faceprint(stack, 'Faceprint', props);
  const assembly = app.synth();
  return {
    assembly,
    faceprint,
    template: Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template),
  };
}

/** Every acknowledgement (`Validations.of(x).acknowledge`) in the tree: rule id, reason, construct path. */
export function acknowledgements(root: IConstruct): { id: string; reason: string; path: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          id: id.replace(/^[A-Za-z]+::/, ''),
          reason,
          path: construct.node.path,
        })),
      ),
  );
}

/** One resource of a synthesised template (`Properties` defaults to `{}`). */
export interface TemplateResource {
  Properties: Record<string, unknown>;
  DependsOn?: string[];
  DeletionPolicy?: string;
  [key: string]: unknown;
}

/** A template's resources of one type, as [logicalId, resource] pairs. */
export function resourcesOfType(template: Template, type: string): [string, TemplateResource][] {
  return Object.entries(template.findResources(type)).map(([id, resource]) => [
    id,
    { ...resource, Properties: resource.Properties ?? {} } as TemplateResource,
  ]);
}
