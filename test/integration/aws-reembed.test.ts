/**
 * The Batch job's `reembed` kind against DynamoDB Local and s3rver: subjects enrolled with the shipped pack, both
 * by upload (`gallery/<id>/<file>`, kept there) and through the API (kept under `photos/` by the S3 photo store),
 * then a job document `{"kind": "reembed", "pack": "s3://…/batch/packs/…/"}` whose pack (a test-built 32-d
 * embedder) the job downloads and checks. Afterwards every subject has exactly its new templates, a retried job
 * changes nothing (no duplicates), and a gallery on the new pack identifies from DynamoDB. Real AWS SDK clients,
 * real handlers' code; not covered: IAM and the Batch service itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsRuntime } from '../../functions/handlers/aws/composition.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';
import {
  createTables,
  type Emulator,
  emulatorEnv,
  startDynamoLocal,
  startEventBusRecorder,
  startS3rver,
  type TableNames,
} from '../support/emulators.ts';
import { writeTestPack } from '../support/model-pack.ts';

const BUCKET = 'faceprint-reembed';
const NEW = 'test-linear-32';
const UPLOADED = ['irene', 'joy'] as const;

process.env.POWERTOOLS_SERVICE_NAME = 'faceprint-reembed';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

describe.runIf(hasData(SEED))('the reembed Batch job, against local emulators', () => {
  let dynamo: Emulator;
  let s3rver: Emulator;
  let bus: Emulator;
  let tables: TableNames;
  let s3: S3Client;
  let rt: AwsRuntime;
  let dir = '';
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    [dynamo, s3rver, bus] = await Promise.all([
      startDynamoLocal(),
      startS3rver([BUCKET]),
      startEventBusRecorder(),
    ]);
    tables = await createTables(dynamo.endpoint);
    delete process.env.AWS_PROFILE;
    delete process.env.FACEPRINT_MODEL_PACK;
    Object.assign(process.env, {
      ...emulatorEnv({
        s3: s3rver.endpoint,
        dynamo: dynamo.endpoint,
        events: bus.endpoint,
        bucket: BUCKET,
        tables,
      }),
      FACEPRINT_EVENT_BUS: 'faceprint-reembed-bus',
    });
    const { AwsRuntime } = await import('../../functions/handlers/aws/composition.ts');
    const { readConfig } = await import('../../functions/handlers/aws/config.ts');
    rt = new AwsRuntime(readConfig('batch'));
    s3 = rt.clients.s3;
    dir = await mkdtemp(join(tmpdir(), 'faceprint-aws-reembed-'));
  });

  afterAll(async () => {
    await rt?.dispose();
    await Promise.all([s3rver?.stop(), bus?.stop(), dynamo?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  const put = (Key: string, Body: Uint8Array | string) =>
    s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));
  const keys = async (Prefix: string) =>
    ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix }))).Contents ?? []).map(
      (o) => o.Key ?? '',
    );
  const summaryOf = async (key: string) =>
    JSON.parse(
      await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString(),
    ) as Record<string, unknown>;

  it('re-embeds uploaded and API-enrolled photos with a pack from S3, once, and the new pack identifies', async () => {
    // Enrolled with the shipped pack: two by upload, one through the API (no object behind it).
    for (const person of UPLOADED) {
      const key = `gallery/${person}/img_1.jpg`;
      await put(key, read(seedPhoto(person, 1)));
      const outcome = await rt.enrolObject({ bucket: BUCKET, key });
      expect(outcome.status).toBe('processed');
    }
    await rt.gallery.createSubject(
      { id: 'yeri', name: 'Yeri' },
      { bytes: read(seedPhoto('yeri', 1)), source: 'api' },
    );
    const photos = await rt.photos.list();
    expect(photos.map((p) => [p.subjectId, p.id.startsWith('gallery:') ? 'upload' : 'kept'])).toEqual([
      ['irene', 'upload'],
      ['joy', 'upload'],
      ['yeri', 'kept'],
    ]);
    expect(await keys('photos/yeri/')).toHaveLength(2);
    const before = await rt.store.listTemplates();
    const perSubject = before.length / 3;
    expect(before.every((t) => t.model.id === 'mobilefacenet-512')).toBe(true);

    // The new pack, uploaded under batch/ (which the job may read), and the job document.
    const pack = writeTestPack(join(dir, 'pack32'), { dim: 32 });
    for (const name of readdirSync(pack))
      await put(`batch/packs/test32/${name}`, readFileSync(join(pack, name)));
    await put(
      'batch/reembed.json',
      JSON.stringify({ kind: 'reembed', pack: `s3://${BUCKET}/batch/packs/test32/` }),
    );
    const { main } = await import('../../functions/handlers/batch.ts');
    const { readConfig } = await import('../../functions/handlers/aws/config.ts');
    const config = readConfig('batch');

    expect(await main(['batch/reembed.json'], config)).toBe(0);
    const after = await rt.store.listTemplates();
    expect(after).toHaveLength(before.length);
    expect(after.every((t) => t.model.id === NEW && t.embedding.length === 32)).toBe(true);
    for (const person of [...UPLOADED, 'yeri']) {
      expect(after.filter((t) => t.subjectId === person)).toHaveLength(perSubject);
    }
    const [first] = (await keys('results/reembed.json.')).sort();
    expect(await summaryOf(first ?? '')).toMatchObject({
      kind: 'reembed',
      subjects: 3,
      reembedded: 3,
      skipped: 0,
      complete: true,
      removed: before.length,
      templates: before.length,
    });
    expect(await keys(`results/reembed/${NEW}/`)).toEqual([`results/reembed/${NEW}/gallery.fpidx`]);

    // A retried job (Batch retries a failed attempt) finds everything done: no duplicates.
    await new Promise((r) => setTimeout(r, 5));
    expect(await main(['batch/reembed.json'], config)).toBe(0);
    const second = (await keys('results/reembed.json.')).sort()[1];
    expect(await summaryOf(second ?? '')).toMatchObject({
      skipped: 3,
      reembedded: 0,
      removed: 0,
      complete: true,
    });
    expect(await rt.store.listTemplates()).toHaveLength(before.length);

    // A gallery on the new pack identifies from the re-embedded DynamoDB templates.
    const { GalleryService } = await import('../../functions/core/gallery/service.ts');
    const { defaultGalleryConfig, loadCalibration } = await import('../../functions/core/gallery/config.ts');
    const { FacePipeline } = await import('../../functions/core/pipeline/pipeline.ts');
    const pipeline = new FacePipeline({ packDir: pack });
    try {
      const calibration = { ...loadCalibration(), modelId: NEW, threshold: 0.97, ambiguityMargin: 0.001 };
      const gallery = new GalleryService({
        pipeline,
        store: rt.store,
        feed: rt.store,
        snapshots: rt.snapshots,
        config: { ...defaultGalleryConfig(calibration), variants: [] },
      });
      await gallery.open();
      const found = await gallery.identify(read(seedPhoto('joy', 1)), { source: 'test' });
      expect(found.faces[0]?.decision).toMatchObject({ kind: 'match', subjectId: 'joy' });
    } finally {
      await pipeline.dispose();
    }

    // An unknown kind is refused at start (exit 2), touching nothing.
    await put('batch/odd.json', JSON.stringify({ kind: 'repaint' }));
    expect(await main(['batch/odd.json'], config)).toBe(2);
  }, 300_000);
});
