import { describe, expect, it } from 'vitest';
import type { TemplateVariant } from '../../functions/core/domain.ts';
import { TEMPLATE_VARIANTS } from '../../functions/core/domain.ts';
import { FaceprintError } from '../../functions/core/errors.ts';
import {
  assertCompatible,
  buildMerged,
  crc32,
  crc32Js,
  decodeSnapshot,
  encodeSnapshot,
  inspectSnapshot,
  mergeSnapshots,
  type SnapshotHeader,
  shardOf,
} from '../../functions/core/search/snapshot.ts';
import { VectorIndex } from '../../functions/core/search/vector-index.ts';
import { expectFaceprintError } from '../support/errors.ts';
import { randomUnit, rng } from '../support/random.ts';

const CREATED = '2025-01-02T03:04:05.000Z';

function buildIndex(subjects = 12, perSubject = 3, dim = 32, seed = 1): VectorIndex {
  const next = rng(seed);
  const index = new VectorIndex({ modelId: 'arcface-r100@1', dim });
  const entries = [];
  for (let s = 0; s < subjects; s++) {
    for (let t = 0; t < perSubject; t++) {
      entries.push({
        templateId: `tpl-${s}-${t}`,
        subjectId: `subject-${s}`,
        variant: TEMPLATE_VARIANTS[t % TEMPLATE_VARIANTS.length] as TemplateVariant,
        vector: randomUnit(dim, next),
      });
    }
  }
  index.add(entries);
  return index;
}

const expectCode = expectFaceprintError;

/** Splits a snapshot into its header (parsed) and payload. */
function split(bytes: Uint8Array): { header: SnapshotHeader; payload: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + length))) as SnapshotHeader;
  const offset = 16 + length + ((4 - (length % 4)) % 4);
  return { header, payload: bytes.slice(offset) };
}

/** Re-assembles a snapshot with valid checksums around an edited header and/or payload. */
function assemble(header: SnapshotHeader, payload: Uint8Array, fixPayloadCrc = true): Uint8Array {
  const h = { ...header, payloadCrc32: fixPayloadCrc ? crc32(payload) : header.payloadCrc32 };
  const json = new TextEncoder().encode(JSON.stringify(h));
  const offset = 16 + json.length + ((4 - (json.length % 4)) % 4);
  const bytes = new Uint8Array(offset + payload.length);
  const view = new DataView(bytes.buffer);
  bytes.set([0x46, 0x50, 0x49, 0x44, 0x58, 0x00]);
  view.setUint16(6, 1, true);
  view.setUint32(8, json.length, true);
  view.setUint32(12, crc32(json), true);
  bytes.set(json, 16);
  bytes.set(payload, offset);
  return bytes;
}

function entriesOf(index: VectorIndex) {
  return [...index.entries()].map((e) => ({ ...e, vector: Array.from(e.vector) }));
}

describe('crc32', () => {
  it('matches the standard check value and zlib', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const bytes = new Uint8Array(768).map((_, i) => i % 256);
    expect(crc32(bytes)).toBe(0xb0c0df2a);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('gives the same answer for any alignment and length as a bit-by-bit reference', () => {
    const reference = (bytes: Uint8Array) => {
      let crc = 0xffffffff;
      for (const byte of bytes) {
        crc ^= byte;
        for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
      }
      return (crc ^ 0xffffffff) >>> 0;
    };
    const next = rng(42);
    const data = Uint8Array.from({ length: 101 }, () => Math.floor(next() * 256));
    for (let start = 0; start < 5; start++) {
      for (const length of [0, 1, 3, 7, 8, 9, 16, 33, 95]) {
        const view = data.subarray(start, start + length);
        expect(crc32(view), `${start}+${length}`).toBe(reference(view));
        expect(crc32Js(view), `JavaScript ${start}+${length}`).toBe(reference(view));
      }
    }
  });
});

describe('shardOf', () => {
  it('is FNV-1a of the UTF-8 id modulo the shard count', () => {
    expect(shardOf('', 1000)).toBe(0x811c9dc5 % 1000);
    expect(shardOf('a', 1000)).toBe(220);
    expect(shardOf('foobar', 1000)).toBe(720);
    expect(shardOf('Zoë', 7)).toBe(3);
    expect(shardOf('anything', 1)).toBe(0);
  });

  it('rejects a bad shard count', () => {
    expectCode(() => shardOf('a', 0), 'INVALID_ARGUMENT');
    expectCode(() => shardOf('a', 1.5), 'INVALID_ARGUMENT');
  });
});

describe('snapshot encode/decode', () => {
  it('writes the documented layout', () => {
    const index = buildIndex(3, 2, 16);
    const bytes = encodeSnapshot(index, { createdAt: CREATED });
    expect(Array.from(bytes.subarray(0, 6))).toEqual([0x46, 0x50, 0x49, 0x44, 0x58, 0x00]);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint16(6, true)).toBe(1);
    const headerLength = view.getUint32(8, true);
    expect(view.getUint32(12, true)).toBe(crc32(bytes.subarray(16, 16 + headerLength)));
    const { header, payload } = split(bytes);
    expect(header).toMatchObject({
      modelId: 'arcface-r100@1',
      dim: 16,
      count: 6,
      dtype: 'float32',
      createdAt: CREATED,
      shard: null,
      subjects: ['subject-0', 'subject-1', 'subject-2'],
      subjectOrdinals: [0, 0, 1, 1, 2, 2],
      variants: ['original', 'dark', 'original', 'dark', 'original', 'dark'],
      payloadBytes: 6 * 16 * 4,
    });
    expect(payload.length).toBe(6 * 16 * 4);
    expect((bytes.length - payload.length) % 4).toBe(0);
    expect(header.payloadCrc32).toBe(crc32(payload));
    const firstRow = new Float32Array(payload.slice(0, 64).buffer);
    expect(Array.from(firstRow)).toEqual(Array.from([...index.entries()][0]?.vector ?? []));
  });

  it('round-trips float32 exactly', () => {
    const index = buildIndex();
    const decoded = decodeSnapshot(encodeSnapshot(index, { createdAt: CREATED }));
    expect(decoded.modelId).toBe(index.modelId);
    expect(decoded.dim).toBe(index.dim);
    expect(decoded.size).toBe(index.size);
    expect(decoded.subjectCount).toBe(index.subjectCount);
    expect(entriesOf(decoded)).toEqual(entriesOf(index));
    const query = randomUnit(32, rng(9));
    expect(decoded.search(query, { k: 5 })).toEqual(index.search(query, { k: 5 }));
  });

  it('decodes from an unaligned view of a larger buffer', () => {
    const bytes = encodeSnapshot(buildIndex(), { createdAt: CREATED });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 1);
    const decoded = decodeSnapshot(shifted.subarray(1, 1 + bytes.length));
    expect(entriesOf(decoded)).toEqual(entriesOf(buildIndex()));
  });

  it('round-trips an empty index', () => {
    const empty = new VectorIndex({ modelId: 'm', dim: 8 });
    const decoded = decodeSnapshot(encodeSnapshot(empty));
    expect(decoded.size).toBe(0);
    expect(decoded.dim).toBe(8);
    expect(decoded.modelId).toBe('m');
  });

  it('round-trips int8 at about a quarter of the size with small cosine error', () => {
    const index = buildIndex(40, 3, 512, 3);
    const f32 = encodeSnapshot(index, { createdAt: CREATED });
    const i8 = encodeSnapshot(index, { createdAt: CREATED, dtype: 'int8' });
    expect(inspectSnapshot(i8).dtype).toBe('int8');
    const vectorBytes = index.size * 512;
    expect(split(f32).payload.length).toBe(vectorBytes * 4);
    expect(split(i8).payload.length).toBe(vectorBytes + index.size * 4);
    expect(i8.length / f32.length).toBeLessThan(0.3);
    const decoded = decodeSnapshot(i8);
    const original = [...index.entries()];
    for (const [n, e] of [...decoded.entries()].entries()) {
      const o = original[n];
      expect(e.templateId).toBe(o?.templateId);
      let dot = 0;
      for (let j = 0; j < 512; j++) dot += (e.vector[j] as number) * (o?.vector[j] as number);
      expect(dot).toBeGreaterThan(0.999);
      expect(Math.hypot(...e.vector)).toBeCloseTo(1, 5);
    }
    const query = original[7]?.vector as Float32Array;
    expect(decoded.search(query, { k: 1 })[0]?.templateId).toBe(original[7]?.templateId);
  });

  it('reports the header without decoding the vectors', () => {
    const bytes = encodeSnapshot(buildIndex(), { createdAt: CREATED, shard: { index: 1, count: 3 } });
    const info = inspectSnapshot(bytes);
    expect(info).toMatchObject({
      version: 1,
      modelId: 'arcface-r100@1',
      dim: 32,
      dtype: 'float32',
      createdAt: CREATED,
      shard: { index: 1, count: 3 },
      byteLength: bytes.length,
    });
    const expectedSubjects = [...Array(12).keys()].filter((s) => shardOf(`subject-${s}`, 3) === 1).length;
    expect(info.subjectCount).toBe(expectedSubjects);
    expect(info.count).toBe(expectedSubjects * 3);
  });

  it('rejects bad encode options', () => {
    const index = buildIndex();
    expectCode(() => encodeSnapshot(index, { shard: { index: 3, count: 3 } }), 'INVALID_ARGUMENT');
    expectCode(() => encodeSnapshot(index, { createdAt: 'yesterday' }), 'INVALID_ARGUMENT');
    expectCode(() => encodeSnapshot(index, { dtype: 'float16' as 'int8' }), 'INVALID_ARGUMENT');
  });
});

describe('snapshot validation', () => {
  const good = encodeSnapshot(buildIndex(), { createdAt: CREATED });

  it('rejects bad magic, truncation, trailing bytes and flipped bits as INDEX_CORRUPT', () => {
    const badMagic = good.slice();
    badMagic[0] = 0x47;
    expect(expectCode(() => decodeSnapshot(badMagic), 'INDEX_CORRUPT').message).toMatch(/magic/);
    expectCode(() => decodeSnapshot(good.subarray(0, 10)), 'INDEX_CORRUPT');
    expectCode(() => decodeSnapshot(good.subarray(0, 40)), 'INDEX_CORRUPT');
    expect(
      expectCode(() => decodeSnapshot(good.subarray(0, good.length - 1)), 'INDEX_CORRUPT').message,
    ).toMatch(/truncated/);
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expectCode(() => decodeSnapshot(longer), 'INDEX_CORRUPT');
    const flippedVector = good.slice();
    flippedVector[good.length - 5] = (flippedVector[good.length - 5] as number) ^ 0x01;
    expect(expectCode(() => decodeSnapshot(flippedVector), 'INDEX_CORRUPT').message).toMatch(/checksum/);
    const flippedHeader = good.slice();
    flippedHeader[30] = (flippedHeader[30] as number) ^ 0x20;
    expect(expectCode(() => decodeSnapshot(flippedHeader), 'INDEX_CORRUPT').message).toMatch(
      /header checksum/,
    );
    expectCode(() => decodeSnapshot(new Uint8Array(0)), 'INDEX_CORRUPT');
  });

  it('rejects an unknown format version as INDEX_INCOMPATIBLE', () => {
    const future = good.slice();
    new DataView(future.buffer).setUint16(6, 2, true);
    const error = expectCode(() => decodeSnapshot(future), 'INDEX_INCOMPATIBLE');
    expect(error.message).toMatch(/version 2/);
    expectCode(() => inspectSnapshot(future), 'INDEX_INCOMPATIBLE');
  });

  it('rejects inconsistent headers as INDEX_CORRUPT even with valid checksums', () => {
    const { header, payload } = split(good);
    // Sanity: re-assembling unchanged parts gives a valid snapshot.
    expect(decodeSnapshot(assemble(header, payload)).size).toBe(header.count);
    const nanPayload = payload.slice();
    new DataView(nanPayload.buffer).setFloat32(8, Number.NaN, true);
    const cases: [string, SnapshotHeader, Uint8Array][] = [
      ['count', { ...header, count: header.count + 1 }, payload],
      ['templateIds', { ...header, templateIds: header.templateIds.slice(1) }, payload],
      [
        'ordinal',
        { ...header, subjectOrdinals: header.subjectOrdinals.map((o, n) => (n === 0 ? 99 : o)) },
        payload,
      ],
      [
        'duplicate',
        { ...header, templateIds: header.templateIds.map((t, n) => (n === 1 ? 'tpl-0-0' : t)) },
        payload,
      ],
      [
        'variant',
        { ...header, variants: header.variants.map((v, n) => (n === 2 ? 'sepia' : v)) as TemplateVariant[] },
        payload,
      ],
      ['empty subject', { ...header, subjects: [...header.subjects, 'ghost'] }, payload],
      [
        'duplicate subject',
        { ...header, subjects: header.subjects.map((s, n) => (n === 1 ? 'subject-0' : s)) },
        payload,
      ],
      ['payloadBytes', { ...header, payloadBytes: header.payloadBytes - 4 }, payload.subarray(4)],
      ['dtype', { ...header, dtype: 'float64' as 'float32' }, payload],
      ['dim', { ...header, dim: 0 }, payload],
      ['missing modelId', { ...header, modelId: '' }, payload],
      ['shard', { ...header, shard: { index: 0, count: 5 } }, payload],
      ['shard range', { ...header, shard: { index: 5, count: 5 } }, payload],
      ['non-finite vector', header, nanPayload],
      ['templateIds not an array', { ...header, templateIds: 'tpl-0-0' as unknown as string[] }, payload],
      ['variants not an array', { ...header, variants: {} as unknown as TemplateVariant[] }, payload],
    ];
    for (const [what, h, p] of cases) {
      expect(() => decodeSnapshot(assemble(h, p)), what).toThrow(FaceprintError);
      expectCode(() => decodeSnapshot(assemble(h, p)), 'INDEX_CORRUPT');
    }
    expectCode(() => decodeSnapshot(assemble(header, nanPayload, false)), 'INDEX_CORRUPT');
  });

  it('rejects a header that is not JSON', () => {
    const json = new TextEncoder().encode('{not json');
    const bytes = new Uint8Array(16 + 12);
    bytes.set([0x46, 0x50, 0x49, 0x44, 0x58, 0x00]);
    const view = new DataView(bytes.buffer);
    view.setUint16(6, 1, true);
    view.setUint32(8, json.length, true);
    view.setUint32(12, crc32(json), true);
    bytes.set(json, 16);
    expect(expectCode(() => decodeSnapshot(bytes), 'INDEX_CORRUPT').message).toMatch(/JSON/);
  });
});

describe('assertCompatible', () => {
  it('passes for the same model and dimension and names both models otherwise', () => {
    const index = buildIndex();
    expect(() => assertCompatible(index, { modelId: 'arcface-r100@1', dim: 32 })).not.toThrow();
    const error = expectCode(
      () => assertCompatible(index, { modelId: 'mobilefacenet@2', dim: 32 }),
      'INDEX_INCOMPATIBLE',
    );
    expect(error.message).toContain('arcface-r100@1');
    expect(error.message).toContain('mobilefacenet@2');
    expectCode(() => assertCompatible(index, { modelId: 'arcface-r100@1', dim: 512 }), 'INDEX_INCOMPATIBLE');
  });
});

describe('shards', () => {
  it('splits by subject and merges back to the same index', () => {
    const index = buildIndex(30, 4, 32, 5);
    const count = 4;
    const shards = Array.from({ length: count }, (_, i) =>
      encodeSnapshot(index, { createdAt: CREATED, shard: { index: i, count } }),
    );
    const decoded = shards.map((bytes) => decodeSnapshot(bytes));
    expect(decoded.reduce((sum, shard) => sum + shard.size, 0)).toBe(index.size);
    for (const [i, shard] of decoded.entries()) {
      expect(inspectSnapshot(shards[i] as Uint8Array).shard).toEqual({ index: i, count });
      for (const subjectId of shard.subjectIds()) expect(shardOf(subjectId, count)).toBe(i);
      // A subject's templates are all in its shard.
      for (const e of shard.entries())
        expect(e.templateId.startsWith(`tpl-${e.subjectId.slice(8)}-`)).toBe(true);
    }
    expect(decoded.filter((shard) => shard.size > 0).length).toBeGreaterThan(1);
    const merged = mergeSnapshots(decoded);
    const sortById = (entries: ReturnType<typeof entriesOf>) =>
      [...entries].sort((a, b) => (a.templateId < b.templateId ? -1 : 1));
    expect(sortById(entriesOf(merged))).toEqual(sortById(entriesOf(index)));
    const query = randomUnit(32, rng(77));
    expect(merged.search(query, { k: 7 })).toEqual(index.search(query, { k: 7 }));
  });

  it('decodes int8 shards straight into one index, equal to the decoded single snapshot', () => {
    const index = buildIndex(30, 4, 32, 6);
    const count = 4;
    const shards = Array.from({ length: count }, (_, i) =>
      encodeSnapshot(index, { createdAt: CREATED, shard: { index: i, count }, dtype: 'int8' }),
    );
    const merged = buildMerged(shards);
    const single = decodeSnapshot(encodeSnapshot(index, { createdAt: CREATED, dtype: 'int8' }));
    const byId = (i: VectorIndex) =>
      new Map([...i.entries()].map((e) => [e.templateId, { subjectId: e.subjectId, vector: [...e.vector] }]));
    expect(byId(merged)).toEqual(byId(single));
    // Each row is its int8 codes over their norm (the scale cancels out), so unit length.
    for (const e of merged.entries()) {
      const norm = Math.hypot(...e.vector);
      expect(Math.abs(norm - 1)).toBeLessThan(1e-5);
    }
    // A bad scale or an all-zero row in any shard refuses the whole set.
    const { header, payload } = split(shards.find((b) => inspectSnapshot(b).count > 0) as Uint8Array);
    const badScale = payload.slice();
    new DataView(badScale.buffer).setFloat32(0, -1, true);
    const zeroRow = payload.slice();
    zeroRow.fill(0, header.count * 4, header.count * 4 + header.dim);
    for (const bad of [badScale, zeroRow]) {
      const others = shards.filter((b) => inspectSnapshot(b).shard?.index !== header.shard?.index);
      expectCode(() => buildMerged([...others, assemble(header, bad)]), 'INDEX_CORRUPT');
    }
  });

  it('decodes int8 rows of a dimension that is not a multiple of four', () => {
    const index = buildIndex(6, 2, 7, 9);
    const decoded = decodeSnapshot(encodeSnapshot(index, { createdAt: CREATED, dtype: 'int8' }));
    const original = new Map([...index.entries()].map((e) => [e.templateId, e.vector]));
    for (const e of decoded.entries()) {
      const source = original.get(e.templateId) as Float32Array;
      let dot = 0;
      for (let j = 0; j < 7; j++) dot += (e.vector[j] as number) * (source[j] as number);
      expect(Math.abs(Math.hypot(...e.vector) - 1)).toBeLessThan(1e-5);
      expect(dot).toBeGreaterThan(0.999);
    }
  });

  it('re-encodes a decoded int8 snapshot to the same codes (the indexer republishes untouched rows)', () => {
    const once = encodeSnapshot(buildIndex(20, 3, 32, 8), { createdAt: CREATED, dtype: 'int8' });
    const twice = encodeSnapshot(decodeSnapshot(once), { createdAt: CREATED, dtype: 'int8' });
    const a = split(once);
    const b = split(twice);
    const codes = (part: { header: SnapshotHeader; payload: Uint8Array }) =>
      part.payload.subarray(part.header.count * 4);
    expect(codes(b)).toEqual(codes(a));
  });

  it('widens int8 rows with the SIMD kernel as the JavaScript path does, in one snapshot and across shards', () => {
    const index = buildIndex(30, 3, 512, 11);
    const i8 = encodeSnapshot(index, { createdAt: CREATED, dtype: 'int8' });
    const plain = new Map([...decodeSnapshot(i8, { simd: false }).entries()].map((e) => [e.templateId, e]));
    const fast = decodeSnapshot(i8);
    expect(fast.kernel).toBe('wasm-simd');
    const shards = Array.from({ length: 4 }, (_, i) =>
      encodeSnapshot(index, { createdAt: CREATED, dtype: 'int8', shard: { index: i, count: 4 } }),
    );
    const merged = buildMerged(shards);
    for (const decoded of [fast, merged]) {
      expect(decoded.size).toBe(index.size);
      for (const e of decoded.entries()) {
        const reference = plain.get(e.templateId)?.vector as Float32Array;
        let worst = 0;
        for (let j = 0; j < 512; j++)
          worst = Math.max(worst, Math.abs((e.vector[j] as number) - (reference[j] as number)));
        // The kernel rounds 1/‖q‖ to float32 before the product: at most an ulp or so of each component.
        expect(worst).toBeLessThan(1e-7);
      }
    }
  });

  it('names an all-zero int8 row as corrupt on both paths', () => {
    const { header, payload } = split(
      encodeSnapshot(buildIndex(4, 3, 512, 12), { createdAt: CREATED, dtype: 'int8' }),
    );
    const codes = payload.subarray(header.count * 4);
    codes.fill(0, 5 * 512, 6 * 512);
    const bytes = assemble(header, payload);
    for (const simd of [true, false]) {
      const error = expectCode(() => decodeSnapshot(bytes, { simd }), 'INDEX_CORRUPT');
      expect(error.message).toContain('row 5 is all zeros');
    }
  });

  it('refuses to merge different models, overlapping shards or nothing', () => {
    const a = buildIndex();
    const other = new VectorIndex({ modelId: 'other', dim: 32 });
    const error = expectCode(() => mergeSnapshots([a, other]), 'INDEX_INCOMPATIBLE');
    expect(error.message).toContain('other');
    expectCode(() => mergeSnapshots([a, buildIndex()]), 'INDEX_CORRUPT');
    expectCode(() => mergeSnapshots([]), 'INVALID_ARGUMENT');
  });
});
