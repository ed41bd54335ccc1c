/**
 * `npm run bench`: the machine, then the face pipeline benchmark, then the search and snapshot benchmark, all as
 * Markdown ready to paste into the README. Progress goes to stderr, so `npm run bench > bench.md` keeps only
 * the tables.
 */
import { cpus, totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { markdownTable, pipelineMarkdown, pipelineNote, runPipelineBench } from './pipeline.bench.ts';
import { runSearchBench } from './search.bench.ts';
import { runVideoBench, VIDEO_NOTE, videoMarkdown } from './video.bench.ts';

function machineMarkdown(): string {
  const cores = cpus();
  const rows: [string, string][] = [
    ['CPU', cores[0]?.model.trim() ?? 'unknown'],
    ['cores', String(cores.length)],
    ['memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['platform', `${process.platform} ${process.arch}`],
    ['Node.js', process.version],
    ['onnxruntime-node', ort.env.versions.node ?? ort.env.versions.common],
  ];
  return markdownTable(['machine', ''], rows);
}

const started = performance.now();
console.log(`## Benchmarks\n\n${machineMarkdown()}\n`);

process.stderr.write('Face pipeline…\n');
console.log('### Face pipeline\n');
const pipelineRows = await runPipelineBench();
if (pipelineRows) console.log(`${pipelineMarkdown(pipelineRows)}\n\n${pipelineNote()}\n`);

process.stderr.write('Video…\n');
console.log('### Video\n');
const videoRows = await runVideoBench();
if (videoRows) console.log(`${videoMarkdown(videoRows)}\n\n${VIDEO_NOTE}\n`);

process.stderr.write('Search and snapshots…\n');
console.log('### Search and snapshots\n');
const searchRows = await runSearchBench();
console.log(
  markdownTable(
    ['benchmark', 'kernel', 'rows', 'subjects', 'median ms', 'p95 ms', 'note'],
    searchRows.map((r) => [
      r.benchmark,
      r.kernel,
      r.rows.toLocaleString('en'),
      r.subjects.toLocaleString('en'),
      r.medianMs.toFixed(3),
      r.p95Ms.toFixed(3),
      r.note,
    ]),
    [false, false, true, true, true, true, false],
  ),
);
console.log('\nExact cosine search over random unit vectors, 512 dimensions; times in ms.');
process.stderr.write(`Done in ${((performance.now() - started) / 1000).toFixed(0)} s.\n`);
