import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataDir } from '../../functions/adapters/local/data-dir.ts';
import { SqliteCameraStore } from '../../functions/adapters/local/sqlite-camera-store.ts';
import { CameraGallery } from '../../functions/core/camera/service.ts';
import { FaceprintError } from '../../functions/core/errors.ts';
import { defaultGalleryConfig, loadCalibration } from '../../functions/core/gallery/config.ts';
import { reembedGallery } from '../../functions/core/gallery/reembed.ts';
import { GalleryService } from '../../functions/core/gallery/service.ts';
import { decodeScrfd } from '../../functions/core/models/detectors.ts';
import { loadModelPack } from '../../functions/core/models/pack.ts';
import { assertProvidersAvailable, OnnxBackend } from '../../functions/core/pipeline/models.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import { createApp } from '../../functions/handlers/http/app.ts';
import { hasData, read, SEED, seedPhoto } from '../support/data.ts';
import { expectFaceprintError } from '../support/errors.ts';
import { writeTestPack } from '../support/model-pack.ts';

const dirs: string[] = [];
const tempDir = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `faceprint-${name}-`));
  dirs.push(dir);
  return dir;
};
const disposers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const dispose of disposers) await dispose();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** One sentence: no line break, one full stop at the end and none inside between sentences. */
function expectOneSentence(message: string) {
  expect(message).not.toMatch(/\n/);
  expect(message).toMatch(/\.$/);
  expect(message.slice(0, -1)).not.toMatch(/\.\s+[A-Z]/);
}

/** The parts of a pack manifest the tests below edit. */
interface EditableManifest {
  roles: Record<string, unknown>;
  models: Record<string, Record<string, unknown>>;
}

/** A test pack whose manifest `edit` has changed (in place). */
function editedTestPack(name: string, edit: (manifest: EditableManifest) => void): string {
  const dir = writeTestPack(tempDir(name));
  const path = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8'));
  edit(manifest);
  writeFileSync(path, JSON.stringify(manifest));
  return dir;
}

describe('model pack manifest', () => {
  it('the shipped models are the default pack, with the identity templates always recorded', () => {
    const pack = loadModelPack();
    expect(pack.isDefault).toBe(true);
    expect(pack.id).toBe('mobilefacenet-512');
    expect(pack.embeddingSize).toBe(512);
    expect(new FacePipeline().model).toEqual({ id: 'mobilefacenet-512', version: 'faceplugin-0.0.1/fp10' });
  });

  it('refuses to load a model whose sha256 does not match, in one sentence', async () => {
    const dir = writeTestPack(tempDir('badsha'), { wrongSha: true });
    // Refused when the backend is built, before any session exists (the process fails closed at start).
    let error: FaceprintError = new FaceprintError('INVALID_ARGUMENT', 'not thrown');
    try {
      new OnnxBackend({ packDir: dir });
    } catch (caught) {
      error = caught as FaceprintError;
    }
    expect(error).toBeInstanceOf(FaceprintError);
    expect(error.code).toBe('MODEL_MISMATCH');
    expect(error.message).toMatch(/sha256 .* but pack test-linear-64@1 declares 000000000000… for linear-64/);
    expectOneSentence(error.message);
  });

  it('names what the manifest must say for an unknown decoder family', () => {
    const dir = editedTestPack('family', (manifest) => {
      manifest.roles.detector = { family: 'yolo-face', model: 'x' };
    });
    const error = expectFaceprintError(() => loadModelPack(dir), 'MODEL_UNAVAILABLE');
    expect(error.message).toContain('must be one of ulfd+blazeface, scrfd, retinaface');
    expectOneSentence(error.message);
  });

  it('refuses a pack whose ULFD is the fixed-size export instead of the derived any-size model', () => {
    const dir = editedTestPack('old-ulfd', (manifest) => {
      manifest.models['ulfd-rfb320']!.outputs = {
        scores: { shape: [1, 4420, 2], meaning: 'softmax' },
        boxes: { shape: [1, 4420, 4], meaning: 'corners' },
      };
    });
    const error = expectFaceprintError(() => loadModelPack(dir), 'MODEL_UNAVAILABLE');
    expect(error.message).toContain('any-size ULFD that `npm run models` derives');
    expectOneSentence(error.message);
  });

  it('refuses a ulfd+blazeface pack without the front-camera BlazeFace that confirms fine-level finds', () => {
    const dir = editedTestPack('no-front', (manifest) => {
      delete manifest.models['blazeface-front'];
    });
    const error = expectFaceprintError(() => loadModelPack(dir), 'MODEL_UNAVAILABLE');
    expect(error.message).toContain('model "blazeface-front"');
    expectOneSentence(error.message);
  });

  it('keeps the CUDA path behind a clear error where onnxruntime-node has no CUDA libraries', async () => {
    const error = expectFaceprintError(
      () => assertProvidersAvailable(['cuda', 'cpu'], 'p@1', tempDir('no-cuda')),
      'MODEL_UNAVAILABLE',
    );
    expect(error.message).toContain('libonnxruntime_providers_cuda.so');
    expectOneSentence(error.message);
    const backend = new OnnxBackend({ executionProviders: ['cuda', 'cpu'] });
    const refused = await backend.session('pfld-68').catch((e) => e);
    expect((refused as FaceprintError).code).toBe('MODEL_UNAVAILABLE');
  });
});

describe('SCRFD decoder', () => {
  it('decodes a face from distance boxes and keypoint offsets in stride units', () => {
    // 32×32 input, stride 16: a 2×2 grid with one anchor per cell; cell (1, 0) holds a face.
    const scores = new Float32Array([0.1, 0.9, 0.2, 0.3]);
    const boxes = new Float32Array(16);
    boxes.set([0.5, 0.25, 0.5, 0.75], 4);
    const keypoints = new Float32Array(40);
    keypoints.set([-0.25, -0.1, 0.25, -0.1, 0, 0.1, -0.2, 0.4, 0.2, 0.4], 10);
    const [face, ...rest] = decodeScrfd(
      [{ scores, boxes, keypoints }],
      { strides: [16], anchorsPerCell: 1, scoreThreshold: 0.5 },
      32,
      32,
    );
    expect(rest).toHaveLength(0);
    expect(face?.score).toBeCloseTo(0.9);
    expect(face?.box).toEqual({ x: 8, y: -4, width: 16, height: 16 });
    expect(face?.keypoints[0]?.x).toBeCloseTo(12);
    expect(face?.keypoints[0]?.y).toBeCloseTo(-1.6);
  });
});

describe.runIf(hasData(SEED))('a pack with another embedding size, end to end', () => {
  it('enrols and identifies with 64-d embeddings, and its templates cannot be searched with the default pack', async () => {
    const packDir = writeTestPack(tempDir('pack64'), { dim: 64, threshold: 0.97 });
    const pipeline = new FacePipeline({ packDir });
    disposers.push(() => pipeline.dispose());
    expect(pipeline.model.id).toBe('test-linear-64');
    expect(pipeline.embeddingSize).toBe(64);
    const root = tempDir('gallery64');
    const dataDir = openDataDir(root);
    const calibration = loadCalibration(join(packDir, 'calibration.json'));
    const gallery = new GalleryService({
      pipeline,
      store: dataDir.faceStore,
      feed: dataDir.faceStore,
      snapshots: dataDir.snapshots,
      config: { ...defaultGalleryConfig(calibration), variants: [] },
    });
    await gallery.open();
    for (const name of ['irene', 'joy']) {
      await gallery.createSubject(
        { id: name, name },
        { bytes: read(seedPhoto(name, 1)), source: `${name}.jpg` },
      );
    }
    const templates = await dataDir.faceStore.listTemplates();
    expect(templates.every((t) => t.embedding.length === 64 && t.model.id === 'test-linear-64')).toBe(true);
    const result = await gallery.identify(read(seedPhoto('joy', 1)), { source: 'test' });
    expect(result.model.id).toBe('test-linear-64');
    expect(result.faces[0]?.decision.kind).toBe('match');
    expect(result.faces[0]?.decision.subjectId).toBe('joy');
    expect(result.faces[0]?.decision.similarity).toBeGreaterThan(0.999);
    // The HTTP app reports the selected pack's identity, not the shipped one's.
    const app = createApp({ gallery, logger: { info() {}, warn() {}, error() {} } as never });
    const health = (await (await app.request('/health')).json()) as { model: { id: string } };
    expect(health.model.id).toBe('test-linear-64');
    const settings = (await (await app.request('/settings')).json()) as { model: { id: string } };
    expect(settings.model.id).toBe('test-linear-64');

    // The default pack refuses its calibration, and refuses to search the 64-d gallery.
    const shipped = new FacePipeline();
    disposers.push(() => shipped.dispose());
    expectFaceprintError(
      () =>
        new GalleryService({
          pipeline: shipped,
          store: dataDir.faceStore,
          feed: dataDir.faceStore,
          snapshots: dataDir.snapshots,
          config: defaultGalleryConfig(calibration),
        }),
      'MODEL_MISMATCH',
    );
    const other = new GalleryService({
      pipeline: shipped,
      store: dataDir.faceStore,
      feed: dataDir.faceStore,
      snapshots: dataDir.snapshots,
      config: defaultGalleryConfig(loadCalibration()),
    });
    await other.open();
    const refused = (await other
      .identify(read(seedPhoto('joy', 1)), { source: 'test' })
      .catch((e) => e)) as FaceprintError;
    expect(refused.code).toBe('INDEX_INCOMPATIBLE');
    expect(refused.message).toContain('model pack test-linear-64');
    expectOneSentence(refused.message);
  });

  /** The shipped pack and a 32-d test pack, and a data directory whose gallery enrolled `people` with the shipped one. */
  async function shippedGallery(name: string, people: readonly string[]) {
    const packDir = writeTestPack(tempDir(`${name}-pack`), { dim: 32, threshold: 0.97 });
    const shipped = new FacePipeline();
    const next = new FacePipeline({ packDir });
    disposers.push(
      () => shipped.dispose(),
      () => next.dispose(),
    );
    const dataDir = openDataDir(tempDir(name));
    const config = { ...defaultGalleryConfig(loadCalibration()), variants: [] };
    const old = new GalleryService({
      pipeline: shipped,
      store: dataDir.faceStore,
      feed: dataDir.faceStore,
      snapshots: dataDir.snapshots,
      photos: dataDir.photos,
      config,
    });
    await old.open();
    for (const person of people) {
      await old.createSubject(
        { id: person, name: person },
        { bytes: read(seedPhoto(person, 1)), source: `${person}.jpg` },
      );
    }
    return { packDir, shipped, next, dataDir, config, old };
  }

  it('reembed remakes each configured camera’s templates for the new pack once the gallery is complete', async () => {
    const { shipped, next, dataDir, config } = await shippedGallery('reembed-cameras', ['irene', 'joy']);
    const store = new SqliteCameraStore(dataDir.faceStore.db);
    const camerasOn = (pipeline: FacePipeline) =>
      new CameraGallery({ store, pipeline, analyze: config.analyze, photos: dataDir.photos });
    const night = { faceBrightness: 30, noise: 4, blur: 1, jpegQuality: 25, interOcularPx: 20 };
    expect((await camerasOn(shipped).add('door', night, { method: 'user' })).backfill.made).toBe(2);

    const deps = {
      pipeline: next,
      store: dataDir.faceStore,
      photos: dataDir.photos,
      snapshots: dataDir.snapshots,
      config,
      cameras: camerasOn(next),
    };
    const ticks: string[] = [];
    const result = await reembedGallery({
      ...deps,
      cameraProgress: (camera) => (done, total) => ticks.push(`${camera} ${done}/${total}`),
    });
    expect(result.complete).toBe(true);
    // The shipped pack's two camera templates go once the new ones are made: they are never searched again.
    expect(result.cameras).toEqual([
      { camera: 'door', photos: 2, made: 2, skipped: 0, failed: [], removed: 2 },
    ]);
    expect(ticks).toEqual(['door 0/2', 'door 1/2', 'door 2/2']);
    const fresh = await store.listCameraTemplates('door', 'test-linear-32');
    expect(fresh.map((t) => t.subjectId).sort()).toEqual(['irene', 'joy']);
    expect(fresh.every((t) => t.embedding.length === 32)).toBe(true);
    expect(await store.listCameraTemplates('door')).toHaveLength(2);
    expect(await store.countCameraTemplates('door')).toBe(2);
    // The new pack's camera search now finds them; a second run makes nothing twice.
    const probe = fresh.find((t) => t.subjectId === 'joy')!.embedding;
    const hits = await camerasOn(next).search('door', probe, 1, config.fusion);
    expect(hits.candidates[0]?.subjectId).toBe('joy');
    const again = await reembedGallery(deps);
    expect(again.cameras).toEqual([
      { camera: 'door', photos: 2, made: 0, skipped: 2, failed: [], removed: 0 },
    ]);
  });

  it('reembed survives being killed halfway and finishes without duplicates, keeping the old templates until then', async () => {
    const people = ['irene', 'joy', 'wendy'];
    const { packDir, next, dataDir, config, old } = await shippedGallery('reembed', people);
    expect(await dataDir.photos.list()).toHaveLength(3);
    const deps = {
      pipeline: next,
      store: dataDir.faceStore,
      feed: dataDir.faceStore,
      photos: dataDir.photos,
      snapshots: dataDir.snapshots,
      config,
    };
    // A crash after the first subject (the progress callback throws, as a kill would stop the loop there).
    const killed = await reembedGallery({
      ...deps,
      onProgress: (done) => {
        if (done === 1) throw new Error('killed');
      },
    }).catch((e) => e);
    expect((killed as Error).message).toBe('killed');
    const half = await dataDir.faceStore.listTemplates();
    expect(half.filter((t) => t.model.id === 'test-linear-32')).toHaveLength(1);
    expect(half.filter((t) => t.model.id === 'mobilefacenet-512')).toHaveLength(3);
    // The old pack still serves every subject meanwhile; the new one refuses the half-converted gallery.
    await old.open();
    const probe = await old.identify(read(seedPhoto('joy', 1)), { source: 'test' });
    expect(probe.faces[0]?.decision.subjectId).toBe('joy');
    const early = new GalleryService({
      pipeline: next,
      store: dataDir.faceStore,
      feed: dataDir.faceStore,
      snapshots: dataDir.snapshots,
      config: defaultGalleryConfig(loadCalibration(join(packDir, 'calibration.json'))),
    });
    await early.open();
    expect(
      ((await early.identify(read(seedPhoto('joy', 1)), { source: 't' }).catch((e) => e)) as FaceprintError)
        .code,
    ).toBe('INDEX_INCOMPATIBLE');

    const progress: number[] = [];
    const finished = await reembedGallery({ ...deps, onProgress: (done) => progress.push(done) });
    expect(progress).toEqual([1, 2, 3]);
    expect(finished).toMatchObject({
      subjects: 3,
      skipped: 1,
      reembedded: 2,
      complete: true,
      removed: 3,
      templates: 3,
    });
    const after = await dataDir.faceStore.listTemplates();
    expect(after).toHaveLength(3);
    expect(new Set(after.map((t) => t.subjectId))).toEqual(new Set(people));
    expect(after.every((t) => t.model.id === 'test-linear-32')).toBe(true);
    await early.open();
    const found = await early.identify(read(seedPhoto('wendy', 1)), { source: 't' });
    expect(found.faces[0]?.decision).toMatchObject({ kind: 'match', subjectId: 'wendy' });
  });
});
