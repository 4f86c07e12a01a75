// The default kernel loader for Cloudflare Workers (workerd): the wasm is imported as a module,
// which Workers hand over already compiled (they forbid compiling wasm from bytes at run time).
// wrangler bundles `build/kernels.wasm` by its CompiledWasm rule; a plain workerd config lists
// it as a `wasm` module (examples/worker/workerd.capnp). Selected by the `workerd` condition.
import kernels from '../../build/kernels.wasm';

/** The kernels as the compiled `WebAssembly.Module` the Worker was deployed with. */
export function loadKernels(): Promise<WebAssembly.Module> {
  return Promise.resolve(kernels);
}
