// A Cloudflare Worker serving INSTRUCTOR embeddings with the same handler as `instructor-wasm
// serve` (instructor-wasm/server), so the same routes:
//
//   POST /v1/embeddings  OpenAI's schema: {"model": "<MODEL>", "input": "text" | [...], "encoding_format"?, "instruction"?}
//   POST /embed          TEI's schema: {"inputs": "text" | ["text", ["instruction", "text"], {"instruction": "...", "text": "..."}],
//                        "instruction"?, "normalize"?, "truncate"?} -> number[][]  (x-truncated-inputs: inputs cut to 512 tokens)
//   GET /health, /info (model, dtype, dim, memory_bytes: the wasm memory; limits), /metrics
//   At most 64 inputs and a 512 KiB body per request (413 past either).
//
// `instructor-wasm` resolves to its `workerd` entry: the kernels are the compiled wasm module
// bundled with the Worker (no wasm compilation at run time, which Workers forbid). The weights
// file (with its tokenizer) is the object named by the MODEL variable, from an R2 bucket bound as
// WEIGHTS or, for files under the 25 MiB static-asset limit, from static assets bound as ASSETS.
// Either way it streams straight into wasm memory: the file is never held in the JS heap.
// The model loads on the first request of an isolate and then serves every request after it.
import { createInstructor } from 'instructor-wasm';
import { createEmbeddingServer, isServerPath, SERVER_PATHS } from 'instructor-wasm/server';

// Tokens per forward pass. Activations cost about 39 KiB per token on base and wasm memory never
// shrinks, so 512 (one full-length input) keeps base int4 within a Worker's 128 MB; the server's
// default (8192) would add about 300 MiB.
const MAX_BATCH_TOKENS = 512;
// The largest request: bench/workerd-memory.ts measures the isolate at it (MAX_INPUTS inputs of
// 512+ tokens, the body at MAX_BODY_BYTES); base int4 must stay within 128 MB there. At 128 inputs
// and 1 MiB the isolate reached an estimated 126.3 MB (before the GC after the request): too close.
const MAX_INPUTS = 64;
const MAX_BODY_BYTES = 512 << 10;
let server = null;

async function loadModel(env) {
  const key = env.MODEL || 'model.iwt';
  if (env.WEIGHTS) {
    const object = await env.WEIGHTS.get(key); // R2ObjectBody: body stream + size
    if (object === null) throw new Error(`R2 bucket WEIGHTS has no object "${key}"`);
    return createInstructor(object);
  }
  if (env.ASSETS) {
    const res = await env.ASSETS.fetch(new Request(`https://assets.local/${encodeURIComponent(key)}`));
    if (!res.ok) throw new Error(`static asset "${key}": HTTP ${res.status}`);
    return createInstructor(res);
  }
  throw new Error('no weights: bind an R2 bucket as WEIGHTS or static assets as ASSETS');
}

function serverFor(env) {
  if (server === null) {
    const model = loadModel(env);
    server = createEmbeddingServer({
      models: [{ id: (env.MODEL || 'model.iwt').replace(/\.iwt$/, ''), model }],
      maxBatchTokens: MAX_BATCH_TOKENS,
      maxInputs: MAX_INPUTS,
      maxBodyBytes: MAX_BODY_BYTES,
      maxQueuedTokens: 8 * MAX_BATCH_TOKENS,
      apiKey: env.API_KEY || undefined,
    });
    server.ready.catch(() => { server = null; }); // a failed load is retried by the next request
  }
  return server;
}

export default {
  async fetch(request, env) {
    if (!isServerPath(new URL(request.url).pathname)) {
      // not a route of the server: answered without loading the model
      return new Response(JSON.stringify({ error: `not found: ${SERVER_PATHS.join(', ')}, /v1/models/{id}` }), { status: 404, headers: { 'Content-Type': 'application/json' } });
    }
    const s = serverFor(env);
    // Workers cancel the I/O of a request once it is answered, so the request that started the
    // load (its weights stream) waits for it; so do requests arriving meanwhile.
    await s.ready.catch(() => {});
    return s.fetch(request);
  },
};
