// instructor-wasm for Deno (the `deno` export condition; npm: specifier or node_modules): the
// runtime-neutral API, weights from fetch / the Cache API / Response / R2 / Blob / bytes, the
// kernels read from this package's build/ with Deno.readFile (needs --allow-read for the package's
// folder), and createInstructor.
import { fail } from '../errors.js';
import { createInstructorWith } from '../io/fetch-weights.js';
import type { WasmModule } from '../engine/wasm.js';
import { compiledOnce, compileKernelBytes, eitherBuild, type LoadKernelBuild, fetchKernelBytes, type LoadKernels } from './loader.js';

export * from '../index.js';
export * from './exports.js';

export const KERNELS_URL = new URL('../../../build/kernels.wasm', import.meta.url);

interface DenoLike { readFile(path: string | URL): Promise<Uint8Array<ArrayBuffer>> }

async function compileFile(path: string | URL): Promise<WasmModule> {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  const bytes = deno
    ? await deno.readFile(path).catch((e: Error) => fail('BAD_FILE', `cannot read the kernels ${String(path)}: ${e.message}`))
    : await fetchKernelBytes(path);
  return compileKernelBytes(bytes);
}

/** The kernels as a compiled `WebAssembly.Module` (compiled once per isolate, then shared). */
export const loadKernels: LoadKernels = compiledOnce(KERNELS_URL, compileFile);

/** The relaxed-SIMD build (docs/simd-builds.md), next to kernels.wasm. */
export const KERNELS_RELAXED_URL = new URL('../../../build/kernels-relaxed.wasm', import.meta.url);

/** Either build, compiled once per isolate: what the `simd` option of createInstructor picks from. */
export const loadKernelBuild: LoadKernelBuild = eitherBuild(loadKernels, compiledOnce(KERNELS_RELAXED_URL, compileFile));

/** An Instructor from weights (bytes, Response, Blob, R2 object, or a promise of one) with this runtime's kernels. */
export const createInstructor = createInstructorWith(loadKernelBuild);
