// `instructor-wasm serve` as a user runs it (a child process): flags, model ids, the request log
// (and that it holds nothing the client sent), startup failures, and SIGTERM under load: every
// request sent before the signal is answered, the process exits 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { modelId, parseBytes, parseServeArgs } from '../src/cli/serve.js';
import { sameBits } from './support/assert.js';
import { metric } from './support/serve.js';
import { synthInstructor, synthTextWeights } from './support/synth-text-model.js';

const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'iw-serve-'));
const INT8 = join(dir, 'tiny-int8.iwt'), FP32 = join(dir, 'tiny-fp32.iwt');
writeFileSync(INT8, synthTextWeights('tiny', 'int8'));
writeFileSync(FP32, synthTextWeights('tiny', 'fp32'));
const ref8 = await synthInstructor('tiny', 'int8');
const ref32 = await synthInstructor('tiny', 'fp32');

interface Served { child: ChildProcess; url: string; stderr: () => string; exit: Promise<number | null> }

async function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  child.stdout!.resume();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const t0 = Date.now();
  while (!/serve: ready/.test(err)) {
    if (child.exitCode !== null || Date.now() - t0 > 30_000) throw new Error(`serve did not get ready: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = /listening on (http:\/\/[^\s]+)/.exec(err)![1];
  return { child, url, stderr: () => err, exit };
}

async function stop(s: Served): Promise<number | null> {
  if (s.child.exitCode === null) s.child.kill('SIGTERM');
  return s.exit;
}

test('argument parsing: sizes, model ids, defaults and usage errors', () => {
  assert.is(parseBytes('2MiB', '--max-body-bytes'), 2 * 2 ** 20);
  assert.is(parseBytes('512KiB', 'x'), 512 * 1024);
  assert.is(parseBytes('1.5MB', 'x'), 1_500_000);
  assert.is(parseBytes('1048576', 'x'), 1048576);
  assert.throws(() => parseBytes('lots', '--max-body-bytes'), /--max-body-bytes must be a size/);
  assert.is(modelId('hkunlp/instructor-large'), 'hkunlp/instructor-large');
  assert.is(modelId('hkunlp/instructor-large@main'), 'hkunlp/instructor-large');
  assert.is(modelId('/models/base.int8.iwt'), 'base.int8');
  assert.is(modelId('./synth-base/'), 'synth-base');
  const c = parseServeArgs(['--model', 'a.iwt'], {});
  assert.is(c.host, '127.0.0.1');
  assert.is(c.port, 8080);
  assert.is(c.maxBatchTokens, 8192);
  assert.is(c.maxInputs, 2048);
  assert.is(c.maxBodyBytes, 2 * 2 ** 20);
  assert.ok(c.truncate && c.batching);
  assert.is(c.apiKey, undefined);
  assert.is(parseServeArgs(['--model', 'a.iwt'], { INSTRUCTOR_API_KEY: 'k' }).apiKey, 'k');
  assert.throws(() => parseServeArgs([], {}), /serve needs --model/);
  assert.throws(() => parseServeArgs(['--model', 'a', '--model-name', 'x', '--model-name', 'y'], {}), /2 --model-name for 1 --model/);
  assert.throws(() => parseServeArgs(['--model', 'a', '--dtype', 'int3'], {}), /--dtype must be/);
  assert.throws(() => parseServeArgs(['--model', 'a', '--port', 'http'], {}), /--port must be an integer/);
});

test('usage errors exit 2, a model that cannot load exits 1 with its reason; --help lists serve', () => {
  let r = spawnSync(process.execPath, [BIN, 'serve', '--model', INT8, '--max-inputs', '0'], { encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, /--max-inputs must be an integer >= 1/);
  r = spawnSync(process.execPath, [BIN, 'serve', '--model', INT8, '--bogus'], { encoding: 'utf8' });
  assert.is(r.status, 2);
  r = spawnSync(process.execPath, [BIN, 'serve', '--port', '0', '--model', join(dir, 'missing.iwt')], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /a model failed to load: .*missing\.iwt/);
  r = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  assert.match(r.stdout, /^ {2}serve +an OpenAI- and TEI-compatible embedding server/m);
  r = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8' });
  assert.is(r.status, 0);
  assert.match(r.stdout, /^Usage: instructor-wasm serve --model \[NAME=\]SRC/);
  r = spawnSync(process.execPath, [BIN, 'serve', '--model', INT8, '--bogus'], { encoding: 'utf8' });
  assert.match(r.stderr, /^instructor-wasm: error USAGE: .*--bogus.* \(see instructor-wasm serve --help\)\n$/, 'one line');
});

test('two models (file stem and --model-name), --instruction, --api-key from the environment; the log holds no request content', async () => {
  const s = await serve(['--model', INT8, '--model', FP32, '--model-name', 'small', '--instruction', 'Represent the sentence:', '--max-batch-tokens', '1024'],
    { INSTRUCTOR_API_KEY: 'sk-serve-test' });
  try {
    const info = await (await fetch(`${s.url}/info`, { headers: { Authorization: 'Bearer sk-serve-test' } })).json() as any;
    assert.equal(info.models.map((m: any) => [m.id, m.dtype]), [['small', 'int8'], ['tiny-fp32', 'fp32']]);
    assert.is(info.limits.max_batch_tokens, 1024);
    assert.is(info.version, '0.1.0');
    assert.match(info.kernels, /^kernels-mt\.wasm sha256:[0-9a-f]{16}/);
    assert.equal(info.models.map((m: any) => [m.replicas, m.threads]), [[1, 1], [1, 1]]);
    const client = new OpenAI({ apiKey: 'sk-serve-test', baseURL: `${s.url}/v1`, maxRetries: 0 });
    const SECRET = 'confidential-marker-7f3a';
    for (const [id, ref] of [['small', ref8], ['tiny-fp32', ref32]] as const) {
      const r = await client.embeddings.create({ model: id, input: [SECRET, ['Other instruction:', 'text']] as any });
      const want = [(await ref.encode([['Represent the sentence:', SECRET]]))[0], (await ref.encode([['Other instruction:', 'text']]))[0]];
      r.data.forEach((d, i) => sameBits(Float32Array.from(d.embedding), want[i], `${id} input ${i}`));
    }
    const unauthorised = await fetch(`${s.url}/v1/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'small', input: SECRET }) });
    assert.is(unauthorised.status, 401);
    await unauthorised.body?.cancel();
    const bad = await fetch(`${s.url}/embed`, { method: 'POST', headers: { Authorization: 'Bearer sk-serve-test', 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: [SECRET, 42] }) });
    assert.is(bad.status, 422);
    await bad.body?.cancel();
    // the request log reaches stderr in batches, within 100 ms
    for (const t0 = Date.now(); !/ POST \/embed 422 /.test(s.stderr()) && Date.now() - t0 < 5000;) await new Promise((r) => setTimeout(r, 20));
    const log = s.stderr();
    assert.match(log, /^\S+Z POST \/v1\/embeddings 200 inputs=2 tokens=\d+ \d+ms$/m);
    assert.match(log, /^\S+Z POST \/v1\/embeddings 401 inputs=0 tokens=0 \d+ms$/m);
    assert.match(log, /^\S+Z POST \/embed 422 inputs=0 tokens=0 \d+ms$/m);
    assert.not.match(log, new RegExp(SECRET), 'nothing the client sent is logged');
    assert.not.match(log, /sk-serve-test/);
  } finally {
    assert.is(await stop(s), 0);
  }
});

test('--model NAME=SRC and --alias ID=NAME:INSTRUCTION: one model under several ids, each with its own instruction; --accept-token-ids', async () => {
  const c = parseServeArgs(['--model', `large=${INT8}`, '--alias', 'large-query=large:Represent the question: with a colon', '--alias', 'large-plain=large'], {});
  assert.equal(c.sources, [INT8]);
  assert.equal(c.names, ['large']);
  assert.equal(c.aliases, [{ id: 'large-query', target: 'large', instruction: 'Represent the question: with a colon' }, { id: 'large-plain', target: 'large', instruction: undefined }]);
  assert.is(c.acceptTokenIds, false);
  assert.is(c.listenAfterLoad, false);
  assert.equal(parseServeArgs(['--model', 'org/name', '--alias', 'q=org/name:Q: '], {}).aliases, [{ id: 'q', target: 'org/name', instruction: 'Q: ' }], 'a hub id as the target');
  assert.throws(() => parseServeArgs(['--model', INT8, '--alias', 'q=nope:x'], {}), /--alias q: "nope" is not a served model; served: "tiny-int8"/);
  assert.throws(() => parseServeArgs(['--model', INT8, '--alias', 'tiny-int8=tiny-int8:x'], {}), /already served/);
  assert.throws(() => parseServeArgs(['--model', INT8, '--alias', 'noequals'], {}), /--alias must be ID=MODEL/);
  assert.throws(() => parseServeArgs(['--model', `a=${INT8}`, '--model-name', 'b'], {}), /named twice/);
  assert.throws(() => parseServeArgs(['--model', INT8, '--model', INT8], {}), /two models have the id "tiny-int8"/);
  const instruction = 'Represent the question for retrieving supporting documents: ';
  const s = await serve(['--model', `large=${INT8}`, '--alias', `large-query=large:${instruction}`, '--accept-token-ids']);
  try {
    const client = new OpenAI({ apiKey: 'x', baseURL: `${s.url}/v1`, maxRetries: 0 });
    assert.equal((await client.models.list()).data.map((m) => m.id), ['large', 'large-query']);
    const texts = ['where is the Eiffel tower?', 'Paris'];
    const plain = await client.embeddings.create({ model: 'large', input: texts });
    const query = await client.embeddings.create({ model: 'large-query', input: texts });
    const want = await ref8.encode(texts), wantQuery = await ref8.encode(texts, { instruction });
    plain.data.forEach((d, i) => sameBits(Float32Array.from(d.embedding), want[i], `large ${i}`));
    query.data.forEach((d, i) => sameBits(Float32Array.from(d.embedding), wantQuery[i], `large-query ${i}`));
    const ids = await client.embeddings.create({ model: 'large', input: texts.map((t) => ref8.tokenizer.encodeNoSpecial(t)) });
    ids.data.forEach((d, i) => sameBits(Float32Array.from(d.embedding), want[i], `token ids ${i}`));
    const info = await (await fetch(`${s.url}/info`)).json() as any;
    assert.is(info.models.length, 1);
    assert.equal(info.models[0].aliases, [{ id: 'large-query', instruction }]);
    assert.match(s.stderr(), /listening on \S+ \(large, large-query = large\)/);
  } finally {
    assert.is(await stop(s), 0);
  }
});

test('--listen-after-load: the port opens once every model is loaded (as TEI); a port already taken still ends it before any load', async () => {
  assert.is(parseServeArgs(['--model', INT8, '--listen-after-load'], {}).listenAfterLoad, true);
  const before = await serve(['--model', INT8]);
  const after = await serve(['--model', INT8, '--listen-after-load']);
  try {
    const order = (log: string) => [log.indexOf('serve: listening on'), log.indexOf('tiny-int8: loaded')];
    const [listenFirst, loadedFirst] = [order(before.stderr()), order(after.stderr())];
    assert.ok(listenFirst[0] >= 0 && listenFirst[0] < listenFirst[1], `by default it listens, then loads: ${before.stderr()}`);
    assert.ok(loadedFirst[1] >= 0 && loadedFirst[1] < loadedFirst[0], `--listen-after-load loads, then listens: ${after.stderr()}`);
    assert.is((await fetch(`${after.url}/health`)).status, 200);
    const port = new URL(before.url).port;
    const r = spawnSync(process.execPath, [BIN, 'serve', '--port', port, '--model', INT8, '--listen-after-load'], { encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 1);
    assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    assert.not.match(r.stderr, /load /, 'no model was loaded');
  } finally {
    assert.is(await stop(before), 0);
    assert.is(await stop(after), 0);
  }
});

test('SIGTERM under load: new requests get 503, every request sent before the signal is answered, exit 0', async () => {
  const s = await serve(['--model', INT8, '--max-queued-tokens', '1000000']);
  const texts = (k: number) => Array.from({ length: 16 }, (_, i) => `request ${k} input ${i}: ${'lorem ipsum dolor '.repeat(8 + (i % 5))}`);
  const N = 48;
  const answers: Array<Promise<{ status: number; body: any } | { error: string }>> = [];
  for (let k = 0; k < N; k++) {
    answers.push(fetch(`${s.url}/embed`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: texts(k) }) })
      .then(async (r) => ({ status: r.status, body: await r.json() }), (e) => ({ error: String(e?.cause ?? e) })));
  }
  // Signal once the server is busy: some answered, most not.
  const t0 = Date.now();
  while ((s.stderr().match(/ POST \/embed 200 /g) ?? []).length < 2) {
    if (Date.now() - t0 > 30_000) throw new Error(`no answers: ${s.stderr()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  s.child.kill('SIGTERM');
  const results = await Promise.all(answers);
  const code = await s.exit;
  const errors = results.filter((r) => 'error' in r);
  assert.is(errors.length, 0, `requests without an answer: ${JSON.stringify(errors.slice(0, 3))}`);
  const ok = results.filter((r) => 'status' in r && r.status === 200) as Array<{ status: number; body: number[][] }>;
  const refused = results.filter((r) => 'status' in r && r.status === 503);
  assert.is(ok.length + refused.length, N, `every answer is a 200 or a 503: ${JSON.stringify(results.map((r) => ('status' in r ? r.status : r.error)))}`);
  const draining = /SIGTERM: draining (\d+) request\(s\)/.exec(s.stderr());
  assert.ok(draining && Number(draining[1]) > 0, `requests were in flight at the signal: ${s.stderr().slice(-400)}`);
  const afterSignal = s.stderr().slice(s.stderr().indexOf('SIGTERM: draining'));
  assert.ok((afterSignal.match(/ POST \/embed 200 /g) ?? []).length > 0, 'requests in flight at the signal were finished after it');
  // Answers are right, not just present.
  for (let k = 0; k < N; k += 7) {
    const r = results[k];
    if (!('status' in r) || r.status !== 200) continue;
    const want = await ref8.encode(texts(k));
    r.body.forEach((v: number[], i: number) => sameBits(Float32Array.from(v), want[i], `request ${k} input ${i}`));
  }
  assert.is((s.stderr().match(/ POST \/embed 200 /g) ?? []).length, ok.length, 'the log has one line per answer');
  assert.match(s.stderr(), /serve: stopped/);
  assert.is(code, 0);
  await fetch(`${s.url}/health`).then(() => assert.unreachable('still listening after exit'), () => {});
});

test('a body refused with 413 is answered with Connection: close and the connection closed gracefully: the next request never meets a reset', async () => {
  const s = await serve(['--model', INT8]);
  try {
    const big = JSON.stringify({ input: 'x'.repeat(3 * 2 ** 20) }); // over the default 2 MiB
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${s.url}/v1/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: big });
      assert.is(r.status, 413);
      assert.is(r.headers.get('connection'), 'close');
      await r.text();
      const m = await fetch(`${s.url}/metrics`); // at once, as a pooled client would
      assert.is(m.status, 200);
      await m.text();
    }
  } finally {
    assert.is(await stop(s), 0);
  }
});

test('--help describes every flag; a port already taken exits 1 before any model loads', async () => {
  const help = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8' }).stdout;
  for (const flag of ['--model', '--model-name', '--dtype', '--simd', '--threads', '--replicas', '--max-batch-tokens', '--max-concurrent-requests',
    '--max-queued-tokens', '--max-inputs', '--max-body-bytes', '--body-timeout-ms', '--instruction', '--no-truncate', '--no-batching',
    '--api-key', '--cors', '--host', '--port', '--drain-timeout-ms', '--quiet', '--alias', '--accept-token-ids', '--listen-after-load']) {
    assert.match(help, new RegExp(`^  ${flag}\\b.*\\S`, 'm'), `${flag} is described`);
  }
  const s = await serve(['--model', INT8]);
  try {
    const port = new URL(s.url).port;
    const r = spawnSync(process.execPath, [BIN, 'serve', '--port', port, '--model', INT8], { encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 1);
    assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    assert.not.match(r.stderr, /load /, 'no model was loaded');
  } finally {
    assert.is(await stop(s), 0);
  }
});

test('drain loses nothing: the work accepted is bounded by what --drain-timeout-ms finishes (the rest 429), SIGTERM answers every request accepted, exit 0', async () => {
  const s = await serve(['--model', INT8, '--drain-timeout-ms', '2000', '--max-queued-tokens', '10000000', '--max-inputs', '64']);
  try {
    // 40 requests, each about 0.4 of the work the 2 s drain allows at the speed the server measured:
    // 16x too much, so that a speed that changes under a loaded machine cannot let them all in
    const speed = ((await (await fetch(`${s.url}/info`)).json()) as any).models[0].tokens_per_second as number;
    assert.ok(speed > 0, `the server measured its speed before serving: ${speed}`);
    const inputsEach = Math.max(1, Math.min(64, Math.floor((0.4 * 1.6 * speed) / 512)));
    const passage = (k: number, i: number) => `request ${k} passage ${i} ` + 'lorem ipsum dolor sit amet '.repeat(100); // 512 tokens once cut
    const sent = Array.from({ length: 40 }, (_, k) => fetch(`${s.url}/embed`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: Array.from({ length: inputsEach }, (_, i) => passage(k, i)) }),
    }).then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), body: await r.text() }), (e) => ({ status: 0, retry: null, body: String(e?.cause ?? e) })));
    // the signal once every request has reached the server (answered, or in its handler) and one was embedded
    const t0 = Date.now();
    for (;;) {
      const inHandler = metric(await (await fetch(`${s.url}/metrics`)).text(), 'instructor_requests_in_flight') - 1; // this GET is one
      const answered = (s.stderr().match(/ POST \/embed \d+ /g) ?? []).length;
      if (/ POST \/embed 200 /.test(s.stderr()) && answered + inHandler >= sent.length) break;
      if (Date.now() - t0 > 30_000) throw new Error(`not every request arrived: ${s.stderr().slice(-500)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const signalled = Date.now();
    s.child.kill('SIGTERM');
    const results = await Promise.all(sent);
    const code = await s.exit;
    const took = Date.now() - signalled;
    const by = (st: number) => results.filter((r) => r.status === st).length;
    assert.is(by(0), 0, `requests without an answer (reset): ${JSON.stringify(results.filter((r) => r.status === 0).slice(0, 2))}`);
    // 413: a request that alone needs more than the drain allows, should the measured speed have fallen below 0.4 of its first measure
    assert.is(by(200) + by(429) + by(413) + by(503), results.length, `only 200, 429, 413 and 503: ${results.map((r) => r.status).join(' ')}`);
    assert.ok(by(429) + by(413) > 0, `past what a drain finishes, requests are refused: ${results.map((r) => r.status).join(' ')}`);
    assert.ok(results.filter((r) => r.status === 429).every((r) => /^\d+$/.test(r.retry ?? '') && /s of work, at most 1\.6 s/.test(r.body)), 'the 429s say why, with Retry-After');
    assert.is(code, 0, `exit code after SIGTERM: ${s.stderr().slice(-300)}`);
    assert.ok(took < 2000 + 1500, `the drain took ${took} ms`);
  } finally {
    await stop(s);
  }
});

test('on SIGTERM a request whose headers or body have not all arrived is not waited for: 503 for a body, the connection closed for headers, exit 0 at once', async () => {
  const s = await serve(['--model', INT8]);
  const port = Number(new URL(s.url).port);
  const open = async (head: string) => {
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let data = '';
    socket.on('data', (d) => { data += d; });
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(head);
    return { closed, data: () => data };
  };
  const headers = await open('POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n');
  const body = await open('POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inp');
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  s.child.kill('SIGTERM');
  const code = await s.exit;
  await Promise.all([headers.closed, body.closed]);
  assert.is(code, 0, s.stderr().slice(-300));
  assert.ok(Date.now() - t0 < 3000, `exit took ${Date.now() - t0} ms`);
  assert.match(body.data(), /^HTTP\/1\.1 503 /);
  assert.match(body.data(), /connection: close/i);
  assert.match(body.data(), /shutting down; the body had not arrived/);
  assert.is(headers.data(), '', 'nothing is answered to a request whose headers never came');
});

test('slow clients: headers slower than --body-timeout-ms get 408 within a second of it; past --max-connections new connections are closed as they come', async () => {
  const s = await serve(['--model', INT8, '--body-timeout-ms', '1000', '--max-connections', '4']);
  const port = Number(new URL(s.url).port);
  try {
    const slow = connect(port, '127.0.0.1');
    await new Promise((r) => slow.once('connect', r));
    let answer = '';
    slow.on('data', (d) => { answer += d; });
    const t0 = Date.now();
    slow.write('POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => { if (!slow.destroyed) slow.write('X-Drip: 1\r\n'); }, 200); // slowloris: a header line now and then
    await new Promise<void>((r) => slow.once('close', () => r()));
    clearInterval(drip);
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - t0 < 1000 + 1500, `408 after ${Date.now() - t0} ms`);
    // four idle keep-alive connections hold every slot: a fifth is closed at once, unanswered
    const idle = await Promise.all(Array.from({ length: 4 }, async () => {
      const c = connect(port, '127.0.0.1');
      await new Promise((r) => c.once('connect', r));
      return c;
    }));
    await new Promise((r) => setTimeout(r, 100));
    const fifth = connect(port, '127.0.0.1');
    fifth.on('error', () => {});
    let got = '';
    fifth.on('data', (d) => { got += d; });
    fifth.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((r) => fifth.once('close', () => r()));
    assert.is(got, '', 'the connection past the cap is closed without an answer');
    for (const c of idle) c.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.is((await fetch(`${s.url}/health`)).status, 200, 'once connections close, new ones are served');
  } finally {
    assert.is(await stop(s), 0);
  }
});

test.after(() => {
  ref8.dispose();
  ref32.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
