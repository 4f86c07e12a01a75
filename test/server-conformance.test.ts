// The server as a drop-in for the clients people run (issue 21): every response of every route,
// errors included, validated against OpenAI's and TEI's own OpenAPI documents
// (test/conformance/, vendored); the real `openai`, `@ai-sdk/openai-compatible`,
// `@langchain/openai` and `@huggingface/inference` packages pointed at it, what each sends
// recorded and every vector bit for bit equal to `encode`; Python LangChain's default request
// (tiktoken cl100k ids; no Python here) replayed as it goes on the wire.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import OpenAI from 'openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { embed, embedMany } from 'ai';
import { OpenAIEmbeddings } from '@langchain/openai';
import { InferenceClient } from '@huggingface/inference';
import { getEncoding } from 'js-tiktoken';
import { passOf } from '../src/engine/backend.js';
import { l2normalize } from '../src/engine/head.js';
import { pyStrip } from '../src/text/inputs.js';
import type { EmbedInput } from '../src/text/instructor.js';
import { sameBits } from './support/assert.js';
import { gated } from './support/gate.js';
import { openaiDocument, teiDocument, type OpenApiDocument } from './support/openapi.js';
import { metric, startServer, until, type TestServer } from './support/serve.js';
import { synthInstructor } from './support/synth-text-model.js';

const served = await synthInstructor('tiny', 'int8');
const ref = await synthInstructor('tiny', 'int8'); // a separate instance: what a user's encode gives
const MODEL = 'tiny-int8';
// Two more ids of the same model, each with its own default instruction (--alias)
const QUERY = 'tiny-query', QUERY_INSTRUCTION = 'Represent the question for retrieving supporting documents: ';
const DOCS = 'org/tiny-docs', DOCS_INSTRUCTION = 'Represent the document for retrieval: ';
const ALIASES = [{ id: QUERY, aliasOf: MODEL, instruction: QUERY_INSTRUCTION }, { id: DOCS, aliasOf: MODEL, instruction: DOCS_INSTRUCTION }];
const MAX_INPUTS = 8;

const oa = openaiDocument(), tei = teiDocument();
const main = await startServer({ models: [{ id: MODEL, model: served }], maxInputs: MAX_INPUTS, maxBodyBytes: 64 << 10 });
/** The same model under three ids (point 4): what the clients below pick instructions with. */
const aliased = await startServer({ models: [{ id: MODEL, model: served }, ...ALIASES] });

/** Which document, and which of its paths, describes each route of the server. */
function documentOf(method: string, path: string): [OpenApiDocument, string] {
  if (path === '/v1/embeddings' || path === '/embeddings') return [oa, '/embeddings'];
  if (path === '/v1/models') return [oa, '/models'];
  if (path.startsWith('/v1/models/')) return [oa, '/models/{model}'];
  if (path === '/') return [tei, method === 'GET' ? '/health' : '/embed']; // TEI's routes for an embedding model
  if (['/embed', '/tokenize', '/decode', '/info', '/health', '/metrics'].includes(path)) return [tei, path];
  return [oa, '/embeddings']; // an unknown route: answered in OpenAI's error envelope
}

/** OpenAI's document types `embedding` as floats only; base64 (the `openai` client's default) is a string: decoded before it is checked. */
function floatsForBase64(body: any): unknown {
  for (const d of body?.data ?? []) {
    if (typeof d.embedding === 'string') {
      const bytes = Buffer.from(d.embedding, 'base64');
      d.embedding = Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    }
  }
  return body;
}

/** Checks a response against its route's document; returns the status and the parsed body. */
async function conform(method: string, url: string, res: Response): Promise<{ status: number; body: any; headers: Headers }> {
  const text = await res.text();
  const [doc, path] = documentOf(method, new URL(url).pathname);
  return { status: res.status, body: doc.check(method, path, res.status, text, res.headers, floatsForBase64), headers: res.headers };
}

async function call(server: TestServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method, headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return conform(method, `${server.url}${path}`, res);
}

interface Sent { method: string; path: string; headers: Record<string, string>; body: any }

/** A fetch for a client: records what it sends, checks what it gets back against the route's document. */
function recording(sent: Sent[]): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const text = await request.clone().text();
    const headers: Record<string, string> = {};
    request.headers.forEach((v, k) => { headers[k] = v; });
    sent.push({ method: request.method, path: new URL(request.url).pathname, headers, body: text ? JSON.parse(text) : null });
    const res = await fetch(request);
    const copy = res.clone();
    await conform(request.method, request.url, copy);
    return res;
  }) as typeof fetch;
}

/** encode() of each input on its own: the reference every vector must equal bit for bit. */
async function alone(inputs: readonly EmbedInput[], instruction?: string): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const input of inputs) out.push((await ref.encode([input], { instruction }))[0]);
  return out;
}

const same = (got: ArrayLike<number>[], want: Float32Array[], what: string) => {
  assert.is(got.length, want.length, `${what}: vectors`);
  got.forEach((v, i) => sameBits(Float32Array.from(v), want[i], `${what} ${i}`));
};

const TEXTS = ['what is the capital of France?', 'Paris is the capital\nof France.', 'z'];

test('1. token ids are refused by default, in both envelopes, saying why and what to do (Python LangChain\'s default request, replayed); acceptTokenIds embeds them', async () => {
  // Python langchain-openai's OpenAIEmbeddings with its defaults (check_embedding_ctx_length=True):
  // tiktoken cl100k_base ids of each text (the model name is not an OpenAI one: cl100k), sent through
  // openai-python, which asks for base64. Replayed as it goes on the wire (Python cannot be installed here).
  const cl100k = getEncoding('cl100k_base');
  const python = { 'User-Agent': 'OpenAI/Python 1.109.1', 'X-Stainless-Lang': 'python', Authorization: 'Bearer unused' };
  const ids = TEXTS.map((t) => cl100k.encode(t));
  const refused = await call(main, 'POST', '/v1/embeddings', { input: ids, model: MODEL, encoding_format: 'base64' }, python);
  assert.is(refused.status, 400);
  assert.is(refused.body.error.type, 'invalid_request_error');
  assert.is(refused.body.error.code, 'token_ids_not_accepted');
  assert.is(refused.body.error.param, 'input');
  assert.match(refused.body.error.message, /token ids are not accepted.*cannot be told apart.*check_embedding_ctx_length=False.*--accept-token-ids/);
  // one token-id array, and TEI's route: the same refusal
  assert.is((await call(main, 'POST', '/v1/embeddings', { input: ids[0], model: MODEL })).status, 400);
  const teiRefused = await call(main, 'POST', '/embed', { inputs: ids });
  assert.is(teiRefused.status, 422);
  assert.is(teiRefused.body.error_type, 'Validation');
  assert.match(teiRefused.body.error, /token ids are not accepted/);
  // what the message says to do: check_embedding_ctx_length=False sends the texts
  const fixed = await call(main, 'POST', '/v1/embeddings', { input: TEXTS, model: MODEL, encoding_format: 'base64' }, python);
  assert.is(fixed.status, 200);
  same((floatsForBase64(fixed.body) as any).data.map((d: any) => d.embedding), await alone(TEXTS), 'LangChain Python, texts');
  // an operator whose clients send the model's own ids
  const s = await startServer({ models: [{ id: MODEL, model: served }], acceptTokenIds: true });
  try {
    const own = TEXTS.map((t) => ref.tokenizer.encodeNoSpecial(pyStrip(t)));
    const r = await call(s, 'POST', '/v1/embeddings', { input: own, model: MODEL, encoding_format: 'float' });
    assert.is(r.status, 200);
    same(r.body.data.map((d: any) => d.embedding), await alone(TEXTS), 'own token ids');
    const t = await call(s, 'POST', '/embed', { inputs: own });
    same(t.body, await alone(TEXTS), 'own token ids on /embed');
    const info = await call(s, 'GET', '/info');
    assert.is(info.body.limits.accept_token_ids, true);
  } finally {
    await s.close();
  }
});

test('2. TEI: POST / embeds as /embed; truncation_direction "left"/"Left" cuts the start (bits as the model on those ids); model ignored unless served', async () => {
  const want = await alone(TEXTS);
  const bare = await call(main, 'POST', '/', { inputs: TEXTS });
  assert.is(bare.status, 200);
  same(bare.body, want, 'POST /');
  same((await call(main, 'POST', '/embed', { inputs: TEXTS, truncation_direction: 'right' })).body, want, 'right');
  // @huggingface/inference 2.x sends the hub id as `model`: not a served id, ignored as TEI does
  same((await call(main, 'POST', '/embed', { inputs: TEXTS, model: 'hkunlp/instructor-large' })).body, want, 'unknown model ignored');
  // left: a plain text and a pair, 700 distinct words (start and end differ)
  const long = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ');
  const instruction = 'Represent the Science title:';
  const hosted = ref.hosted();
  const byIds = async (ids: number[], nInstr: number) => l2normalize((await hosted.backend.run(passOf([{ ids: Int32Array.from(ids), nInstr }]))).slice(0, ref.dim));
  const all = ref.tokenizer.encodeNoSpecial(long);
  const joined = ref.tokenizer.encodeNoSpecial(instruction + long), nInstr = ref.tokenizer.encodeNoSpecial(instruction).length;
  const wantLeft = [
    await byIds([...all.slice(all.length - 511), ref.tokenizer.eosId], 0),
    await byIds([...joined.slice(0, nInstr), ...joined.slice(joined.length - (511 - nInstr)), ref.tokenizer.eosId], nInstr),
  ];
  for (const direction of ['left', 'Left']) {
    const res = await fetch(`${main.url}/embed`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: [long, [instruction, long]], truncation_direction: direction }) });
    assert.is(res.headers.get('x-truncated-inputs'), '2');
    const r = await conform('POST', `${main.url}/embed`, res);
    assert.is(r.status, 200, direction);
    same(r.body, wantLeft, `truncation_direction ${direction}`);
  }
  const right = (await call(main, 'POST', '/embed', { inputs: [long] })).body[0];
  assert.not.equal(right, Array.from(wantLeft[0]), 'the left cut is another vector than the right one');
});

test('2. TEI: inputs [] is 400 Empty; error_type only from TEI\'s enum; /info carries TEI\'s fields; /health 503 in TEI\'s error shape', async () => {
  const empty = await call(main, 'POST', '/embed', { inputs: [] });
  assert.is(empty.status, 400);
  assert.is(empty.body.error_type, 'Empty');
  assert.is((await call(main, 'POST', '/', { inputs: [] })).status, 400);
  // every error of TEI's routes: validated against ErrorResponse (error_type an ErrorType), e.g.
  for (const [body, status] of [[{}, 422], [{ inputs: 'a', truncation_direction: 'up' }, 422], [{ inputs: Array(MAX_INPUTS + 1).fill('a') }, 413], ['{"inputs":', 422]] as const) {
    assert.is((await call(main, 'POST', '/embed', body)).status, status, JSON.stringify(body));
  }
  assert.is((await call(main, 'GET', '/embed')).status, 405);
  assert.is((await call(main, 'POST', '/embed', 'x', { 'Content-Type': 'text/plain' })).status, 415);
  const info = await call(main, 'GET', '/info');
  assert.is(info.status, 200);
  assert.is(info.body.model_id, MODEL);
  assert.is(info.body.served_model_name, MODEL);
  assert.is(info.body.max_concurrent_requests, 128);
  assert.is(info.body.tokenization_workers, 1);
  assert.is(info.body.max_client_batch_size, MAX_INPUTS);
  // while loading: /health 503 {error, error_type: "Unhealthy"} (GET / too), /info 503 (TEI describes a loaded model), every route 503
  let release!: (m: typeof served) => void;
  const s = await startServer({ models: [{ id: MODEL, model: new Promise<typeof served>((r) => { release = r; }) }], apiKey: 'k' });
  try {
    const auth = { Authorization: 'Bearer k' };
    for (const path of ['/health', '/']) {
      const h = await call(s, 'GET', path);
      assert.is(h.status, 503);
      assert.is(h.body.error_type, 'Unhealthy');
      assert.match(h.body.error, /model tiny-int8 is loading/);
      assert.is(h.body.status, 'loading');
    }
    assert.is((await call(s, 'GET', '/info', undefined, auth)).status, 503);
    for (const [path, body] of [['/embed', { inputs: 'x' }], ['/', { inputs: 'x' }], ['/tokenize', { inputs: 'x' }], ['/decode', { ids: [5] }], ['/v1/embeddings', { model: MODEL, input: 'x' }]] as const) {
      const r = await call(s, 'POST', path, body, auth);
      assert.is(r.status, 503, path);
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    }
    assert.is((await call(s, 'POST', '/embed', { inputs: 'x' })).status, 401, 'no key');
    release(served);
    await s.app.ready;
    assert.is((await call(s, 'GET', '/health')).status, 200);
    assert.is((await call(s, 'GET', '/')).status, 200, 'GET / is TEI\'s health route, open without a key as /health');
    const draining = s.app.drain();
    const d = await call(s, 'GET', '/health');
    assert.is(d.status, 503);
    assert.is(d.body.error_type, 'Unhealthy');
    await draining;
  } finally {
    await s.close();
  }
});

test('2. TEI: /tokenize gives the ids the model embeds (with offsets into the input, as TEI: UTF-8 bytes), /decode gives text back', async () => {
  const inputs = ['  Hello world, caf\u00e9 \ud83d\ude00!', 'second input'];
  const r = await call(main, 'POST', '/tokenize', { inputs });
  assert.is(r.status, 200);
  const prepared = await ref.prepare(inputs);
  r.body.forEach((tokens: any[], i: number) => {
    assert.equal(tokens.map((t) => t.id), Array.from(prepared[i].ids), `input ${i}: the ids encode embeds`);
    assert.ok(tokens.at(-1).special && tokens.at(-1).text === '</s>' && tokens.at(-1).start === null);
    const bytes = Buffer.from(inputs[i], 'utf8');
    for (const t of tokens.slice(0, -1)) assert.is(bytes.subarray(t.start, t.stop).toString('utf8'), t.text, `input ${i}: ${JSON.stringify(t)}`);
  });
  assert.equal(r.body[0].slice(0, 2).map((t: any) => [t.text, t.start, t.stop]), [['Hello', 2, 7], [' world', 7, 13]]);
  const single = await call(main, 'POST', '/tokenize', { inputs: 'one', add_special_tokens: false });
  assert.ok(single.body.length === 1 && single.body[0].every((t: any) => !t.special));
  const d = await call(main, 'POST', '/decode', { ids: r.body.map((ts: any[]) => ts.map((t) => t.id)) });
  assert.equal(d.body, ['Hello world, caf\u00e9 !', 'second input'], 'the emoji is <unk>, a special token: skipped');
  assert.equal((await call(main, 'POST', '/decode', { ids: [1], skip_special_tokens: false })).body, ['</s>']);
  for (const [path, body, status] of [['/tokenize', { inputs: [] }, 400], ['/decode', { ids: [] }, 400], ['/tokenize', { inputs: [1] }, 422],
    ['/decode', { ids: [[5, 99999]] }, 422], ['/tokenize', { inputs: ['ok', 'word '.repeat(512 * 64 / 5 + 1)] }, 422], ['/tokenize', { inputs: Array(MAX_INPUTS + 1).fill('a') }, 413], ['/decode', { ids: Array(MAX_INPUTS + 1).fill([5]) }, 413]] as const) {
    assert.is((await call(main, 'POST', path, body)).status, status, `${path} ${JSON.stringify(body).slice(0, 40)}`);
  }
});

test('3. OpenAI: GET /v1/models/{id} (models.retrieve, ids with a slash too); more inputs than the limit is a 400; errors in OpenAI\'s envelope', async () => {
  const sent: Sent[] = [];
  const client = new OpenAI({ apiKey: 'unused', baseURL: `${main.url}/v1`, maxRetries: 0, fetch: recording(sent) });
  const m = await client.models.retrieve(MODEL);
  assert.is(m.id, MODEL);
  assert.is(m.object, 'model');
  // a hub id holds a slash: the client percent-encodes it, curl sends it as it is
  const hub = await startServer({ models: [{ id: 'hkunlp/instructor-base', model: served }] });
  try {
    const hubClient = new OpenAI({ apiKey: 'unused', baseURL: `${hub.url}/v1`, maxRetries: 0, fetch: recording(sent) });
    assert.is((await hubClient.models.retrieve('hkunlp/instructor-base')).id, 'hkunlp/instructor-base');
    assert.is(sent.at(-1)!.path, '/v1/models/hkunlp%2Finstructor-base');
    assert.is((await call(hub, 'GET', '/v1/models/hkunlp/instructor-base')).body.id, 'hkunlp/instructor-base');
  } finally {
    await hub.close();
  }
  try {
    await client.models.retrieve('text-embedding-3-small');
    assert.unreachable('unknown model retrieved');
  } catch (e) {
    assert.instance(e, OpenAI.NotFoundError);
    assert.is((e as InstanceType<typeof OpenAI.NotFoundError>).code, 'model_not_found');
  }
  assert.equal((await client.models.list()).data.map((x) => x.id), [MODEL]);
  const many = await call(main, 'POST', '/v1/embeddings', { model: MODEL, input: Array(MAX_INPUTS + 1).fill('a') });
  assert.is(many.status, 400);
  assert.is(many.body.error.param, 'input');
  try {
    await client.embeddings.create({ model: MODEL, input: Array(MAX_INPUTS + 1).fill('a') });
    assert.unreachable('past the input limit');
  } catch (e) {
    assert.instance(e, OpenAI.BadRequestError);
  }
  // the other errors of OpenAI's routes, each validated against ErrorResponse
  for (const [body, status] of [[{ model: MODEL, input: [] }, 400], [{ model: 'nope', input: 'x' }, 404], [{ model: MODEL, input: 'x'.repeat(70 << 10) }, 413], ['{', 400]] as const) {
    assert.is((await call(main, 'POST', '/v1/embeddings', body)).status, status);
  }
  assert.is((await call(main, 'POST', '/embeddings', { model: MODEL, input: 'x', encoding_format: 'float' })).status, 200, 'TEI\'s OpenAI route without /v1');
  assert.is((await call(main, 'GET', '/v1/embeddings')).status, 405);
  assert.is((await call(main, 'POST', '/v1/models')).status, 405);
  assert.is((await call(main, 'GET', '/v2/nothing')).status, 404);
  const s = await startServer({ models: [{ id: MODEL, model: served }], apiKey: 'k' });
  try {
    assert.is((await call(s, 'POST', '/v1/embeddings', { model: MODEL, input: 'x' })).status, 401);
    assert.is((await call(s, 'GET', `/v1/models/${MODEL}`)).status, 401);
  } finally {
    await s.close();
  }
});

test('429 with Retry-After in both envelopes, validated (OpenAI documents its header)', async () => {
  const s = await startServer({ models: [{ id: MODEL, model: served }], maxConcurrentRequests: 1 });
  const socket = connect(s.port, '127.0.0.1');
  try {
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{'); // holds the one permit
    await until(() => s.app.admitted === 1, 'the held request');
    for (const [path, body] of [['/v1/embeddings', { model: MODEL, input: 'x' }], ['/embed', { inputs: 'x' }], ['/tokenize', { inputs: 'x' }]] as const) {
      const r = await call(s, 'POST', path, body);
      assert.is(r.status, 429, path);
      assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    }
  } finally {
    socket.destroy();
    await s.close();
  }
});

test('4. one model under several ids, each with its own instruction: one copy of the weights, one queue (requests to different ids share a pass)', async () => {
  const gate = gated(served.hosted());
  const s = await startServer({ models: [{ id: MODEL, model: gate.model }, ...ALIASES] });
  try {
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${s.url}/v1`, maxRetries: 0, fetch: recording([]) });
    assert.equal((await client.models.list()).data.map((x) => x.id), [MODEL, QUERY, DOCS], 'every id listed');
    for (const id of [MODEL, QUERY, DOCS]) assert.is((await client.models.retrieve(id)).id, id);
    const blocker = call(s, 'POST', '/embed', { inputs: 'holds the model thread' });
    await until(() => gate.held === 1, 'the first pass');
    const pending = [
      call(s, 'POST', '/v1/embeddings', { model: MODEL, input: TEXTS, encoding_format: 'float' }),
      call(s, 'POST', '/v1/embeddings', { model: QUERY, input: TEXTS, encoding_format: 'float' }),
      call(s, 'POST', '/v1/embeddings', { model: DOCS, input: [...TEXTS, ['Own instruction:', 'kept']], instruction: undefined, encoding_format: 'float' }),
      call(s, 'POST', '/v1/embeddings', { model: QUERY, input: TEXTS, instruction: 'Request instruction wins:', encoding_format: 'float' }),
    ];
    for (const t0 = Date.now(); ;) {
      const queued = metric(await (await fetch(`${s.url}/metrics`)).text(), `instructor_queue_requests{model="${MODEL}"}`);
      if (queued === 5) break;
      if (Date.now() - t0 > 10_000) throw new Error(`${queued} requests queued, expected 5`);
      await new Promise((r) => setTimeout(r, 10));
    }
    gate.open();
    await blocker;
    const [base, query, docs, explicit] = await Promise.all(pending);
    assert.is(gate.passes.length, 2, `passes: ${JSON.stringify(gate.passes)}`);
    assert.is(gate.passes[1].length, 3 * TEXTS.length + TEXTS.length + 1, 'every id\'s inputs in one pass: one scheduler, one model');
    same(base.body.data.map((d: any) => d.embedding), await alone(TEXTS), MODEL);
    same(query.body.data.map((d: any) => d.embedding), await alone(TEXTS, QUERY_INSTRUCTION), QUERY);
    same(docs.body.data.map((d: any) => d.embedding), await alone([...TEXTS, ['Own instruction:', 'kept']], DOCS_INSTRUCTION), DOCS);
    same(explicit.body.data.map((d: any) => d.embedding), await alone(TEXTS, 'Request instruction wins:'), 'a request\'s instruction');
    assert.equal([base, query, docs].map((r) => r.body.model), [MODEL, QUERY, DOCS], 'the response names the id asked for');
    const info = await call(s, 'GET', '/info');
    assert.is(info.body.models.length, 1, 'one model loaded');
    assert.equal(info.body.models[0].aliases, [{ id: QUERY, instruction: QUERY_INSTRUCTION }, { id: DOCS, instruction: DOCS_INSTRUCTION }]);
    // TEI's route: a served id in `model` picks it, and its instruction
    same((await call(s, 'POST', '/embed', { inputs: TEXTS, model: QUERY })).body, await alone(TEXTS, QUERY_INSTRUCTION), 'TEI, served model id');
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.is(metrics.split('\n').filter((l) => l.startsWith('instructor_wasm_memory_bytes{')).length, 1, 'one copy of the weights');
  } finally {
    gate.open();
    await s.close();
  }
});

test('the real clients pointed at the server: what each sends, every vector equal to encode bit for bit', async () => {
  // openai (the official client): base64 by default
  let sent: Sent[] = [];
  const client = new OpenAI({ apiKey: 'sk-x', baseURL: `${aliased.url}/v1`, maxRetries: 0, fetch: recording(sent) });
  const r = await client.embeddings.create({ model: QUERY, input: TEXTS });
  same(r.data.map((d) => d.embedding), await alone(TEXTS, QUERY_INSTRUCTION), 'openai');
  assert.equal(sent.map((s) => [s.method, s.path]), [['POST', '/v1/embeddings']]);
  assert.equal(sent[0].body, { model: QUERY, input: TEXTS, encoding_format: 'base64' });
  assert.is(sent[0].headers.authorization, 'Bearer sk-x');

  // the AI SDK's OpenAI-compatible provider: model and input only (float)
  sent = [];
  const provider = createOpenAICompatible({ name: 'instructor', baseURL: `${aliased.url}/v1`, apiKey: 'sk-x', fetch: recording(sent) });
  const many = await embedMany({ model: provider.embeddingModel(DOCS), values: TEXTS, maxRetries: 0 });
  same(many.embeddings, await alone(TEXTS, DOCS_INSTRUCTION), 'AI SDK embedMany');
  const one = await embed({ model: provider.embeddingModel(QUERY), value: TEXTS[0], maxRetries: 0 });
  same([one.embedding], await alone([TEXTS[0]], QUERY_INSTRUCTION), 'AI SDK embed');
  assert.equal(sent.map((s) => [s.method, s.path]), [['POST', '/v1/embeddings'], ['POST', '/v1/embeddings']]);
  assert.equal(sent[0].body, { model: DOCS, input: TEXTS, encoding_format: 'float' });

  // LangChain JS OpenAIEmbeddings: strings (newlines replaced by spaces), through the openai client
  sent = [];
  const lc = new OpenAIEmbeddings({ model: QUERY, apiKey: 'sk-x', configuration: { baseURL: `${aliased.url}/v1`, fetch: recording(sent) }, maxRetries: 0 });
  const docs = await lc.embedDocuments(TEXTS);
  const query = await lc.embedQuery(TEXTS[1]);
  const stripped = TEXTS.map((t) => t.replace(/\n/g, ' '));
  same(docs, await alone(stripped, QUERY_INSTRUCTION), 'LangChain embedDocuments');
  same([query], await alone([stripped[1]], QUERY_INSTRUCTION), 'LangChain embedQuery');
  assert.equal(sent[0].body.input, stripped);
  assert.is(sent[0].body.model, QUERY);
  assert.ok(sent.every((s) => s.path === '/v1/embeddings' && typeof s.body.input !== 'number'), 'LangChain JS sends text, never token ids');

  // @huggingface/inference with an endpoint URL: POST to the bare URL (TEI's POST /), {inputs}; the
  // instruction by the server's first id, or an INSTRUCTOR field the client passes through
  sent = [];
  const hf = new InferenceClient(undefined, { fetch: recording(sent) } as never);
  const hfOut = await hf.featureExtraction({ endpointUrl: aliased.url, inputs: TEXTS });
  same(hfOut as number[][], await alone(TEXTS), '@huggingface/inference');
  const hfInstr = await hf.featureExtraction({ endpointUrl: aliased.url, inputs: TEXTS, instruction: QUERY_INSTRUCTION } as never);
  same(hfInstr as number[][], await alone(TEXTS, QUERY_INSTRUCTION), '@huggingface/inference + instruction');
  assert.equal(sent.map((s) => [s.method, s.path]), [['POST', '/'], ['POST', '/']]);
  assert.equal(sent[0].body, { inputs: TEXTS });
  assert.match(sent[0].headers['user-agent'], /^@huggingface\/inference\//);
});

test('@huggingface/inference while the model loads: it resends every 503 at once; each 503 is answered without reading the body or touching a model', async () => {
  let release!: (m: typeof served) => void;
  const s = await startServer({ models: [{ id: MODEL, model: new Promise<typeof served>((r) => { release = r; }) }] });
  try {
    const sent: Sent[] = [];
    setTimeout(() => release(served), 10_000).unref(); // a client that does not resend must not leave the server loading
    const hf = new InferenceClient(undefined, { fetch: recording(sent) } as never);
    const out = hf.featureExtraction({ endpointUrl: s.url, inputs: TEXTS }).catch((e: Error) => e);
    await until(() => sent.length >= 20, 'the client to resend');
    release(served);
    const vectors = await out;
    if (vectors instanceof Error) throw vectors;
    same(vectors as number[][], await alone(TEXTS), 'answered once loaded');
    const refused = s.log.filter((l) => l.status === 503);
    assert.ok(refused.length >= 19 && refused.every((l) => l.inputs === 0 && l.tokens === 0), `${refused.length} 503s, none tokenized`);
    console.log(`  @huggingface/inference resent ${sent.length - 1} times while loading (no delay: Retry-After ignored)`);
  } finally {
    await s.close();
  }
});

test('every route, its success and its errors, was checked against its document', () => {
  const want = {
    openai: ['POST /embeddings 200', 'POST /embeddings 400', 'POST /embeddings 401', 'POST /embeddings 404', 'POST /embeddings 405', 'POST /embeddings 413',
      'POST /embeddings 429', 'POST /embeddings 503', 'GET /models 200', 'GET /models/{model} 200', 'GET /models/{model} 404', 'GET /models/{model} 401'],
    tei: ['POST /embed 200', 'POST /embed 400', 'POST /embed 401', 'POST /embed 405', 'POST /embed 413', 'POST /embed 415', 'POST /embed 422', 'POST /embed 429', 'POST /embed 503',
      'POST /tokenize 200', 'POST /tokenize 400', 'POST /tokenize 413', 'POST /tokenize 422', 'POST /tokenize 429', 'POST /tokenize 503',
      'POST /decode 200', 'POST /decode 400', 'POST /decode 413', 'POST /decode 422', 'POST /decode 503',
      'GET /info 200', 'GET /info 503', 'GET /health 200', 'GET /health 503'],
  };
  for (const [doc, keys] of [[oa, want.openai], [tei, want.tei]] as const) {
    for (const k of keys) assert.ok(doc.seen.has(k), `${doc.name}: ${k} checked (seen: ${[...doc.seen].sort().join('; ')})`);
  }
});

test.after(async () => {
  await main.close();
  await aliased.close();
  served.dispose();
  ref.dispose();
});

test.run();
