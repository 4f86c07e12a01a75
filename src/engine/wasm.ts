import { fail } from '../errors.js';

// The WebAssembly names the public API spells. TypeScript declares the WebAssembly namespace and
// BufferSource in lib.dom only (@types/node has neither), so .d.ts files that named them would not
// type-check in a Node project without the DOM lib. These are the same shapes, declared once here.

/** Bytes: an ArrayBuffer or a view of one (lib.dom's BufferSource). */
export type WasmBytes = ArrayBuffer | ArrayBufferView;
/** A compiled `WebAssembly.Module` (lib.dom declares it as an empty interface: any object is one to the type system). */
export type WasmModule = object;
/** A `WebAssembly.Memory`, as far as the API uses one. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(delta: number): number;
}

/** The kernels' exports (see assembly/*.ts for each contract). Pointers are byte offsets. */
export interface KernelExports {
  memory: WasmMemory;
  heap_base(): number;
  quantize_rows_i16(x: number, xq: number, xs: number, T: number, K: number): void;
  quantize_rows_i16_scalar(x: number, xq: number, xs: number, T: number, K: number): void;
  /**
   * W: int8 weights in the packed layout of `pack_q8`. scratch: gemmQ8ScratchBytes(K) bytes;
   * 0 (no scratch) gives the same results, slower from 16 tokens on.
   */
  gemm_q8(xq: number, xs: number, W: number, ws: number, y: number, T: number, K: number, N: number, accumulate: number, scratch: number): void;
  gemm_q8_scalar(xq: number, xs: number, W: number, ws: number, y: number, T: number, K: number, N: number, accumulate: number, scratch: number): void;
  /** Row-major int8 W[N, K] -> the packed layout, in place; scratch: 8 * K bytes. */
  pack_q8(W: number, N: number, K: number, scratch: number): void;
  unpack_q8(W: number, N: number, K: number, scratch: number): void;
  gemm_q4(xq: number, xs: number, W: number, ws: number, y: number, T: number, K: number, N: number, G: number, accumulate: number): void;
  gemm_q4_scalar(xq: number, xs: number, W: number, ws: number, y: number, T: number, K: number, N: number, G: number, accumulate: number): void;
  gemm_f32(x: number, W: number, y: number, T: number, K: number, N: number, accumulate: number): void;
  gemm_f32_scalar(x: number, W: number, y: number, T: number, K: number, N: number, accumulate: number): void;
  attention(q: number, k: number, v: number, out: number, T: number, H: number, Dk: number, ld: number, bias: number, scratch: number): void;
  attention_scalar(q: number, k: number, v: number, out: number, T: number, H: number, Dk: number, ld: number, bias: number, scratch: number): void;
  rmsnorm(x: number, w: number, y: number, T: number, D: number, eps: number): void;
  rmsnorm_scalar(x: number, w: number, y: number, T: number, D: number, eps: number): void;
  relu_inplace(x: number, n: number): void;
  relu_inplace_scalar(x: number, n: number): void;
  gelu_tanh_mul(g: number, u: number, n: number): void;
  gelu_tanh_mul_scalar(g: number, u: number, n: number): void;
  // The relaxed build only (kernels-relaxed.wasm; see assembly/gemm_q7.ts):
  /** x [T, K] f32 -> int8 codes xq, int16 outlier codes xo [T, O], per-row metadata xm (RELAXED_XM_BYTES each). */
  quantize_rows_i8?(x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number): void;
  quantize_rows_i8_scalar?(x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number): void;
  /** Row-major int8 W [N, K] and its scales -> 7-bit offset codes and their scales, in place. */
  requant_q7?(W: number, ws: number, N: number, K: number): void;
  requant_q7_scalar?(W: number, ws: number, N: number, K: number): void;
  /** Row-major 7-bit codes -> gemm_q7's packed layout, in place; scratch: 8 * K bytes. */
  pack_q7?(W: number, N: number, K: number, scratch: number): void;
  /** Wo[n, j] = the signed 7-bit code of W[n, oidx[j]] (W packed by pack_q7), row-major int8 [N, O]. */
  outlier_codes_q7?(W: number, N: number, K: number, oidx: number, O: number, Wo: number): void;
  gemm_q7?(xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, y: number, T: number, K: number, N: number, O: number, accumulate: number): void;
  gemm_q7_scalar?(xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, y: number, T: number, K: number, N: number, O: number, accumulate: number): void;
  /**
   * The usdot operand form (assembly/gemm_usdot.ts): int8 weights (pack_q7's layout) first, the
   * activations XOR 0x80 second. Right only where usdotStatus() is 'exact' (x64 AVX-VNNI).
   */
  quantize_rows_u8?(x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number): void;
  quantize_rows_u8_scalar?(x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number): void;
  /** out[n] = sum_k W[n, k] of row-major int8 W [N, K], as i32. */
  row_sums_i8?(W: number, N: number, K: number, out: number): void;
  row_sums_i8_scalar?(W: number, N: number, K: number, out: number): void;
  gemm_usdot?(xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, wsum: number, y: number, T: number, K: number, N: number, O: number, accumulate: number): void;
  gemm_usdot_scalar?(xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, wsum: number, y: number, T: number, K: number, N: number, O: number, accumulate: number): void;
}

/** Which kernels build: kernels.wasm (fixed-width SIMD) or kernels-relaxed.wasm (plus relaxed SIMD). */
export type KernelBuild = 'simd128' | 'relaxed';

/** Bytes of per-row metadata that quantize_rows_i8 writes for gemm_q7. */
export const RELAXED_XM_BYTES = 16;

/** The build of a kernel instance (its exports) or compiled module. */
export function kernelBuildOf(k: WasmModule | { gemm_q7?: unknown }): KernelBuild {
  if (k instanceof WebAssembly.Module) return WebAssembly.Module.exports(k).some((e) => e.name === 'gemm_q7') ? 'relaxed' : 'simd128';
  return typeof (k as { gemm_q7?: unknown }).gemm_q7 === 'function' ? 'relaxed' : 'simd128';
}

/** Largest inner size (K) of the int8 matmuls: gemm_q8's exact i32 totals and gemm_q7's i32 sums. */
export const GEMM_MAX_K = 65536;

/**
 * Scratch bytes that `gemm_q8` needs for inner size K (enough for `pack_q8` too): the widened
 * 8-row panel (16 K) and the token block's activations packed by 4 tokens (at most 512 KiB, the
 * kernel's X_BLOCK_BYTES).
 */
export function gemmQ8ScratchBytes(K: number): number {
  return 16 * K + 512 * 1024;
}

/** Scratch floats that `attention` needs for T tokens and head size Dk. */
export function attentionScratchFloats(T: number, Dk: number): number {
  return (2 * Dk + 2) * (Math.ceil(T / 4) * 4);
}

// (module (func (result v128) v128.const i32x4 0 0 0 0)): valid only where SIMD is.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03,
  0x02, 0x01, 0x00, 0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
]);

export function hasWasmSimd(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/** Signed LEB128 of a small integer (the probes' i32.const operands). */
function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

/**
 * (module (func (export "kat") (result i32) lane 0 of
 * i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.splat a, i8x16.splat b, i32x4.splat c))).
 */
function relaxedDotProbe(a: number, b: number, c: number): Uint8Array {
  const code = [0x41, ...sleb(a), 0xfd, 0x0f, 0x41, ...sleb(b), 0xfd, 0x0f, 0x41, ...sleb(c), 0xfd, 0x11, 0xfd, 0x93, 0x02, 0xfd, 0x1b, 0x00, 0x0b];
  const body = [0x00, ...code];
  const section = [0x01, body.length, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03,
    0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x6b, 0x61, 0x74, 0x00, 0x00, 0x0a, section.length, ...section,
  ]);
}

/** Runs a relaxedDotProbe; null where it does not validate or instantiate. */
function runProbe(bytes: Uint8Array): number | null {
  if (!hasWasmSimd() || !WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) return null;
  try {
    return (new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>)).exports.kat as () => number)();
  } catch {
    return null;
  }
}

// dot(splat -2, splat 3, splat 10): -14 where relaxed SIMD is, and is right. Validation alone is
// not enough: Node 20's baseline compiler (Liftoff, V8 11.3, behind --experimental-wasm-relaxed-simd)
// gives -48 (the products doubled, the accumulator dropped).
const RELAXED_PROBE = relaxedDotProbe(-2, 3, 10);
// dot(splat -127, splat 0xff, splat 0): an exact u8 x s8 dot (x64 AVX-VNNI's vpdpbusd) gives
// 4 * 255 * -127 = -129540; vpmaddubsw saturates each pair to -32768 (-65536), a signed second
// operand (ARM sdot, AVX-VNNI-INT8's vpdpbssd) gives 4 * -1 * -127 = 508.
const USDOT_PROBE = relaxedDotProbe(-127, 0xff, 0);

/**
 * Whether this engine runs the relaxed build correctly: 'ok', 'unsupported' (it does not validate:
 * Node 20 without its flag, older browsers) or 'wrong' (it validates but the probe's answer is
 * wrong). Cached: the engine does not change.
 */
export function relaxedSimdStatus(): 'ok' | 'unsupported' | 'wrong' {
  if (relaxedStatus !== undefined) return relaxedStatus;
  const got = runProbe(RELAXED_PROBE);
  return (relaxedStatus = got === null ? 'unsupported' : got === -14 ? 'ok' : 'wrong');
}
let relaxedStatus: 'ok' | 'unsupported' | 'wrong' | undefined;

/**
 * Whether the relaxed dot product is an exact u8 x s8 dot here, as gemm_usdot needs: 'exact' (x64
 * AVX-VNNI, where V8 emits vpdpbusd), 'inexact' (any other lowering: vpmaddubsw saturates, ARM's
 * sdot and vpdpbssd read the second operand signed), or 'unsupported' (no relaxed SIMD, or
 * relaxedSimdStatus() is 'wrong'). Cached.
 */
export function usdotStatus(): 'exact' | 'inexact' | 'unsupported' {
  if (usdot !== undefined) return usdot;
  if (relaxedSimdStatus() !== 'ok') return (usdot = 'unsupported');
  const got = runProbe(USDOT_PROBE);
  return (usdot = got === null ? 'unsupported' : got === -129540 ? 'exact' : 'inexact');
}
let usdot: 'exact' | 'inexact' | 'unsupported' | undefined;

const REQUIRED_EXPORTS = [
  'memory', 'heap_base', 'quantize_rows_i16', 'gemm_q8', 'pack_q8', 'gemm_f32', 'attention',
  'rmsnorm', 'relu_inplace', 'gelu_tanh_mul',
] as const;

/**
 * Instantiate the kernels from the wasm bytes or from an already compiled `WebAssembly.Module`
 * (Cloudflare Workers hand over modules, never bytes). No bundler plugin, no glue code.
 * `memory`: the shared memory that kernels-mt.wasm (the threads build) imports as env.memory;
 * omit it for kernels.wasm, which has its own.
 */
export async function instantiateKernels(source: WasmBytes | WasmModule, memory?: WasmMemory): Promise<KernelExports> {
  if (!hasWasmSimd()) {
    fail('NO_SIMD', 'this JavaScript runtime has no WebAssembly SIMD (fixed-width SIMD128), which instructor-wasm requires');
  }
  const imports: WebAssembly.Imports = memory ? { env: { memory: memory as WebAssembly.Memory } } : {};
  const module = await compileKernels(source) as WebAssembly.Module;
  if (kernelBuildOf(module) === 'relaxed' && relaxedSimdStatus() === 'wrong') {
    fail('NO_SIMD', 'this JavaScript engine computes relaxed SIMD dot products wrongly (Node 20\'s baseline compiler does); use the simd128 build (simd: \'simd128\'), or Node >= 22');
  }
  const instance = await WebAssembly.instantiate(module, imports).catch((e: unknown) =>
    fail('BAD_FILE', `kernels wasm does not instantiate${memory ? ' over a shared memory (is it kernels-mt.wasm?)' : ' (is it kernels.wasm, not kernels-mt.wasm?)'}: ${(e as Error).message}`));
  const exports = instance.exports as Record<string, unknown>;
  for (const name of REQUIRED_EXPORTS) {
    if (!(name in exports)) fail('BAD_FILE', `kernels.wasm lacks export "${name}": not an instructor-wasm kernel module`);
  }
  return exports as unknown as KernelExports;
}

/** The kernels' bytes compiled (a `WebAssembly.Module` is returned as is). */
export async function compileKernels(source: WasmBytes | WasmModule): Promise<WasmModule> {
  if (source instanceof WebAssembly.Module) return source;
  if (ArrayBuffer.isView(source) || source instanceof ArrayBuffer) {
    return WebAssembly.compile(source as BufferSource).catch((e: unknown) =>
      fail('BAD_FILE', `kernels.wasm does not compile: ${(e as Error).message}`));
  }
  return fail('BAD_INPUT', `instantiateKernels: expected wasm bytes or a WebAssembly.Module, got ${typeof source}`);
}
