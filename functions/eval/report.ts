/**
 * Evaluation reports: `report.json` (every figure), `report.md` (tables for humans), plots drawn as SVG and
 * rendered to PNG by sharp (ROC, CMC, TPIR vs FPIR), and a grid of the worst failures.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { decodeImage } from '../core/pipeline/image.ts';
import { degradeImage, parseDegradation } from './degrade.ts';
import type { EvalResult, Failure, IdentificationResult, ImageRef, PairsResult } from './runner.ts';

interface Series {
  name: string;
  points: [number, number][];
  color?: string;
}

interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  xRange: [number, number];
  yRange: [number, number];
  series: Series[];
  /** Draw points as well as the line. */
  markers?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A line plot as an SVG document (640×480): axes, grid, ticks, one polyline per series and a legend.
 * `xLog` plots x on a log10 axis (non-positive x values are dropped).
 */
export function linePlotSvg(spec: PlotSpec): string {
  const W = 640;
  const H = 480;
  const m = { left: 70, right: 20, top: 40, bottom: 60 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const fx = (x: number) => (spec.xLog ? Math.log10(x) : x);
  const [x0, x1] = [fx(spec.xRange[0]), fx(spec.xRange[1])];
  const [y0, y1] = spec.yRange;
  const sx = (x: number) => m.left + ((fx(x) - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">${escapeXml(spec.title)}</text>`,
  ];
  const xTicks: number[] = [];
  if (spec.xLog) {
    for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) xTicks.push(10 ** e);
  } else {
    const step = niceStep((spec.xRange[1] - spec.xRange[0]) / 8);
    for (let x = Math.ceil(spec.xRange[0] / step) * step; x <= spec.xRange[1] + 1e-9; x += step)
      xTicks.push(x);
  }
  const yStep = niceStep((y1 - y0) / 8);
  const yTicks: number[] = [];
  for (let y = Math.ceil(y0 / yStep) * yStep; y <= y1 + 1e-9; y += yStep) yTicks.push(y);
  for (const x of xTicks) {
    const px = sx(x).toFixed(1);
    parts.push(`<line x1="${px}" y1="${m.top}" x2="${px}" y2="${m.top + ph}" stroke="#ddd"/>`);
    const label = spec.xLog ? `1e${Math.round(Math.log10(x))}` : formatTick(x);
    parts.push(`<text x="${px}" y="${m.top + ph + 18}" text-anchor="middle">${label}</text>`);
  }
  for (const y of yTicks) {
    const py = sy(y).toFixed(1);
    parts.push(`<line x1="${m.left}" y1="${py}" x2="${m.left + pw}" y2="${py}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${m.left - 8}" y="${py}" text-anchor="end" dominant-baseline="middle">${formatTick(y)}</text>`,
    );
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  parts.push(
    `<text x="${m.left + pw / 2}" y="${H - 18}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
  );
  parts.push(
    `<text x="18" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 18 ${m.top + ph / 2})">${escapeXml(spec.yLabel)}</text>`,
  );
  spec.series.forEach((series, i) => {
    const color = series.color ?? COLORS[i % COLORS.length];
    const pts = series.points
      .filter(([x]) => !spec.xLog || x > 0)
      .map(([x, y]) => [
        Math.min(Math.max(sx(Math.max(x, spec.xLog ? spec.xRange[0] : x)), m.left), m.left + pw),
        Math.min(Math.max(sy(y), m.top), m.top + ph),
      ]);
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${(x as number).toFixed(1)},${(y as number).toFixed(1)}`).join(' ')}"/>`,
    );
    if (spec.markers) {
      for (const [x, y] of pts)
        parts.push(
          `<circle cx="${(x as number).toFixed(1)}" cy="${(y as number).toFixed(1)}" r="3" fill="${color}"/>`,
        );
    }
    const ly = m.top + ph - 16 - 18 * (spec.series.length - 1 - i);
    parts.push(
      `<line x1="${m.left + pw - 190}" y1="${ly}" x2="${m.left + pw - 165}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
    );
    parts.push(
      `<text x="${m.left + pw - 160}" y="${ly}" dominant-baseline="middle">${escapeXml(series.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function formatTick(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}

/** Renders an SVG document to PNG bytes. */
export function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}

const CELL = 112;
const LABEL = 34;

/** A thumbnail of the evaluated face: the (degraded) image cropped to its box enlarged by 30%, or the whole image. */
async function thumbnail(image: ImageRef): Promise<Buffer> {
  const clean = await decodeImage(await readFile(image.path));
  const rgb = await degradeImage(clean, parseDegradation(image.degrade));
  let pipeline = sharp(Buffer.from(rgb.data.buffer, rgb.data.byteOffset, rgb.data.byteLength), {
    raw: { width: rgb.width, height: rgb.height, channels: 3 },
  });
  if (image.box) {
    const { x, y, width, height } = image.box;
    const side = Math.max(width, height) * 1.3;
    const left = Math.max(0, Math.round(x + width / 2 - side / 2));
    const top = Math.max(0, Math.round(y + height / 2 - side / 2));
    const w = Math.max(1, Math.min(rgb.width - left, Math.round(side)));
    const h = Math.max(1, Math.min(rgb.height - top, Math.round(side)));
    pipeline = sharp(await pipeline.extract({ left, top, width: w, height: h }).png().toBuffer());
  }
  return pipeline.resize(CELL, CELL, { fit: 'contain', background: '#000' }).png().toBuffer();
}

/**
 * A grid PNG of failures, one row each: probe | wrong match | true gallery image, with names and scores.
 * Missing cells (no wrong match for a pairs false reject, no enrolled truth) are left grey.
 */
export async function failureGridPng(failures: readonly Failure[]): Promise<Buffer> {
  const cols = 3;
  const width = cols * (CELL + 8) + 8;
  const rowH = CELL + LABEL + 8;
  const height = Math.max(1, failures.length) * rowH + 30;
  const composites: OverlayOptions[] = [];
  const texts: string[] = [];
  const header = ['probe', 'wrong match', 'true gallery'];
  header.forEach((h, c) => {
    texts.push(
      `<text x="${8 + c * (CELL + 8) + CELL / 2}" y="20" text-anchor="middle" font-weight="bold">${h}</text>`,
    );
  });
  for (const [r, failure] of failures.entries()) {
    const cells: [ImageRef | null, string][] = [
      [failure.probe, basename(failure.probe.path)],
      [
        failure.wrong,
        failure.wrong ? `${basename(failure.wrong.path)} ${failure.wrong.score.toFixed(3)}` : '—',
      ],
      [
        failure.truth,
        failure.truth
          ? `${basename(failure.truth.path)} ${failure.truth.score === null ? 'n/a' : failure.truth.score.toFixed(3)}`
          : '—',
      ],
    ];
    for (const [c, [image, label]] of cells.entries()) {
      const left = 8 + c * (CELL + 8);
      const top = 30 + r * rowH;
      if (image) {
        try {
          composites.push({ input: await thumbnail(image), left, top });
        } catch {
          // An unreadable image leaves its cell empty.
        }
      }
      const short = label.length > 22 ? `…${label.slice(-21)}` : label;
      texts.push(
        `<text x="${left + CELL / 2}" y="${top + CELL + 14}" text-anchor="middle" font-size="9">${escapeXml(short)}</text>`,
      );
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="12">${texts.join('')}</svg>`;
  return sharp({ create: { width, height, channels: 3, background: '#eee' } })
    .composite([{ input: Buffer.from(svg), left: 0, top: 0 }, ...composites])
    .png()
    .toBuffer();
}

const pct = (x: number, digits = 2) => `${(x * 100).toFixed(digits)}%`;

/** The Markdown summary of a run. */
/** The crop restoration of a run, as its report line names it (nothing when none ran). */
function restoreLabel(restore: EvalResult['config']['options']['restore']): string {
  if (!restore) return '';
  return `, restore ${restore.mode} σ ${restore.strength} (${restore.when})`;
}

export function markdownReport(run: EvalResult, plots: string[]): string {
  const { config, stats, result } = run;
  const lines: string[] = [
    `# Faceprint evaluation: ${config.protocol}`,
    '',
    `- data: \`${config.data}\`${config.pairsFile ? `, pairs \`${config.pairsFile}\`` : ''}${config.limit ? `, limit ${config.limit}` : ''}`,
    `- degradation: ${config.degrade || 'none'}`,
    `- pipeline ${config.pipelineVersion}: detector ${config.options.detect?.detector}, enhance ${config.options.enhance} (below brightness ${config.options.enhanceBelowBrightness}), flip ${config.options.flip}${restoreLabel(config.options.restore)}`,
    `- images ${stats.images} (cache hits ${stats.cacheHits}, computed ${stats.computed} on ${stats.workers} worker(s)); wall ${stats.wallSeconds.toFixed(1)} s`,
    '',
  ];
  if (result.protocol === 'pairs') lines.push(...pairsMarkdown(result));
  else lines.push(...identificationMarkdown(result));
  if (plots.length > 0) {
    lines.push('', '## Plots', '');
    for (const plot of plots) lines.push(`![${plot}](${plot})`);
  }
  if (result.worst.length > 0) {
    lines.push(
      '',
      '## Worst failures',
      '',
      '![failures](failures.png)',
      '',
      '| probe | wrong match (score) | true (score) |',
      '|---|---|---|',
    );
    for (const f of result.worst) {
      lines.push(
        `| ${f.probe.path} | ${f.wrong ? `${f.wrong.path} (${f.wrong.score.toFixed(3)})` : '—'} | ${f.truth ? `${f.truth.path} (${f.truth.score?.toFixed(3) ?? 'n/a'})` : '—'} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function pairsMarkdown(r: PairsResult): string[] {
  return [
    '| metric | value |',
    '|---|---|',
    `| pairs | ${r.pairs} |`,
    `| 10-fold accuracy | ${pct(r.accuracy.mean)} ± ${pct(r.accuracy.std)} |`,
    `| AUC | ${r.auc.toFixed(5)} |`,
    ...r.tarAtFar.map((t) => `| TAR @ FAR ${t.far} | ${pct(t.tar)} (threshold ${t.threshold.toFixed(4)}) |`),
    `| images without a face | ${r.detectionFailures} (${r.pairsWithMissingFace} pairs scored −1) |`,
  ];
}

function identificationMarkdown(r: IdentificationResult): string[] {
  const lines = [
    '| metric | value |',
    '|---|---|',
    `| gallery | ${r.gallerySize} |`,
    `| mated / non-mated probes | ${r.matedProbes} / ${r.nonMatedProbes} |`,
    `| rank-1 | ${pct(r.rank1)} |`,
    `| rank-5 | ${pct(r.rank5)} |`,
    ...r.tpirAtFpir.map(
      (t) => `| TPIR @ FPIR ${pct(t.fpir, 0)} | ${pct(t.tpir)} (threshold ${t.threshold.toFixed(4)}) |`,
    ),
  ];
  if (r.atThreshold) {
    const a = r.atThreshold;
    lines.push(
      `| at threshold ${a.threshold} | abstention ${pct(a.abstention)}, mated TPIR ${pct(a.matedTpir)}, non-mated FPIR ${pct(a.nonMatedFpir)} |`,
    );
  }
  const d = r.detectionFailures;
  lines.push(`| detection failures | gallery ${d.gallery}, mated ${d.mated}, non-mated ${d.nonMated} |`);
  const m = r.missAttribution;
  if (m) {
    lines.push(
      `| rank-1 misses | ${m.misses}: no face ${m.noFace}, mis-aligned ${m.misaligned}, embedded but wrong ${m.wrongIdentity} (${m.wrongEvenClean} wrong on the clean image too) |`,
    );
  }
  if (r.buckets.length > 0) {
    lines.push('', '| probe mean luma | probes | rank-1 | no face |', '|---|---|---|---|');
    for (const b of r.buckets)
      lines.push(`| ${b.label} | ${b.probes} | ${b.probes ? pct(b.rank1) : '—'} | ${b.detectionFailures} |`);
  }
  return lines;
}

/**
 * Writes `report.json`, `report.md`, the plots (`roc.png` for pairs; `cmc.png` and, with non-mated probes,
 * `tpir-fpir.png` for identification) and `failures.png` into `outDir`.
 *
 * @returns The paths written.
 */
export async function writeReport(run: EvalResult, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  const plots: string[] = [];
  const save = async (name: string, data: string | Buffer) => {
    const path = join(outDir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
    written.push(path);
  };
  const { result } = run;
  const tag = run.config.degrade ? ` (${run.config.degrade})` : '';
  if (result.protocol === 'pairs') {
    const minFar = Math.max(1e-4, 10 ** Math.floor(Math.log10(1 / Math.max(1, result.pairs / 2))));
    await save(
      'roc.png',
      await svgToPng(
        linePlotSvg({
          title: `ROC, ${result.pairs} pairs${tag}`,
          xLabel: 'false accept rate',
          yLabel: 'true accept rate',
          xLog: true,
          xRange: [minFar, 1],
          yRange: [
            Math.min(
              0.8,
              Math.floor(Math.min(...result.roc.filter((p) => p.far >= minFar).map((p) => p.tar), 1) * 10) /
                10,
            ),
            1,
          ],
          series: [
            {
              name: `AUC ${result.auc.toFixed(4)}`,
              points: result.roc.filter((p) => p.far > 0).map((p) => [Math.max(p.far, minFar), p.tar]),
            },
          ],
        }),
      ),
    );
    plots.push('roc.png');
  } else {
    const lowest = Math.min(...result.cmc, 1);
    await save(
      'cmc.png',
      await svgToPng(
        linePlotSvg({
          title: `CMC, gallery ${result.gallerySize}${tag}`,
          xLabel: 'rank',
          yLabel: 'identification rate',
          xRange: [1, Math.max(2, result.cmc.length)],
          yRange: [Math.floor(lowest * 10) / 10, 1],
          markers: true,
          series: [{ name: `rank-1 ${pct(result.rank1)}`, points: result.cmc.map((v, i) => [i + 1, v]) }],
        }),
      ),
    );
    plots.push('cmc.png');
    if (result.tpirCurve.length > 0) {
      await save(
        'tpir-fpir.png',
        await svgToPng(
          linePlotSvg({
            title: `Open-set TPIR vs FPIR${tag}`,
            xLabel: 'false positive identification rate',
            yLabel: 'true positive identification rate',
            xLog: true,
            xRange: [1e-3, 1],
            yRange: [Math.floor(Math.min(...result.tpirCurve.map((p) => p.tpir)) * 10) / 10, 1],
            markers: true,
            series: [{ name: 'TPIR', points: result.tpirCurve.map((p) => [p.fpir, p.tpir]) }],
          }),
        ),
      );
      plots.push('tpir-fpir.png');
    }
  }
  if (result.worst.length > 0) await save('failures.png', await failureGridPng(result.worst));
  await save('report.json', `${JSON.stringify(run, null, 2)}\n`);
  await save('report.md', markdownReport(run, plots));
  return written;
}
