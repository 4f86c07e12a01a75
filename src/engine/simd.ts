// Which kernels build a loader uses (docs/simd-builds.md): the `simd` option of every loader.
//   'simd128'  (default) kernels.wasm, fixed-width SIMD: runs on every runtime, and its vectors are
//              the same bits on every runtime and machine, so one deployment writes one kind of
//              vector into an index however its replicas and workers are spread.
//   'relaxed'  kernels-relaxed.wasm: int8 matmuls on relaxed SIMD (7-bit weights x int8
//              activations, assembly/gemm_q7.ts), faster on x64 CPUs with AVX-VNNI. Its vectors
//              differ from simd128's (golden base int8 cosine between the two about 0.9998), and
//              its fp32 matmul fuses multiply-adds where the CPU has FMA, so fp32 bits may differ
//              between CPUs. An explicit choice, for a whole deployment; NO_SIMD where the engine
//              lacks relaxed SIMD or computes it wrongly.
// There is no automatic choice: an 'auto' that timed both builds at load picked relaxed on one
// runtime and simd128 on another on the same machine, and so mixed vectors in one index.
import { fail } from '../errors.js';
import { relaxedSimdStatus, type KernelBuild } from './wasm.js';

export type SimdOption = KernelBuild;

export const SIMD_OPTIONS: readonly SimdOption[] = ['simd128', 'relaxed'];

/** What a loader runs without a `simd` option. */
export const DEFAULT_SIMD: SimdOption = 'simd128';

/** Why 'auto' is refused, and what to say instead (the API and the CLI say the same). */
export const SIMD_AUTO_REMOVED = "'auto' is no longer a choice: it picked a build by timing at load, so the same model gave "
  + "different vectors on different runtimes and machines. Use 'simd128' (the default: the same vectors everywhere) or "
  + "'relaxed' (faster int8 matmuls on CPUs with AVX-VNNI; other vectors, so use it for a whole deployment)";

/** `simd` as a loader option or the INSTRUCTOR_WASM_SIMD variable; undefined -> DEFAULT_SIMD. */
export function parseSimdOption(value: unknown, what = 'simd'): SimdOption {
  if (value === undefined) return DEFAULT_SIMD;
  if (typeof value === 'string' && (SIMD_OPTIONS as readonly string[]).includes(value)) return value as SimdOption;
  if (value === 'auto') return fail('BAD_INPUT', `${what}: ${SIMD_AUTO_REMOVED}`);
  return fail('BAD_INPUT', `${what} must be one of ${SIMD_OPTIONS.map((s) => `'${s}'`).join(', ')} (default '${DEFAULT_SIMD}'), got ${JSON.stringify(value)}`);
}

/**
 * The build for `simd`: always the one asked for; 'relaxed' where this engine cannot run it
 * correctly is NO_SIMD (never a silent fallback, which would change the vectors).
 */
export function chooseKernelBuild(simd: SimdOption): KernelBuild {
  if (simd === 'simd128') return 'simd128';
  const status = relaxedSimdStatus();
  if (status === 'unsupported') fail('NO_SIMD', 'this JavaScript engine has no WebAssembly relaxed SIMD (Node >= 22, Deno, Chrome 114+, workerd have it); use simd: \'simd128\'');
  if (status === 'wrong') fail('NO_SIMD', 'this JavaScript engine computes relaxed SIMD dot products wrongly (Node 20\'s baseline compiler does); use simd: \'simd128\', or Node >= 22');
  return 'relaxed';
}
