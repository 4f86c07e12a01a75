// Node / Deno / Bun: the kernels from the package's build/ folder, weights files from disk.
import { open, readFile } from 'node:fs/promises';
import { fail } from '../errors.js';
import { InstructorModel, type LoadOptions, type WeightsReader } from '../engine/model.js';
import { compileKernels, instantiateKernels, type KernelExports } from '../engine/wasm.js';

export const KERNELS_WASM_URL = new URL('../../../build/kernels.wasm', import.meta.url);

export async function loadKernelsFromDisk(): Promise<KernelExports> {
  return instantiateKernels(await readFile(KERNELS_WASM_URL));
}

/** The threads build (shared memory), for `LoadOptions.threadKernels`. */
export const KERNELS_MT_WASM_URL = new URL('../../../build/kernels-mt.wasm', import.meta.url);

/** kernels-mt.wasm from the package's build/ folder, compiled (a module can be sent to workers). */
export async function loadThreadKernelsFromDisk(): Promise<WebAssembly.Module> {
  return compileKernels(await readFile(KERNELS_MT_WASM_URL));
}

const CHUNK = 1 << 30; // one fs read moves at most 2 GiB; stay well below

/**
 * Opens a weights file for `InstructorModel.fromWeightsReader`: reads go straight from the file
 * into the destination (wasm memory), with no intermediate buffer.
 */
export async function openWeightsFile(path: string): Promise<WeightsReader & { close(): Promise<void> }> {
  const fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) =>
    fail('BAD_INPUT', `cannot open weights file ${path}: ${e.code ?? e.message}`));
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    fail('BAD_INPUT', `cannot open weights file ${path}: it is ${st.isDirectory() ? 'a directory' : 'not a regular file'}`);
  }
  const size = st.size;
  const readInto = async (offset: number, dest: Uint8Array) => {
    for (let done = 0; done < dest.length;) {
      const n = Math.min(CHUNK, dest.length - done);
      const { bytesRead } = await fh.read(dest, done, n, offset + done);
      if (bytesRead === 0) fail('BAD_FILE', `weights file ${path} ended at byte ${offset + done}, expected ${offset + dest.length}`);
      done += bytesRead;
    }
  };
  return {
    size,
    read: async (offset, length) => {
      const buf = new Uint8Array(length);
      await readInto(offset, buf);
      return buf;
    },
    readInto,
    close: () => fh.close(),
  };
}

/** Loads an InstructorModel (token ids in) from a weights file on disk. */
export async function loadModelFile(path: string, options: Partial<LoadOptions> = {}): Promise<InstructorModel> {
  const reader = await openWeightsFile(path);
  try {
    return await InstructorModel.fromWeightsReader(reader, { ...options, kernels: options.kernels ?? (await loadKernelsFromDisk()) });
  } finally {
    await reader.close();
  }
}
