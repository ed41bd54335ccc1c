/**
 * The upload workflow's sink in AWS (`DetectionSink`): the detection record in the detections table (`pk` =
 * `DETECTION#<key>`, `sk` = ETag, kept for the audit retention) and the `Faceprint Detection` event on the
 * EventBridge bus. Uploads refused before identification are kept in the ledger only. The record's mentions
 * (`subject-mentions.ts`: every subject a face was decided as or had as a candidate) are written first.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { IngestEvent } from '../../core/ingest/ingest.ts';
import type { DetectionSink, RecordedDetection } from '../../core/ingest/ports.ts';
import type { ObjectRef } from './s3-upload-source.ts';
import { mentionItems, subjectsOfFaces, writeMentions } from './subject-mentions.ts';

/** `detail-type` of the detection events on the bus. */
export const DETECTION_DETAIL_TYPE = 'Faceprint Detection';

/** Days a detection record is kept (its `expiresAt` TTL), as long as the decision audit log. */
const DETECTION_RETENTION_DAYS = 400;
/** Largest event detail published (EventBridge allows 256 KB per entry, envelope included). */
const MAX_EVENT_DETAIL_BYTES = 240_000;
/** Largest ingest event stored in a detection record (DynamoDB allows 400 KB per item). */
const MAX_RECORD_EVENT_BYTES = 350_000;

/** Same shape as the event, without `faces` (the decisions stay in the detection record's summary). */
function bounded(event: IngestEvent, maxBytes: number): { json: string; truncated: boolean } {
  const json = JSON.stringify(event);
  if (Buffer.byteLength(json) <= maxBytes) return { json, truncated: false };
  return { json: JSON.stringify({ ...event, faces: [], truncated: true }), truncated: true };
}

const NOTHING_TO_SETTLE = { settle: async () => undefined, abandon: () => undefined };

export interface DynamoDetectionSinkOptions {
  doc: DynamoDBDocumentClient;
  events: EventBridgeClient;
  detectionsTable: string;
  eventBus: string;
  /** `source` of the events on the bus. */
  eventSource: string;
}

export class DynamoDetectionSink implements DetectionSink<ObjectRef> {
  constructor(private readonly options: DynamoDetectionSinkOptions) {}

  async record(_ref: ObjectRef, eTag: string, event: IngestEvent): Promise<RecordedDetection> {
    const { json, truncated } = bounded(event, MAX_RECORD_EVENT_BYTES);
    const key = { pk: `DETECTION#${event.key}`, sk: eTag };
    const expiresAt = Math.floor(Date.parse(event.processedAt) / 1000) + DETECTION_RETENTION_DAYS * 86_400;
    const named = subjectsOfFaces(event.faces ?? []);
    await writeMentions(this.options.doc, this.options.detectionsTable, mentionItems(key, named, expiresAt));
    await this.options.doc.send(
      new PutCommand({
        TableName: this.options.detectionsTable,
        Item: {
          ...key,
          key: event.key,
          eTag,
          sha256: event.sha256,
          status: event.status,
          reason: event.error ? `${event.error.code}: ${event.error.message}` : undefined,
          processedAt: event.processedAt,
          summary: event.summary,
          event: json,
          truncated: truncated || undefined,
          expiresAt,
        },
      }),
    );
    await this.publish(event);
    return { resultRef: `DETECTION#${event.key}|${eTag}`, ...NOTHING_TO_SETTLE };
  }

  async refuse(): Promise<RecordedDetection> {
    return { resultRef: '', ...NOTHING_TO_SETTLE };
  }

  private async publish(event: IngestEvent): Promise<void> {
    const { json } = bounded(event, MAX_EVENT_DETAIL_BYTES);
    const result = await this.options.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.options.eventBus,
            Source: this.options.eventSource,
            DetailType: DETECTION_DETAIL_TYPE,
            Detail: json,
          },
        ],
      }),
    );
    // PutEvents reports per-entry failures in the response, not as an exception.
    if ((result.FailedEntryCount ?? 0) > 0) {
      const entry = result.Entries?.[0];
      throw new Error(`PutEvents refused the detection event: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`);
    }
  }
}
