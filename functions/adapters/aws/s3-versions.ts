/**
 * Deleting S3 objects for good. The data bucket is versioned (`lib/constructs/storage.ts`), so a plain DELETE
 * only adds a delete marker and every earlier version stays readable: erasure lists every version and delete
 * marker under the keys (ListObjectVersions) and deletes each by its VersionId (DeleteObjects, 1,000 a call).
 *
 * S3-compatible stores without versioning refuse ListObjectVersions (s3rver answers 405 MethodNotAllowed);
 * there every object has exactly one copy, so the current objects are listed and deleted instead.
 *
 * @module
 */
import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

export interface DeletedVersions {
  /** Distinct keys that had at least one version deleted. */
  keys: string[];
  /** Versions and delete markers deleted (an unversioned store: the objects). */
  versions: number;
}

/** One version (or delete marker) of an object. */
export interface ObjectVersion {
  Key: string;
  VersionId?: string | undefined;
  IsLatest?: boolean | undefined;
}

function versioningUnsupported(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return e.name === 'NotImplemented' || e.name === 'MethodNotAllowed' || status === 405 || status === 501;
}

async function listVersions(s3: S3Client, bucket: string, prefix: string): Promise<ObjectVersion[]> {
  const out: ObjectVersion[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        VersionIdMarker: versionMarker,
      }),
    );
    for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
      if (v.Key) out.push({ Key: v.Key, VersionId: v.VersionId, IsLatest: v.IsLatest === true });
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker !== undefined);
  return out;
}

async function listCurrent(s3: S3Client, bucket: string, prefix: string): Promise<{ Key: string }[]> {
  const out: { Key: string }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) out.push({ Key: o.Key });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return out;
}

/**
 * Deletes every version and delete marker of the objects under `prefix` for which `select` holds (default:
 * all of them; `select` sees each version, so a caller can keep the newest). A `prefix` naming one object's
 * key also matches longer keys: `select` filters them.
 */
export async function deleteAllVersions(
  s3: S3Client,
  bucket: string,
  prefix: string,
  select: (version: ObjectVersion) => boolean = () => true,
): Promise<DeletedVersions> {
  let versions: ObjectVersion[];
  try {
    versions = await listVersions(s3, bucket, prefix);
  } catch (error) {
    if (!versioningUnsupported(error)) throw error;
    versions = (await listCurrent(s3, bucket, prefix)).map((o) => ({ ...o, IsLatest: true }));
  }
  const doomed = versions.filter(select);
  for (let i = 0; i < doomed.length; i += 1000) {
    const result = await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: {
          Objects: doomed.slice(i, i + 1000).map((v) => ({ Key: v.Key, VersionId: v.VersionId })),
          Quiet: true,
        },
      }),
    );
    const failed = result.Errors ?? [];
    if (failed.length > 0) {
      throw new Error(
        `S3 refused to delete ${failed.length} object version(s), e.g. ${failed[0]?.Key}: ${failed[0]?.Code}.`,
      );
    }
  }
  return { keys: [...new Set(doomed.map((v) => v.Key))], versions: doomed.length };
}

/**
 * Deletes every version of one object but the current one (the index snapshot: superseded snapshots hold the
 * embeddings of subjects deleted since); returns how many versions were deleted.
 */
export async function pruneSupersededSnapshots(s3: S3Client, bucket: string, key: string): Promise<number> {
  const { versions } = await deleteAllVersions(s3, bucket, key, (v) => v.Key === key && !v.IsLatest);
  return versions;
}
