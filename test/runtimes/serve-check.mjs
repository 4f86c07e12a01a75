// The embedding server's handler (instructor-wasm/server) under the runtime's own HTTP server:
// copied into build/runtimes/app/ and run there by test/runtimes/run.ts, which sends it
// POST /v1/embeddings and compares the answer with the golden. Two models: `tiny-<dtype>` runs on
// the server's thread (an Instructor), `tiny-<dtype>-threads` on two model threads (startModelHost:
// the runtime's Web Workers over one shared copy of the weights). Prints `LISTENING <port>` once
// it serves, or `ERROR <message>`; runs until killed.
//   deno run --allow-read --allow-net=127.0.0.1 serve-check.mjs <data dir> <dtype>
//   bun serve-check.mjs <data dir> <dtype>
import { createInstructor } from 'instructor-wasm';
import { startModelHost } from 'instructor-wasm/node';
import { createEmbeddingServer } from 'instructor-wasm/server';

const Deno = globalThis.Deno;
const Bun = globalThis.Bun;
const args = Deno ? Deno.args : globalThis.process.argv.slice(2);
const dir = args[0].replace(/\/?$/, '/');
const dtype = args[1] ?? 'fp32';

try {
  const file = `${dir}tiny-${dtype}.iwt`;
  const weights = Deno ? await Deno.readFile(file) : Bun.file(file);
  const server = createEmbeddingServer({
    models: [
      // each as it loads by default (the one build, simd128): the bits are compared
      { id: `tiny-${dtype}`, model: createInstructor(weights) },
      { id: `tiny-${dtype}-threads`, model: startModelHost(file, { replicas: 2 }) },
    ],
  });
  await server.ready;
  if (Deno) {
    Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: ({ port }) => console.log(`LISTENING ${port}`) }, server.fetch);
  } else {
    const s = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: server.fetch });
    console.log(`LISTENING ${s.port}`);
  }
} catch (e) {
  console.log(`ERROR ${String(e && e.stack || e).replace(/\n/g, ' | ')}`);
}
