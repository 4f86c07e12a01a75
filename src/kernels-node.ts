// The default kernel loader for Node.js: build/kernels.wasm of this package, read with node:fs and
// compiled once per process. Selected by the `node` export condition (src/entry-node.ts).
import { readFile } from 'node:fs/promises';
import { fail } from './errors.js';
import { compiledOnce, compileKernelBytes, type LoadKernels } from './kernels-loader.js';

/** Where the package keeps its kernels (a file: URL next to dist/). */
export const KERNELS_URL = new URL('../../build/kernels.wasm', import.meta.url);

async function compileFile(path: string | URL): Promise<WebAssembly.Module> {
  const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) =>
    fail('BAD_FILE', `cannot read the kernels ${String(path)}: ${e.code ?? e.message} (run \`npm run build:wasm\` in a source checkout)`));
  return compileKernelBytes(bytes as Uint8Array<ArrayBuffer>);
}

/**
 * The kernels as a compiled `WebAssembly.Module` (compiled once, then shared: every model
 * instantiates its own copy with its own memory). Pass a path or URL to load another build.
 */
export const loadKernels: LoadKernels = compiledOnce(KERNELS_URL, compileFile);
