// Node / Deno / Bun: the kernels from the package's build/ folder, weights files from disk.
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { kindOf } from '../format/fs-node.js';
import { fail } from '../errors.js';
import { type LoadOptions } from '../engine/model.js';
import { InstructorModel, type WeightsReader } from '../format/model-loading.js';
import { chooseKernelBuild, parseSimdOption, type SimdOption } from '../engine/simd.js';
import { compileKernels, instantiateKernels, type KernelBuild, type KernelExports, type WasmModule } from '../engine/wasm.js';

export const KERNELS_WASM_URL = new URL('../../../build/kernels.wasm', import.meta.url);

/** The relaxed-SIMD build (docs/simd-builds.md). */
export const KERNELS_RELAXED_WASM_URL = new URL('../../../build/kernels-relaxed.wasm', import.meta.url);

/** A kernels build from the package's build/ folder, instantiated (default kernels.wasm). */
export async function loadKernelsFromDisk(build: KernelBuild = 'simd128'): Promise<KernelExports> {
  return instantiateKernels(await readFile(build === 'relaxed' ? KERNELS_RELAXED_WASM_URL : KERNELS_WASM_URL));
}

/** The threads builds (shared memory), for `LoadOptions.threadKernels`. */
export const KERNELS_MT_WASM_URL = new URL('../../../build/kernels-mt.wasm', import.meta.url);
export const KERNELS_RELAXED_MT_WASM_URL = new URL('../../../build/kernels-relaxed-mt.wasm', import.meta.url);

/** kernels-mt.wasm (or kernels-relaxed-mt.wasm) from the package's build/ folder, compiled (a module can be sent to workers). */
export async function loadThreadKernelsFromDisk(build: KernelBuild = 'simd128'): Promise<WasmModule> {
  return compileKernels(await readFile(build === 'relaxed' ? KERNELS_RELAXED_MT_WASM_URL : KERNELS_MT_WASM_URL));
}

const CHUNK = 1 << 30; // one fs read moves at most 2 GiB; stay well below

/**
 * Opens a weights file for `InstructorModel.fromWeightsReader`: reads go straight from the file
 * into the destination (wasm memory), with no intermediate buffer. Only a regular file is a
 * weights file: the open does not block (a FIFO's would, until a writer came), and anything else
 * is refused at once.
 */
export async function openWeightsFile(path: string): Promise<WeightsReader & { close(): Promise<void> }> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) =>
    fail(e.code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT', `cannot open weights file ${path}: ${e.code ?? e.message}`));
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    fail('BAD_INPUT', `weights file ${path} is ${kindOf(st)}, not a regular file`);
  }
  const { size } = st;
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

/** The build that `simd` picks (docs/simd-builds.md), instantiated from the package's build/ folder. */
export async function loadKernelsForSimd(simd: SimdOption | undefined): Promise<KernelExports> {
  return loadKernelsFromDisk(chooseKernelBuild(parseSimdOption(simd)));
}

/** Loads an InstructorModel (token ids in) from a weights file on disk; `simd` picks the kernels build unless `kernels` is given. */
export async function loadModelFile(path: string, options: Partial<LoadOptions> & { simd?: SimdOption } = {}): Promise<InstructorModel> {
  const reader = await openWeightsFile(path);
  try {
    const { simd, ...load } = options;
    return await InstructorModel.fromWeightsReader(reader, { ...load, kernels: options.kernels ?? (await loadKernelsForSimd(simd)) });
  } finally {
    await reader.close();
  }
}
