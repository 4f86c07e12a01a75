// The Node, Deno and Bun test: copied into build/runtimes/app/ (a package that depends on
// instructor-wasm through node_modules) and run there, so `instructor-wasm` resolves through the
// package's `exports` with the runtime's own condition. Prints one JSON line: RESULT {...}.
//   deno run --allow-read --allow-net=127.0.0.1 cli-check.mjs <data dir>
//   bun cli-check.mjs <data dir>
//   node cli-check.mjs <data dir>
import * as iw from 'instructor-wasm';
import { checkGolden } from './golden-check.mjs';

const Deno = globalThis.Deno;
const Bun = globalThis.Bun;
const runtime = Deno ? 'deno' : Bun ? 'bun' : 'node';
const args = Deno ? Deno.args : globalThis.process.argv.slice(2);
const dir = args[0].replace(/\/?$/, '/');

async function readBytes(path) {
  if (Deno) return Deno.readFile(path);
  if (Bun) return new Uint8Array(await Bun.file(path).arrayBuffer());
  const { readFile } = await import('node:fs/promises');
  return new Uint8Array(await readFile(path));
}

const out = { runtime, entry: import.meta.resolve('instructor-wasm'), version: Deno ? Deno.version.deno : Bun ? Bun.version : process.version, results: [] };
try {
  const golden = JSON.parse(new TextDecoder().decode(await readBytes(dir + 'golden.json')));
  if (Deno) {
    // fp32: over HTTP from a local server, through fetchWeights' Cache API path (streamed in);
    // int8: bytes from the filesystem.
    const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, async (req) => {
      const name = new URL(req.url).pathname.slice(1);
      if (!/^[\w.-]+\.iwt$/.test(name)) return new Response('not found', { status: 404 });
      const bytes = await Deno.readFile(dir + name);
      return new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) } });
    });
    const url = `http://127.0.0.1:${server.addr.port}/tiny-fp32.iwt`;
    await iw.evictWeights(url);
    out.results.push(await checkGolden(iw.createInstructor, golden, 'fp32', iw.fetchWeightsResponse(url, { cache: true })));
    const cached = await (await caches.open('instructor-wasm')).match(url);
    out.cacheHit = cached !== undefined;
    await cached?.body?.cancel();
    await iw.evictWeights(url);
    await server.shutdown();
    out.results.push(await checkGolden(iw.createInstructor, golden, 'int8', await readBytes(dir + 'tiny-int8.iwt')));
  } else if (Bun) {
    // fp32: a Bun.file (a Blob: streamed into wasm memory); int8: an ArrayBuffer.
    out.results.push(await checkGolden(iw.createInstructor, golden, 'fp32', Bun.file(dir + 'tiny-fp32.iwt')));
    out.results.push(await checkGolden(iw.createInstructor, golden, 'int8', await Bun.file(dir + 'tiny-int8.iwt').arrayBuffer()));
  } else {
    // fp32: a Uint8Array; int8: a Response with a Content-Length whose body comes in chunks of
    // odd sizes (1 byte and up), so chunk edges fall inside the preamble, the header and the data.
    out.results.push(await checkGolden(iw.createInstructor, golden, 'fp32', await readBytes(dir + 'tiny-fp32.iwt')));
    const int8 = await readBytes(dir + 'tiny-int8.iwt');
    let at = 0, n = 1;
    const body = new ReadableStream({
      pull(c) {
        if (at >= int8.length) return c.close();
        const k = Math.min(n, int8.length - at);
        c.enqueue(int8.slice(at, at + k));
        at += k;
        n = (n * 3) % 5003 + 1;
      },
    });
    out.results.push(await checkGolden(iw.createInstructor, golden, 'int8', new Response(body, { headers: { 'Content-Length': String(int8.length) } })));
  }
  // The kernels also load as bytes / module through the runtime's loader, explicitly.
  const kernels = await iw.loadKernels();
  out.kernelsIsModule = kernels instanceof WebAssembly.Module;
} catch (e) {
  out.error = String(e && e.stack || e);
}
console.log('RESULT ' + JSON.stringify(out));
