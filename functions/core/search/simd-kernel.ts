/**
 * The dot-product kernel of the exact search: a tiny hand-assembled WebAssembly SIMD module (about ten times
 * faster than scalar JavaScript in V8), compiled once per process. Hand-assembled because no npm package ships
 * a float32 dot-product kernel that runs in-process without native code; the module is 200 bytes.
 */

/** Bytes in one WebAssembly memory page. */
export const WASM_PAGE = 65_536;
/** The kernel consumes this many floats per step: it runs only where `dim` is a multiple of it. */
export const FLOATS_PER_SIMD_STEP = 16;

/**
 * Builds the WebAssembly module with one export, `dots(vec, q, rows, dim, out)`: for each of `rows`
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
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 5, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    ...section(2, [1, ...name('e'), ...name('m'), 0x02, 0x00, 0x00]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('dots'), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
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

/** `dots(vec, q, rows, dim, out)` over byte offsets into the instance's memory. */
export type DotsKernel = (
  vecOffset: number,
  queryOffset: number,
  rows: number,
  dim: number,
  outOffset: number,
) => void;
