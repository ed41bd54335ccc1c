/**
 * Logs, metrics and traces of the AWS runtimes (Powertools for AWS Lambda), one instance of each per container.
 *
 * - Logs are JSON with correlation ids: the Lambda request id, and per object its key, ETag and the SQS message
 *   id, or the subject id. Never an image, an embedding or an API key.
 * - Metrics (EMF, namespace `POWERTOOLS_METRICS_NAMESPACE`): `Faces`, `DecisionMatch` / `DecisionUnknown` /
 *   `DecisionAmbiguous`, `Latency<Stage>` in milliseconds per stage of the object workflows, the outcome
 *   counters below, and `ColdStart`.
 * - Traces (X-Ray, Lambda only): every AWS SDK call, plus one subsegment per stage.
 *
 * @module
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { ENV, METRICS_NAMESPACE } from '../../../lib/runtime-config.ts';
import type { DecisionKind } from '../../core/domain.ts';

const serviceName = process.env[ENV.serviceName] || 'faceprint';

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({
  serviceName,
  namespace: process.env[ENV.metricsNamespace] || METRICS_NAMESPACE,
});
export const tracer = new Tracer({ serviceName });

/** Stages timed by {@link timed}: each becomes the metric `Latency<Stage>` and an X-Ray subsegment. */
export type Stage =
  | 'Download'
  | 'Identify'
  | 'Enrol'
  | 'Record'
  | 'Publish'
  | 'LoadIndex'
  | 'SaveIndex'
  | 'PutVectors'
  | 'DeleteVectors'
  | 'Refresh';

/** Outcome counters. */
export type Counter =
  /** An object was processed (identified or enrolled). */
  | 'ObjectsProcessed'
  /** An input the pipeline refused (corrupt image, no face, …): recorded as failed, not retried. */
  | 'ObjectsRefused'
  /** A delivery of an object that was already settled (S3 and SQS deliver at least once). */
  | 'ObjectsDuplicate'
  /** An object someone else is processing right now: left for a later retry. */
  | 'ObjectsBusy'
  /** An unexpected error: the record goes back to the queue (and eventually to its DLQ). */
  | 'ProcessingErrors'
  /** Index rows added or rebuilt by the indexer. */
  | 'TemplatesIndexed'
  /** Superseded index-snapshot versions deleted after a subject's erasure. */
  | 'SnapshotVersionsPruned'
  /** Snapshots the indexer published. */
  | 'SnapshotsPublished';

export function count(counter: Counter, n = 1): void {
  if (n > 0) metrics.addMetric(counter, MetricUnit.Count, n);
}

const DECISION_METRIC: Record<DecisionKind, string> = {
  match: 'DecisionMatch',
  unknown: 'DecisionUnknown',
  ambiguous: 'DecisionAmbiguous',
  insufficient_quality: 'DecisionInsufficientQuality',
};

/** Counts the faces of one identification and its decisions by kind. */
export function recordDecisions(faces: readonly { decision: { kind: DecisionKind } }[]): void {
  metrics.addMetric('Faces', MetricUnit.Count, faces.length);
  for (const kind of Object.keys(DECISION_METRIC) as DecisionKind[]) {
    const n = faces.filter((f) => f.decision.kind === kind).length;
    if (n > 0) metrics.addMetric(DECISION_METRIC[kind], MetricUnit.Count, n);
  }
}

/** Runs one stage: its latency becomes `Latency<stage>`, and in Lambda it is an X-Ray subsegment. */
export async function timed<T>(stage: Stage, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
  const subsegment = parent?.addNewSubsegment(`### ${stage}`);
  if (subsegment) tracer.setSegment(subsegment);
  try {
    return await work();
  } catch (error) {
    subsegment?.addError(error as Error);
    throw error;
  } finally {
    metrics.addMetric(`Latency${stage}`, MetricUnit.Milliseconds, Math.round(performance.now() - started));
    subsegment?.close();
    if (parent) tracer.setSegment(parent);
  }
}

/** Writes the buffered metrics (EMF) now; no-op when there are none. */
export function flushMetrics(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/**
 * Wraps one Lambda invocation: Lambda context and correlation keys on every log line, the cold-start metric and
 * annotation, and the metrics flushed at the end whatever happens.
 */
export async function invocation<T>(
  context: Context | undefined,
  correlation: Record<string, string | undefined>,
  work: () => Promise<T>,
): Promise<T> {
  if (context) {
    logger.addContext(context);
    metrics.captureColdStartMetric(context.functionName);
    tracer.annotateColdStart();
    tracer.addServiceNameAnnotation();
  }
  logger.appendKeys(correlation);
  try {
    return await work();
  } finally {
    flushMetrics();
    logger.resetKeys();
  }
}

/** The logger the HTTP app expects (`info`/`error` with free-form extras), writing through Powertools. */
export const httpLogger = {
  info(message: string, ...extra: unknown[]): void {
    logger.info(message, attributes(extra));
  },
  error(message: string, ...extra: unknown[]): void {
    logger.error(message, attributes(extra));
  },
};

function attributes(extra: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of extra) {
    if (item instanceof Error) out.error = item;
    else if (item !== null && typeof item === 'object') Object.assign(out, item);
    else if (item !== undefined) out.detail = item;
  }
  return out;
}
