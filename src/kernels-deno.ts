// The default kernel loader for Deno: build/kernels.wasm of this package (in Deno's npm cache or
// a node_modules folder), read with Deno.readFile. Needs --allow-read for the package's folder.
// Selected by the `deno` export condition (src/entry-deno.ts).
import { fail } from './errors.js';

export const KERNELS_URL = new URL('../../build/kernels.wasm', import.meta.url);

interface DenoLike { readFile(path: string | URL): Promise<Uint8Array> }

let compiled: Promise<WebAssembly.Module> | undefined;

/** The kernels as a compiled `WebAssembly.Module` (compiled once per isolate, then shared). */
export function loadKernels(path?: string | URL): Promise<WebAssembly.Module> {
  if (path !== undefined) return compileFile(path);
  compiled ??= compileFile(KERNELS_URL).catch((e) => { compiled = undefined; throw e; });
  return compiled;
}

async function compileFile(path: string | URL): Promise<WebAssembly.Module> {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  let bytes: Uint8Array;
  if (deno) {
    bytes = await deno.readFile(path).catch((e: Error) => fail('BAD_FILE', `cannot read the kernels ${String(path)}: ${e.message}`));
  } else {
    const res = await fetch(path);
    if (!res.ok) fail('BAD_FILE', `cannot fetch the kernels ${String(path)}: HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  return WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>).catch((e: unknown) => fail('BAD_FILE', `kernels.wasm does not compile: ${(e as Error).message}`));
}
