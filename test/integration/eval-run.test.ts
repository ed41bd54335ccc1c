import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../functions/eval/report.ts';
import { type EvalResult, runProtocol } from '../../functions/eval/runner.ts';
import { hasData, LFW } from '../support/data.ts';

const dir = mkdtempSync(join(tmpdir(), 'fp-eval-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(hasData(LFW))('eval runner: LFW pairs, 40 pairs over 10 folds', () => {
  let cold: EvalResult;
  let coldMs = 0;

  it('embeds both images of every pair on two workers and scores > 90% 10-fold accuracy', async () => {
    const progress: number[] = [];
    const t = performance.now();
    cold = await runProtocol({
      data: LFW,
      protocol: 'pairs',
      limit: 40,
      workers: 2,
      cacheDir: join(dir, 'cache'),
      onProgress: (done) => progress.push(done),
    });
    coldMs = performance.now() - t;
    if (cold.result.protocol !== 'pairs') throw new Error('expected a pairs result');
    expect(cold.result.pairs).toBe(40);
    expect(cold.result.accuracy.perFold).toHaveLength(10);
    expect(cold.result.accuracy.mean).toBeGreaterThan(0.9);
    expect(cold.result.auc).toBeGreaterThan(0.9);
    expect(cold.stats.computed).toBe(cold.stats.images);
    expect(cold.stats.workers).toBe(2);
    expect(progress.at(-1)).toBe(cold.stats.images);
  }, 180_000);

  it('re-runs from the cache, identically and more than 3× faster', async () => {
    const t = performance.now();
    const warm = await runProtocol({ data: LFW, protocol: 'pairs', limit: 40, cacheDir: join(dir, 'cache') });
    const warmMs = performance.now() - t;
    expect(warm.stats.cacheHits).toBe(cold.stats.images);
    expect(warm.stats.computed).toBe(0);
    expect(warm.result).toEqual(cold.result);
    expect(warmMs * 3).toBeLessThan(coldMs);
  }, 60_000);

  it('writes the JSON and Markdown report with a ROC plot', async () => {
    const out = join(dir, 'report');
    await writeReport(cold, out);
    for (const f of ['report.json', 'report.md', 'roc.png']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/10-fold accuracy \| \d+\.\d+% ± /);
    const png = readFileSync(join(out, 'roc.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  }, 60_000);
});
