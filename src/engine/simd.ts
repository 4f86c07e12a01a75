// Which kernels build a loader uses (docs/simd-builds.md): the `simd` option of every loader.
//   'simd128'  kernels.wasm, fixed-width SIMD: every runtime, the results of every release so far
//   'relaxed'  kernels-relaxed.wasm: int8 matmuls on relaxed SIMD (7-bit weights x int8
//              activations, assembly/gemm_q7.ts); NO_SIMD where the engine lacks it or gets it wrong
//   'auto'     (default) 'relaxed' where the engine runs it correctly AND a calibration of a few
//              milliseconds at first use shows it faster than simd128 on this machine (x64 CPUs
//              with AVX-VNNI, where V8 lowers the relaxed dot product to one vpdpbusd); else simd128.
// The decision of 'auto' is made once per isolate and kept.
import { fail } from '../errors.js';
import { instantiateKernels, relaxedSimdStatus, RELAXED_XM_BYTES, type KernelBuild, type KernelExports, type WasmModule } from './wasm.js';

export type SimdOption = 'auto' | 'simd128' | 'relaxed';

export const SIMD_OPTIONS: readonly SimdOption[] = ['auto', 'simd128', 'relaxed'];

/** `simd` as a loader option or the INSTRUCTOR_WASM_SIMD variable; undefined -> 'auto'. */
export function parseSimdOption(value: unknown, what = 'simd'): SimdOption {
  if (value === undefined) return 'auto';
  if (typeof value === 'string' && (SIMD_OPTIONS as readonly string[]).includes(value)) return value as SimdOption;
  return fail('BAD_INPUT', `${what} must be one of ${SIMD_OPTIONS.map((s) => `'${s}'`).join(', ')}, got ${JSON.stringify(value)}`);
}

/** What 'auto' measured (for the benchmarks and `model.info`-minded callers). */
export interface SimdCalibration {
  build: KernelBuild;
  /** Why: 'faster' / 'not faster' after timing, or the engine's relaxed SIMD status. */
  reason: 'faster' | 'not faster' | 'unsupported' | 'wrong' | 'no relaxed build';
  /** Best ms of one simd128 / relaxed calibration matmul (quantization included), when timed. */
  simd128Ms?: number;
  relaxedMs?: number;
}

/**
 * The relaxed build must be at least this much faster for 'auto' to take it: it costs fidelity
 * (golden base int8 min cosine 0.99990 -> 0.99946), so a marginal gain is not worth it. AMD Zen 4
 * (no AVX-VNNI: V8's vpmaddubsw fallback) measured 1.08-1.13x here; AVX-VNNI CPUs ~1.5x (issue 16).
 */
const AUTO_MIN_SPEEDUP = 1.2;
/**
 * Calibration matmul: T x K x N, 2 M multiply-adds (~25 us at 80 GOPS): small, so that the many
 * calls of a few milliseconds bring every kernel function to the engine's optimizing tier.
 */
const CAL_T = 16, CAL_K = 512, CAL_N = 256, CAL_O = 32;
/**
 * Timing goes on for at least CAL_MIN_MS and CAL_MIN_CALLS calls of each, then until neither best
 * time improved by more than 5% in the last half of the time so far (the optimizing tier landing
 * late shows as a 2-10x improvement; on a loaded machine it can take tens of ms), at most CAL_MAX_MS.
 */
const CAL_MIN_MS = 20;
const CAL_MIN_CALLS = 64;
const CAL_MAX_MS = 300;

let autoDecision: Promise<SimdCalibration> | undefined;

/**
 * The build for `simd`. `loadRelaxed` compiles kernels-relaxed.wasm (called only when needed; for
 * 'auto' a failure to load it means simd128).
 */
export async function chooseKernelBuild(simd: SimdOption, loadRelaxed: () => Promise<WasmModule>): Promise<SimdCalibration> {
  if (simd === 'simd128') return { build: 'simd128', reason: 'not faster' };
  const status = relaxedSimdStatus();
  if (simd === 'relaxed') {
    if (status === 'unsupported') fail('NO_SIMD', 'this JavaScript engine has no WebAssembly relaxed SIMD (Node >= 22, Deno, Chrome 114+, workerd have it); use simd: \'simd128\' or \'auto\'');
    if (status === 'wrong') fail('NO_SIMD', 'this JavaScript engine computes relaxed SIMD dot products wrongly (Node 20\'s baseline compiler does); use simd: \'simd128\' or \'auto\', or Node >= 22');
    return { build: 'relaxed', reason: 'faster' };
  }
  if (status !== 'ok') return { build: 'simd128', reason: status };
  autoDecision ??= (async () => {
    const module = await loadRelaxed().catch(() => null);
    if (module === null) return { build: 'simd128', reason: 'no relaxed build' } as SimdCalibration;
    return calibrate(await instantiateKernels(module));
  })().catch((e) => { autoDecision = undefined; throw e; });
  return autoDecision;
}

/** Times gemm_q8 (int16 activations) against gemm_q7 (relaxed) on one instance, interleaved, best of each. */
async function calibrate(k: KernelExports): Promise<SimdCalibration> {
  const T = CAL_T, K = CAL_K, N = CAL_N;
  const bytes = T * K * 4 + T * K * 2 + T * 4 + N * K + N * 4 + T * N * 4 + 16 * K + T * K + T * CAL_O * 2 + T * RELAXED_XM_BYTES
    + K * 4 + CAL_O * 4 + N * CAL_O + 16 * 64;
  let at = Math.ceil(k.heap_base() / 64) * 64;
  const need = at + bytes + 64 * 16;
  if (k.memory.buffer.byteLength < need) k.memory.grow(Math.ceil((need - k.memory.buffer.byteLength) / 65536));
  const take = (n: number) => { const p = at; at = Math.ceil((at + n) / 64) * 64; return p; };
  const x = take(T * K * 4), xq16 = take(T * K * 2), xs = take(T * 4), W = take(N * K), ws = take(N * 4), y = take(T * N * 4);
  const scratch = take(16 * K), xq8 = take(T * K), xo = take(T * CAL_O * 2), xm = take(T * RELAXED_XM_BYTES);
  const keep = take(K * 4), oidx = take(CAL_O * 4), Wo = take(N * CAL_O);
  const xf = new Float32Array(k.memory.buffer, x, T * K);
  let s = 12345;
  for (let i = 0; i < xf.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; xf[i] = (s >>> 8) / 8388608 - 1; }
  const wq = new Int8Array(k.memory.buffer, W, N * K);
  for (let i = 0; i < wq.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; wq[i] = (s >>> 24) - 128; }
  new Float32Array(k.memory.buffer, ws, N).fill(1e-3);
  // as the models run it: CAL_O channels in int16 beside the int8 codes
  const kv = new Int32Array(k.memory.buffer, keep, K).fill(-1), ov = new Int32Array(k.memory.buffer, oidx, CAL_O);
  for (let j = 0; j < CAL_O; j++) { ov[j] = j * 13; kv[j * 13] = 0; }
  // the same bytes serve both layouts: the timing does not depend on their values
  k.pack_q8(W, N, K, scratch);
  const q8 = () => { k.quantize_rows_i16(x, xq16, xs, T, K); k.gemm_q8(xq16, xs, W, ws, y, T, K, N, 0, scratch); };
  const q7 = () => { k.quantize_rows_i8!(x, xq8, xo, xm, T, K, keep, oidx, CAL_O); k.gemm_q7!(xq8, xo, xm, W, Wo, ws, y, T, K, N, CAL_O, 0); };
  let best8 = Infinity, best7 = Infinity, improved = 0;
  const t0 = performance.now();
  for (let round = 0; ; round++) {
    const now = performance.now() - t0;
    if (now > CAL_MAX_MS || (now > CAL_MIN_MS && round >= CAL_MIN_CALLS && improved < now / 2)) break;
    for (const which of round % 2 === 0 ? [8, 7] : [7, 8]) {
      const a = performance.now();
      if (which === 8) q8(); else q7();
      const ms = performance.now() - a;
      if (ms < 0.95 * (which === 8 ? best8 : best7)) improved = performance.now() - t0;
      if (which === 8) best8 = Math.min(best8, ms); else best7 = Math.min(best7, ms);
    }
    // let a background tier-up land now and then
    if (round % 32 === 31) await new Promise((r) => setTimeout(r, 0));
  }
  const faster = best8 >= AUTO_MIN_SPEEDUP * best7;
  return { build: faster ? 'relaxed' : 'simd128', reason: faster ? 'faster' : 'not faster', simd128Ms: best8, relaxedMs: best7 };
}
