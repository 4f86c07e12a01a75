// instructor-wasm for browsers (the `browser` and `default` export conditions: any runtime with
// fetch): the runtime-neutral API, weights from fetch / the Cache API / Response / R2 / Blob /
// bytes, the kernels fetched next to this module and compiled while they stream in, and
// createInstructor.
//
// `new URL('../../../build/kernels.wasm', import.meta.url)` is the pattern that Vite, webpack 5,
// Parcel and esbuild (with its file loader) recognise: they copy the wasm into the build output
// and rewrite the URL. Without a bundler, serve the package folder as is (see
// examples/browser/). Host the file elsewhere by passing its URL: `loadKernels('/kernels.wasm')`.
import { fail } from '../errors.js';
import { createInstructorWith } from '../io/fetch-weights.js';
import type { WasmModule } from '../engine/wasm.js';
import { compiledOnce, compileKernelBytes, eitherBuild, type LoadKernelBuild, type LoadKernels } from './loader.js';

export * from '../index.js';
export * from './exports.js';

export const KERNELS_URL = new URL('../../../build/kernels.wasm', import.meta.url);

async function compileUrl(url: string | URL): Promise<WasmModule> {
  const href = String(url);
  const res = await fetch(url).catch((e: Error) => fail('NETWORK', `cannot fetch the kernels ${href}: ${e.message}`));
  if (!res.ok) fail('NETWORK', `cannot fetch the kernels ${href}: HTTP ${res.status}`);
  const type = res.headers.get('Content-Type') ?? '';
  if (typeof WebAssembly.compileStreaming === 'function' && type.split(';')[0].trim() === 'application/wasm') {
    return WebAssembly.compileStreaming(res).catch((e: unknown) => fail('BAD_FILE', `kernels.wasm does not compile: ${(e as Error).message}`));
  }
  // Served without the wasm MIME type (file: URLs, some static servers): compile from bytes.
  return compileKernelBytes(await res.arrayBuffer());
}

/** The kernels as a compiled `WebAssembly.Module` (fetched and compiled once per page, then shared). */
export const loadKernels: LoadKernels = compiledOnce(KERNELS_URL, compileUrl);

/** The relaxed-SIMD build (docs/simd-builds.md), next to kernels.wasm. */
export const KERNELS_RELAXED_URL = new URL('../../../build/kernels-relaxed.wasm', import.meta.url);

/** Either build, compiled once per isolate: what the `simd` option of createInstructor picks from. */
export const loadKernelBuild: LoadKernelBuild = eitherBuild(loadKernels, compiledOnce(KERNELS_RELAXED_URL, compileUrl));

/** An Instructor from weights (bytes, Response, Blob, R2 object, or a promise of one) with this runtime's kernels. */
export const createInstructor = createInstructorWith(loadKernelBuild);
