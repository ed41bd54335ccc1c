/**
 * Two processes writing one data directory (finding 1 of the hostile test of local mode): `faceprint enroll`
 * runs while the server takes enrolments over HTTP. Every process derives its index from the database's change
 * feed, so the server must search every subject either of them enrolled — before the fix, each writer saved its
 * own in-memory index over the shared snapshot and the server lost 1–2 subjects in 3 runs of 5.
 *
 * The server and the CLI are real child processes (`node bin/faceprint.js`), the photos real LFW images.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createCliRunner } from '../support/cli.ts';
import { hasData, LFW, lfwPhoto, read } from '../support/data.ts';
import { freePort } from '../support/emulators.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const cli = createCliRunner({ maxParallel: 1, timeoutMs: 120_000 });
const dirs: string[] = [];
let server: ChildProcess | undefined;

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((done) => server?.once('exit', done));
    server.kill('SIGTERM');
    await exited;
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function waitForHealth(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`The server did not answer at ${url} within ${timeoutMs} ms.`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.runIf(hasData(LFW))('two processes enrolling into one data directory', () => {
  if (!hasData(LFW)) console.log(`skipped: ${LFW} is absent`);

  it('the server searches every subject the CLI and the server enrolled meanwhile', {
    timeout: 240_000,
  }, async () => {
    const started = Date.now();
    const step = (what: string) => console.log(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const root = mkdtempSync(join(tmpdir(), 'faceprint-writers-'));
    dirs.push(root);
    const dataDir = join(root, 'data');
    // Sixteen people: eight enrolled by the CLI from a folder of subject folders, eight over HTTP.
    const people = readdirSync(LFW)
      .filter((name) => !name.includes('.'))
      .sort()
      .slice(0, 16);
    const byCli = people.slice(0, 8);
    const byHttp = people.slice(8);
    const folder = join(root, 'enrol');
    for (const name of byCli) {
      mkdirSync(join(folder, name), { recursive: true });
      symlinkSync(lfwPhoto(name, 1), join(folder, name, `${name}_0001.jpg`));
    }

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    server = spawn(
      process.execPath,
      [
        join(ROOT, 'bin', 'faceprint.js'),
        'serve',
        '--port',
        String(port),
        '--data-dir',
        dataDir,
        '--no-watch',
      ],
      { cwd: ROOT, stdio: 'ignore' },
    );
    await waitForHealth(url, 120_000);
    step('server up');

    const enrolOverHttp = async () => {
      for (const name of byHttp) {
        const response = await fetch(`${url}/subjects?id=${name}&name=${name}&takeLargest=true`, {
          method: 'POST',
          headers: { 'content-type': 'image/jpeg' },
          body: read(lfwPhoto(name, 1)),
        });
        expect(response.status, name).toBe(201);
      }
    };
    const [run] = await Promise.all([cli('enroll', folder, '--data-dir', dataDir), enrolOverHttp()]);
    expect(run.code, run.stderr).toBe(0);
    step('both enrolled');

    const db = new Database(join(dataDir, 'faceprint.db'), { readonly: true });
    const stored = db.prepare('SELECT count(*) AS n FROM templates').get() as { n: number };
    db.close();
    const health = (await (await fetch(`${url}/health`)).json()) as {
      index: { templates: number; subjects: number };
    };
    expect(health.index).toMatchObject({ templates: stored.n, subjects: 16 });

    for (const name of people) {
      const response = await fetch(`${url}/identify`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: read(lfwPhoto(name, 1)),
      });
      const body = (await response.json()) as { faces: { decision: { kind: string; subjectId?: string } }[] };
      expect(
        body.faces.some((f) => f.decision.kind === 'match' && f.decision.subjectId === name),
        `${name} identifies as itself`,
      ).toBe(true);
    }

    // A deletion by the CLI leaves the server's index too.
    const deleted = await cli('subjects', 'delete', byHttp[0] as string, '--data-dir', dataDir);
    expect(deleted.code, deleted.stderr).toBe(0);
    const after = (await (await fetch(`${url}/health`)).json()) as { index: { subjects: number } };
    expect(after.index.subjects).toBe(15);
  });
});
