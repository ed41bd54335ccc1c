/**
 * `npm run bench:cold -- --rows 0,100000[,1000000] [--dtype int8|float32] [--shards 16|0] [--source]
 * [--handler out/other.mjs] [--profile dir] [--warmup 1] [--rounds 3]`: the API Lambda's cold start with the real
 * handler, locally —
 * DynamoDB Local and s3rver stand in for DynamoDB and S3. A snapshot of N templates is published under `index/` as
 * the indexer would (`--shards` shards, default 16; 0: the single object of older releases; `--dtype`, default
 * int8 as the indexer publishes), its first rows the probe person's other seed photos so the first identify has a
 * real match to find. A fresh Node process with Lambda's `AWS_LAMBDA_INITIALIZATION_TYPE` imports the api handler
 * (its init phase loads the index and the ONNX sessions) and answers two `POST /identify` requests (the first pays
 * for whatever the init phase did not do; the second is warm). The handler is bundled by esbuild with the image's
 * options (`functions/Dockerfile`) and the child runs under plain `node`, as Lambda runs the image; `--source`
 * imports the TypeScript through tsx instead; `--handler` runs a bundle built elsewhere (A/B against another
 * commit); `--profile` writes the child's `.cpuprofile`. Prints one JSON object and a Markdown table, with the
 * init phase's index-ready and models-ready times, CPU times and the first decision. Loopback only: the figures
 * include this machine's load (printed), not S3's real bandwidth.
 *
 * Each gallery size gets `--warmup` cold containers first (default 1), reported as `warm-up` rows but left out of
 * the medians, then `--rounds` measured ones (default 3). The warm-up is for the emulators, not the handler: every
 * child is a fresh process that imports, loads and answers from nothing, but DynamoDB Local is a JVM whose first
 * Query, PutItem and TransactWriteItems are compiled while they run (measured: 16 catch-up queries 0.7–0.9 s each
 * and a first identify's writes ~0.4 s against ~0.15 s warm), where DynamoDB itself answers in milliseconds.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { S3SnapshotStore } from '../functions/adapters/aws/s3-snapshot-store.ts';
import { SHIPPED_CALIBRATION_PATH } from '../functions/core/gallery/config.ts';
import { EMBEDDING_DIM, EMBEDDING_MODEL, FacePipeline } from '../functions/core/pipeline/pipeline.ts';
import { DEFAULT_INDEX_SHARDS, encodeShards } from '../functions/core/search/shards.ts';
import { encodeSnapshot } from '../functions/core/search/snapshot.ts';
import { VectorIndex } from '../functions/core/search/vector-index.ts';
import { seedPhoto } from '../test/support/data.ts';
import {
  createTables,
  emulatorEnv,
  s3Client,
  startDynamoLocal,
  startS3rver,
} from '../test/support/emulators.ts';
import { randomUnit, rng } from '../test/support/random.ts';
import { markdownTable } from './pipeline.bench.ts';

const BUCKET = 'faceprint-cold';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = join(ROOT, 'bench', 'cold-start-child.ts');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/**
 * The esbuild options of `functions/Dockerfile`'s handler bundle (keep the two in step), except the target: node20
 * here, the Node this machine runs (the image targets node22).
 */
export const IMAGE_BUNDLE_OPTIONS = [
  '--bundle',
  '--platform=node',
  '--target=node20',
  '--format=esm',
  '--main-fields=module,main',
  '--legal-comments=none',
  '--external:sharp',
  '--external:onnxruntime-node',
  '--external:better-sqlite3',
  "--banner:js=import { createRequire as __faceprintCreateRequire } from 'node:module'; const require = __faceprintCreateRequire(import.meta.url);",
];

/**
 * Bundles the api handler as the container image does, and the child that imports it (so the child runs under
 * plain `node`, as Lambda's runtime does); returns both paths.
 */
async function bundleApi(): Promise<{ handler: string; child: string }> {
  const out = join(ROOT, 'out', 'bench-cold');
  await mkdir(out, { recursive: true });
  const esbuild = join(ROOT, 'node_modules', '.bin', 'esbuild');
  const build = (entry: string, outfile: string) =>
    promisify(execFile)(esbuild, [entry, ...IMAGE_BUNDLE_OPTIONS, `--outfile=${outfile}`]);
  const handler = join(out, 'api.mjs');
  const child = join(out, 'child.mjs');
  await Promise.all([build(join(ROOT, 'functions', 'handlers', 'api.ts'), handler), build(CHILD, child)]);
  return { handler, child };
}

const PLANTED_SUBJECT = 'irene';

/** Embeddings of the probe person's other seed photos (2–5), enrolled at the top of every gallery of ≥ 5 rows. */
async function plantedEmbeddings(): Promise<Float32Array[]> {
  const pipeline = new FacePipeline({ modelsDir: join(ROOT, 'layers', 'models') });
  const out: Float32Array[] = [];
  for (const n of [2, 3, 4, 5]) {
    const face = (await pipeline.analyze(readFileSync(seedPhoto(PLANTED_SUBJECT, n)))).faces[0];
    if (face?.embedding) out.push(face.embedding);
  }
  await pipeline.dispose();
  return out;
}

async function main(): Promise<void> {
  const rowsList = arg('rows', '100000').split(',').map(Number);
  // int8 by default, as the indexer publishes (FACEPRINT_INDEX_DTYPE).
  const dtype = arg('dtype', 'int8') as 'float32' | 'int8';
  const shards = Number(arg('shards', String(DEFAULT_INDEX_SHARDS)));
  const built = process.argv.includes('--source') ? undefined : await bundleApi();
  // `--handler out/x.mjs[,bundled]`: handler bundles built elsewhere (e.g. from another commit), `bundled` for this
  // tree's; several are run in turn within each round, so an A/B shares the emulators and the machine's load.
  const handlers = (arg('handler', '') || 'bundled').split(',');
  const profileDir = arg('profile', '');
  const planted = await plantedEmbeddings();
  const [dynamo, s3rver] = await Promise.all([startDynamoLocal(), startS3rver([BUCKET])]);
  const warmups = Number(arg('warmup', '1'));
  const rounds = Number(arg('rounds', '3'));
  if (!Number.isInteger(warmups) || warmups < 0 || !Number.isInteger(rounds) || rounds < 1)
    throw new Error('--warmup must be a whole number ≥ 0 and --rounds one ≥ 1');
  const results: Record<string, unknown>[] = [];
  const summary: Record<string, unknown>[] = [];
  try {
    for (const rows of rowsList) {
      const tables = await createTables(dynamo.endpoint);
      const s3 = s3Client(s3rver.endpoint);
      const index = new VectorIndex({
        modelId: EMBEDDING_MODEL.id,
        dim: EMBEDDING_DIM,
        initialCapacity: rows,
      });
      const next = rng(rows);
      for (let start = 0; start < rows; start += 10_000) {
        const batch = [];
        for (let r = start; r < Math.min(rows, start + 10_000); r++) {
          const real = r < planted.length ? planted[r] : undefined;
          batch.push({
            templateId: `t${r}`,
            // The first rows are a real person (the probe's other photos), so the first identify has a match to
            // find in the loaded index; the rest are synthetic subjects of 5 templates.
            subjectId: real ? PLANTED_SUBJECT : `s${Math.floor(r / 5)}`,
            variant: 'original' as const,
            vector: real ?? randomUnit(EMBEDDING_DIM, next),
          });
        }
        index.add(batch);
      }
      const createdAt = new Date().toISOString();
      const store = new S3SnapshotStore(s3, BUCKET, 'index/');
      let snapshotBytes: number;
      if (shards > 0) {
        const published = encodeShards(index, { count: shards, createdAt, dtype });
        await store.saveShards({ count: shards, createdAt, shards: published });
        snapshotBytes = [...published.values()].reduce((sum, b) => sum + b.byteLength, 0);
      } else {
        const bytes = encodeSnapshot(index, { createdAt, dtype });
        await store.save(bytes);
        snapshotBytes = bytes.byteLength;
      }
      s3.destroy();
      const measured: Record<string, unknown>[] = [];
      for (let round = -warmups; round < rounds; round++) {
        for (const handler of handlers) {
          const row = await coldContainer(rows, round < 0 ? 'warm-up' : String(round + 1), tables, handler);
          row.snapshotMiB = Math.round((snapshotBytes / 2 ** 20) * 10) / 10;
          results.push(row);
          if (round >= 0) measured.push(row);
          process.stderr.write(`${JSON.stringify(row)}\n`);
        }
      }
      for (const handler of new Set(measured.map((r) => r.handler))) {
        const mine = measured.filter((r) => r.handler === handler);
        const median = (key: string) => {
          const values = mine.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
          values.sort((a, b) => a - b);
          return values.length === 0 ? '—' : (values[Math.floor(values.length / 2)] as number);
        };
        const cold = mine.map((r) => r.coldStartMs as number);
        summary.push({
          rows,
          handler,
          rounds: mine.length,
          coldStartMs: median('coldStartMs'),
          coldStartRange: `${Math.min(...cold)}–${Math.max(...cold)}`,
          indexReadyMs: median('indexReadyMs'),
          modelsReadyMs: median('modelsReadyMs'),
          firstRequestMs: median('firstRequestMs'),
          initCpuMs: median('initCpuMs'),
          firstRequestCpuMs: median('firstRequestCpuMs'),
        });
      }
    }
  } finally {
    await Promise.all([s3rver.stop(), dynamo.stop()]);
  }
  console.log(JSON.stringify({ bench: 'cold-start', target: 'cold start ≤ 2 s at 100k', summary, results }));
  const table = (rowsOut: Record<string, unknown>[]) => {
    const headers = Object.keys(rowsOut[0] ?? {});
    return markdownTable(
      headers,
      rowsOut.map((r) => headers.map((h) => r[h] as string | number)),
    );
  };
  console.log(table(results));
  console.log(`\nMedians of the measured rounds (warm-up rows left out):\n\n${table(summary)}`);

  /** One fresh child: imports the handler, loads the index and models, answers two identify requests. */
  async function coldContainer(
    rows: number,
    round: string,
    tables: Awaited<ReturnType<typeof createTables>>,
    handler: string,
  ): Promise<Record<string, unknown>> {
    const bundle = built && { ...built, handler: handler === 'bundled' ? built.handler : handler };
    const load = (await import('node:os')).loadavg()[0] as number;
    // Asynchronously: s3rver answers from this process's event loop.
    const { stdout: out } = await promisify(execFile)(
      process.execPath,
      [
        ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
        // The bundled child runs under plain node, as in the image; the source child under tsx.
        ...(bundle ? [bundle.child] : ['--import', 'tsx', CHILD]),
        '--handler',
        bundle ? bundle.handler : join(ROOT, 'functions', 'handlers', 'api.ts'),
        '--photo',
        seedPhoto('irene', 1),
      ],
      {
        env: {
          ...process.env,
          ...emulatorEnv({ s3: s3rver.endpoint, dynamo: dynamo.endpoint, bucket: BUCKET, tables }),
          FACEPRINT_API_KEYS_REQUIRED: 'false',
          AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
          // As the image sets them: a bundle cannot find them relative to its own modules.
          FACEPRINT_MODELS_DIR: join(ROOT, 'layers', 'models'),
          FACEPRINT_CALIBRATION: SHIPPED_CALIBRATION_PATH,
        },
        maxBuffer: 1 << 20,
      },
    );
    const timing = JSON.parse(out) as {
      nodeStartMs: number;
      importMs: number;
      indexReadyMs: number | undefined;
      modelsReadyMs: number | undefined;
      firstMs: number;
      secondMs: number;
      importCpuMs: number;
      firstCpuMs: number;
      cpuMs: number;
      firstBody: string;
    };
    const faces = (
      JSON.parse(timing.firstBody) as {
        faces: { decision?: { kind: string; similarity: number; subjectId?: string } }[];
      }
    ).faces;
    const ms = (x: number | undefined) => (x === undefined ? '—' : Math.round(x));
    return {
      rows,
      round,
      dtype,
      shards,
      handler: bundle ? (handler.split('/').at(-1) ?? handler) : 'source (tsx)',
      snapshotMiB: 0,
      nodeStartMs: ms(timing.nodeStartMs),
      indexReadyMs: ms(timing.indexReadyMs),
      modelsReadyMs: ms(timing.modelsReadyMs),
      importAndInitMs: ms(timing.importMs),
      firstRequestMs: ms(timing.firstMs),
      coldStartMs: ms(timing.importMs + timing.firstMs),
      warmRequestMs: ms(timing.secondMs),
      initCpuMs: ms(timing.importCpuMs),
      firstRequestCpuMs: ms(timing.firstCpuMs),
      processCpuMs: ms(timing.cpuMs),
      firstDecision: faces
        .map((f) =>
          f.decision
            ? `${f.decision.kind} ${f.decision.subjectId ?? ''} ${f.decision.similarity.toFixed(4)}`
            : '?',
        )
        .join(', '),
      loadAverage: Math.round(load * 10) / 10,
    };
  }
}

await main();
