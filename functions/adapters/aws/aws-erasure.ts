/**
 * Erasure in AWS (issue 13), by the policy of `core/gallery/erasure.ts` — the same as local mode's:
 *
 * - DynamoDB: the subject and its templates go with `FaceStore.deleteSubject`; here, audit rows that mention
 *   the subject are rewritten without it (the decision stays, with no subject id, name, source or box), and
 *   detection records of uploads decided as the subject are deleted with their ingest-ledger rows (records
 *   where the subject was only a candidate are rewritten without it);
 * - S3 (a versioned bucket): the subject's enrolment photos (`gallery/<id>/`) and the uploads decided as the
 *   subject, every version and delete marker, by VersionId (`s3-versions.ts`);
 * - index snapshots: every superseded version and shard object is deleted (they were published before the
 *   deletion and hold the subject's embeddings; `S3SnapshotStore.pruneSuperseded`). The current set is replaced
 *   by the indexer once the deletion reaches it through the templates stream, and the indexer then deletes
 *   what it superseded.
 *
 * The audit and detection records are found with a Scan of the detections table (filtered on the subject id
 * appearing in the stored JSON): erasure is rare, and a scan reads each item once.
 *
 * @module
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { DecisionAuditEntry } from '../../core/domain.ts';
import {
  type ErasureReport,
  redactAuditEntry,
  redactFaces,
  type StoredFace,
  type SubjectEraser,
} from '../../core/gallery/erasure.ts';
import { deleteAllVersions } from './s3-versions.ts';

export interface AwsEraserOptions {
  doc: DynamoDBDocumentClient;
  s3: S3Client;
  bucket: string;
  detectionsTable: string;
  /** The ingest ledger's table (`id` = `INGEST#<sha256>#<key>`); its rows of removed uploads are deleted. */
  idempotencyTable?: string | undefined;
  /** Enrolment photos' prefix (default `gallery/`). */
  galleryPrefix?: string | undefined;
  /** Deletes the superseded index snapshots (`S3SnapshotStore.pruneSuperseded`); returns the versions deleted. */
  pruneSnapshots: () => Promise<number>;
}

type Item = Record<string, unknown>;

export class AwsSubjectEraser implements SubjectEraser {
  constructor(private readonly o: AwsEraserOptions) {}

  async eraseTraces(subjectId: string): Promise<Omit<ErasureReport, 'subjectId' | 'templates'>> {
    const auditRowsRedacted = await this.redactAudit(subjectId);
    const detections = await this.eraseDetections(subjectId);
    const gallery = await deleteAllVersions(
      this.o.s3,
      this.o.bucket,
      `${this.o.galleryPrefix ?? 'gallery/'}${subjectId}/`,
    );
    let uploadVersions = 0;
    const uploads: string[] = [];
    for (const key of detections.removedKeys) {
      const deleted = await deleteAllVersions(this.o.s3, this.o.bucket, key, (v) => v.Key === key);
      uploadVersions += deleted.versions;
      uploads.push(...deleted.keys);
    }
    const snapshotVersions = await this.o.pruneSnapshots();
    return {
      auditRowsRedacted,
      filesRemoved: [...gallery.keys, ...uploads].map((k) => `s3://${this.o.bucket}/${k}`),
      filesRedacted: detections.redactedKeys.map((k) => `detection ${k}`),
      ledgerRows: detections.ledgerRows,
      // DynamoDB and S3 keep no freed pages a reader could reach; nothing to compact.
      storageCompacted: true,
      objectVersionsDeleted: gallery.versions + uploadVersions + snapshotVersions,
      snapshotVersionsDeleted: snapshotVersions,
    };
  }

  /** Items of the detections table whose key starts with `prefix` and whose `attribute` mentions the subject. */
  private async *scan(prefix: string, attribute: string, subjectId: string): AsyncGenerator<Item> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.o.doc.send(
        new ScanCommand({
          TableName: this.o.detectionsTable,
          FilterExpression: 'begins_with(pk, :prefix) AND contains(#a, :id)',
          ExpressionAttributeNames: { '#a': attribute },
          ExpressionAttributeValues: { ':prefix': prefix, ':id': `"${subjectId}"` },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) yield item;
      start = page.LastEvaluatedKey;
    } while (start);
  }

  private async redactAudit(subjectId: string): Promise<number> {
    let redacted = 0;
    for await (const item of this.scan('AUDIT#', 'entry', subjectId)) {
      const entry = JSON.parse(item.entry as string) as DecisionAuditEntry;
      const clean = redactAuditEntry(entry, subjectId);
      if (!clean) continue;
      await this.o.doc.send(
        new PutCommand({
          TableName: this.o.detectionsTable,
          Item: { ...item, entry: JSON.stringify(clean) },
        }),
      );
      redacted++;
    }
    return redacted;
  }

  private async eraseDetections(subjectId: string) {
    const removedKeys: string[] = [];
    const redactedKeys: string[] = [];
    let ledgerRows = 0;
    for await (const item of this.scan('DETECTION#', 'event', subjectId)) {
      const event = JSON.parse(item.event as string) as { key: string; sha256: string; faces: StoredFace[] };
      const { faces, own, changed } = redactFaces(event.faces ?? [], subjectId);
      const key = { pk: item.pk, sk: item.sk };
      if (own) {
        // The upload showed the subject: the record, the object and the ledger row go.
        await this.o.doc.send(new DeleteCommand({ TableName: this.o.detectionsTable, Key: key }));
        removedKeys.push(event.key);
        if (this.o.idempotencyTable) {
          await this.o.doc.send(
            new DeleteCommand({
              TableName: this.o.idempotencyTable,
              Key: { id: `INGEST#${event.sha256}#${event.key}` },
            }),
          );
          ledgerRows++;
        }
      } else if (changed) {
        await this.o.doc.send(
          new PutCommand({
            TableName: this.o.detectionsTable,
            Item: { ...item, event: JSON.stringify({ ...event, faces }) },
          }),
        );
        redactedKeys.push(event.key);
      }
    }
    return { removedKeys, redactedKeys, ledgerRows };
  }
}
