// The default kernel loader for Bun: build/kernels.wasm of this package, read with Bun.file.
// Selected by the `bun` export condition (src/entry-bun.ts).
import { fail } from './errors.js';
import { compiledOnce, compileKernelBytes, fetchKernelBytes, type LoadKernels } from './kernels-loader.js';

export const KERNELS_URL = new URL('../../build/kernels.wasm', import.meta.url);

interface BunLike { file(path: string | URL): { arrayBuffer(): Promise<ArrayBuffer> } }

async function compileFile(path: string | URL): Promise<WebAssembly.Module> {
  const bun = (globalThis as { Bun?: BunLike }).Bun;
  const bytes = bun
    ? await bun.file(path).arrayBuffer().catch((e: Error) => fail('BAD_FILE', `cannot read the kernels ${String(path)}: ${e.message}`))
    : await fetchKernelBytes(path);
  return compileKernelBytes(bytes);
}

/** The kernels as a compiled `WebAssembly.Module` (compiled once per process, then shared). */
export const loadKernels: LoadKernels = compiledOnce(KERNELS_URL, compileFile);
