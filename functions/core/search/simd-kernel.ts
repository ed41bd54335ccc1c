/**
 * The kernels of the exact search: a tiny hand-assembled WebAssembly SIMD module (about ten times faster than
 * scalar JavaScript in V8), compiled once per process. Hand-assembled because no npm package ships a float32
 * dot-product kernel that runs in-process without native code; the module is under 500 bytes. Two exports: `dots`
 * (the search) and `unitFromInt8` (a cold start's int8 snapshot rows into unit float32 rows).
 */

/** Bytes in one WebAssembly memory page. */
export const WASM_PAGE = 65_536;
/** The kernel consumes this many floats per step: it runs only where `dim` is a multiple of it. */
export const FLOATS_PER_SIMD_STEP = 16;

/**
 * Builds the WebAssembly module. Its first export, `dots(vec, q, rows, dim, out)`: for each of `rows`
 * consecutive rows of `dim` float32 at byte offset `vec`, stores the row's dot product with the `dim`
 * float32 at `q` as float32 at `out`, `out + 4`, …. `dim` must be a positive multiple of 16: the inner loop
 * consumes 16 floats per step into four f32x4 accumulators. The equivalent text format:
 *
 * ```wat
 * (func (export "dots") (param $v i32) (param $q0 i32) (param $rows i32) (param $dim i32) (param $out i32)
 *   (local $q i32) (local $end i32) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
 *   (block $exit (br_if $exit (i32.eqz (local.get $rows)))
 *     (loop $row
 *       ;; a0..a3 = 0; q = q0; end = v + dim * 4
 *       (loop $step  ;; aN += load(v + 16N) * load(q + 16N); v += 64; q += 64; continue while v < end
 *       )
 *       (f32.store (local.get $out) (sum of the 16 lanes of a0 + a1 + a2 + a3))
 *       ;; out += 4; rows -= 1; continue while rows != 0
 *     )))
 * ```
 *
 * Its second export, `unitFromInt8(src, dst, rows, dim) → i32`: for each of `rows` consecutive rows of `dim` int8
 * at byte offset `src`, writes the row divided by its norm as `dim` float32 at `dst` (rows follow each other in
 * both); answers the first all-zero row (left unwritten, with every later row), or -1. ‖q‖² is summed exactly in
 * i32 lanes (`i32x4.dot_i16x8_s`); 1/‖q‖ in f64, rounded once to f32. `dst` may start `3 × rows × dim` bytes
 * before `src` (the int8 rows copied into the last quarter of their own float32 rows): each 16 int8 are read
 * before the 64 bytes they become are written, and those never reach an unread byte.
 *
 * ```wat
 * (func (export "unitFromInt8") (param $src i32) (param $dst i32) (param $rows i32) (param $dim i32) (result i32)
 *   (local $row i32) (local $p i32) (local $end i32) (local $sum i32)
 *   (local $acc v128) (local $x v128) (local $w v128) (local $scale v128)
 *   (block $done (loop $next
 *     (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
 *     ;; acc = 0; p = src; end = src + dim
 *     (loop $square  ;; w = widen(load(p)) low, then high half; acc += dot_i16x8_s(w, w); p += 16 while p < end
 *     )
 *     (local.set $sum (sum of acc's four i32 lanes))
 *     (if (i32.eqz (local.get $sum)) (then (return (local.get $row))))
 *     (local.set $scale (f32x4.splat (f32.demote_f64 (f64.div (f64.const 1) (f64.sqrt (f64.convert_i32_s $sum))))))
 *     (loop $write  ;; per 16 int8 at p: four f32x4 of convert(widen(widen(x))) × scale at dst .. dst + 48
 *     )
 *     ;; src = end; row += 1
 *     (br $next)))
 *   (i32.const -1))
 * ```
 */
function buildDotsModule(): Uint8Array {
  const uleb = (value: number): number[] => {
    const out: number[] = [];
    let n = value >>> 0;
    do {
      let byte = n & 0x7f;
      n >>>= 7;
      if (n !== 0) byte |= 0x80;
      out.push(byte);
    } while (n !== 0);
    return out;
  };
  // Only small non-negative i32 constants occur, which need no sign handling beyond bit 6.
  const i32Const = (value: number): number[] =>
    value < 64 ? [0x41, value] : [0x41, (value & 0x7f) | 0x80, value >> 7];
  const name = (text: string): number[] => [
    ...uleb(text.length),
    ...Array.from(text, (c) => c.charCodeAt(0)),
  ];
  const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
  const get = (local: number) => [0x20, local];
  const set = (local: number) => [0x21, local];
  const tee = (local: number) => [0x22, local];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const v128Load = (offset: number) => [...simd(0x00), 4, ...uleb(offset)];
  const v128Zero = [...simd(0x0c), ...new Array<number>(16).fill(0)];
  const f32x4Add = simd(0xe4);
  const f32x4Mul = simd(0xe6);
  const lane = (i: number) => [...simd(0x1f), i];
  const i32Lane = (i: number) => [...simd(0x1b), i];
  const v128Store = (offset: number) => [...simd(0x0b), 4, ...uleb(offset)];
  const i16x8WidenLow = simd(0x87);
  const i16x8WidenHigh = simd(0x88);
  const i32x4WidenLow = simd(0xa7);
  const i32x4WidenHigh = simd(0xa8);
  const i32x4Add = simd(0xae);
  const i32x4Dot = simd(0xba);
  const f32x4FromI32x4 = simd(0xfa);
  const f32x4Splat = simd(0x13);
  const [V, Q0, ROWS, DIM, OUT, Q, END, A0] = [0, 1, 2, 3, 4, 5, 6, 7] as const;
  const accumulate = (i: number) => [
    ...get(A0 + i),
    ...get(V),
    ...v128Load(16 * i),
    ...get(Q),
    ...v128Load(16 * i),
    ...f32x4Mul,
    ...f32x4Add,
    ...set(A0 + i),
  ];
  const body = [
    ...[2, 2, 0x7f, 4, 0x7b], // locals: 2 × i32, 4 × v128
    ...[0x02, 0x40], // block $exit
    ...[...get(ROWS), 0x45, 0x0d, 0], // br_if $exit (rows == 0)
    ...[0x03, 0x40], // loop $row
    ...[
      ...v128Zero,
      ...set(A0),
      ...v128Zero,
      ...set(A0 + 1),
      ...v128Zero,
      ...set(A0 + 2),
      ...v128Zero,
      ...set(A0 + 3),
    ],
    ...[...get(Q0), ...set(Q)],
    ...[...get(V), ...get(DIM), ...i32Const(4), 0x6c, 0x6a, ...set(END)],
    ...[0x03, 0x40], // loop $step
    ...[...accumulate(0), ...accumulate(1), ...accumulate(2), ...accumulate(3)],
    ...[...get(Q), ...i32Const(64), 0x6a, ...set(Q)],
    ...[...get(V), ...i32Const(64), 0x6a, ...tee(V), ...get(END), 0x49, 0x0d, 0], // br_if $step (v < end)
    0x0b,
    ...get(OUT),
    ...[...get(A0), ...get(A0 + 1), ...f32x4Add, ...get(A0 + 2), ...get(A0 + 3), ...f32x4Add, ...f32x4Add],
    ...[
      ...tee(A0),
      ...lane(0),
      ...get(A0),
      ...lane(1),
      0x92,
      ...get(A0),
      ...lane(2),
      0x92,
      ...get(A0),
      ...lane(3),
      0x92,
    ],
    ...[0x38, 2, 0], // f32.store
    ...[...get(OUT), ...i32Const(4), 0x6a, ...set(OUT)],
    ...[...get(ROWS), ...i32Const(1), 0x6b, ...tee(ROWS), 0x0d, 0], // br_if $row (rows != 0)
    0x0b,
    0x0b,
    0x0b,
  ];
  const unitBody = unitFromInt8Body({
    get,
    set,
    tee,
    i32Const,
    v128Load,
    v128Store,
    v128Zero,
    i32Lane,
    ops: {
      i16x8WidenLow,
      i16x8WidenHigh,
      i32x4WidenLow,
      i32x4WidenHigh,
      i32x4Add,
      i32x4Dot,
      f32x4FromI32x4,
      f32x4Splat,
      f32x4Mul,
    },
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    // Types: 0 = (i32 × 5) → (), 1 = (i32 × 4) → i32.
    ...section(1, [2, 0x60, 5, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f]),
    ...section(2, [1, ...name('e'), ...name('m'), 0x02, 0x00, 0x00]),
    ...section(3, [2, 0, 1]),
    ...section(7, [2, ...name('dots'), 0x00, 0, ...name('unitFromInt8'), 0x00, 1]),
    ...section(10, [2, ...uleb(body.length), ...body, ...uleb(unitBody.length), ...unitBody]),
  ]);
}

type Emit = (local: number) => number[];

/** The body of `unitFromInt8` (see {@link buildDotsModule}), from the module builder's encoders. */
function unitFromInt8Body(e: {
  get: Emit;
  set: Emit;
  tee: Emit;
  i32Const: (value: number) => number[];
  v128Load: (offset: number) => number[];
  v128Store: (offset: number) => number[];
  v128Zero: number[];
  i32Lane: (i: number) => number[];
  ops: Record<
    | 'i16x8WidenLow'
    | 'i16x8WidenHigh'
    | 'i32x4WidenLow'
    | 'i32x4WidenHigh'
    | 'i32x4Add'
    | 'i32x4Dot'
    | 'f32x4FromI32x4'
    | 'f32x4Splat'
    | 'f32x4Mul',
    number[]
  >;
}): number[] {
  const { get, set, tee, i32Const, v128Load, v128Store, v128Zero, i32Lane, ops } = e;
  const [SRC, DST, ROWS, DIM, ROW, P, END, SUM, ACC, X, W, SCALE] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
  ] as const;
  const [I32_ADD, I32_GE_U, I32_LT_U, I32_EQZ] = [0x6a, 0x4f, 0x49, 0x45] as const;
  // acc += dot(w, w) for w = one half of x, widened to i16.
  const square = (widen: number[]) => [
    ...get(ACC),
    ...get(X),
    ...widen,
    ...tee(W),
    ...get(W),
    ...ops.i32x4Dot,
    ...ops.i32x4Add,
    ...set(ACC),
  ];
  // Stores one quarter of the 16 components: (f32) widen(w) × scale at dst + offset.
  const store = (widen: number[], offset: number) => [
    ...get(DST),
    ...get(W),
    ...widen,
    ...ops.f32x4FromI32x4,
    ...get(SCALE),
    ...ops.f32x4Mul,
    ...v128Store(offset),
  ];
  const advanceP = [...get(P), ...i32Const(16), I32_ADD, ...tee(P), ...get(END), I32_LT_U, 0x0d, 0];
  const ONE_F64 = [0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
  return [
    ...[2, 4, 0x7f, 4, 0x7b], // locals: 4 × i32, 4 × v128
    ...[0x02, 0x40], // block $done
    ...[0x03, 0x40], // loop $next
    ...[...get(ROW), ...get(ROWS), I32_GE_U, 0x0d, 1], // br_if $done
    ...[...v128Zero, ...set(ACC), ...get(SRC), ...set(P)],
    ...[...get(SRC), ...get(DIM), I32_ADD, ...set(END)],
    ...[0x03, 0x40], // loop $square
    ...[...get(P), ...v128Load(0), ...set(X)],
    ...square(ops.i16x8WidenLow),
    ...square(ops.i16x8WidenHigh),
    ...advanceP,
    0x0b,
    ...[...get(ACC), ...i32Lane(0), ...get(ACC), ...i32Lane(1), I32_ADD],
    ...[...get(ACC), ...i32Lane(2), I32_ADD, ...get(ACC), ...i32Lane(3), I32_ADD, ...tee(SUM)],
    ...[I32_EQZ, 0x04, 0x40, ...get(ROW), 0x0f, 0x0b], // if (sum == 0) return row
    ...[...ONE_F64, ...get(SUM), 0xb7, 0x9f, 0xa3, 0xb6, ...ops.f32x4Splat, ...set(SCALE)],
    ...[...get(SRC), ...set(P)],
    ...[0x03, 0x40], // loop $write
    ...[...get(P), ...v128Load(0), ...set(X)],
    ...[...get(X), ...ops.i16x8WidenLow, ...set(W)],
    ...store(ops.i32x4WidenLow, 0),
    ...store(ops.i32x4WidenHigh, 16),
    ...[...get(X), ...ops.i16x8WidenHigh, ...set(W)],
    ...store(ops.i32x4WidenLow, 32),
    ...store(ops.i32x4WidenHigh, 48),
    ...[...get(DST), ...i32Const(64), I32_ADD, ...set(DST)],
    ...advanceP,
    0x0b,
    ...[...get(END), ...set(SRC), ...get(ROW), ...i32Const(1), I32_ADD, ...set(ROW)],
    ...[0x0c, 0], // br $next
    0x0b,
    0x0b,
    ...[0x41, 0x7f], // i32.const -1
    0x0b,
  ];
}

/** The slice of the WebAssembly JS API used here (the project's `lib` setting carries no WebAssembly types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
export const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** Compiled once per process; undefined where the runtime lacks WebAssembly SIMD. */
export const dotsModule: object | undefined = (() => {
  try {
    const bytes = buildDotsModule();
    return wasm?.validate(bytes) ? new wasm.Module(bytes) : undefined;
  } catch {
    return undefined;
  }
})();

/**
 * `unitFromInt8(src, dst, rows, dim)` over byte offsets into the instance's memory: -1, or the first all-zero row.
 */
export type UnitFromInt8Kernel = (srcOffset: number, dstOffset: number, rows: number, dim: number) => number;

/**
 * Writes int8 rows (`quantised`, `dim` a row) into `target` as unit float32 rows, in the kernel's memory; answers
 * -1 or the first all-zero row. Supplied by an index whose storage is WebAssembly memory (see `VectorIndex`).
 */
export type Int8RowsWriter = (quantised: Int8Array, target: Float32Array, dim: number) => number;

/** `dots(vec, q, rows, dim, out)` over byte offsets into the instance's memory. */
export type DotsKernel = (
  vecOffset: number,
  queryOffset: number,
  rows: number,
  dim: number,
  outOffset: number,
) => void;
