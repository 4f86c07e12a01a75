// instructor-wasm for Node.js (the `node` export condition): everything of `instructor-wasm/node`
// (files, hub, loadInstructor), weights from fetch / the Cache API / Response / R2 / Blob / bytes,
// the kernels read from this package's build/ with node:fs, and createInstructor.
import { readFile } from 'node:fs/promises';
import { fail } from '../errors.js';
import { createInstructorWith } from '../io/fetch-weights.js';
import type { WasmModule } from '../engine/wasm.js';
import { compiledOnce, compileKernelBytes, eitherBuild, type LoadKernelBuild, type LoadKernels } from './loader.js';

export * from '../node-index.js';
export * from './exports.js';

/** Where the package keeps its kernels (a file: URL next to dist/). */
export const KERNELS_URL = new URL('../../../build/kernels.wasm', import.meta.url);

async function compileFile(path: string | URL): Promise<WasmModule> {
  const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) =>
    fail('BAD_FILE', `cannot read the kernels ${String(path)}: ${e.code ?? e.message} (run \`npm run build:wasm\` in a source checkout)`));
  return compileKernelBytes(bytes as Uint8Array<ArrayBuffer>);
}

/**
 * The kernels as a compiled `WebAssembly.Module` (compiled once, then shared: every model
 * instantiates its own copy with its own memory). Pass a path or URL to load another build.
 */
export const loadKernels: LoadKernels = compiledOnce(KERNELS_URL, compileFile);

/** The relaxed-SIMD build (docs/simd-builds.md), next to kernels.wasm. */
export const KERNELS_RELAXED_URL = new URL('../../../build/kernels-relaxed.wasm', import.meta.url);

/** Either build, compiled once per isolate: what the `simd` option of createInstructor picks from. */
export const loadKernelBuild: LoadKernelBuild = eitherBuild(loadKernels, compiledOnce(KERNELS_RELAXED_URL, compileFile));

/** An Instructor from weights (bytes, Response, Blob, R2 object, or a promise of one) with this runtime's kernels. */
export const createInstructor = createInstructorWith(loadKernelBuild);
