// `import m from './x.wasm'` in Cloudflare Workers (and wrangler / workerd): a compiled module.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
