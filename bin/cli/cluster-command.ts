import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CLUSTER_METHODS,
  type ClusterParams,
  isClusterMethod,
} from '../../functions/core/cluster/cluster.ts';
import { clusterCollection, contactSheet } from '../../functions/core/cluster/collection.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { clusterEvalTable, evaluateClustering } from '../../functions/eval/cluster-eval.ts';
import { EXIT, intOption, numberOption, ProgressBar, printJson, UsageError } from './common.ts';

const USAGE = `Usage: faceprint cluster <folder> [--method ${CLUSTER_METHODS.join('|')}] [--similarity S]
         [--min-samples N] [--min-size N] [--min-quality Q] [--out dir] [--json]
       faceprint cluster <root>/<identity>/<images> --evaluate [--degrade spec] [--limit N] [--workers N]

Groups the faces of every photo under <folder> (no labels needed). With --out: one contact sheet per cluster
(cluster-NNN.png), clusters.json and faces.csv. With --evaluate: scores every method against the folder names
(pairwise and BCubed precision/recall/F1) through the evaluation's embedding cache.
`;

const IMAGE = /\.(jpe?g|png|webp|tiff?|gif|avif|heic|heif|bmp)$/i;

async function listImages(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      throw new UsageError(`${dir} is not a readable folder.`);
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile() && IMAGE.test(extname(e.name))) out.push(path);
    }
  };
  await walk(root);
  return out;
}

const csvField = (v: string | number) =>
  /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);

/** `faceprint cluster`: offline clustering of a photo folder, or its measurement on a labelled folder. */
export async function clusterCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      method: { type: 'string' },
      similarity: { type: 'string' },
      'min-samples': { type: 'string' },
      'min-size': { type: 'string' },
      'min-quality': { type: 'string' },
      out: { type: 'string' },
      evaluate: { type: 'boolean', default: false },
      degrade: { type: 'string' },
      limit: { type: 'string' },
      workers: { type: 'string' },
      threads: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const [folder, ...extra] = positionals;
  if (!folder || extra.length > 0) throw new UsageError(`cluster takes one folder.\n${USAGE}`);
  const params: Partial<ClusterParams> = {};
  if (values.method !== undefined) {
    if (!isClusterMethod(values.method)) {
      throw new UsageError(`--method must be one of ${CLUSTER_METHODS.join(', ')}, not "${values.method}".`);
    }
    params.method = values.method;
  }
  if (values.similarity !== undefined) {
    const s = numberOption(values.similarity, 'similarity', 0);
    if (s <= -1 || s >= 1) throw new UsageError('--similarity must be between -1 and 1.');
    params.similarity = s;
  }
  if (values['min-samples'] !== undefined)
    params.minSamples = Math.max(1, intOption(values['min-samples'], 'min-samples', 2));
  if (values['min-size'] !== undefined)
    params.minClusterSize = Math.max(1, intOption(values['min-size'], 'min-size', 2));

  if (values.evaluate) {
    const bar = new ProgressBar(0, 'embedding');
    const result = await evaluateClustering({
      data: folder,
      degrade: values.degrade,
      limit: values.limit === undefined ? undefined : intOption(values.limit, 'limit', 0),
      workers: values.workers === undefined ? undefined : intOption(values.workers, 'workers', 2),
      settings: Object.keys(params).length > 0 ? [params] : undefined,
    });
    bar.finish();
    if (values.json) printJson(result);
    else process.stdout.write(`${clusterEvalTable(result)}\n`);
    return EXIT.ok;
  }

  const paths = await listImages(folder);
  if (paths.length === 0) throw new UsageError(`${folder} holds no image files.`);
  const pipeline = new FacePipeline({ threads: intOption(values.threads, 'threads', 1) });
  const bar = new ProgressBar(paths.length, 'analysing');
  try {
    const result = await clusterCollection(
      pipeline,
      paths.map((path) => ({ name: relative(folder, path), read: () => readFile(path) })),
      {
        params,
        minQuality:
          values['min-quality'] === undefined
            ? undefined
            : numberOption(values['min-quality'], 'min-quality', 0.3),
        onPhoto: () => bar.tick(),
      },
    );
    bar.finish();
    const listing = {
      params: result.params,
      photos: result.photos,
      faces: result.faces.length,
      lowQuality: result.lowQuality,
      skipped: result.skipped,
      clusters: result.clusters.map((c, rank) => ({
        cluster: rank,
        size: c.faces.length,
        faces: c.faces.map((i) => {
          const f = result.faces[i]!;
          return { photo: f.photo, faceIndex: f.faceIndex, box: f.box, quality: f.quality.score };
        }),
      })),
      unclustered: result.faces
        .filter((f) => f.cluster < 0)
        .map((f) => ({ photo: f.photo, faceIndex: f.faceIndex, quality: f.quality.score })),
    };
    if (values.out) {
      await mkdir(values.out, { recursive: true });
      for (const [rank, c] of result.clusters.entries()) {
        const sheet = await contactSheet(c.faces.map((i) => result.crops[i]!));
        await writeFile(join(values.out, `cluster-${String(rank).padStart(3, '0')}.png`), sheet);
      }
      await writeFile(join(values.out, 'clusters.json'), `${JSON.stringify(listing, null, 2)}\n`);
      const rankOf = new Map(result.clusters.map((c, rank) => [c.id, rank]));
      const rows = result.faces.map((f) =>
        [
          f.photo,
          f.faceIndex,
          f.cluster < 0 ? '' : (rankOf.get(f.cluster) ?? ''),
          f.quality.score.toFixed(3),
          f.box.x,
          f.box.y,
          f.box.width,
          f.box.height,
        ]
          .map((v) => csvField(typeof v === 'number' ? Math.round(v * 1000) / 1000 : v))
          .join(','),
      );
      await writeFile(
        join(values.out, 'faces.csv'),
        `photo,face,cluster,quality,x,y,width,height\n${rows.join('\n')}\n`,
      );
    }
    if (values.json) {
      printJson(listing);
    } else {
      process.stdout.write(
        `${result.photos} photo(s), ${result.faces.length} face(s): ${result.clusters.length} cluster(s), ` +
          `${listing.unclustered.length} face(s) in none (${result.lowQuality} below the quality floor)\n`,
      );
      for (const c of listing.clusters) {
        process.stdout.write(
          `  cluster ${c.cluster}: ${c.size} face(s): ${c.faces.map((f) => f.photo).join(', ')}\n`,
        );
      }
      if (values.out) process.stdout.write(`contact sheets, clusters.json and faces.csv in ${values.out}\n`);
    }
    return EXIT.ok;
  } finally {
    await pipeline.dispose();
  }
}
