/**
 * Issue 13, finding 5: configuration that makes no sense fails closed, with one sentence, in the server, the
 * CLI's loaders and the Lambda configuration: a key list that parses to nothing, an unreadable calibration file,
 * a models directory whose checksums do not match.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isFaceprintError } from '../../functions/core/errors.ts';
import { loadCalibration, SHIPPED_CALIBRATION_PATH } from '../../functions/core/gallery/config.ts';
import { verifyModelsDir } from '../../functions/core/pipeline/model-integrity.ts';
import { defaultModelsDir, OnnxBackend } from '../../functions/core/pipeline/models.ts';
import { ConfigError, readConfig } from '../../functions/handlers/aws/config.ts';
import { parseApiKeyList } from '../../functions/local/api-keys.ts';
import { startServer } from '../../functions/local/server.ts';

const scratch = mkdtempSync(join(tmpdir(), 'faceprint-failclosed-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

/** One sentence: a capital, a full stop at the end, no line break and no stack. */
function expectOneSentence(message: string): void {
  expect(message).toMatch(/^[A-Z`].*[.)]$/s);
  expect(message).not.toContain('\n');
}

/** The settings every Lambda function needs, for tests that vary one more. */
const LAMBDA_ENV = {
  FACEPRINT_BUCKET: 'faceprint-data',
  FACEPRINT_SUBJECTS_TABLE: 'subjects',
  FACEPRINT_TEMPLATES_TABLE: 'templates',
  FACEPRINT_DETECTIONS_TABLE: 'detections',
  FACEPRINT_IDEMPOTENCY_TABLE: 'idempotency',
  FACEPRINT_FOLLOW_UP_TABLE: 'follow-up',
  FACEPRINT_INDEX_PREFIX: 'index/',
};
describe('API keys', () => {
  it('refuses a key list that parses to nothing, or holds a blank key', () => {
    for (const raw of [' , ', ',', '   ', ' ,, ']) {
      const error = thrown(() => parseApiKeyList(raw));
      expect(isFaceprintError(error, 'INVALID_ARGUMENT')).toBe(true);
      expectOneSentence(error.message);
    }
    expect(() => parseApiKeyList('k1,,k2')).toThrow(/blank key/);
    expect(parseApiKeyList(undefined)).toEqual([]);
    expect(parseApiKeyList('')).toEqual([]);
    expect(parseApiKeyList(' k1 , k2')).toEqual(['k1', 'k2']);
  });

  it('the server refuses to start on FACEPRINT_API_KEYS=" , " (it used to start without authentication)', async () => {
    const dataDir = join(scratch, 'server');
    await expect(
      startServer({ port: 0, dataDir, env: { FACEPRINT_API_KEYS: ' , ' }, logger: quiet }),
    ).rejects.toThrow(/FACEPRINT_API_KEYS is set but holds no key/);
    await expect(startServer({ port: 0, dataDir, apiKeys: [' '], logger: quiet })).rejects.toThrow(
      /must not be blank/,
    );
  });
});

const quiet = { info: () => undefined, error: () => undefined };

describe('calibration file', () => {
  it('refuses a missing, unreadable (a directory), non-JSON or empty-named file with one sentence', () => {
    const notJson = join(scratch, 'calibration.txt');
    writeFileSync(notJson, 'threshold = 0.5');
    const cases: [string, RegExp][] = [
      [join(scratch, 'absent.json'), /does not exist/],
      [scratch, /is a directory/],
      [notJson, /is not valid JSON/],
    ];
    for (const [path, why] of cases) {
      const error = thrown(() => loadCalibration(path));
      expect(isFaceprintError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect(error.message).toMatch(why);
      expectOneSentence(error.message);
    }
    const saved = process.env.FACEPRINT_CALIBRATION;
    process.env.FACEPRINT_CALIBRATION = ' ';
    try {
      expect(() => loadCalibration()).toThrow(/FACEPRINT_CALIBRATION is set but empty/);
    } finally {
      if (saved === undefined) delete process.env.FACEPRINT_CALIBRATION;
      else process.env.FACEPRINT_CALIBRATION = saved;
    }
    expect(loadCalibration(SHIPPED_CALIBRATION_PATH).threshold).toBeGreaterThan(0);
  });
});

describe('models directory', () => {
  // A copy of the real models directory with one byte of one model changed (the originals are never touched).
  const altered = join(scratch, 'models');
  mkdirSync(altered, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(defaultModelsDir(), 'manifest.json'), 'utf8')) as {
    models: Record<string, { file: string }>;
  };
  for (const { file } of Object.values(manifest.models)) {
    copyFileSync(join(defaultModelsDir(), file), join(altered, file));
  }
  copyFileSync(join(defaultModelsDir(), 'manifest.json'), join(altered, 'manifest.json'));
  const victim = join(altered, manifest.models['pfld-68']!.file);
  const bytes = readFileSync(victim);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1]! + 1) % 256;
  writeFileSync(victim, bytes);

  it('the shipped directory passes', () => {
    expect(() => verifyModelsDir(defaultModelsDir())).not.toThrow();
  });

  it('the pipeline (CLI and server) refuses to load a model whose checksum does not match', () => {
    const error = thrown(() => new OnnxBackend({ modelsDir: altered }));
    expect(isFaceprintError(error, 'MODEL_MISMATCH')).toBe(true);
    expect(error.message).toContain('pfld-68');
    expectOneSentence(error.message);
  });

  it('the Lambda configuration refuses to cold-start on it', () => {
    const env = {
      ...LAMBDA_ENV,
      FACEPRINT_API_KEYS_REQUIRED: 'true',
    };
    expect(readConfig('api', env).role).toBe('api');
    // The follow-up's configuration fails closed at cold start too, as it does in local mode.
    expect(() => readConfig('api', { ...env, FACEPRINT_REVIEW: 'sometimes' })).toThrow(/FACEPRINT_REVIEW/);
    expect(() => readConfig('api', { ...env, FACEPRINT_UNKNOWN_RETENTION_DAYS: '-1' })).toThrow(
      /FACEPRINT_UNKNOWN_RETENTION_DAYS/,
    );
    expect(() => readConfig('api', { ...env, FACEPRINT_FOLLOW_UP_TABLE: undefined })).toThrow(
      /FACEPRINT_FOLLOW_UP_TABLE/,
    );
    // The indexer's shard count: 16 unless set, and a count that makes no sense refuses to start.
    expect(readConfig('api', env).indexShards).toBe(16);
    expect(readConfig('api', { ...env, FACEPRINT_INDEX_SHARDS: '4' }).indexShards).toBe(4);
    expect(readConfig('api', env).indexDtype).toBe('int8');
    expect(readConfig('api', { ...env, FACEPRINT_INDEX_DTYPE: 'float32' }).indexDtype).toBe('float32');
    expect(() => readConfig('api', { ...env, FACEPRINT_INDEX_DTYPE: 'float16' })).toThrow(
      /FACEPRINT_INDEX_DTYPE/,
    );
    for (const bad of ['0', '2.5', 'many', '257']) {
      expect(() => readConfig('api', { ...env, FACEPRINT_INDEX_SHARDS: bad }), bad).toThrow(
        /FACEPRINT_INDEX_SHARDS/,
      );
    }
    const error = thrown(() => readConfig('api', { ...env, FACEPRINT_MODELS_DIR: altered }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/does not match the checksum/);
    expect(() => readConfig('api', { ...env, FACEPRINT_MODELS_DIR: join(scratch, 'none') })).toThrow(
      /No model manifest/,
    );
  });
});

describe('Batch feed queue URL', () => {
  const env = {
    ...LAMBDA_ENV,
    FACEPRINT_EVENT_BUS: 'faceprint-events',
  };

  it('is optional (no Batch: videos are refused) and read into the configuration when it is a queue URL', () => {
    expect(readConfig('ingest', env).batchFeedQueueUrl).toBeUndefined();
    const url = 'https://sqs.eu-west-1.amazonaws.com/123456789012/faceprint-batch-feed';
    expect(readConfig('ingest', { ...env, FACEPRINT_BATCH_FEED_QUEUE_URL: url }).batchFeedQueueUrl).toBe(url);
    // An emulator on the loopback (the integration tests).
    const local = 'http://127.0.0.1:9324/000000000000/faceprint-batch-feed';
    expect(readConfig('ingest', { ...env, FACEPRINT_BATCH_FEED_QUEUE_URL: local }).batchFeedQueueUrl).toBe(
      local,
    );
  });

  it('refuses to cold-start on a value that is not a queue URL, naming the variable', () => {
    for (const bad of [
      '',
      'faceprint-batch-feed',
      'arn:aws:sqs:eu-west-1:123456789012:faceprint-batch-feed',
      'http://sqs.eu-west-1.amazonaws.com/123456789012/faceprint-batch-feed',
      'https://sqs.eu-west-1.amazonaws.com/faceprint-batch-feed',
      'https://sqs.eu-west-1.amazonaws.com/123456789012/faceprint batch feed',
    ]) {
      const error = thrown(() => readConfig('ingest', { ...env, FACEPRINT_BATCH_FEED_QUEUE_URL: bad }));
      expect(error, bad).toBeInstanceOf(ConfigError);
      expect(error.message).toContain('FACEPRINT_BATCH_FEED_QUEUE_URL: must be an SQS queue URL');
      expectOneSentence(error.message);
    }
  });
});
