// The default kernel loader for Bun: build/kernels.wasm of this package, read with Bun.file.
// Selected by the `bun` export condition (src/entry-bun.ts).
import { fail } from './errors.js';

export const KERNELS_URL = new URL('../../build/kernels.wasm', import.meta.url);

interface BunLike { file(path: string | URL): { arrayBuffer(): Promise<ArrayBuffer> } }

let compiled: Promise<WebAssembly.Module> | undefined;

/** The kernels as a compiled `WebAssembly.Module` (compiled once per process, then shared). */
export function loadKernels(path?: string | URL): Promise<WebAssembly.Module> {
  if (path !== undefined) return compileFile(path);
  compiled ??= compileFile(KERNELS_URL).catch((e) => { compiled = undefined; throw e; });
  return compiled;
}

async function compileFile(path: string | URL): Promise<WebAssembly.Module> {
  const bun = (globalThis as { Bun?: BunLike }).Bun;
  let bytes: ArrayBuffer;
  if (bun) {
    bytes = await bun.file(path).arrayBuffer().catch((e: Error) => fail('BAD_FILE', `cannot read the kernels ${String(path)}: ${e.message}`));
  } else {
    const res = await fetch(path);
    if (!res.ok) fail('BAD_FILE', `cannot fetch the kernels ${String(path)}: HTTP ${res.status}`);
    bytes = await res.arrayBuffer();
  }
  return WebAssembly.compile(bytes).catch((e: unknown) => fail('BAD_FILE', `kernels.wasm does not compile: ${(e as Error).message}`));
}
