// The default kernel loader for Deno: build/kernels.wasm of this package (in Deno's npm cache or
// a node_modules folder), read with Deno.readFile. Needs --allow-read for the package's folder.
// Selected by the `deno` export condition (src/entry-deno.ts).
import { fail } from './errors.js';
import { compiledOnce, compileKernelBytes, fetchKernelBytes, type LoadKernels } from './kernels-loader.js';

export const KERNELS_URL = new URL('../../build/kernels.wasm', import.meta.url);

interface DenoLike { readFile(path: string | URL): Promise<Uint8Array<ArrayBuffer>> }

async function compileFile(path: string | URL): Promise<WebAssembly.Module> {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  const bytes = deno
    ? await deno.readFile(path).catch((e: Error) => fail('BAD_FILE', `cannot read the kernels ${String(path)}: ${e.message}`))
    : await fetchKernelBytes(path);
  return compileKernelBytes(bytes);
}

/** The kernels as a compiled `WebAssembly.Module` (compiled once per isolate, then shared). */
export const loadKernels: LoadKernels = compiledOnce(KERNELS_URL, compileFile);
