// instructor-wasm/bullmq in one process, on a real redis-server: the wire format, the producer's
// checks, results equal to `encode` bit for bit, resubmission reusing finished jobs, failed chunks
// reported with their input indices, a callback that stores embeddings, abort, load errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { InstructorError } from '../src/errors.js';
import {
  base64ToFloat32, chunkJobId, CorpusError, createEmbeddingWorker, embedCorpus, float32ToBase64,
  PROTOCOL_VERSION, type ChunkEmbeddings, type EmbeddingWorker,
} from '../src/queue/index.js';
import { checkJobData, checkJobName, checkJobResult, compactInputs } from '../src/queue/protocol.js';
import type { EmbedInput } from '../src/text/inputs.js';
import { rejects, sameBits, throwsCode } from './support/assert.js';
import { BIN, corpus, within } from './support/fleet.js';
import { fillRedis, NOEVICTION, startRedis, type RedisServer } from './support/redis.js';
import { freePort, setup } from './support/system.js';
import { synthInstructor, synthTextWeights } from './support/synth-text-model.js';

const weights = synthTextWeights('tiny', 'int8');
const reference = await synthInstructor('tiny', 'int8');
const inputs = corpus(300, 7) as EmbedInput[];
const want = await reference.encode(inputs);
let redis: RedisServer;
let connection: { url: string; maxRetriesPerRequest: null };
const open: Array<{ close(): Promise<void> }> = [];
let queues = 0;

setup(test, async () => {
  redis = await startRedis();
  connection = { url: redis.url, maxRetriesPerRequest: null };
});

function newQueue(c: object = connection): Queue {
  const q = new Queue(`q-${++queues}`, { connection: c });
  q.on('error', () => {});
  open.push(q);
  return q;
}

async function startWorker(queue: Queue, extra: Partial<Parameters<typeof createEmbeddingWorker>[0]> = {}): Promise<EmbeddingWorker> {
  const w = await createEmbeddingWorker({ connection, queue: queue.name, model: weights, ...extra });
  open.unshift(w);
  return w;
}

function completions(w: EmbeddingWorker): { count: number } {
  const c = { count: 0 };
  w.worker.on('completed', () => { c.count++; });
  return c;
}

/**
 * Waits until the worker has seen `n` completions: its own 'completed' event comes after Redis has
 * published the one embedCorpus waits for, so it may trail embedCorpus's return by a moment.
 */
async function reaches(c: { count: number }, n: number): Promise<void> {
  for (let t = 0; c.count < n; t++) {
    if (t > 500) throw new Error(`the worker completed ${c.count} jobs, expected ${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function same(got: ArrayLike<Float32Array | null>, expect: Float32Array[], what: string): void {
  assert.is(got.length, expect.length, `${what}: count`);
  for (let i = 0; i < expect.length; i++) sameBits(got[i]!, expect[i], `${what} ${i}`);
}

test.after(async () => {
  for (const o of open) await o.close().catch(() => {});
  reference.dispose();
  await redis?.dispose();
});

test('base64 float32 is little-endian and round-trips every bit pattern; wrong sizes are BAD_INPUT', () => {
  assert.is(float32ToBase64(Float32Array.of(1, -2)), 'AACAPwAAAMA='); // 3f800000, c0000000 little-endian
  const bits = Uint32Array.of(0x00000000, 0x80000000, 0x7fc00001, 0xffc00000, 0x7f800000, 0xff800000, 0x00000001, 0x807fffff, 0x3eaaaaab);
  const v = new Float32Array(bits.buffer);
  const back = base64ToFloat32(float32ToBase64(v), v.length, 'v');
  assert.equal(Array.from(new Uint32Array(back.buffer)), Array.from(bits));
  throwsCode(() => base64ToFloat32(float32ToBase64(v), v.length + 1, 'row 3'), 'BAD_INPUT', /row 3: expected 56 base64 characters \(10 float32\), got 48/);
  throwsCode(() => base64ToFloat32('AACAPwAAAM*=', 2, 'r'), 'BAD_INPUT', /characters outside base64/);
  throwsCode(() => base64ToFloat32(42, 2, 'r'), 'BAD_INPUT', /expected a base64 string, got number/);
});

test('job ids depend on the inputs, the instruction and the kernels build only; the compact form is the same pair', () => {
  const pair = compactInputs([{ instruction: 'I: ', text: 't' }, ['I: ', 't', 0], 'plain']);
  assert.equal(pair, [['I: ', 't'], ['I: ', 't', 0], 'plain']);
  assert.is(chunkJobId(compactInputs([{ instruction: 'a', text: 'b' }]), undefined), chunkJobId(compactInputs([['a', 'b']]), undefined));
  assert.is.not(chunkJobId(['x'], undefined), chunkJobId(['x'], 'Represent: '));
  assert.is(chunkJobId(['x'], undefined), chunkJobId(['x'], undefined, 'simd128'), 'simd128 by default');
  assert.is.not(chunkJobId(['x'], undefined, 'simd128'), chunkJobId(['x'], undefined, 'relaxed'));
  assert.is.not(chunkJobId(['x', 'y'], undefined), chunkJobId(['y', 'x'], undefined));
  assert.match(chunkJobId(['x'], undefined), /^iw-[0-9a-f]{40}$/);
  throwsCode(() => compactInputs(['ok', ['a', 'b', 1]], 100), 'BAD_INPUT', /input 101: third element is number 1/);
});

test('job data and job results from Redis are checked', () => {
  assert.is(PROTOCOL_VERSION, 2);
  throwsCode(() => checkJobData({ v: 1, inputs: ['a'], kernels: 'simd128' }, 10), 'BAD_INPUT', /protocol version 1, this worker speaks 2/);
  throwsCode(() => checkJobData({ v: 2, inputs: 'a', kernels: 'simd128' }, 10), 'BAD_INPUT', /inputs is string, expected an array/);
  throwsCode(() => checkJobData({ v: 2, inputs: Array(11).fill('a'), kernels: 'simd128' }, 10), 'BAD_INPUT', /11 inputs, expected 1 to 10 per job/);
  throwsCode(() => checkJobData({ v: 2, inputs: ['a'], instruction: 5, kernels: 'simd128' }, 10), 'BAD_INPUT', /instruction is number/);
  throwsCode(() => checkJobData({ v: 2, inputs: ['a'] }, 10), 'BAD_INPUT', /kernels is undefined, expected 'simd128' or 'relaxed'/);
  throwsCode(() => checkJobData({ v: 2, inputs: ['a'], kernels: 'x'.repeat(100_000) }, 10), 'BAD_INPUT', /kernels is "x{40}\.\.\.", expected/);
  assert.equal(checkJobData({ v: 2, inputs: ['a'], kernels: 'relaxed' }, 10).kernels, 'relaxed');
  throwsCode(() => checkJobName('resize'), 'BAD_INPUT', /job name "resize": this worker takes only "embed" jobs/);
  checkJobName('embed');
  const ok = {
    v: PROTOCOL_VERSION, dim: 2, kernels: 'simd128', count: 2, tokens: [3, 4], truncated: [0, 1], cutChars: [0, 9], emptyPool: [1],
    embeddings: [float32ToBase64(Float32Array.of(1, 2)), float32ToBase64(Float32Array.of(3, 4))],
  };
  assert.is(checkJobResult(ok, 2, true).embeddings!.length, 2);
  assert.is(checkJobResult(ok, 2, true).kernels, 'simd128');
  throwsCode(() => checkJobResult({ ...ok, kernels: undefined }, 2, true), 'BAD_INPUT', /job result: kernels is undefined/);
  throwsCode(() => checkJobResult(ok, 3, true), 'BAD_INPUT', /count 2 for a chunk of 3 inputs/);
  throwsCode(() => checkJobResult({ ...ok, tokens: [3] }, 2, true), 'BAD_INPUT', /tokens: expected an array of 2 integers, got 1 items/);
  throwsCode(() => checkJobResult({ ...ok, cutChars: undefined }, 2, true), 'BAD_INPUT', /cutChars: expected an array of 2 integers/);
  throwsCode(() => checkJobResult({ ...ok, emptyPool: [2] }, 2, true), 'BAD_INPUT', /emptyPool\[0\]: expected an integer in \[0, 1\], got 2/);
  throwsCode(() => checkJobResult({ ...ok, embeddings: undefined }, 2, true), 'BAD_INPUT', /pass collect: false/);
  assert.ok(checkJobResult({ ...ok, embeddings: undefined }, 2, false).stored);
});

test('embedCorpus checks its arguments and every input before enqueueing anything', async () => {
  const q = newQueue();
  await rejects(embedCorpus(q, 'text' as never), 'BAD_INPUT', /inputs must be an array, got string/);
  // (the signal: a producer that ignored the option would wait for a worker for ever)
  await rejects(embedCorpus(q, ['a'], { kernels: 'auto' as never, signal: AbortSignal.timeout(10_000) }), 'BAD_INPUT', /embedCorpus: kernels is "auto", expected 'simd128' or 'relaxed'/);
  await rejects(embedCorpus(q, ['a'], { chunkSize: 0 }), 'BAD_INPUT', /chunkSize is 0, expected an integer in \[1, 4096\]/);
  await rejects(embedCorpus({} as Queue, ['a']), 'BAD_INPUT', /must be a BullMQ Queue/);
  const bad = [...inputs.slice(0, 100)] as unknown[];
  bad[70] = { text: 'no instruction' };
  await rejects(embedCorpus(q, bad), 'BAD_INPUT', /input 70: got an object with keys text without "instruction"/);
  const counts = await q.getJobCounts();
  assert.is(Object.values(counts).reduce((a, b) => a + b, 0), 0, 'nothing enqueued');
  assert.equal(await embedCorpus(q, []), { embeddings: [], tokens: [], truncated: [], cutChars: [], emptyPool: [], kernels: 'simd128' });
});

test('one in-process worker: embedCorpus equals encode bit for bit, with counts; with an instruction too', async () => {
  const q = newQueue();
  const w = await startWorker(q, { batchTokens: 512 });
  assert.is(w.model.dim, reference.dim);
  const progress: number[] = [];
  const r = await embedCorpus(q, inputs, { chunkSize: 32, onProgress: (done, total) => { assert.is(total, 300); progress.push(done); } });
  same(r.embeddings, want, 'corpus');
  const local = await reference.embed(inputs);
  assert.equal(r.tokens, local.tokens);
  assert.equal(r.truncated, local.truncated);
  assert.ok(r.truncated[13] > 0, 'input 13 is cut to 512 tokens');
  assert.equal(r.cutChars, local.cutChars);
  assert.ok(r.cutChars[101] > 0, 'input 101 is cut before tokenizing');
  assert.equal(r.emptyPool, local.emptyPool);
  assert.is(progress.at(-1), 300);
  assert.ok(progress.every((p, i) => i === 0 || p > progress[i - 1]));
  const plain = inputs.filter((x) => typeof x === 'string').slice(0, 40) as string[];
  const instructed = await embedCorpus(q, plain, { chunkSize: 16, instruction: 'Represent the title: ' });
  same(instructed.embeddings, await reference.encode(plain, { instruction: 'Represent the title: ' }), 'instruction');
  assert.is((await q.getJobCounts()).completed, 0, 'jobs removed once collected');
});

test('resubmitting a corpus reuses its finished jobs: nothing is computed twice', async () => {
  const q = newQueue();
  const w = await startWorker(q);
  const done = completions(w);
  const first = await embedCorpus(q, inputs, { chunkSize: 50, removeWhenDone: false });
  await reaches(done, 6);
  const ids = [0, 50, 100, 150, 200, 250].map((s) => chunkJobId(compactInputs(inputs.slice(s, s + 50)), undefined));
  const finishedOn = async () => Promise.all(ids.map(async (id) => (await Job.fromId(q, id))!.finishedOn));
  const before = await finishedOn();
  const again = await embedCorpus(q, inputs, { chunkSize: 50, removeWhenDone: false });
  assert.equal(await finishedOn(), before, 'no job ran again');
  assert.is(done.count, 6, 'no job ran again');
  same(again.embeddings, first.embeddings, 'resubmitted');
  same(again.embeddings, want, 'resubmitted vs encode');
  await embedCorpus(q, inputs, { chunkSize: 50 });
  assert.is(done.count, 6, 'no job ran again');
  assert.is((await q.getJobCounts()).completed, 0, 'removed after a complete collection');
});

test('failed chunks are reported with their input indices; the rest is returned', async () => {
  const q = newQueue();
  const w = await startWorker(q, { maxJobInputs: 30 });
  const completed = completions(w);
  const part = inputs.slice(0, 100);
  const err = await rejects(embedCorpus(q, part, { chunkSize: 40, sweepMs: 100 }), 'JOB_FAILED', /2 chunk\(s\) of 3 failed: inputs 0-39: job data: 40 inputs, expected 1 to 30 per job/);
  assert.instance(err, CorpusError);
  const e = err as CorpusError;
  assert.equal(e.failures.map((f) => [f.start, f.end]), [[0, 40], [40, 80]]);
  assert.equal(e.failures.map((f) => f.jobId), [0, 40].map((s) => chunkJobId(compactInputs(part.slice(s, s + 40)), undefined)));
  assert.ok(e.partial.slice(0, 80).every((x) => x === null));
  same(e.partial.slice(80), want.slice(80, 100), 'the chunk that completed');
  await reaches(completed, 1);
  // Failed for good (no retries of a deterministic failure), and kept for inspection.
  assert.is((await q.getJobCounts()).failed, 2);
});

test('a foreign job under a chunk id (another protocol version) fails that chunk, not the corpus', async () => {
  const q = newQueue();
  await startWorker(q);
  const part = inputs.slice(0, 60);
  const id = chunkJobId(compactInputs(part.slice(20, 40)), undefined);
  await q.add('embed', { v: 99, inputs: part.slice(20, 40) }, { jobId: id });
  const e = await rejects(embedCorpus(q, part, { chunkSize: 20, sweepMs: 100 }), 'JOB_FAILED', /inputs 20-39: job data: protocol version 99/) as CorpusError;
  assert.equal(e.failures.map((f) => [f.start, f.end]), [[20, 40]]);
  same(e.partial.slice(0, 20), want.slice(0, 20), 'chunk 0');
  same(e.partial.slice(40, 60), want.slice(40, 60), 'chunk 2');
});

test('onEmbeddings stores the vectors (collect: false); collecting from such workers is a clear failure', async () => {
  const q = newQueue();
  const store = new Map<string, ChunkEmbeddings>();
  await startWorker(q, { onEmbeddings: (c) => { store.set(c.jobId, c); } });
  const part = inputs.slice(0, 90);
  const r = await embedCorpus(q, part, { chunkSize: 30, collect: false });
  assert.is(r.embeddings.length, 0);
  assert.equal(r.tokens, (await reference.embed(part)).tokens);
  assert.is(store.size, 3);
  for (let s = 0; s < 90; s += 30) {
    const c = store.get(chunkJobId(compactInputs(part.slice(s, s + 30)), undefined))!;
    same(c.embeddings, want.slice(s, s + 30), `stored chunk ${s}`);
  }
  await rejects(embedCorpus(q, inputs.slice(100, 110), { chunkSize: 10 }), 'JOB_FAILED', /pass collect: false/);
});

test('abort stops waiting (ABORTED); the jobs stay queued for the next run', async () => {
  const q = newQueue(); // no worker listens
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('user cancelled')), 200);
  await rejects(embedCorpus(q, inputs.slice(0, 50), { chunkSize: 10, signal: ac.signal }), 'ABORTED', /after 0 of 50 inputs: user cancelled \(enqueued jobs stay/);
  assert.is((await q.getJobCounts('waiting')).waiting, 5);
  await rejects(embedCorpus(q, ['x'], { signal: AbortSignal.abort() }), 'ABORTED', /after 0 of 1/);
  await startWorker(q);
  same((await embedCorpus(q, inputs.slice(0, 50), { chunkSize: 10 })).embeddings, want.slice(0, 50), 'after abort');
});

test('an onProgress that throws ends embedCorpus with its error', async () => {
  const q = newQueue();
  await startWorker(q);
  const boom = new Error('progress sink failed');
  const err = await embedCorpus(q, inputs.slice(0, 30), { chunkSize: 10, onProgress: () => { throw boom; } }).then(() => null, (e: unknown) => e);
  assert.is(err, boom);
});

test('createEmbeddingWorker: a model that does not load rejects with its error; bad options are BAD_INPUT', async () => {
  const q = newQueue();
  await rejects(createEmbeddingWorker({ connection, queue: q.name, model: '/nonexistent/model.iwt' }), 'NOT_FOUND', /model source \/nonexistent\/model\.iwt: no such file or folder/);
  await rejects(createEmbeddingWorker({ connection, queue: q.name, model: new Uint8Array(100) }), 'BAD_FILE', /./);
  await rejects(createEmbeddingWorker({ connection, queue: '', model: weights }), 'BAD_INPUT', /queue is "", expected a queue name/);
  await rejects(createEmbeddingWorker({ connection, queue: q.name, model: weights, concurrency: 0 }), 'BAD_INPUT', /concurrency must be a positive integer, got 0/);
  assert.instance(await createEmbeddingWorker({ connection, queue: q.name, model: weights, batchTokens: 1.5 }).catch((e) => e), InstructorError);
});

test('the kernels build: every job result records it; a job asking for the other build is refused for good', async () => {
  const q = newQueue();
  const w = await startWorker(q);
  const part = inputs.slice(0, 40);
  const r = await embedCorpus(q, part, { chunkSize: 20, removeWhenDone: false });
  assert.is(r.kernels, 'simd128', 'simd128 unless asked otherwise');
  assert.is(w.model.kernels, 'simd128', 'the worker runs the default build');
  same(r.embeddings, want.slice(0, 40), 'the default build');
  for (const s of [0, 20]) {
    const job = (await Job.fromId(q, chunkJobId(compactInputs(part.slice(s, s + 20)), undefined, 'simd128')))!;
    assert.is(job.data.kernels, 'simd128', 'the job asks for it');
    assert.is(job.returnvalue.kernels, 'simd128', 'the result records it');
  }
  // A producer asking for relaxed from a simd128 worker: refused, not retried, never mixed in.
  const e = await rejects(embedCorpus(q, part, { chunkSize: 20, kernels: 'relaxed', sweepMs: 100 }), 'JOB_FAILED',
    /2 chunk\(s\) of 2 failed: inputs 0-19: the job asks for the relaxed kernels build; this worker runs simd128 \(one build per queue/) as CorpusError;
  assert.equal(e.failures.map((f) => f.jobId), [0, 20].map((s) => chunkJobId(compactInputs(part.slice(s, s + 20)), undefined, 'relaxed')));
  assert.ok(e.partial.every((x) => x === null));
  for (const f of e.failures) {
    const job = (await Job.fromId(q, f.jobId))!;
    assert.is(await job.getState(), 'failed');
    assert.is(job.attemptsMade, 1, 'failed for good at the first attempt (3 allowed)');
  }
});

test('a job of another name is refused for good, naming it; under a chunk id it fails that chunk only', async () => {
  const q = newQueue();
  const w = await startWorker(q);
  const failed = new Promise<[string | undefined, string]>((resolve) => w.worker.once('failed', (job, err) => resolve([job?.name, err.message])));
  const part = inputs.slice(0, 60);
  const stray = await q.add('resize-image', { v: PROTOCOL_VERSION, inputs: ['x'], kernels: 'simd128' }, { attempts: 3 });
  assert.equal(await within(failed, 20_000, 'the stray job to fail'), ['resize-image', 'job name "resize-image": this worker takes only "embed" jobs (the ones embedCorpus enqueues); one queue, one kind of job']);
  const job = (await Job.fromId(q, stray.id!))!;
  assert.is(await job.getState(), 'failed');
  assert.is(job.attemptsMade, 1, 'not retried');
  // A job of another name where a chunk's job would be: that chunk fails, the others complete.
  const id = chunkJobId(compactInputs(part.slice(20, 40)), undefined);
  await q.add('x'.repeat(5000), { v: PROTOCOL_VERSION, inputs: compactInputs(part.slice(20, 40)), kernels: 'simd128' }, { jobId: id });
  const e = await within(rejects(embedCorpus(q, part, { chunkSize: 20, sweepMs: 100 }), 'JOB_FAILED', /1 chunk\(s\) of 3 failed: inputs 20-39: job name "x{40}\.\.\.": this worker takes only "embed" jobs/), 20_000, 'embedCorpus') as CorpusError;
  assert.equal(e.failures.map((f) => [f.start, f.end]), [[20, 40]]);
  assert.ok(e.message.length < 500, 'the name is clipped in the message');
  same(e.partial.slice(0, 20), want.slice(0, 20), 'chunk 0');
  same(e.partial.slice(40, 60), want.slice(40, 60), 'chunk 2');
});

test('Redis out of memory while enqueueing: a REDIS error at once, quoting the refusal (not INTERNAL after retries)', async () => {
  const full = await startRedis({ args: NOEVICTION });
  try {
    await fillRedis(full.url);
    const q = new Queue('full', { connection: { url: full.url, maxRetriesPerRequest: null } });
    q.on('error', () => {});
    try {
      // Retried, this took 56 s and ended in ioredis's ReplyError; the guard is far below that.
      const err = await within(rejects(embedCorpus(q, inputs, { chunkSize: 10 }), 'REDIS',
        /^Redis at 127\.0\.0\.1:\d+ refused to enqueue 30 jobs on queue full: OOM command not allowed when used memory > 'maxmemory' \(Redis is full and evicts nothing: free memory/), 20_000, 'the REDIS error');
      assert.not.match((err as Error).message, /script:|user_script/, 'no Lua script internals');
    } finally {
      await q.close().catch(() => {});
    }
  } finally {
    await full.dispose();
  }
});

test('embedCorpus honours its signal at once while Redis is unreachable; a connection closed for good is NETWORK', async () => {
  const port = await freePort(); // nothing listens there
  // A connection that retries for ever (ioredis's default), ours so that the test can drop it.
  const forever = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null });
  forever.on('error', () => {});
  try {
    const down = new Queue('down', { connection: forever });
    down.on('error', () => {});
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('user cancelled')), 300);
    // It used to wait for Redis for ever, whatever the signal said.
    await within(rejects(embedCorpus(down, ['a', 'b'], { signal: ac.signal }), 'ABORTED', /after 0 of 2 inputs: user cancelled \(nothing was enqueued\)/), 10_000, 'ABORTED');
  } finally {
    forever.disconnect();
  }
  // Options whose retryStrategy gives up: the connection ends, embedCorpus says so.
  const givesUp = new Queue('gives-up', { connection: { host: '127.0.0.1', port, maxRetriesPerRequest: null, retryStrategy: (times: number) => (times > 2 ? null : 50) } });
  givesUp.on('error', () => {});
  await within(rejects(embedCorpus(givesUp, ['a']), 'NETWORK', new RegExp(`^Redis at 127\\.0\\.0\\.1:${port}: connection closed for good \\(its retryStrategy gave up\\)`)), 10_000, 'NETWORK');
});

test('the queue commands: usage errors exit 2, a model that does not load exits 1, both naming the problem', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  for (const [args, code, re] of [
    [['worker', '--queue', 'q', '--model', 'm'], 2, /^instructor-wasm: error USAGE: needs --redis URL .*\(see instructor-wasm worker --help\)\n$/],
    [['worker', '--redis', 'http://127.0.0.1:6379', '--queue', 'q', '--model', 'm'], 2, /--redis must be a redis:\/\/ or rediss:\/\/ URL, got "http:/],
    [['worker', '--redis', redis.url, '--model', 'm'], 2, /error USAGE: needs --queue NAME \(see instructor-wasm worker --help\)/],
    [['worker', '--redis', redis.url, '--queue', 'q', '--model', 'm', '--concurrency', '0'], 2, /--concurrency must be a positive integer, got "0"/],
    [['worker', '--redis', redis.url, '--queue', 'q', '--model', '/nonexistent.iwt'], 1, /error NOT_FOUND: model source \/nonexistent\.iwt: no such file or folder/],
    [['embed', '--redis', redis.url, '--input', '-'], 2, /error USAGE: --redis needs --queue NAME/],
    [['embed', '--redis', redis.url, '--queue', 'q', '--model', 'm'], 2, /--model is for a local model; with --redis the workers hold the model/],
    [['embed', '--model', 'm', '--queue', 'q'], 2, /--queue goes with --redis URL/],
    [['embed', '--redis', redis.url, '--queue', 'q', '--chunk-size', 'x'], 2, /--chunk-size must be a positive integer/],
  ] as Array<[string[], number, RegExp]>) {
    const r = run(args);
    assert.is(r.status, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('the fleet example of docs/fleet.md runs as written (a local weights file for the hub id)', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const readme = readFileSync(join(root, 'docs', 'fleet.md'), 'utf8');
  const code = /## Corpora: a BullMQ fleet[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'docs/fleet.md has the fleet example');
  // Under the repository, so `bullmq` resolves from its node_modules.
  const dir = join(root, 'build', `readme-fleet-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'tiny.iwt'), weights);
    const script = code!
      .replace(`from 'instructor-wasm/bullmq'`, `from ${JSON.stringify(join(root, 'dist/src/queue/index.js'))}`)
      .replace(`'redis://127.0.0.1:6379'`, JSON.stringify(redis.url))
      .replace(`'hkunlp/instructor-large'`, JSON.stringify(join(dir, 'tiny.iwt')))
      + '\nconsole.log(JSON.stringify({ n: embeddings.length, dim: embeddings[0].length, tokens, truncated }));\n';
    writeFileSync(join(dir, 'fleet.mjs'), script);
    const r = spawnSync(process.execPath, [join(dir, 'fleet.mjs')], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.is(lines[0], '2 / 2');
    const out = JSON.parse(lines.at(-1)!);
    assert.is(out.n, 2);
    assert.is(out.dim, 24);
    assert.equal(out.truncated, [0, 0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
