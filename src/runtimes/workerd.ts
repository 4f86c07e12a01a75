// instructor-wasm for Cloudflare Workers / workerd (the `workerd` export condition): the
// runtime-neutral API, weights from fetch / the Cache API / Response / R2 / Blob / bytes, the
// kernels imported as a wasm module, and createInstructor.
//
// Workers hand a wasm import over already compiled (they forbid compiling wasm from bytes at run
// time). wrangler bundles `build/kernels.wasm` and `build/kernels-relaxed.wasm` by its
// CompiledWasm rule; a plain workerd config lists them as `wasm` modules (examples/worker/workerd.capnp).
import kernels from '../../../build/kernels.wasm';
import relaxedKernels from '../../../build/kernels-relaxed.wasm';
import type { KernelBuild } from '../engine/wasm.js';
import { createInstructorWith } from '../io/fetch-weights.js';
import type { WasmModule } from '../engine/wasm.js';

export * from '../index.js';
export * from './exports.js';

/** The kernels as the compiled `WebAssembly.Module` the Worker was deployed with. */
export function loadKernels(): Promise<WasmModule> {
  return Promise.resolve(kernels);
}

/** Either build, as deployed (both are bundled: 28 and 35 KB): what the `simd` option picks from. */
export function loadKernelBuild(build: KernelBuild): Promise<WasmModule> {
  return Promise.resolve(build === 'relaxed' ? relaxedKernels : kernels);
}

/** An Instructor from weights (bytes, Response, Blob, R2 object, or a promise of one) with this runtime's kernels. */
export const createInstructor = createInstructorWith(loadKernelBuild);
