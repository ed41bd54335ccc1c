// Builds the web console (console/src, Preact + htm) into console/dist with the project's esbuild: one
// content-hashed ES module and stylesheet, and an index.html that names them. Runs on `npm ci` (postinstall),
// before `npm start`, and from the browser tests; offline, in about a second. The server serves console/dist.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `--if-possible` (postinstall): an install without devDependencies (npm ci --omit=dev) has no esbuild; say so
// and leave the console unbuilt instead of failing the install. The server then explains how to build it.
let build;
try {
  ({ build } = await import('esbuild'));
} catch {
  if (process.argv.includes('--if-possible')) {
    console.warn(
      'build-console: esbuild is not installed (devDependencies omitted?); the web console is not built.',
    );
    process.exit(0);
  }
  throw new Error('build-console: esbuild is not installed; run npm ci.');
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'console', 'dist');

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ['console/src/main.ts'],
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  platform: 'browser',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  entryNames: '[name]-[hash]',
  outdir,
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = outputs.find((f) => f.endsWith('.js'));
const style = outputs.find((f) => f.endsWith('.css'));
if (!script || !style)
  throw new Error(`build-console: expected a .js and a .css output, got ${outputs.join(', ')}`);

writeFileSync(
  join(outdir, 'index.html'),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Faceprint console</title>
<link rel="stylesheet" href="console/${style}">
<script type="module" src="console/${script}"></script>
</head>
<body>
<noscript>The Faceprint console needs JavaScript. The API is described at <a href="openapi.json">openapi.json</a>.</noscript>
<div id="app"></div>
</body>
</html>
`,
);
const bytes = outputs.reduce((sum, f) => sum + (result.metafile.outputs[`console/dist/${f}`]?.bytes ?? 0), 0);
if (!process.argv.includes('--quiet')) {
  console.log(
    `console built: console/dist (${outputs.join(', ')}, index.html; ${(bytes / 1024).toFixed(1)} KiB)`,
  );
}
