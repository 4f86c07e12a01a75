// A Cloudflare Worker serving INSTRUCTOR embeddings:
//
//   POST /embed  {"inputs": ["text", ["instruction", "text"], {"instruction": "...", "text": "..."}],
//                 "instruction": "optional, for the plain-string inputs"}
//   -> 200 {"embeddings": number[][], "dim": 768, "truncated": number[], "cutChars": number[]}
//   GET /health -> {"ok": true, "dtype": "int4", "dim": 768, "model": "...", "memoryBytes": <wasm memory>,
//                   "maxInputs": 128, "maxBodyBytes": 1048576}
//
// `instructor-wasm` resolves to its `workerd` entry: the kernels are the compiled wasm module
// bundled with the Worker (no wasm compilation at run time, which Workers forbid). The weights
// file (with its tokenizer) is the object named by the MODEL variable, from an R2 bucket bound as
// WEIGHTS or, for files under the 25 MiB static-asset limit, from static assets bound as ASSETS.
// Either way it streams straight into wasm memory: the file is never held in the JS heap.
// The model loads on the first request of an isolate and then serves every request after it.
import { createInstructor, InstructorError } from 'instructor-wasm';

// The largest request: the isolate's memory at it was measured by bench/workerd-memory.ts (base int4
// must stay within 128 MB with a request of MAX_INPUTS inputs of 512 tokens at MAX_BODY_BYTES).
const MAX_INPUTS = 128;
const MAX_BODY_BYTES = 1 << 20;
// Tokens per forward pass. Activations cost about 39 KiB per token on base and wasm memory never
// shrinks, so 512 (one full-length input) keeps base int4 within a Worker's 128 MB; the default
// (2048) would add about 60 MiB on a request of four long inputs.
const MAX_BATCH_TOKENS = 512;
let loading = null;

function loadModel(env) {
  loading ??= (async () => {
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
  })();
  loading.catch(() => { loading = null; }); // retry on the next request
  return loading;
}

/** The request body as text, or null when it is longer than `max` bytes (read no further than that). */
async function readBody(request, max) {
  const declared = Number(request.headers.get('Content-Length'));
  if (declared > max) return null;
  if (request.body === null) return '';
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  return new TextDecoder().decode(bytes);
}

const json = (body, status = 200) => new Response(JSON.stringify(body), {
  status,
  headers: { 'Content-Type': 'application/json; charset=utf-8' },
});

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    try {
      if (pathname === '/health' && request.method === 'GET') {
        const model = await loadModel(env);
        return json({
          ok: true, dtype: model.info.dtype, dim: model.dim, model: env.MODEL || 'model.iwt', memoryBytes: model.memoryBytes,
          maxInputs: MAX_INPUTS, maxBodyBytes: MAX_BODY_BYTES,
        });
      }
      if (pathname !== '/embed') return json({ error: 'not found: POST /embed or GET /health' }, 404);
      if (request.method !== 'POST') return json({ error: 'use POST' }, 405);
      const text = await readBody(request, MAX_BODY_BYTES);
      if (text === null) return json({ error: `the body is larger than ${MAX_BODY_BYTES} bytes` }, 413);
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        return json({ error: 'the body is not JSON' }, 400);
      }
      const { inputs, instruction } = body ?? {};
      if (!Array.isArray(inputs) || inputs.length === 0) return json({ error: 'inputs: expected a non-empty array' }, 400);
      if (inputs.length > MAX_INPUTS) return json({ error: `inputs: at most ${MAX_INPUTS} per request` }, 413);
      if (instruction !== undefined && typeof instruction !== 'string') return json({ error: 'instruction: expected a string' }, 400);
      const model = await loadModel(env);
      const r = await model.embed(inputs, { instruction, batchSize: 8, maxBatchTokens: MAX_BATCH_TOKENS });
      return json({ embeddings: r.embeddings.map((e) => Array.from(e)), dim: model.dim, truncated: r.truncated, cutChars: r.cutChars });
    } catch (e) {
      if (e instanceof InstructorError && e.code === 'BAD_INPUT') return json({ error: e.message, code: e.code }, 400);
      return json({ error: String(e?.message ?? e), code: e?.code ?? 'INTERNAL' }, 500);
    }
  },
};
