/**
 * Saves and reloads the approximate graph beside the index snapshot in local mode: `<dir>/ann.usearch` (usearch's
 * own format) and `<dir>/ann.json` (the id tables), each written atomically. The manifest is written last and
 * names the graph file's size, so a crash between the two writes leaves a pair that {@link loadAnn} rejects
 * (and the graph is rebuilt from the snapshot) rather than one that silently disagrees. Inserts acknowledged
 * after the last save are not lost: they are in the snapshot and the store of record, and
 * {@link TieredIndex} reconciles the reloaded graph with the exact index on open.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type AnnManifest, ApproximateIndex, DEFAULT_GROUP_SIMILARITY } from '../../core/search/ann-index.ts';
import type { ApproximateIndexing } from '../../core/search/tiered-index.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { UsearchGraph, type UsearchSettings, usearchGraphFactory } from './usearch-graph.ts';

const GRAPH = 'ann.usearch';
const MANIFEST = 'ann.json';

/** Writes the graph and its manifest (graph first, manifest last). */
export async function saveAnn(dir: string, index: ApproximateIndex): Promise<void> {
  const graph = index.graph;
  if (!(graph instanceof UsearchGraph)) throw new Error('only usearch graphs are saved to files');
  const tmp = join(dir, `${GRAPH}.${process.pid}.tmp`);
  graph.save(tmp);
  await rename(tmp, join(dir, GRAPH));
  const manifest = {
    ...index.manifest(),
    graphBytes: statSync(join(dir, GRAPH)).size,
    engine: graph.engine,
    build: graph.build,
  };
  await writeFileAtomic(
    join(dir, MANIFEST),
    JSON.stringify(manifest),
    join(dir, `${MANIFEST}.${process.pid}.tmp`),
  );
}

/** Removes a saved graph (after an erasure, until the next save: no file keeps a deleted vector). */
export async function dropAnn(dir: string): Promise<void> {
  await unlink(join(dir, MANIFEST)).catch(() => undefined);
  await unlink(join(dir, GRAPH)).catch(() => undefined);
}

/**
 * Reloads a saved graph (memory-mapped when `view`), or undefined when there is none or the pair does not add
 * up (a crash mid-save, a graph built with other settings or another grouping). Its search ef follows the graph's
 * size (`searchBreadthFor` in usearch-graph.ts).
 */
export function loadAnn(
  dir: string,
  settings: UsearchSettings = {},
  view = false,
  grouping: number | 'off' = DEFAULT_GROUP_SIMILARITY,
): ApproximateIndex | undefined {
  const manifestFile = join(dir, MANIFEST);
  const graphFile = join(dir, GRAPH);
  if (!existsSync(manifestFile) || !existsSync(graphFile)) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as AnnManifest & {
      graphBytes: number;
      build?: string;
    };
    if (statSync(graphFile).size !== manifest.graphBytes) return undefined;
    const graph = new UsearchGraph(manifest.dim, settings);
    // Built with other settings, or by a release that did not record them or did not group templates into
    // nodes: rebuilt from the snapshot instead (a faster graph, once).
    if (graph.build !== manifest.build || manifest.grouping !== grouping) return undefined;
    const nodes = new Set(manifest.keys).size;
    if (view) graph.view(graphFile, nodes);
    else graph.load(graphFile, nodes);
    return ApproximateIndex.restore(graph, manifest);
  } catch {
    return undefined;
  }
}

/**
 * Local mode's approximate indexing: usearch graphs (int8, the benchmarked settings) saved as files in `dir`
 * beside the snapshot, answering from `crossover` templates on.
 */
export function fileApproximateIndexing(dir: string, crossover: number): ApproximateIndexing {
  return {
    crossover,
    graphs: usearchGraphFactory(),
    load: (modelId) => {
      const index = loadAnn(dir);
      return index?.modelId === modelId ? index : undefined;
    },
    save: (index) => saveAnn(dir, index),
    drop: () => dropAnn(dir),
  };
}
