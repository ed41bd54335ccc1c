/**
 * Erasure in AWS (issue 13), by the policy of `core/gallery/erasure.ts` — the same as local mode's:
 *
 * - DynamoDB: the subject and its templates go with `FaceStore.deleteSubject`; here, audit rows that mention
 *   the subject are rewritten without it (the decision stays, with no subject id, name, source or box), and
 *   detection records of uploads decided as the subject are deleted with their ingest-ledger rows (records
 *   where the subject was only a candidate are rewritten without it);
 * - videos are kept (the recording shows everyone who passed): the subject's `SUBJECT-TRACK#` items are deleted,
 *   its tracks in `VIDEO#` items are anonymised by `redactTracks` (decision kept; id, name and evidence boxes
 *   erased), its best-face thumbnails (`results/videos/…/track-<id>.jpg`, every version) deleted, and it is
 *   erased as a candidate of other tracks. The annotated MP4 is kept: it draws boxes and track ids, no names;
 * - S3 (a versioned bucket): the subject's enrolment photos (`gallery/<id>/`) and the uploads decided as the
 *   subject, every version and delete marker, by VersionId (`s3-versions.ts`);
 * - index snapshots: every superseded version and shard object is deleted (they were published before the
 *   deletion and hold the subject's embeddings; `S3SnapshotStore.pruneSuperseded`). The current set is replaced
 *   by the indexer once the deletion reaches it through the templates stream, and the indexer then deletes
 *   what it superseded.
 *
 * Everything is found by key, never by a Scan: the subject's mentions (`subject-mentions.ts`) point to every
 * audit row, detection record and track item written since the index began; `SUBJECT-TRACK#<id>` to its tracks;
 * and items written before the index (a deployment upgraded from an earlier version) are found through the audit
 * log's day partitions (`AUDIT#<day>`) from the retention horizon to the day after the index began, each row
 * leading to its upload's detection record (`DETECTION#<source>`) or its video's tracks (`VIDEO#<key>`).
 *
 * @module
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { DecisionAuditEntry } from '../../core/domain.ts';
import {
  type ErasureReport,
  redactAuditEntry,
  redactFaces,
  redactTracks,
  type StoredFace,
  type StoredTrack,
  type SubjectEraser,
} from '../../core/gallery/erasure.ts';
import { subjectTrackSk, subjectTracksPk, trackSk, videoPk } from './dynamo-video-store.ts';
import { deleteAllVersions } from './s3-versions.ts';
import {
  deleteMentions,
  type ItemKey,
  MENTION_INDEX_MARKER,
  mentionItems,
  mentionsOf,
  subjectsOfFaces,
} from './subject-mentions.ts';

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
  /** Days audit rows are kept (default 400): how far back items from before the mention index may be. */
  retentionDays?: number | undefined;
  now?: (() => Date) | undefined;
}

type Item = Record<string, unknown>;

const DAY_MS = 86_400_000;
/** Audit-log day partitions read at once while looking for items from before the mention index. */
const DAY_QUERIES_IN_FLIGHT = 8;

/** What one erasure has done so far. */
interface Progress {
  seen: Set<string>;
  auditRowsRedacted: number;
  removedKeys: string[];
  redactedKeys: string[];
  /** S3 keys of the subject's track thumbnails. */
  thumbnails: string[];
  tracksRedacted: string[];
  ledgerRows: number;
}

export class AwsSubjectEraser implements SubjectEraser {
  constructor(private readonly o: AwsEraserOptions) {}

  async eraseTraces(subjectId: string): Promise<Omit<ErasureReport, 'subjectId' | 'templates'>> {
    const p: Progress = {
      seen: new Set(),
      auditRowsRedacted: 0,
      removedKeys: [],
      redactedKeys: [],
      thumbnails: [],
      tracksRedacted: [],
      ledgerRows: 0,
    };
    // 1. Everything indexed: the subject's mentions, deleted once their targets are erased.
    const mentions: ItemKey[] = [];
    for await (const { mention, target } of mentionsOf(this.o.doc, this.o.detectionsTable, subjectId)) {
      await this.eraseItem(target, subjectId, p);
      mentions.push(mention);
    }
    // 2. The subject's tracks by subject (also those of videos recorded before the index).
    for await (const item of this.query({ pk: subjectTracksPk(subjectId) })) {
      if (typeof item.key === 'string' && typeof item.eTag === 'string' && typeof item.trackId === 'number')
        await this.eraseItem({ pk: videoPk(item.key), sk: trackSk(item.eTag, item.trackId) }, subjectId, p);
      await this.delete({ pk: item.pk as string, sk: item.sk as string });
    }
    // 3. Items from before the index, through the audit log's day partitions.
    await this.eraseUnindexed(subjectId, p);
    await deleteMentions(this.o.doc, this.o.detectionsTable, mentions);

    const gallery = await deleteAllVersions(
      this.o.s3,
      this.o.bucket,
      `${this.o.galleryPrefix ?? 'gallery/'}${subjectId}/`,
    );
    let uploadVersions = 0;
    const uploads: string[] = [];
    for (const key of [...p.removedKeys, ...p.thumbnails]) {
      const deleted = await deleteAllVersions(this.o.s3, this.o.bucket, key, (v) => v.Key === key);
      uploadVersions += deleted.versions;
      uploads.push(...deleted.keys);
    }
    const snapshotVersions = await this.o.pruneSnapshots();
    return {
      auditRowsRedacted: p.auditRowsRedacted,
      filesRemoved: [...gallery.keys, ...uploads].map((k) => `s3://${this.o.bucket}/${k}`),
      filesRedacted: [
        ...p.redactedKeys.map((k) => `detection ${k}`),
        ...p.tracksRedacted.map((k) => `track ${k}`),
      ],
      ledgerRows: p.ledgerRows,
      // DynamoDB and S3 keep no freed pages a reader could reach; nothing to compact.
      storageCompacted: true,
      objectVersionsDeleted: gallery.versions + uploadVersions + snapshotVersions,
      snapshotVersionsDeleted: snapshotVersions,
    };
  }

  /** The items of one partition; with `entryNames`, only those whose `entry` contains it. */
  private async *query(key: { pk: string }, filter?: { entryNames: string }) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.o.doc.send(
        new QueryCommand({
          TableName: this.o.detectionsTable,
          KeyConditionExpression: 'pk = :pk',
          ...(filter ? { FilterExpression: 'contains(entry, :id)' } : {}),
          ExpressionAttributeValues: { ':pk': key.pk, ...(filter ? { ':id': filter.entryNames } : {}) },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) yield item as Item;
      start = page.LastEvaluatedKey;
    } while (start);
  }

  private put(item: Item): Promise<unknown> {
    return this.o.doc.send(new PutCommand({ TableName: this.o.detectionsTable, Item: item }));
  }

  private delete(key: ItemKey): Promise<unknown> {
    return this.o.doc.send(new DeleteCommand({ TableName: this.o.detectionsTable, Key: key }));
  }

  /** Erases the subject from one item of the detections table (each item once per erasure). */
  private async eraseItem(target: ItemKey, subjectId: string, p: Progress, known?: Item): Promise<void> {
    const id = `${target.pk}|${target.sk}`;
    if (p.seen.has(id)) return;
    p.seen.add(id);
    const item =
      known ??
      (await this.o.doc.send(new GetCommand({ TableName: this.o.detectionsTable, Key: target }))).Item;
    if (!item) return; // a mention written just before a crash, or an item that expired
    if (target.pk.startsWith('AUDIT#')) await this.eraseAudit(item, subjectId, p);
    else if (target.pk.startsWith('DETECTION#')) await this.eraseDetection(item, subjectId, p);
    else if (target.pk.startsWith('VIDEO#') && target.sk.includes('#TRACK#'))
      await this.eraseTrack(item, subjectId, p);
  }

  private async eraseAudit(item: Item, subjectId: string, p: Progress): Promise<void> {
    const entry = JSON.parse(item.entry as string) as DecisionAuditEntry;
    const clean = redactAuditEntry(entry, subjectId);
    if (!clean) return;
    await this.put({ ...item, entry: JSON.stringify(clean) });
    p.auditRowsRedacted++;
  }

  private async eraseDetection(item: Item, subjectId: string, p: Progress): Promise<void> {
    const event = JSON.parse(item.event as string) as { key: string; sha256: string; faces: StoredFace[] };
    const { faces, own, changed } = redactFaces(event.faces ?? [], subjectId);
    if (own) {
      // The upload showed the subject: the record, the object and the ledger row go, and so do the other
      // subjects' mentions of the record (their keys name the upload).
      const target = keyOf(item);
      const others = subjectsOfFaces(event.faces ?? []).filter((id) => id !== subjectId);
      await deleteMentions(
        this.o.doc,
        this.o.detectionsTable,
        mentionItems(target, others, 0).map((m) => ({ pk: m.pk as string, sk: m.sk as string })),
      );
      await this.delete(target);
      p.removedKeys.push(event.key);
      if (this.o.idempotencyTable) {
        await this.o.doc.send(
          new DeleteCommand({
            TableName: this.o.idempotencyTable,
            Key: { id: `INGEST#${event.sha256}#${event.key}` },
          }),
        );
        p.ledgerRows++;
      }
    } else if (changed) {
      await this.put({ ...item, event: JSON.stringify({ ...event, faces }) });
      p.redactedKeys.push(event.key);
    }
  }

  private async eraseTrack(item: Item, subjectId: string, p: Progress): Promise<void> {
    const { tracks, own, changed } = redactTracks([item as StoredTrack & Item], subjectId);
    if (!changed) return;
    const track = tracks[0] as Item;
    const thumbnail = own.length > 0 && typeof item.thumbnailKey === 'string' ? item.thumbnailKey : undefined;
    if (thumbnail) p.thumbnails.push(thumbnail);
    const { thumbnailKey: _gone, ...kept } = track;
    await this.put(thumbnail ? kept : track);
    p.tracksRedacted.push(`${item.key as string}#${item.trackId as number}`);
    // Another subject's track keeps a copy under that subject (`SUBJECT-TRACK#`): rewritten the same way.
    const decided = (item as StoredTrack).decision;
    if (own.length === 0 && decided?.kind === 'match' && decided.subjectId) {
      const copy = {
        pk: subjectTracksPk(decided.subjectId),
        sk: subjectTrackSk(item.key as string, item.eTag as string, item.trackId as number),
      };
      await this.o.doc
        .send(
          new PutCommand({
            TableName: this.o.detectionsTable,
            Item: { ...track, ...copy },
            ConditionExpression: 'attribute_exists(pk)',
          }),
        )
        .catch((error: unknown) => {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        });
    }
  }

  /**
   * Audit rows from before the mention index (none once it is older than the retention), by day partition,
   * and the detection records or tracks each leads to.
   */
  private async eraseUnindexed(subjectId: string, p: Progress): Promise<void> {
    const now = (this.o.now ?? (() => new Date()))().getTime();
    const first = now - (this.o.retentionDays ?? 400) * DAY_MS;
    const { Item: marker } = await this.o.doc.send(
      new GetCommand({ TableName: this.o.detectionsTable, Key: MENTION_INDEX_MARKER }),
    );
    // Writers of the previous version may still run for a while after the index began: one day more.
    const since = typeof marker?.since === 'string' ? Date.parse(marker.since) : Number.NaN;
    const last = Number.isNaN(since) ? now : Math.min(now, since + DAY_MS);
    const days: string[] = [];
    for (let t = last; t >= first - DAY_MS; t -= DAY_MS) days.push(new Date(t).toISOString().slice(0, 10));
    const named = JSON.stringify(subjectId);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < days.length; i = next++) {
        for await (const row of this.query({ pk: `AUDIT#${days[i]}` }, { entryNames: named })) {
          if (p.seen.has(`${row.pk}|${row.sk}`)) continue;
          const entry = JSON.parse(row.entry as string) as DecisionAuditEntry;
          // Where the decision's input is recorded, read before the row's source is erased.
          await this.eraseInputsOf(entry, subjectId, p);
          await this.eraseItem(keyOf(row), subjectId, p, row);
        }
      }
    };
    await Promise.all(Array.from({ length: DAY_QUERIES_IN_FLIGHT }, worker));
  }

  /** The detection record (ingest) or the video's tracks (track events) an audit row was decided on. */
  private async eraseInputsOf(entry: DecisionAuditEntry, subjectId: string, p: Progress): Promise<void> {
    const track = /^(.*)#track-(\d+)$/.exec(entry.source);
    if (entry.operation.startsWith('track.') && track) {
      for await (const item of this.query({ pk: videoPk(track[1]!) }))
        if (String(item.sk).includes('#TRACK#') && item.trackId === Number(track[2]))
          await this.eraseItem(keyOf(item), subjectId, p, item);
    } else if (entry.operation === 'ingest') {
      for await (const item of this.query({ pk: `DETECTION#${entry.source}` }))
        await this.eraseItem(keyOf(item), subjectId, p, item);
    }
  }
}

function keyOf(item: Item): ItemKey {
  return { pk: item.pk as string, sk: item.sk as string };
}
