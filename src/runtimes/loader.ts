// What every runtime's default kernel loader shares: the package's own build compiled once and
// then shared, another build compiled on request, one compile error, a fetch fallback.
import { fail } from '../errors.js';
import type { KernelBuild, WasmBytes, WasmModule } from '../engine/wasm.js';

export type LoadKernels = (path?: string | URL) => Promise<WasmModule>;

/** One build of the package's kernels, compiled once per isolate. */
export type LoadKernelBuild = (build: KernelBuild) => Promise<WasmModule>;

/** `loadKernelBuild` over the two builds' loaders. */
export function eitherBuild(simd128: LoadKernels, relaxed: LoadKernels): LoadKernelBuild {
  return (build) => (build === 'relaxed' ? relaxed() : simd128());
}

/**
 * `loadKernels(path?)` over `compile`: without a path, the build at `defaultUrl`, compiled once per
 * isolate (a failed attempt is forgotten, so the next call retries); with one, that build.
 */
export function compiledOnce(defaultUrl: URL, compile: (path: string | URL) => Promise<WasmModule>): LoadKernels {
  let compiled: Promise<WasmModule> | undefined;
  return (path) => {
    if (path !== undefined) return compile(path);
    compiled ??= compile(defaultUrl).catch((e) => { compiled = undefined; throw e; });
    return compiled;
  };
}

/** WebAssembly.compile, failing with BAD_FILE. */
export function compileKernelBytes(bytes: WasmBytes): Promise<WasmModule> {
  return WebAssembly.compile(bytes as BufferSource).catch((e: unknown) => fail('BAD_FILE', `kernels.wasm does not compile: ${(e as Error).message}`));
}

/** The kernels' bytes over fetch, for runtimes whose file API is missing (BAD_FILE on failure). */
export async function fetchKernelBytes(path: string | URL): Promise<ArrayBuffer> {
  const res = await fetch(path);
  if (!res.ok) fail('BAD_FILE', `cannot fetch the kernels ${String(path)}: HTTP ${res.status}`);
  return res.arrayBuffer();
}
