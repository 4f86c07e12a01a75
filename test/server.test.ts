// The embedding server (src/server/) on a real loopback port behind the Node listener of
// `instructor-wasm serve`: the official `openai` client and plain fetch for TEI's route, every
// vector bit for bit equal to `encode` of the same input alone; dynamic batching; every status
// code provoked for real; client disconnects; a request of 2048 full-length inputs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import OpenAI from 'openai';
import type { EmbedInput } from '../src/text/instructor.js';
import { createEmbeddingServer } from '../src/server/app.js';
import { rejects, sameBits, throwsCode } from './support/assert.js';
import { MICRO_CONFIG, synthInstructor } from './support/synth-text-model.js';
import { metric, rawRequest, startServer, until, type TestServer } from './support/serve.js';
import { gated } from './support/gate.js';

const served = await synthInstructor('tiny', 'int8');
const ref = await synthInstructor('tiny', 'int8'); // a separate instance: what a user's encode gives
const MODEL = 'tiny-int8';
const DIM = ref.dim;

// acceptTokenIds: the tests below send ids of the model's own tokenizer (refused by default: test/server-conformance.test.ts)
const main = await startServer({ models: [{ id: MODEL, model: served }], maxBodyBytes: 64 * 1024, bodyTimeoutMs: 400, acceptTokenIds: true });
const client = new OpenAI({ apiKey: 'unused', baseURL: `${main.url}/v1`, maxRetries: 0 });

const INSTR = 'Represent the Science title:';
const MIXED: EmbedInput[] = [
  'plain text, no instruction',
  [INSTR, '3D ActionSLAM: wearable person tracking in multi-floor environments'],
  { instruction: 'Represent the document for retrieval:', text: 'Capitalism has been dominant in the Western world' },
  ['Represent the Medicine sentence for clustering: ', 'Fermion Bags in the Massive Gross-Neveu Model', 0],
  'z',
];

/** Holding a connection after a 429 lasts min(Retry-After, 1 s); Retry-After is at least 1 s. Timers never fire early by more than a millisecond. */
const HOLD_LOWER_MS = 990;

/** Over one keep-alive connection: a POST of `body` (refused with 429), then at once GET /health; resolves with the times both answers ended. */
function askTwiceOnOneConnection(port: number, body: string): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let refusedAt = -1;
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no two answers in 10 s: ${JSON.stringify(data.slice(0, 400))}`)); }, 10_000);
    socket.on('error', reject);
    socket.on('data', (d) => {
      data += d.toString('utf8');
      const answers = data.split('HTTP/1.1 ').slice(1);
      if (refusedAt < 0 && answers.length >= 1 && answers[0].includes('\r\n\r\n{')) {
        if (!answers[0].startsWith('429')) { clearTimeout(timer); socket.destroy(); reject(new Error(`expected a 429 first: ${answers[0].slice(0, 200)}`)); return; }
        assert.not.match(answers[0], /connection: close/i);
        refusedAt = performance.now();
        socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      }
      if (answers.length >= 2 && answers[1].includes('\r\n\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        assert.match(answers[1], /^200 /);
        resolve([refusedAt, performance.now()]);
      }
    });
    socket.on('connect', () => socket.write(`POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
  });
}

/** encode() of each input on its own: the reference every server vector must equal bit for bit. */
async function alone(inputs: readonly EmbedInput[], options: { instruction?: string; normalize?: boolean } = {}): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const input of inputs) out.push((await ref.encode([input], options))[0]);
  return out;
}

const post = (server: TestServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** Waits until exactly `tokens` tokens wait in the server's queue (GET /metrics). */
async function untilQueued(server: TestServer, tokens: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const q = metric(await (await fetch(`${server.url}/metrics`)).text(), `instructor_queue_tokens{model="${MODEL}"}`);
    if (q === tokens) return;
    if (Date.now() - t0 > 10_000) throw new Error(`queue holds ${q} tokens, expected ${tokens}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A request whose body never completes: it holds an admission permit until `release()` drops it. */
async function holdArriving(server: TestServer): Promise<{ release: () => void }> {
  const socket = connect(server.port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const before = server.app.admitted;
  socket.write('POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{');
  await until(() => server.app.admitted > before, 'the held request to be admitted');
  return { release: () => socket.destroy() };
}

async function errorOf(res: Response): Promise<{ status: number; body: any }> {
  return { status: res.status, body: await res.json() };
}

function isOpenAIError(body: any, status: number, what: string): void {
  assert.type(body?.error?.message, 'string', `${what}: error.message`);
  assert.type(body.error.type, 'string', `${what}: error.type`);
  assert.ok('param' in body.error && 'code' in body.error, `${what}: error.param and error.code present`);
  assert.ok(status >= 400, what);
}

test('openai client, default (base64) and float: every vector equals encode() of the input alone, bit for bit', async () => {
  const want = await alone(MIXED);
  const b64 = await client.embeddings.create({ model: MODEL, input: MIXED as any });
  const float = await client.embeddings.create({ model: MODEL, input: MIXED as any, encoding_format: 'float' });
  for (const [what, r] of [['base64', b64], ['float', float]] as const) {
    assert.is(r.object, 'list');
    assert.is(r.model, MODEL);
    assert.is(r.data.length, MIXED.length);
    r.data.forEach((d, i) => {
      assert.is(d.object, 'embedding');
      assert.is(d.index, i);
      assert.is(d.embedding.length, DIM);
      sameBits(Float32Array.from(d.embedding), want[i], `${what} input ${i}`);
    });
    const { tokens } = await ref.embed(MIXED);
    assert.is(r.usage.prompt_tokens, tokens.reduce((a, b) => a + b, 0), `${what}: usage counts the tokens embedded`);
    assert.is(r.usage.total_tokens, r.usage.prompt_tokens);
  }
  // The wire format of base64: little-endian float32 bytes.
  const raw = await (await post(main, '/v1/embeddings', { model: MODEL, input: 'z', encoding_format: 'base64' })).json() as any;
  const bytes = Buffer.from(raw.data[0].embedding, 'base64');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  sameBits(Float32Array.from({ length: DIM }, (_, k) => dv.getFloat32(4 * k, true)), want[4], 'base64 little-endian');
});

test('INSTRUCTOR extension: a top-level instruction applies to plain strings; a single string; token ids', async () => {
  const r = await client.embeddings.create({ model: MODEL, input: ['alpha decay', [INSTR, 'beta']], instruction: INSTR } as any);
  const want = await alone(['alpha decay', [INSTR, 'beta']], { instruction: INSTR });
  r.data.forEach((d, i) => sameBits(Float32Array.from(d.embedding), want[i], `instruction input ${i}`));
  sameBits(Float32Array.from(r.data[0].embedding), (await alone([[INSTR, 'alpha decay']]))[0], 'instruction + string = the pair');
  const one = await client.embeddings.create({ model: MODEL, input: 'a single string' });
  assert.is(one.data.length, 1);
  sameBits(Float32Array.from(one.data[0].embedding), (await alone(['a single string']))[0], 'single string');
  // Token ids of the model's tokenizer (without </s>) embed exactly as their text.
  const texts = ['token ids in', 'two of them'];
  const ids = texts.map((t) => ref.tokenizer.encodeNoSpecial(t));
  const byIds = await client.embeddings.create({ model: MODEL, input: ids });
  const want2 = await alone(texts);
  byIds.data.forEach((d, i) => sameBits(Float32Array.from(d.embedding), want2[i], `ids input ${i}`));
  const single = await client.embeddings.create({ model: MODEL, input: ids[0] });
  sameBits(Float32Array.from(single.data[0].embedding), want2[0], 'one token-id array');
  assert.equal((await client.models.list()).data.map((m) => m.id), [MODEL]);
});

test('TEI POST /embed with fetch: string, string[], instruction, normalize false; bits equal encode()', async () => {
  const texts = ['what is the capital of France', 'Paris is the capital of France', [INSTR, 'a pair in TEI inputs']] as EmbedInput[];
  let res = await post(main, '/embed', { inputs: texts });
  assert.is(res.status, 200);
  assert.is(res.headers.get('x-truncated-inputs'), '0');
  const got = await res.json() as number[][];
  const want = await alone(texts);
  got.forEach((v, i) => sameBits(Float32Array.from(v), want[i], `TEI input ${i}`));
  res = await post(main, '/embed', { inputs: 'one string', instruction: INSTR, normalize: false });
  const [raw] = await res.json() as number[][];
  sameBits(Float32Array.from(raw), (await alone(['one string'], { instruction: INSTR, normalize: false }))[0], 'TEI normalize false + instruction');
  assert.ok(Math.abs(Math.hypot(...raw) - 1) > 1e-3, 'normalize: false really is unnormalised');
});

test('dynamic batching: requests that arrive while a pass runs share the next pass, and every result is still bit-identical', async () => {
  const gate = gated(served.hosted());
  const s = await startServer({ models: [{ id: MODEL, model: gate.model }] });
  try {
    const first = post(s, '/embed', { inputs: 'the first request takes the lane' });
    await until(() => gate.held === 1, 'the first pass to reach the model');
    const requests = Array.from({ length: 24 }, (_, i) => [`request ${i}: ${'word '.repeat(i % 7)}`, [INSTR, `title number ${i}`]] as EmbedInput[]);
    const oa = new OpenAI({ apiKey: 'unused', baseURL: `${s.url}/v1`, maxRetries: 0 });
    const pending = requests.map((input, i) => i % 2 === 0
      ? oa.embeddings.create({ model: MODEL, input: input as any }).then((r) => r.data.map((d) => d.embedding))
      : post(s, '/embed', { inputs: input }).then((r) => r.json() as Promise<number[][]>));
    const queued = async () => metric(await (await fetch(`${s.url}/metrics`)).text(), `instructor_queue_requests{model="${MODEL}"}`);
    for (let t0 = Date.now(); (await queued()) < 25;) if (Date.now() - t0 > 10_000) throw new Error('the 24 requests did not all queue');
    gate.open();
    const results = await Promise.all(pending);
    assert.is((await first).status, 200);
    for (let i = 0; i < requests.length; i++) {
      const want = await alone(requests[i]);
      results[i].forEach((v, k) => sameBits(Float32Array.from(v), want[k], `request ${i} input ${k}`));
    }
    assert.is(gate.passes.length, 2, `1 + 24 requests ran in ${gate.passes.length} forward passes: ${JSON.stringify(gate.passes.map((p) => p.length))}`);
    assert.is(gate.passes[1].length, 48, 'the second pass holds every input of the 24 requests that queued');
  } finally {
    await s.close();
  }
});

test('admission: a permit per embedding request from its first byte; past --max-concurrent-requests a 429 at once, body unread; the permit comes back with the answer', async () => {
  const s = await startServer({ models: [{ id: MODEL, model: served }], maxConcurrentRequests: 2 });
  try {
    const a = await holdArriving(s);
    const b = await holdArriving(s);
    assert.is(s.app.admitted, 2);
    const admittedMetric = async () => metric(await (await fetch(`${s.url}/metrics`)).text(), 'instructor_admitted_requests');
    assert.is(await admittedMetric(), 2);
    // refused before its body is read: the head announces a body that never comes
    const refused = await rawRequest(s.port, 'POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 5000', []);
    assert.is(refused.status, 429);
    assert.match(refused.headers['retry-after'], /^\d+$/);
    assert.is(refused.headers.connection, 'close');
    assert.match(JSON.parse(refused.body).error.message, /2 requests in progress, at most 2 \(--max-concurrent-requests\)/);
    const tei = await errorOf(await post(s, '/embed', { inputs: 'x' }));
    assert.is(tei.status, 429);
    assert.is(tei.body.error_type, 'Overloaded');
    // the routes that do not embed take no permit
    assert.is((await fetch(`${s.url}/health`)).status, 200);
    a.release();
    await until(() => s.app.admitted === 1, 'the released permit');
    const ok = await post(s, '/v1/embeddings', { model: MODEL, input: 'now there is room' });
    assert.is(ok.status, 200);
    await ok.text();
    await until(() => s.app.admitted === 1, 'the answered request\'s permit to come back');
    b.release();
    await until(() => s.app.admitted === 0, 'every permit back');
    const refusals = metric(await (await fetch(`${s.url}/metrics`)).text(), 'instructor_refused_requests_total{reason="concurrency"}');
    assert.is(refusals, 2);
  } finally {
    await s.close();
  }
});

test('truncation: inputs over 512 tokens are cut and counted (x-truncated-inputs, usage); --no-truncate / truncate: false name the index', async () => {
  const long = 'word '.repeat(700);
  const res = await post(main, '/v1/embeddings', { model: MODEL, input: ['short', long, long], encoding_format: 'float' });
  assert.is(res.status, 200);
  assert.is(res.headers.get('x-truncated-inputs'), '2');
  const body = await res.json() as any;
  assert.is(body.usage.prompt_tokens, (await ref.embed(['short'])).tokens[0] + 2 * 512);
  sameBits(Float32Array.from(body.data[1].embedding), (await alone([long]))[0], 'truncated input');
  const tei = await errorOf(await post(main, '/embed', { inputs: ['ok', long], truncate: false }));
  assert.is(tei.status, 422);
  assert.is(tei.body.error_type, 'Validation');
  assert.match(tei.body.error, /input 1 has \d+ tokens, more than .*512/);
  const strict = await startServer({ models: [{ id: MODEL, model: served }], truncate: false });
  try {
    const e = await errorOf(await post(strict, '/v1/embeddings', { model: MODEL, input: ['ok', 'fine', long] }));
    assert.is(e.status, 400);
    isOpenAIError(e.body, e.status, 'no-truncate');
    assert.is(e.body.error.param, 'input');
    assert.match(e.body.error.message, /input 2 has \d+ tokens.*--no-truncate/);
    // 40k CJK characters: cut before tokenizing, then fewer than 512 tokens (unknown characters
    // fuse into one <unk>): still a cut, counted and refused like one
    const cjk = '的一是不了人我在有他这为之大来以个中上们'.repeat(2000); // 40k characters, 120 KB
    const [prepared] = await ref.prepare([cjk]);
    assert.ok(prepared.truncated === 0 && prepared.cutChars > 0, `cjk: truncated ${prepared.truncated}, cutChars ${prepared.cutChars}`);
    const c = await errorOf(await post(strict, '/v1/embeddings', { model: MODEL, input: [cjk] }));
    assert.is(c.status, 400);
    assert.match(c.body.error.message, /input 0 has more than \d+ tokens \(\d+ characters past what the tokenizer reads\).*--no-truncate/);
    const lenient = await startServer({ models: [{ id: MODEL, model: served }] }); // the default body limit (2 MiB)
    try {
      const counted = await post(lenient, '/v1/embeddings', { model: MODEL, input: [cjk, 'short'] });
      assert.is(counted.status, 200);
      assert.is(counted.headers.get('x-truncated-inputs'), '1');
      await counted.json();
    } finally {
      await lenient.close();
    }
  } finally {
    await strict.close();
  }
});

test('400: malformed JSON, wrong types, empty input, bad items (named by index), dimensions, encoding_format', async () => {
  const cases: Array<[string, unknown, RegExp, string | null]> = [
    ['not JSON', '{"model": "tiny-int8", "input": [', /not valid JSON/, null],
    ['an array body', '[1, 2]', /expected a JSON object/, null],
    ['input missing', { model: MODEL }, /input is required/, 'input'],
    ['input a number', { model: MODEL, input: 42 }, /input: got number 42/, 'input'],
    ['empty string', { model: MODEL, input: '' }, /empty string/, 'input'],
    ['empty array', { model: MODEL, input: [] }, /empty array/, 'input'],
    ['empty string item', { model: MODEL, input: ['a', ''] }, /input\[1\] is an empty string/, 'input'],
    ['bad item', { model: MODEL, input: ['a', 'b', { text: 'no instruction' }] }, /input 2: .*without "instruction"/, 'input'],
    ['bad pair', { model: MODEL, input: [['instruction', 7]] }, /input 0: text is number 7/, 'input'],
    ['mixed ids and text', { model: MODEL, input: [[1, 2], 'text'] }, /input\[1\].*all text or all token ids/, 'input'],
    ['token id out of range', { model: MODEL, input: [[5, 999999]] }, /input 0: token 1 is number 999999/, 'input'],
    ['model missing', { input: 'x' }, /model is required/, 'model'],
    ['model a number', { model: 3, input: 'x' }, /model: got number 3/, 'model'],
    ['encoding_format', { model: MODEL, input: 'x', encoding_format: 'int8' }, /encoding_format: got "int8"/, 'encoding_format'],
    ['dimensions other than the model\'s', { model: MODEL, input: 'x', dimensions: 8 }, new RegExp(`dimensions: 8 is not served.*${DIM}`), 'dimensions'],
    ['dimensions not an integer', { model: MODEL, input: 'x', dimensions: 'all' }, /dimensions: got a string/, 'dimensions'],
    ['instruction not a string', { model: MODEL, input: 'x', instruction: 5 }, /instruction: got number 5/, 'instruction'],
  ];
  for (const [what, body, message, param] of cases) {
    const e = await errorOf(await post(main, '/v1/embeddings', body));
    assert.is(e.status, 400, what);
    isOpenAIError(e.body, e.status, what);
    assert.is(e.body.error.type, 'invalid_request_error', what);
    assert.match(e.body.error.message, message, what);
    assert.is(e.body.error.param, param, what);
  }
  // dimensions equal to the model's own is fine
  assert.is((await post(main, '/v1/embeddings', { model: MODEL, input: 'x', dimensions: DIM })).status, 200);
  // the official client surfaces the same as a BadRequestError
  try {
    await client.embeddings.create({ model: MODEL, input: 'x', dimensions: 8 });
    assert.unreachable('dimensions 8 accepted');
  } catch (e) {
    assert.instance(e, OpenAI.BadRequestError);
    assert.is((e as InstanceType<typeof OpenAI.BadRequestError>).param, 'dimensions');
  }
});

test('TEI 422 (validation), 400 (empty) and 413 (too many inputs), in TEI\'s {error, error_type}; OpenAI 400 past the input limit', async () => {
  const cases: Array<[unknown, RegExp]> = [
    ['{"inputs": ', /not valid JSON/],
    [{}, /inputs is required/],
    [{ inputs: 5 }, /inputs: got number 5/],
    [{ inputs: ['a', null] }, /inputs: input 1: got null/],
    [{ inputs: 'a', normalize: 'yes' }, /normalize: got a string/],
    [{ inputs: 'a', truncation_direction: 'Up' }, /truncation_direction: got "Up", expected "Right" or "Left"/],
    [{ inputs: 'a', prompt_name: 'query' }, /prompt_name is not supported/],
  ];
  for (const [body, message] of cases) {
    const e = await errorOf(await post(main, '/embed', body));
    assert.is(e.status, 422, String(message));
    assert.is(e.body.error_type, 'Validation');
    assert.match(e.body.error, message);
  }
  const empty = await errorOf(await post(main, '/embed', { inputs: [] })); // TEI's "Batch is empty"
  assert.is(empty.status, 400);
  assert.is(empty.body.error_type, 'Empty');
  const small = await startServer({ models: [{ id: MODEL, model: served }], maxInputs: 3 });
  try {
    const e = await errorOf(await post(small, '/embed', { inputs: ['a', 'b', 'c', 'd'] }));
    assert.is(e.status, 413);
    assert.is(e.body.error_type, 'Validation');
    assert.match(e.body.error, /4 inputs, more than the limit of 3/);
    const o = await errorOf(await post(small, '/v1/embeddings', { model: MODEL, input: ['a', 'b', 'c', 'd'] }));
    assert.is(o.status, 400, 'OpenAI answers 400 past its input limit');
    isOpenAIError(o.body, o.status, 'too many inputs');
    assert.is((await post(small, '/embed', { inputs: ['a', 'b', 'c'] })).status, 200);
  } finally {
    await small.close();
  }
});

test('413: a Content-Length over the limit is refused before the body is sent; a streamed body once it passes the limit', async () => {
  // The head alone, announcing 10 MiB: the answer comes without a byte of body.
  const early = await rawRequest(main.port, `POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 << 20}`, []);
  assert.is(early.status, 413);
  assert.match(JSON.parse(early.body).error.message, /10485760 bytes, more than the limit of 65536/);
  const tei = await rawRequest(main.port, `POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 << 20}`, []);
  assert.is(tei.status, 413);
  assert.is(JSON.parse(tei.body).error_type, 'Validation');
  // Chunked, no Content-Length: counted as it streams; refused once past 64 KiB although the client would send 1 MiB.
  const chunk = 'x'.repeat(16 << 10);
  const framed = Array.from({ length: 64 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`);
  const streamed = await rawRequest(main.port, 'POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked', framed, { gapMs: 5 });
  assert.is(streamed.status, 413);
  assert.match(JSON.parse(streamed.body).error.message, /more than the limit of 65536 bytes/);
  assert.ok(streamed.sent < 64, `answered after ${streamed.sent} of 64 chunks`);
  // The server is fine afterwards.
  assert.is((await post(main, '/embed', { inputs: 'still serving' })).status, 200);
});

test('408: a body slower than the body timeout', async () => {
  const body = JSON.stringify({ model: MODEL, input: 'slow' });
  const slow = await rawRequest(main.port, `POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}`,
    [body.slice(0, 5), body.slice(5, 10), body.slice(10)], { gapMs: 300 });
  assert.is(slow.status, 408);
  assert.match(JSON.parse(slow.body).error.message, /did not arrive within 400 ms/);
  assert.ok(main.log.some((l) => l.status === 408 && l.route === '/v1/embeddings'));
});

test('404 (unknown model, unknown route), 405 (wrong method), 500 (a failure of ours) in the OpenAI envelope', async () => {
  let e = await errorOf(await post(main, '/v1/embeddings', { model: 'hkunlp/instructor-xl', input: 'x' }));
  assert.is(e.status, 404);
  assert.is(e.body.error.code, 'model_not_found');
  assert.is(e.body.error.param, 'model');
  try {
    await client.embeddings.create({ model: 'nope', input: 'x' });
    assert.unreachable('unknown model accepted');
  } catch (err) {
    assert.instance(err, OpenAI.NotFoundError);
  }
  e = await errorOf(await fetch(`${main.url}/v2/nothing`));
  assert.is(e.status, 404);
  isOpenAIError(e.body, e.status, 'unknown route');
  const get = await fetch(`${main.url}/v1/embeddings`);
  assert.is(get.status, 405);
  assert.is(get.headers.get('allow'), 'POST');
  await get.body?.cancel();
  // A model disposed under the server: the request fails with a 500 envelope, the server stays up.
  const doomed = await synthInstructor('tiny', 'int8');
  const s = await startServer({ models: [{ id: MODEL, model: doomed }] });
  try {
    doomed.dispose();
    e = await errorOf(await post(s, '/v1/embeddings', { model: MODEL, input: 'x' }));
    assert.is(e.status, 500);
    assert.is(e.body.error.type, 'server_error');
    assert.match(e.body.error.message, /disposed/);
    assert.is((await fetch(`${s.url}/health`)).status, 200);
  } finally {
    await s.close();
  }
});

test('401: --api-key, in both envelopes; /health stays open; the right key passes', async () => {
  const s = await startServer({ models: [{ id: MODEL, model: served }], apiKey: 'sk-test-0123456789' });
  try {
    const noKey = new OpenAI({ apiKey: 'wrong-key', baseURL: `${s.url}/v1`, maxRetries: 0 });
    try {
      await noKey.embeddings.create({ model: MODEL, input: 'x' });
      assert.unreachable('wrong key accepted');
    } catch (err) {
      assert.instance(err, OpenAI.AuthenticationError);
      assert.is((err as InstanceType<typeof OpenAI.AuthenticationError>).code, 'invalid_api_key');
    }
    let e = await errorOf(await post(s, '/v1/embeddings', { model: MODEL, input: 'x' }));
    assert.is(e.status, 401);
    assert.match(e.body.error.message, /no API key/);
    e = await errorOf(await post(s, '/embed', { inputs: 'x' }, { Authorization: 'Bearer sk-test-012345678' }));
    assert.is(e.status, 401);
    assert.is(e.body.error_type, 'Validation'); // TEI's enum has no "Unauthorized" (TEI answers 401 with no body)
    assert.is((await fetch(`${s.url}/metrics`)).status, 401);
    assert.is((await fetch(`${s.url}/health`)).status, 200);
    const good = new OpenAI({ apiKey: 'sk-test-0123456789', baseURL: `${s.url}/v1`, maxRetries: 0 });
    const r = await good.embeddings.create({ model: MODEL, input: 'x' });
    sameBits(Float32Array.from(r.data[0].embedding), (await alone(['x']))[0], 'authorised request');
  } finally {
    await s.close();
  }
});

test('429 with Retry-After: at once when the model is full (body unread), and when a request would overfill it; a running pass counts', async () => {
  // The model's passes wait at a gate: the first request's pass "runs" (its tokens still count) until the test opens it.
  const gate = gated(served.hosted());
  const s = await startServer({ models: [{ id: MODEL, model: gate.model }], maxQueuedTokens: 600 });
  try {
    const long = 'word '.repeat(600); // 512 tokens once cut
    // An empty model takes any request: 2 x 512 tokens, more than the limit. Its pass starts at once.
    const first = post(s, '/v1/embeddings', { model: MODEL, input: [long, long] });
    first.catch(() => {}); // awaited below: a failed assertion before that must fail this test, not end the run
    await until(() => gate.held === 1, 'the first pass to start');
    await untilQueued(s, 0); // nothing waits: the 1024 tokens are in the running pass, and still count
    const refused = await rawRequest(s.port, 'POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 5000', []);
    assert.is(refused.status, 429);
    assert.match(refused.headers['retry-after'], /^\d+$/);
    assert.match(JSON.parse(refused.body).error.message, /overloaded: 1024 tokens accepted and not yet embedded, at most 600/);
    assert.is(JSON.parse(refused.body).error.code, 'rate_limit_exceeded');
    const tei = await rawRequest(s.port, 'POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 5000', []);
    assert.is(tei.status, 429);
    assert.is(JSON.parse(tei.body).error_type, 'Overloaded');
    // A client that asks again at once on the connection a 429 came back on waits for Retry-After there (at most 1 s).
    const [refusedAt, nextAt] = await askTwiceOnOneConnection(s.port, JSON.stringify({ model: MODEL, input: 'x' }));
    assert.ok(nextAt - refusedAt >= HOLD_LOWER_MS, `the next request on the connection was answered ${nextAt - refusedAt} ms after the 429`);
    const oa = new OpenAI({ apiKey: 'x', baseURL: `${s.url}/v1`, maxRetries: 0 });
    try {
      await oa.embeddings.create({ model: MODEL, input: 'x' });
      assert.unreachable('accepted past the limit');
    } catch (err) {
      assert.instance(err, OpenAI.RateLimitError);
    }
    gate.open(1);
    const r = await first;
    assert.is(r.status, 200, 'the request already accepted is answered');
    await r.body?.cancel();
    // One pass of 512 tokens running: 2 more tokens fit (512 + 2 <= 600), another 512 would pass 600.
    const a = post(s, '/v1/embeddings', { model: MODEL, input: long });
    await until(() => gate.held === 1, 'the second pass to start');
    const small = post(s, '/v1/embeddings', { model: MODEL, input: 'fits' }); // waits for the lane
    await untilQueued(s, 2);
    const e = await errorOf(await post(s, '/v1/embeddings', { model: MODEL, input: long }));
    assert.is(e.status, 429);
    assert.match(e.body.error.message, /514 tokens accepted and not yet embedded, at most 600/);
    // Once a request was refused for want of room, the door is shut until tokens leave: even a request that would fit is refused before its body is read.
    const shut = await errorOf(await post(s, '/v1/embeddings', { model: MODEL, input: 'fits' }));
    assert.is(shut.status, 429);
    assert.match(shut.body.error.message, /514 tokens accepted and not yet embedded, at most 600; a request of 512 tokens was refused since the last pass ended/);
    gate.open();
    assert.is((await a).status, 200);
    assert.is((await small).status, 200);
    const again = await post(s, '/v1/embeddings', { model: MODEL, input: 'fits' });
    assert.is(again.status, 200, 'the door opens again once a pass has ended');
    await again.body?.cancel();
    const refusals = metric(await (await fetch(`${s.url}/metrics`)).text(), 'instructor_refused_requests_total{reason="queue"}');
    assert.is(refusals, 6);
  } finally {
    gate.open(); // a failed assertion must not leave passes held
    await s.close();
  }
});

test('503 while a model loads (then 200), and while draining; /health follows', async () => {
  let release!: (m: typeof served) => void;
  const loading = new Promise<typeof served>((r) => { release = r; });
  const s = await startServer({ models: [{ id: MODEL, model: loading }] });
  try {
    let h = await fetch(`${s.url}/health`);
    assert.is(h.status, 503);
    assert.is(((await h.json()) as any).status, 'loading');
    const e = await errorOf(await post(s, '/v1/embeddings', { model: MODEL, input: 'x' }));
    assert.is(e.status, 503);
    assert.match(e.body.error.message, /is loading/);
    const t = await errorOf(await post(s, '/embed', { inputs: 'x' }));
    assert.is(t.status, 503);
    assert.is(t.body.error_type, 'Unhealthy');
    release(served);
    await s.app.ready;
    h = await fetch(`${s.url}/health`);
    assert.is(h.status, 200);
    await h.body?.cancel();
    assert.is((await post(s, '/v1/embeddings', { model: MODEL, input: 'x' })).status, 200);
    const draining = s.app.drain();
    const d = await errorOf(await post(s, '/v1/embeddings', { model: MODEL, input: 'x' }));
    assert.is(d.status, 503);
    assert.match(d.body.error.message, /shutting down/);
    assert.is((await fetch(`${s.url}/health`)).status, 503);
    await draining;
  } finally {
    await s.close();
  }
});

test('a model that fails to load: 503 naming it, /health "failed"', async () => {
  const s = await startServer({ models: [{ id: 'broken', model: Promise.reject(new Error('weights file truncated')) }] });
  try {
    await s.app.ready.then(() => assert.unreachable('ready resolved'), () => {});
    const h = await (await fetch(`${s.url}/health`)).json() as any;
    assert.is(h.status, 'failed');
    const e = await errorOf(await post(s, '/v1/embeddings', { model: 'broken', input: 'x' }));
    assert.is(e.status, 503);
    assert.match(e.body.error.message, /broken failed to load: weights file truncated/);
  } finally {
    await s.close();
  }
});

test('client disconnect: a queued request is dropped before its pass; one mid-body too; others are unaffected', async () => {
  const gate = gated(served.hosted());
  const s = await startServer({ models: [{ id: MODEL, model: gate.model }] });
  try {
    const inputsTotal = async () => metric(await (await fetch(`${s.url}/metrics`)).text(), `instructor_inputs_total{model="${MODEL}"}`);
    const before = await inputsTotal();
    const blocker = post(s, '/embed', { inputs: 'holds the lane' });
    await until(() => gate.held === 1, 'the blocking pass');
    const stayInputs = ['never left', 'nor this'];
    const stayTokens = (await ref.embed(stayInputs)).tokens.reduce((a, b) => a + b, 0);
    const stays = post(s, '/v1/embeddings', { model: MODEL, input: stayInputs, encoding_format: 'float' });
    const ac = new AbortController();
    const leaving = fetch(`${s.url}/v1/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: MODEL, input: ['left early'] }), signal: ac.signal }).catch(() => 'aborted');
    await untilQueued(s, stayTokens + (await ref.embed(['left early'])).tokens[0]);
    ac.abort();
    assert.is(await leaving, 'aborted');
    await until(() => s.log.some((l) => l.status === 499 && l.inputs === 1), 'the cancelled request to be logged');
    await untilQueued(s, stayTokens); // only the live request still waits
    gate.open();
    assert.is((await blocker).status, 200);
    const ok = await stays;
    assert.is(ok.status, 200, 'the request that stayed is answered');
    const body = await ok.json() as any;
    const want = await alone(stayInputs);
    body.data.forEach((d: any, i: number) => sameBits(Float32Array.from(d.embedding), want[i], `survivor input ${i}`));
    assert.is(await inputsTotal() - before, 3, 'the cancelled input never reached a pass');
    assert.ok(gate.passes.every((p) => p.length <= 2), `passes: ${JSON.stringify(gate.passes)}`);
    // Mid-body: the client leaves after half its body.
    const text = JSON.stringify({ model: MODEL, input: 'half a body' });
    await rawRequest(s.port, `POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: ${text.length}`, [text.slice(0, 10), text.slice(10)], { leaveAfter: 1, gapMs: 20 });
    await until(() => s.log.filter((l) => l.status === 499).length === 2, 'the mid-body disconnect to be logged');
    assert.is((await post(s, '/embed', { inputs: 'after' })).status, 200);
    await until(() => s.app.admitted === 0, 'every permit back');
  } finally {
    await s.close();
  }
});

test('GET /info and /metrics', async () => {
  const info = await (await fetch(`${main.url}/info`)).json() as any;
  assert.is(info.model_id, MODEL);
  assert.is(info.max_input_length, 512);
  assert.is(info.models[0].dim, DIM);
  assert.is(info.models[0].dtype, 'int8');
  assert.is(info.models[0].threads, 1);
  assert.is(info.models[0].replicas, 1);
  assert.is(info.max_concurrent_requests, 128);
  assert.is(info.limits.max_body_bytes, 64 * 1024);
  assert.is(info.limits.max_queued_tokens, 4 * 8192);
  assert.ok(info.limits.batching);
  const m = await fetch(`${main.url}/metrics`);
  assert.match(m.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  const text = await m.text();
  for (const name of ['instructor_requests_total{route="/v1/embeddings",status="200"}', 'instructor_requests_total{route="/embed",status="422"}',
    `instructor_inputs_total{model="${MODEL}"}`, `instructor_tokens_total{model="${MODEL}"}`, `instructor_queue_tokens{model="${MODEL}"}`,
    'instructor_request_duration_seconds_count{route="/v1/embeddings"}', `instructor_batch_tokens_count{model="${MODEL}"}`, 'process_resident_memory_bytes',
    ...['read', 'tokenize', 'queue', 'compute', 'serialize'].map((p) => `instructor_phase_seconds_count{phase="${p}"}`),
    `instructor_computing_tokens{model="${MODEL}"}`, `instructor_running_passes{model="${MODEL}"}`, 'instructor_admitted_requests']) {
    assert.ok(text.split('\n').some((l) => l.startsWith(name + ' ')), `metrics has ${name}`);
  }
  assert.ok(metric(text, 'instructor_requests_total{route="/v1/embeddings",status="400"}') >= 17);
  // TEI's timing headers, in whole milliseconds
  const timed = await post(main, '/embed', { inputs: ['timed', 'twice'] });
  for (const h of ['x-total-time', 'x-tokenization-time', 'x-queue-time', 'x-inference-time']) assert.match(timed.headers.get(h) ?? '', /^\d+$/, h);
  assert.is(timed.headers.get('x-compute-tokens'), String((await ref.embed(['timed', 'twice'])).tokens.reduce((a, b) => a + b, 0)));
  await timed.body?.cancel();
  // The log holds routes, statuses and counts only.
  assert.ok(main.log.every((l) => ['/v1/embeddings', '/embed', '/v1/models', '/health', '/info', '/metrics', '-'].includes(l.route)));
});

test('answerAtOnce (what the Node listener asks before building a Request) answers exactly as the handler: /health, 503 and 429 at the door', async () => {
  let release!: (m: ReturnType<typeof served.hosted>) => void;
  const gate = gated(served.hosted());
  const app = createEmbeddingServer({ models: [{ id: MODEL, model: new Promise((r) => { release = r; }) }], maxConcurrentRequests: 1, maxQueuedTokens: 10 });
  const both = async (method: string, path: string, init: RequestInit = {}) => {
    const quick = app.answerAtOnce(method, path, (init.headers as Record<string, string> | undefined)?.['Content-Type'] ?? null, false);
    const slow = await app.fetch(new Request(`http://x${path}`, { method, ...init }));
    const body = await slow.text();
    assert.ok(quick !== null, `${method} ${path} answered at once`);
    assert.is(quick!.status, slow.status, `${method} ${path}: status`);
    assert.is(quick!.body, body, `${method} ${path}: body`);
    assert.is(quick!.headers['Retry-After'] ?? null, slow.headers.get('retry-after'), `${method} ${path}: Retry-After`);
    return quick!;
  };
  const json = { 'Content-Type': 'application/json' };
  const body = JSON.stringify({ model: MODEL, input: 'x' });
  assert.is((await both('GET', '/health')).status, 503); // loading
  assert.is((await both('POST', '/v1/embeddings', { headers: json, body })).status, 503);
  assert.is((await both('POST', '/embed', { headers: json, body })).status, 503);
  release(gate.model);
  await app.ready;
  assert.is((await both('GET', '/health')).status, 200);
  assert.is(app.answerAtOnce('POST', '/v1/embeddings', 'application/json', false), null, 'a request that may come in goes to the handler');
  assert.is(app.answerAtOnce('POST', '/v1/embeddings', 'text/plain', false), null, 'a 415 is the handler\'s to give');
  assert.is(app.answerAtOnce('GET', '/metrics', null, false), null);
  const held = app.fetch(new Request('http://x/v1/embeddings', { method: 'POST', headers: json, body: JSON.stringify({ model: MODEL, input: 'word '.repeat(20) }) }));
  await until(() => gate.held === 1, 'the pass to start');
  const full = await both('POST', '/v1/embeddings', { headers: json, body }); // the only permit is taken, and the model is full
  assert.is(full.status, 429);
  gate.open();
  await (await held).text();
  const draining = app.drain();
  assert.is((await both('GET', '/health')).status, 503);
  assert.is((await both('POST', '/embed', { headers: json, body })).status, 503);
  await draining;
});

test('Content-Type: JSON or none is read; anything else is 415 before the body is read, in both envelopes', async () => {
  const body = JSON.stringify({ model: MODEL, input: 'typed' });
  for (const type of [null, 'application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/vnd.api+json']) {
    const r = await fetch(`${main.url}/v1/embeddings`, { method: 'POST', headers: type === null ? {} : { 'Content-Type': type }, body: new TextEncoder().encode(body) });
    assert.is(r.status, 200, `Content-Type ${type}`);
    await r.body?.cancel();
  }
  for (const type of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const e = await errorOf(await fetch(`${main.url}/v1/embeddings`, { method: 'POST', headers: { 'Content-Type': type }, body }));
    assert.is(e.status, 415, type);
    assert.is(e.body.error.code, 'unsupported_media_type');
    assert.match(e.body.error.message, /expected application\/json \(or none\)/);
    const t = await errorOf(await fetch(`${main.url}/embed`, { method: 'POST', headers: { 'Content-Type': type }, body: JSON.stringify({ inputs: 'x' }) }));
    assert.is(t.status, 415);
    assert.is(t.body.error_type, 'Validation');
  }
});

test('an error repeats at most 64 characters of what the client sent: a model id of 60000 characters is clipped', async () => {
  const id = 'm'.repeat(60_000);
  const res = await post(main, '/v1/embeddings', { model: id, input: 'x' });
  const text = await res.text();
  assert.is(res.status, 404);
  assert.ok(text.length < 1024, `the 404 body is ${text.length} bytes`);
  assert.match(JSON.parse(text).error.message, /^model "m{64}"\.\.\. \(60000 characters\) is not served here/);
});

test('CORS only when asked', async () => {
  const pre = await fetch(`${main.url}/v1/embeddings`, { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' } });
  assert.is(pre.headers.get('access-control-allow-origin'), null);
  await pre.body?.cancel();
  const s = await startServer({ models: [{ id: MODEL, model: served }], cors: 'https://app.example', apiKey: 'k' });
  try {
    const p = await fetch(`${s.url}/v1/embeddings`, { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' } });
    assert.ok(p.status === 204 || p.status === 200, `preflight ${p.status}`);
    assert.is(p.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(p.headers.get('access-control-allow-headers') ?? '', /authorization/i);
    await p.body?.cancel();
    const r = await post(s, '/embed', { inputs: 'x' }, { Origin: 'https://app.example', Authorization: 'Bearer k' });
    assert.is(r.status, 200);
    assert.is(r.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(r.headers.get('access-control-expose-headers') ?? '', /x-truncated-inputs/);
    await r.body?.cancel();
  } finally {
    await s.close();
  }
});

// The bound documented in README "Server" (Limits): a request costs about 3 x its body (the bytes,
// the decoded text, the parsed JSON), 4 bytes per token of its inputs, 24 bytes per embedding value
// (the vectors and their JSON), plus one forward pass of activations, 52 bytes x d_model per token
// of --max-batch-tokens, kept in wasm memory (which never shrinks). SLACK: V8 and allocator growth.
const ACTIVATION_BYTES_PER_TOKEN_PER_D = 52;
const SLACK = 32 << 20;

test('2048 inputs of 512 tokens in one request: served, bit-identical, memory within the documented bound', async () => {
  const micro = await synthInstructor(MICRO_CONFIG, 'int8'); // 2048 x 512 tokens of attention: the cheapest model
  const microRef = await synthInstructor(MICRO_CONFIG, 'int8');
  const maxBodyBytes = 8 << 20, maxBatchTokens = 8192;
  const s = await startServer({ models: [{ id: 'micro', model: micro }], maxBodyBytes, maxBatchTokens, acceptTokenIds: true });
  try {
    const text = 'word '.repeat(600);
    const ids = microRef.tokenizer.encodeNoSpecial(text); // 600 tokens: 512 once cut (with </s>)
    assert.ok(ids.length >= 600);
    const body = JSON.stringify({ model: 'micro', input: new Array(2048).fill(ids) });
    assert.ok(body.length <= maxBodyBytes);
    const rss0 = process.memoryUsage().rss;
    const peak0 = process.resourceUsage().maxRSS * 1024;
    const res = await post(s, '/v1/embeddings', body);
    const answer = await res.text();
    const peak1 = process.resourceUsage().maxRSS * 1024;
    assert.is(res.status, 200, answer.slice(0, 300));
    assert.is(res.headers.get('x-truncated-inputs'), '2048');
    const out = JSON.parse(answer);
    assert.is(out.data.length, 2048);
    assert.is(out.usage.prompt_tokens, 2048 * 512);
    const want = (await microRef.encode([text]))[0]; // the ids of a text embed as the text
    out.data.forEach((d: any, i: number) => sameBits(Float32Array.from(d.embedding), want, `input ${i}`));
    const tokens = 2048 * 512, values = 2048 * micro.dim;
    const bound = 3 * body.length + 4 * tokens + 24 * values + maxBatchTokens * ACTIVATION_BYTES_PER_TOKEN_PER_D * micro.info.config.dModel + SLACK;
    const grew = Math.max(peak1 - Math.max(peak0, rss0), process.memoryUsage().rss - rss0);
    assert.ok(grew <= bound, `peak RSS grew ${(grew / 2 ** 20).toFixed(1)} MiB, bound ${(bound / 2 ** 20).toFixed(1)} MiB`);
    console.log(`  2048 x 512 tokens: body ${(body.length / 2 ** 20).toFixed(1)} MiB, peak RSS +${(grew / 2 ** 20).toFixed(1)} MiB (bound ${(bound / 2 ** 20).toFixed(1)} MiB)`);
  } finally {
    await s.close();
    micro.dispose();
    microRef.dispose();
  }
});

test('bad options: a BAD_INPUT naming them', async () => {
  throwsCode(() => createEmbeddingServer({ models: [] }), 'BAD_INPUT', /at least one model/);
  throwsCode(() => createEmbeddingServer({ models: [{ id: 'a', model: served }, { id: 'a', model: served }] }), 'BAD_INPUT', /two models have the id "a"/);
  throwsCode(() => createEmbeddingServer({ models: [{ id: 'a', model: served }], maxInputs: 0 }), 'BAD_INPUT', /maxInputs must be a positive integer, got 0/);
  throwsCode(() => createEmbeddingServer({ models: [{ id: 'a', model: served }], maxConcurrentRequests: 0 }), 'BAD_INPUT', /maxConcurrentRequests must be a positive integer, got 0/);
  throwsCode(() => createEmbeddingServer({ models: [{ id: 'a', model: served }], sliceMs: 0 }), 'BAD_INPUT', /sliceMs must be > 0/);
  const small = createEmbeddingServer({ models: [{ id: 'a', model: served }], maxBatchTokens: 100 });
  await rejects(small.ready, 'BAD_INPUT', /maxBatchTokens 100 is less than model a's max_seq_length 512/);
});

test.after(async () => {
  await main.close();
  served.dispose();
  ref.dispose();
});

test.run();
