/**
 * Where a processed video goes in AWS: its files under `results/videos/<key>/<ETag>/` in S3 (the annotated MP4
 * and one best-face JPEG per track) and its items in the detections table, all keyed by the upload's key and
 * ETag so that a retried job rewrites the same items instead of adding new ones:
 *
 * | item | `pk` | `sk` | query |
 * |---|---|---|---|
 * | the video | `VIDEO#<key>` | `<ETag>` | status, frames, duration, complete/reason, files |
 * | a track | `VIDEO#<key>` | `<ETag>#TRACK#<id, 6 digits>` | the tracks of a video: `pk`, `begins_with(sk, "<ETag>#TRACK#")` |
 * | a subject's track | `SUBJECT-TRACK#<subjectId>` | `<key>#<ETag>#<id>` | the tracks decided as one subject: `pk` |
 *
 * Every item carries `expiresAt`, the same retention as the detection records (400 days). No embedding is
 * stored; the evidence is boxes, times, qualities and per-face similarities. Each track item's mentions
 * (`subject-mentions.ts`: its decided subject and candidates) are written before it, for erasure by key.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { RecordedDetection } from '../../core/ingest/ports.ts';
import type { TrackSummary, VideoResult } from '../../core/video/video-types.ts';
import type { ObjectRef } from './s3-upload-source.ts';
import { mentionItems, subjectsNamed, writeMentions } from './subject-mentions.ts';

const RETENTION_DAYS = 400;

/** `pk` of a video and its tracks. */
export const videoPk = (key: string) => `VIDEO#${key}`;
/** `sk` of a track of a video (sorted by track id within the video's version). */
export const trackSk = (eTag: string, id: number) => `${eTag}#TRACK#${String(id).padStart(6, '0')}`;
/** `pk` of the tracks decided as one subject. */
export const subjectTracksPk = (subjectId: string) => `SUBJECT-TRACK#${subjectId}`;

/** `sk` of a subject's track: the video's key and version and the track id. */
export const subjectTrackSk = (key: string, eTag: string, id: number) => `${key}#${eTag}#${id}`;

/** Where a video's result files go: `results/videos/<key>/<ETag>/`. */
export function videoResultsPrefix(key: string, eTag: string): string {
  return `results/videos/${key}/${eTag}/`;
}

export interface VideoFiles {
  /** The annotated MP4 on local disk, when one was written (streamed to S3, never read into memory). */
  annotated?: { path: string } | undefined;
  /** Best-face JPEG per track id. */
  thumbnails: Map<number, Uint8Array>;
}

const NOTHING_TO_SETTLE = { settle: async () => undefined, abandon: () => undefined };

export class DynamoVideoStore {
  constructor(
    private readonly options: {
      doc: DynamoDBDocumentClient;
      s3: S3Client;
      bucket: string;
      detectionsTable: string;
      now?: (() => Date) | undefined;
    },
  ) {}

  private expiresAt(at: Date): number {
    return Math.floor(at.getTime() / 1000) + RETENTION_DAYS * 86_400;
  }

  private async putFile(
    key: string,
    body: Uint8Array | { path: string },
    contentType: string,
  ): Promise<string> {
    const stream =
      'path' in body
        ? { Body: createReadStream(body.path), ContentLength: (await stat(body.path)).size }
        : { Body: body };
    await this.options.s3.send(
      new PutObjectCommand({ Bucket: this.options.bucket, Key: key, ...stream, ContentType: contentType }),
    );
    return key;
  }

  private put(item: Record<string, unknown>): Promise<unknown> {
    return this.options.doc.send(new PutCommand({ TableName: this.options.detectionsTable, Item: item }));
  }

  /**
   * Writes the files, then the track items, then the video item last: a reader that finds the video item finds
   * its tracks and files too (a crash before it leaves the ledger claim open, and the retry rewrites them).
   */
  async record(
    ref: ObjectRef,
    eTag: string,
    result: VideoResult,
    files: VideoFiles,
  ): Promise<RecordedDetection> {
    const at = (this.options.now ?? (() => new Date()))();
    const prefix = videoResultsPrefix(ref.key, eTag);
    const annotatedKey = files.annotated
      ? await this.putFile(`${prefix}annotated.mp4`, files.annotated, 'video/mp4')
      : undefined;
    const thumbnails = new Map<number, string>();
    for (const [id, jpeg] of files.thumbnails) {
      thumbnails.set(id, await this.putFile(`${prefix}track-${id}.jpg`, jpeg, 'image/jpeg'));
    }
    const common = { key: ref.key, eTag, processedAt: at.toISOString(), expiresAt: this.expiresAt(at) };
    for (const track of result.tracks) {
      const item = { ...common, ...trackItem(track), thumbnailKey: thumbnails.get(track.id) };
      const key = { pk: videoPk(ref.key), sk: trackSk(eTag, track.id) };
      const mentions = mentionItems(key, subjectsNamed(track.decision), common.expiresAt);
      await writeMentions(this.options.doc, this.options.detectionsTable, mentions);
      await this.put({ ...key, ...item });
      const subjectId = track.decision?.kind === 'match' ? track.decision.subjectId : undefined;
      if (subjectId) {
        await this.put({
          pk: subjectTracksPk(subjectId),
          sk: subjectTrackSk(ref.key, eTag, track.id),
          ...item,
        });
      }
    }
    await this.put({
      pk: videoPk(ref.key),
      sk: eTag,
      ...common,
      status: 'processed',
      complete: result.complete,
      reason: result.reason,
      frames: result.frames,
      durationMs: result.durationMs,
      elapsedMs: result.elapsedMs,
      fps: result.fps,
      width: result.info.width,
      height: result.info.height,
      tracks: result.tracks.length,
      identified: result.tracks.filter((t) => t.decision?.kind === 'match').length,
      calibration: result.calibration,
      model: result.model,
      annotatedKey,
      resultsPrefix: prefix,
    });
    return { resultRef: `${videoPk(ref.key)}|${eTag}`, ...NOTHING_TO_SETTLE };
  }

  /** A video that could not be processed (its own fault): the video item with the reason, no tracks. */
  async refuse(ref: ObjectRef, eTag: string, error: { code: string; message: string }): Promise<void> {
    const at = (this.options.now ?? (() => new Date()))();
    await this.put({
      pk: videoPk(ref.key),
      sk: eTag,
      key: ref.key,
      eTag,
      processedAt: at.toISOString(),
      expiresAt: this.expiresAt(at),
      status: 'failed',
      reason: `${error.code}: ${error.message}`,
      tracks: 0,
    });
  }
}

/** The stored form of a track: its decision and evidence as plain attributes (no embedding, no crop). */
function trackItem(track: TrackSummary): Record<string, unknown> {
  const d = track.decision;
  return {
    trackId: track.id,
    firstMs: track.firstMs,
    lastMs: track.lastMs,
    firstFrame: track.firstFrame,
    lastFrame: track.lastFrame,
    hits: track.hits,
    embedded: track.embedded,
    relinked: track.relinked,
    decisions: track.decisions,
    decision: d
      ? {
          kind: d.kind,
          subjectId: d.subjectId,
          subjectName: d.subjectName,
          similarity: d.similarity,
          threshold: d.threshold,
          margin: d.margin,
          confidence: d.confidence,
          aggregation: d.aggregation,
          facesUsed: d.facesUsed,
          candidates: d.candidates.map((c) => ({ subjectId: c.subjectId, similarity: c.similarity })),
        }
      : undefined,
    evidence: track.evidence,
  };
}
