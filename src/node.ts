// Node / Deno / Bun: read the kernels from the package's build/ folder.
import { readFile } from 'node:fs/promises';
import { instantiateKernels, type KernelExports } from './wasm.js';

export const KERNELS_WASM_URL = new URL('../../build/kernels.wasm', import.meta.url);

export async function loadKernelsFromDisk(): Promise<KernelExports> {
  return instantiateKernels(await readFile(KERNELS_WASM_URL));
}
