// The BullMQ fleet as it runs in production: a real redis-server, `instructor-wasm worker`
// processes and the `embed --redis` producer (or embedCorpus), checked bit for bit against one
// process's `encode`, through a worker killed with SIGKILL mid-job, a worker that joins late, a
// Redis restart, and a forward pass much longer than the job lock; and the faults that must end
// in a clear error instead: a job whose data is not JSON, Redis unreachable (at start, or for
// longer than the wait mid-run), a signal while waiting for it, Redis out of memory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadInstructor } from '../src/io/load-node.js';
import { embedCorpus } from '../src/queue/producer.js';
import { chunkJobId, compactInputs } from '../src/queue/protocol.js';
import type { Instructor } from '../src/text/instructor.js';
import { sameBits } from './support/assert.js';
import { cli, completedJobs, corpus, readNpy, startWorker, tinyWeightsFile, within, type Proc } from './support/fleet.js';
import { fillRedis, NOEVICTION, startRedis, type RedisServer } from './support/redis.js';
import { freePort, setup } from './support/system.js';

// Short locks so a dead worker's jobs come back within seconds (production keeps BullMQ's 30 s).
const FAST_STALL = ['--lock-duration', '1500', '--stalled-interval', '500'];

const dir = mkdtempSync(join(tmpdir(), 'iw-fleet-'));
let redis: RedisServer;
let modelFile: string;
/** One corpus for every test (each on its own queue): 3,000 inputs where inputs 320-383 repeat 128-191. */
let inputs: unknown[];
/** One process's `encode` of it. */
let want: Float32Array[];
const procs: Proc[] = [];
const queues: Queue[] = [];
let queueCount = 0;

function newQueue(): { name: string; queue: Queue } {
  const name = `fleet-${++queueCount}`;
  const queue = new Queue(name, { connection: { url: redis.url, maxRetriesPerRequest: null } });
  queue.on('error', () => {});
  queues.push(queue);
  return { name, queue };
}

async function worker(queue: string, name: string, extra: string[] = FAST_STALL): Promise<Proc> {
  const p = await startWorker(redis.url, queue, modelFile, name, extra);
  procs.push(p);
  return p;
}

function writeJsonl(name: string, inputs: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, inputs.map((x) => JSON.stringify(x)).join('\n') + '\n');
  return path;
}

/** Inputs in distinct chunks: what the fleet must compute, each exactly once (equal chunks share a job). */
function distinctChunkInputs(n: number, chunkSize: number): number {
  const seen = new Set<string>();
  let count = 0;
  for (let s = 0; s < n; s += chunkSize) {
    const chunk = compactInputs(inputs.slice(s, Math.min(n, s + chunkSize)));
    const id = chunkJobId(chunk, undefined);
    if (!seen.has(id)) count += chunk.length;
    seen.add(id);
  }
  return count;
}

function assertSameEmbeddings(got: ArrayLike<Float32Array | null | undefined>, want: Float32Array[], what: string): void {
  assert.is(got.length, want.length, `${what}: count`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    assert.ok(g instanceof Float32Array, `${what}: input ${i} has no embedding`);
    sameBits(g, want[i], `${what}: input ${i}`);
  }
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

/**
 * Waits until the workers' logs account for `n` inputs: a worker writes its "job ... done" line
 * after Redis has published the completion the producer waits for, so it may trail the producer
 * by a moment. Returns the inputs counted (more than `n` fails the caller's equality check).
 */
async function loggedInputs(workers: Proc[], n: number): Promise<number> {
  const count = () => workers.reduce((a, w) => a + sum(completedJobs(w)), 0);
  for (let t = 0; count() < n && t < 250; t++) await new Promise((r) => setTimeout(r, 20));
  return count();
}

setup(test, async () => {
  redis = await startRedis();
  modelFile = tinyWeightsFile(dir);
  inputs = corpus(3000, 1);
  for (let i = 0; i < 64; i++) inputs[320 + i] = inputs[128 + i];
  const model = await loadInstructor(modelFile);
  want = await model.encode(inputs as Parameters<Instructor['encode']>[0]);
  model.dispose();
});

test.after(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  for (const q of queues) await q.close().catch(() => {});
  await redis?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('3 worker processes embed 2,100 inputs through embed --redis: the .npy equals one process encode bit for bit', async () => {
  const n = 2100;
  const { name } = newQueue();
  const ws = await Promise.all(['a', 'b', 'c'].map((w) => worker(name, `w1${w}`)));
  const out = join(dir, 'three.npy');
  const producer = cli('producer', ['embed', '--redis', redis.url, '--queue', name, '--input', writeJsonl('three.jsonl', inputs.slice(0, n)), '--output', out]);
  assert.is(await producer.exited, 0, producer.stderr());
  assertSameEmbeddings(readNpy(new Uint8Array(readFileSync(out))), want.slice(0, n), '3 workers');
  assert.match(producer.stderr(), /embed: 2100 \/ 2100/);
  assert.match(producer.stderr(), /embed: kernels simd128 \(the workers'\)/);
  for (const w of ws) assert.match(w.stderr(), /worker: ready \S+ queue \S+ dim 24 dtype int8 kernels simd128 /);
  assert.match(producer.stderr(), /input\(s\) cut to the model's maximum tokens: line \(tokens dropped\) 14 \(-/, 'the cut item (index 13) named by its input line');
  assert.is(await loggedInputs(ws, n - 64), n - 64);
  const jobs = ws.map(completedJobs);
  for (const [i, j] of jobs.entries()) assert.ok(j.size > 0, `worker ${i} took no job:\n${ws[i].stderr()}`);
  // Each input embedded exactly once across the fleet; chunk 5 repeats chunk 2 and is computed once for both.
  assert.is(distinctChunkInputs(n, 64), n - 64);
  assert.is(jobs.reduce((a, j) => a + sum(j), 0), n - 64);
  assert.is(new Set(jobs.flatMap((j) => [...j.keys()])).size, Math.ceil(n / 64) - 1);
});

test('kill -9 of a worker mid-job: its jobs are redelivered and completed once, the output is complete', async () => {
  const n = 2000;
  const { name, queue } = newQueue();
  const victim = await worker(name, 'victim');
  const survivor = await worker(name, 'survivor');
  const run = embedCorpus(queue, inputs.slice(0, n), { chunkSize: 100, removeWhenDone: false, sweepMs: 300 });
  // Kill the victim while it holds a job (it holds two: one computing, one prefetched).
  let killed: string[] = [];
  for (let t = 0; killed.length === 0; t++) {
    assert.ok(t < 2000, 'the victim never held a job');
    const active = await queue.getActive();
    killed = active.filter((j) => j.processedBy === 'victim').map((j) => j.id!);
    if (killed.length === 0) await new Promise((r) => setTimeout(r, 5));
  }
  victim.child.kill('SIGKILL');
  assert.is(await victim.exited, null);
  const result = await run;
  assertSameEmbeddings(result.embeddings, want.slice(0, n), 'after kill -9');
  for (const id of killed) {
    const job = (await Job.fromId(queue, id))!;
    assert.is(await job.getState(), 'completed', `job ${id}`);
    assert.is(job.processedBy, 'survivor', `job ${id} finished by the survivor`);
    assert.ok(job.stalledCounter >= 1, `job ${id} was detected as stalled`);
    assert.ok(!completedJobs(victim).has(id), `the victim never completed ${id}`);
  }
  // Every chunk completed exactly once: by the victim before it died, or by the survivor.
  assert.is(await loggedInputs([victim, survivor], distinctChunkInputs(n, 100)), distinctChunkInputs(n, 100));
  const byVictim = completedJobs(victim), bySurvivor = completedJobs(survivor);
  for (const id of byVictim.keys()) assert.not.ok(bySurvivor.has(id), `job ${id} completed twice`);
  assert.is(sum(byVictim) + sum(bySurvivor), distinctChunkInputs(n, 100));
});

test('a worker started late joins and takes jobs', async () => {
  const { name, queue } = newQueue();
  const early = await worker(name, 'early');
  let late: Promise<Proc> | null = null;
  const result = await embedCorpus(queue, inputs, {
    chunkSize: 8, // 375 small jobs: the early worker alone needs a few times a worker's start-up
    onProgress: (done) => { if (done > 0) late ??= worker(name, 'late'); },
  });
  assertSameEmbeddings(result.embeddings, want, 'early + late');
  const lateProc = await late!;
  assert.is(await loggedInputs([early, lateProc], distinctChunkInputs(inputs.length, 8)), distinctChunkInputs(inputs.length, 8));
  assert.ok(completedJobs(lateProc).size > 0, `the late worker took no job:\n${lateProc.stderr()}`);
  assert.ok(completedJobs(early).size > 0);
  assert.is(sum(completedJobs(early)) + sum(completedJobs(lateProc)), distinctChunkInputs(inputs.length, 8));
});

test('Redis restarted mid-run: workers and the embed --redis producer reconnect and finish', async () => {
  const n = 2000;
  const { name } = newQueue();
  await Promise.all([worker(name, 'r1'), worker(name, 'r2')]);
  const out = join(dir, 'restart.jsonl');
  const producer = cli('producer', ['embed', '--redis', redis.url, '--queue', name, '--input', writeJsonl('restart.jsonl', inputs.slice(0, n)),
    '--output', out, '--chunk-size', '20']);
  await producer.waitFor(/embed: [1-9]\d* \/ 2000/);
  await redis.stop();
  assert.is(producer.child.exitCode, null, 'the producer was still waiting when Redis stopped');
  assert.not.match(producer.stderr(), /embed: 2000 \/ 2000/);
  await new Promise((r) => setTimeout(r, 1000));
  await redis.start();
  assert.is(await producer.exited, 0, producer.stderr());
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number; embedding: number[] });
  assert.equal(lines.map((l) => l.index), want.slice(0, n).map((_, i) => i));
  assertSameEmbeddings(lines.map((l) => Float32Array.from(l.embedding)), want.slice(0, n), 'across a Redis restart');
});

test('a forward pass several times longer than the job lock: the busy worker keeps its job', async () => {
  const { name, queue } = newQueue();
  // A 300 ms lock renewed every 150 ms; the idle second worker checks for stalled jobs every 100 ms.
  const lockMs = 300;
  const lock = ['--lock-duration', String(lockMs), '--stalled-interval', '100', '--concurrency', '1'];
  await Promise.all([worker(name, 's1', lock), worker(name, 's2', lock)]);
  const result = await embedCorpus(queue, inputs, { chunkSize: inputs.length, removeWhenDone: false });
  assertSameEmbeddings(result.embeddings, want, 'one long chunk');
  const job = (await Job.fromId(queue, chunkJobId(compactInputs(inputs), undefined)))!;
  assert.is(job.stalledCounter, 0, 'the job was taken for stalled');
  assert.is(job.attemptsStarted, 1, 'the job started once');
  const ms = job.finishedOn! - job.processedOn!;
  assert.ok(ms > 3 * lockMs, `the chunk must outlast the lock several times to prove anything: ${ms} ms`);
});

test('a job whose data is not JSON fails for good at its first attempt; embed --redis names its input lines', async () => {
  const { name, queue } = newQueue();
  const part = inputs.slice(0, 60);
  const producer = cli('producer', ['embed', '--redis', redis.url, '--queue', name, '--input', writeJsonl('poison.jsonl', part),
    '--output', join(dir, 'poison.out.jsonl'), '--chunk-size', '20']);
  // No worker yet: the 3 jobs wait. Then one job's data is overwritten as in the issue: HSET data "\x7b\xff\xfe".
  for (let t = 0; (await queue.getJobCounts('waiting')).waiting < 3; t++) {
    assert.ok(t < 1000, `the producer enqueued nothing:\n${producer.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const id = chunkJobId(compactInputs(part.slice(20, 40)), undefined);
  const raw = new Redis(redis.url);
  try {
    await raw.hset(`bull:${name}:${id}`, 'data', Buffer.from([0x7b, 0xff, 0xfe]));
    const w = await worker(name, 'poisoned');
    // It used to stay active for ever, with no attempt made, and the producer waited for ever.
    assert.is(await within(producer.exited, 60_000, 'embed --redis to end'), 1, producer.stderr());
    const reason = /job data is not JSON \(SyntaxError: [^)]*\): "\{\uFFFD\uFFFD" was written by something other than embedCorpus/;
    assert.match(producer.stderr(), new RegExp(`failed chunk ${id}: input lines 21-40: ${reason.source}`));
    assert.match(producer.stderr(), /instructor-wasm: error JOB_FAILED: 1 chunk\(s\) of 3 failed: inputs 20-39: job data is not JSON/);
    assert.match(w.stderr(), new RegExp(`worker: job ${id} failed \\(attempt 1\\): ${reason.source}`), w.stderr());
    assert.not.match(w.stderr(), /worker: redis:/, 'not reported as a Redis problem');
    assert.is(await loggedInputs([w], 40), 40, 'the other chunks completed');
    assert.is(completedJobs(w).size, 2);
    const [state, attempts, failedReason] = [await queue.getJobState(id), await raw.hget(`bull:${name}:${id}`, 'atm'), await raw.hget(`bull:${name}:${id}`, 'failedReason')];
    assert.is(state, 'failed');
    assert.is(attempts, '1', 'failed for good at the first of 3 attempts');
    assert.match(failedReason!, reason);
    assert.equal([...(await raw.hgetBuffer(`bull:${name}:${id}`, 'data'))!], [0x7b, 0xff, 0xfe], 'the data is left as written, for inspection');
  } finally {
    raw.disconnect();
  }
});

test('Redis unreachable: embed --redis and worker say so at each try, then exit 1 with one NETWORK line naming the URL', async () => {
  const port = await freePort(); // nothing listens there
  const url = `redis://someone:s3cret@127.0.0.1:${port}`;
  const input = writeJsonl('unreachable.jsonl', inputs.slice(0, 3));
  const procs = {
    embed: cli('embed', ['embed', '--redis', url, '--queue', 'q', '--input', input, '--redis-wait-ms', '2000']),
    worker: cli('worker', ['worker', '--redis', url, '--queue', 'q', '--model', modelFile, '--redis-wait-ms', '2000']),
  };
  for (const [prefix, p] of Object.entries(procs)) {
    // It used to retry for ever (embed) and print nothing (worker).
    assert.is(await within(p.exited, 30_000, `${prefix} to give up`), 1, p.stderr());
    const lines = p.stderr().trim().split('\n');
    assert.match(lines.at(-1)!, new RegExp(`^instructor-wasm: error NETWORK: Redis at redis://127\\.0\\.0\\.1:${port} unreachable for 2\\.\\d s ` +
      `\\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\); gave up after --redis-wait-ms 2000$`));
    const waiting = lines.filter((l) => l.startsWith(`${prefix}: waiting for Redis at redis://127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port}): `));
    assert.ok(waiting.length >= 3, `a line per try:\n${p.stderr()}`);
    assert.not.match(p.stderr(), /s3cret/, 'the password is never printed');
  }
  assert.not.match(procs.worker.stderr(), /load |worker: ready/, 'Redis is tried before the model is loaded');
});

test('a signal while Redis is unreachable ends embed --redis and worker at once', async () => {
  const url = `redis://127.0.0.1:${await freePort()}`; // the default wait, 30 s
  const input = writeJsonl('signal.jsonl', inputs.slice(0, 3));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const embed = cli('embed', ['embed', '--redis', url, '--queue', 'q', '--input', input]);
    await embed.waitFor(/embed: waiting for Redis/, 10_000);
    embed.child.kill(signal);
    // The first Ctrl-C used to be ignored.
    assert.is(await within(embed.exited, 5_000, `embed --redis to honour ${signal}`), 1);
    assert.match(embed.stderr(), new RegExp(`instructor-wasm: error ABORTED: interrupted by ${signal} while waiting for Redis at ${url.replace(/\./g, '\\.')}\n$`));
  }
  const w = cli('worker', ['worker', '--redis', url, '--queue', 'q', '--model', modelFile]);
  await w.waitFor(/worker: waiting for Redis/, 10_000);
  w.child.kill('SIGTERM');
  assert.is(await within(w.exited, 5_000, 'the worker to honour SIGTERM'), 0);
  assert.match(w.stderr(), /worker: SIGTERM before taking jobs: exiting\n$/);
});

test('Redis gone for longer than --redis-wait-ms mid-run: the worker and embed --redis exit 1 with NETWORK', async () => {
  const { name } = newQueue();
  const w = await worker(name, 'lost', [...FAST_STALL, '--redis-wait-ms', '1500']);
  const producer = cli('producer', ['embed', '--redis', redis.url, '--queue', name, '--input', writeJsonl('lost.jsonl', inputs.slice(0, 2000)),
    '--output', join(dir, 'lost.out.jsonl'), '--chunk-size', '10', '--redis-wait-ms', '1500']);
  await producer.waitFor(/embed: [1-9]\d* \/ 2000/);
  await redis.stop();
  try {
    for (const [prefix, p] of [['worker', w], ['embed', producer]] as const) {
      assert.is(await within(p.exited, 30_000, `${prefix} to give up`), 1, p.stderr());
      assert.match(p.stderr(), new RegExp(`${prefix}: waiting for Redis at redis://127\\.0\\.0\\.1:${redis.port} \\(`));
      assert.match(p.stderr(), new RegExp(`instructor-wasm: error NETWORK: Redis at redis://127\\.0\\.0\\.1:${redis.port} unreachable for 1\\.\\d s .*; gave up after --redis-wait-ms 1500\n$`));
    }
  } finally {
    await redis.start();
  }
});

test('Redis out of memory: embed --redis fails at once with error REDIS quoting the refusal, not INTERNAL', async () => {
  const full = await startRedis({ args: NOEVICTION });
  try {
    await fillRedis(full.url);
    const p = cli('producer', ['embed', '--redis', full.url, '--queue', 'oom', '--input', writeJsonl('oom.jsonl', inputs.slice(0, 500))]);
    // It used to retry for 56 s, then print "error INTERNAL: ReplyError: OOM ...".
    assert.is(await within(p.exited, 20_000, 'embed --redis to fail'), 1);
    // 500 inputs in chunks of 64: 8 chunks, of which chunk 5 repeats chunk 2 (one job): 7 jobs.
    assert.match(p.stderr(), /\ninstructor-wasm: error REDIS: Redis at 127\.0\.0\.1:\d+ refused to enqueue 7 jobs on queue oom: OOM command not allowed when used memory > 'maxmemory' \(Redis is full and evicts nothing: free memory by removing finished or failed jobs, or raise maxmemory\)\n$/, p.stderr());
    assert.not.match(p.stderr(), /INTERNAL/, p.stderr());
  } finally {
    await full.dispose();
  }
});

test.run();
