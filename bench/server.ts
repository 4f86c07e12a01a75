// `npm run bench:server`: the embedding server (`instructor-wasm serve`, a child process) under
// load over loopback, against the library's in-process `encode` of the same texts in large batches,
// measured in the same run.
//
//   node dist/bench/server.js [--quick] [--config base|tiny] [--layouts 1x1,2x1,1x2] [--duration S]
//
// Model: synth-v1 weights of `--config` (default base) in int8 with the T5 tokenizer, written
// once to build/bench-server/. Correctness first: the in-process model against the golden float64
// embeddings (sequences up to 128 tokens), then every server's answers bit for bit against encode.
//
// Layouts (`RxT`: R model threads, replicas over one copy of the weights, of T kernel threads each):
// 1x1 (one core), 2x1 (two replicas) and 1x2 (one replica, two kernel threads). Per layout:
//   query c       closed loop (each client sends its next request when answered), c = 1, 8, 32
//                 (saturation), 128 (4x) and 512 (16x); one 16-token query per POST /v1/embeddings
//   open loop     requests at 2x the 32-client throughput, whatever the answers (a new connection
//                 when every open one is busy), for the same duration
//   passages 8    8 clients, each request 32 passages of 128 tokens (whole rounds of all 8)
//   16 x 512      one request of 16 inputs of 512 tokens (the largest single pass of a request)
// During every scenario a probe sends GET /health every 50 ms on its own connection: its p99 and
// max latency are reported. Reported per scenario: texts/s, latency p50/p99 of the answers that
// were 200, answers by status (429s must carry Retry-After), errors (resets, timeouts), and the
// server's peak RSS (VmRSS sampled every 50 ms) against the bound its settings give.
// Targets (checked and printed): 32 query clients >= 0.9x in-process at one and at two cores;
// passages >= 0.9x in-process at two cores; at 128, 512 clients and open loop every request
// answered (200 or 429 with Retry-After), 0 errors, peak RSS within the bound, p99 of the 200s
// within 2x that at saturation; /health p99 < 100 ms in every scenario.
// Writes bench/results/server.json and server.md (--quick: server-quick.*, short runs, not for
// committing). The load generator shares the machine's cores with the server: on 2 cores, its
// own CPU use is part of what the server numbers pay.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replicaRegionBytes } from '../src/engine/model.js';
import { loadInstructor } from '../src/io/load-node.js';
import type { Instructor } from '../src/text/instructor.js';
import { cosine, readGz, type GoldenModelFile } from '../test/support/golden.js';
import { synthTextWeights } from '../test/support/synth-text-model.js';
import { INT8_MIN_COSINE, TINY_INT8_MIN_COSINE } from '../test/support/tolerances.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // from dist/bench/
const BIN = join(ROOT, 'dist/src/cli/bin.js');
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const QUICK = args.includes('--quick');
const CONFIG = flag('--config') ?? 'base';
const LAYOUTS = (flag('--layouts') ?? '1x1,2x1,1x2').split(',').map((l) => {
  const [replicas, threads] = l.split('x').map(Number);
  return { replicas, threads, cores: replicas * threads, name: l };
});
const DURATION = Number(flag('--duration') ?? (QUICK ? 3 : 10));
const WARMUP = QUICK ? 1 : 3;
const QUERY_TOKENS = 16, PASSAGE_TOKENS = 128, PASSAGES_PER_REQUEST = 32, LONG_TOKENS = 512, LONG_INPUTS = 16;
const SATURATION = 32; // the closed-loop load the query server is sized for
const QUERY_CLIENTS = [1, 8, SATURATION, 4 * SATURATION, 16 * SATURATION];
// The query server's --max-queued-tokens, chosen for a latency target as an operator would: at
// overload a request waits for the queue ahead of it, so its latency is about queue / saturating
// load times the saturated latency (Little's law); 1.5x keeps p99 under 2x with room for the passes'
// variance.
const QUERY_QUEUE = 1.5 * SATURATION * QUERY_TOKENS;
const PASSAGE_QUEUE = 2 * 8 * PASSAGES_PER_REQUEST * PASSAGE_TOKENS;
const MAX_BATCH_TOKENS = 8192;
const MAX_CONCURRENT = 128; // serve's default
const MAX_BODY = 2 << 20; // serve's default
const MODEL = `${CONFIG}-int8`;
const PASSAGE_ROUNDS = QUICK ? 1 : 2;
const HEALTH_EVERY_MS = 50;
const PASSAGE_DRAIN_MS = 300_000;

// ------------------------------------------------------------------------------ texts

const WORDS = ('time year people way day man thing woman life child world school state family student group country problem hand part ' +
  'place case week company system program question work government number night point home water room mother area money story fact ' +
  'month lot right study book eye job word business issue side kind head house service friend father power hour game line end member ' +
  'law car city community name president team minute idea kid body information back parent face others level office door health person ' +
  'art war history party result change morning reason research girl guy moment air teacher force education').split(' ');

/** `count` distinct texts of exactly `tokens` tokens (`</s>` included) for this tokenizer. */
function textsOfLength(model: Instructor, tokens: number, count: number, seed: number): string[] {
  const cost = new Map(WORDS.map((w) => [w, model.tokenizer.encodeNoSpecial(w).length]));
  const ones = WORDS.filter((w) => cost.get(w) === 1);
  const out: string[] = [];
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  while (out.length < count) {
    const words = [`n${out.length}`]; // makes every text distinct
    let n = model.tokenizer.encodeNoSpecial(words[0]).length;
    while (n < tokens - 1) {
      const pool = n + 3 < tokens - 1 ? WORDS : ones;
      const w = pool[Math.floor(next() * pool.length)];
      if (n + cost.get(w)! > tokens - 1) continue;
      words.push(w);
      n += cost.get(w)!;
    }
    const text = words.join(' ');
    if (model.tokenizer.encode(text, 512).ids.length === tokens) out.push(text);
  }
  return out;
}

// ------------------------------------------------------------------------------ processes

interface Served { child: ChildProcess; url: string; port: number; stop: () => Promise<number | null>; rss: () => number }

async function startServer(file: string, layout: typeof LAYOUTS[number], extra: string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--model', file, '--port', '0', '--threads', String(layout.cores), '--replicas', String(layout.replicas),
    '--max-batch-tokens', String(MAX_BATCH_TOKENS), '--quiet', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
    if (err.length > 1 << 20) err = err.slice(-(1 << 16)); // the request log: keep the tail
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const t0 = Date.now();
  while (!/listening on (http:\/\/\S+)/.test(err) || !(await healthy(err))) {
    if (child.exitCode !== null || Date.now() - t0 > 300_000) throw new Error(`serve did not start: ${err.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = /listening on (http:\/\/\S+)/.exec(err)![1];
  return {
    child, url, port: Number(new URL(url).port),
    rss: () => {
      try {
        return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024;
      } catch {
        return 0;
      }
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exit;
    },
  };
}

async function healthy(stderr: string): Promise<boolean> {
  const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
  if (!url) return false;
  try {
    const r = await fetch(`${url}/health`);
    await r.body?.cancel();
    return r.status === 200;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------ measuring

interface Scenario {
  layout: string; name: string; clients: number | null; textsPerRequest: number;
  textsPerSec: number; requestsPerSec: number; p50Ms: number; p99Ms: number;
  statuses: Record<string, number>; retryAfterMissing: number; errors: number;
  peakRssMiB: number; healthP99Ms: number; healthMaxMs: number; healthFailures: number;
}

/** GET /health every HEALTH_EVERY_MS on a connection of its own, until stopped: the latencies. */
function healthProbe(server: Served): { stop: () => Promise<{ p99: number; max: number; failures: number }> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let failures = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      const status = await new Promise<number>((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/health', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.setTimeout(10_000, () => req.destroy());
        req.on('error', () => resolve(0));
        req.end();
      });
      if (status === 200) times.push(performance.now() - t0);
      else failures++;
      await new Promise((r) => setTimeout(r, HEALTH_EVERY_MS));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      agent.destroy();
      times.sort((a, b) => a - b);
      return { p99: times.length ? times[Math.min(times.length - 1, Math.floor(times.length * 0.99))] : NaN, max: times.length ? times[times.length - 1] : NaN, failures };
    },
  };
}

type Run = { seconds: number } | { requests: number };

interface LoadResult { seconds: number; ok: number; latencies: number[]; statuses: Record<string, number>; retryAfterMissing: number; errors: number }

/** Closed loop with autocannon: `clients` connections, each sending its next request when answered. */
async function closedLoop(server: Served, bodies: string[], clients: number, run: Run): Promise<LoadResult> {
  let k = 0;
  let retryAfterMissing = 0;
  const latencies: number[] = [];
  const instance = autocannon({
    url: server.url, connections: clients, timeout: 600,
    ...('seconds' in run ? { duration: run.seconds } : { amount: run.requests }),
    requests: [{
      method: 'POST', path: '/v1/embeddings', headers: { 'content-type': 'application/json' },
      setupRequest: (req: autocannon.Request) => ({ ...req, body: bodies[k++ % bodies.length] }),
      onResponse: (status, _body, _context, headers) => {
        const retry = headers && Object.entries(headers).find(([k]) => k.toLowerCase() === 'retry-after')?.[1];
        if (status === 429 && !/^\d+$/.test(String(retry ?? ''))) retryAfterMissing++;
      },
    }],
  });
  // the instance is an EventEmitter as well as a promise of the result
  (instance as unknown as { on(e: 'response', f: (client: unknown, statusCode: number, bytes: number, ms: number) => void): void }).on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode === 200) latencies.push(responseTime);
  });
  const r = await (instance as unknown as Promise<autocannon.Result & { statusCodeStats?: Record<string, { count: number }> }>);
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {})) statuses[code] = count ?? 0;
  return { seconds: r.duration, ok: r['2xx'], latencies, statuses, retryAfterMissing, errors: r.errors + r.timeouts };
}

/**
 * Open loop: requests at `rate` per second for `seconds`, sent at their time whatever the answers
 * (a new connection when every open one is busy): what a crowd of independent clients does.
 */
async function openLoop(server: Served, bodies: string[], rate: number, seconds: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0, errors = 0, retryAfterMissing = 0;
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const body = bodies[i % bodies.length];
    const sent = performance.now();
    pending.push(new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/v1/embeddings', method: 'POST', agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => {
          const code = String(res.statusCode);
          statuses[code] = (statuses[code] ?? 0) + 1;
          if (res.statusCode === 200) {
            ok++;
            latencies.push(performance.now() - sent);
          } else if (res.statusCode === 429 && !/^\d+$/.test(String(res.headers['retry-after'] ?? ''))) retryAfterMissing++;
          resolve();
        });
        res.on('error', () => { errors++; resolve(); });
      });
      req.setTimeout(600_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => { errors++; resolve(); });
      req.end(body);
    }));
  }
  await Promise.all(pending);
  agent.destroy();
  return { seconds: (performance.now() - t0) / 1000, ok, latencies, statuses, retryAfterMissing, errors };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** One scenario: the load (after a warm-up for timed runs), the server's RSS sampled, /health probed. */
/**
 * Waits until the server holds no tokens (queued or computing): a run cut at a duration leaves
 * requests in it, which must not count against the next run's queue bound or take its cores.
 */
async function settled(server: Served): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const held = text.split('\n').filter((l) => /^instructor_(queue|computing)_tokens[{ ]/.test(l)).reduce((sum, l) => sum + Number(l.trim().split(/\s+/).pop()), 0);
    if (held === 0) return;
    if (Date.now() > deadline) throw new Error(`the server still holds ${held} tokens 120 s after the load stopped`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function scenario(server: Served, layout: string, name: string, clients: number | null, textsPerRequest: number, fn: () => Promise<LoadResult>): Promise<Scenario> {
  let peak = server.rss();
  const sampler = setInterval(() => { peak = Math.max(peak, server.rss()); }, 50);
  const probe = healthProbe(server);
  let r: LoadResult;
  try {
    r = await fn();
  } finally {
    clearInterval(sampler);
  }
  const health = await probe.stop();
  await settled(server);
  const lat = r.latencies.sort((a, b) => a - b);
  const row: Scenario = {
    layout, name, clients, textsPerRequest,
    textsPerSec: (r.ok * textsPerRequest) / r.seconds, requestsPerSec: r.ok / r.seconds,
    p50Ms: Math.round(percentile(lat, 0.5)), p99Ms: Math.round(percentile(lat, 0.99)),
    statuses: r.statuses, retryAfterMissing: r.retryAfterMissing, errors: r.errors, peakRssMiB: peak / 2 ** 20,
    healthP99Ms: Math.round(health.p99 * 10) / 10, healthMaxMs: Math.round(health.max * 10) / 10, healthFailures: health.failures,
  };
  const other = Object.entries(r.statuses).filter(([c]) => c !== '200').map(([c, n]) => `${c}: ${n}`).join(', ');
  console.log(`${layout} ${name}: ${row.textsPerSec.toFixed(1)} texts/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${r.ok} ok${other ? `, ${other}` : ''}, ` +
    `${r.errors} errors, peak RSS ${row.peakRssMiB.toFixed(1)} MiB, /health p99 ${row.healthP99Ms} ms max ${row.healthMaxMs} ms (${r.seconds.toFixed(1)} s)`);
  return row;
}

/** encode() of `texts`, one pass of MAX_BATCH_TOKENS tokens per call, until DURATION s passed (at least one call): texts/s. */
async function inProcess(model: Instructor, texts: string[], tokensEach: number): Promise<number> {
  const batchSize = Math.floor(MAX_BATCH_TOKENS / tokensEach);
  await model.encode(texts.slice(0, Math.min(batchSize, 8)), { batchSize, maxBatchTokens: MAX_BATCH_TOKENS }); // warm-up
  let done = 0;
  const t0 = performance.now();
  for (let at = 0; done === 0 || performance.now() - t0 < DURATION * 1000; at = (at + batchSize) % texts.length) {
    const batch = texts.slice(at, at + batchSize);
    await model.encode(batch, { batchSize, maxBatchTokens: MAX_BATCH_TOKENS });
    done += batch.length;
  }
  return done / ((performance.now() - t0) / 1000);
}

/** The server's answers to `inputs`, one request each, sent together, equal bit for bit to `want`. */
async function checkServer(server: Served, inputs: string[][], want: Float32Array[][], what: string): Promise<void> {
  const answers = await Promise.all(inputs.map(async (input) => {
    const res = await fetch(`${server.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, input, encoding_format: 'base64' }) });
    if (res.status !== 200) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { data: Array<{ embedding: string }> }).data.map((d) => {
      const b = Buffer.from(d.embedding, 'base64');
      return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    });
  }));
  answers.forEach((vs, i) => vs.forEach((v, k) => {
    const w = want[i][k];
    const same = v.length === w.length && v.every((x, d) => Object.is(x, w[d]));
    if (!same) throw new Error(`${what}: request ${i} input ${k} differs from encode(); not timing a wrong server`);
  }));
}

// ------------------------------------------------------------------------------ run

const dataDir = join(ROOT, 'build/bench-server');
mkdirSync(dataDir, { recursive: true });
const file = join(dataDir, `${MODEL}.iwt`);
if (!existsSync(file)) {
  console.log(`writing synth-v1 ${CONFIG} int8 weights with the tokenizer to ${file}`);
  writeFileSync(file, synthTextWeights(CONFIG, 'int8'));
}

const golden = readGz<GoldenModelFile>('golden-model.json.gz');
const threshold = CONFIG.startsWith('tiny') ? TINY_INT8_MIN_COSINE : INT8_MIN_COSINE;
const rows: Scenario[] = [];
const baseline: Array<{ cores: number; queryTextsPerSec: number; passageTextsPerSec: number }> = [];
const targets: Array<{ layout: string; target: string; value: string; met: boolean }> = [];
const bounds: Array<{ layout: string; boundMiB: number; parts: string }> = [];
let goldenMinCosine = Infinity;

for (const cores of [...new Set(LAYOUTS.map((l) => l.cores))]) {
  const model = await loadInstructor(file, { threads: cores });
  // Correctness first: the model against the golden.
  if (golden.configs[CONFIG]) {
    golden.sequences.forEach((s, j) => {
      if (s.ids.length > 128) return;
      const [e] = model.embedPrepared([{ ids: s.ids, nInstr: s.n_instr }]);
      goldenMinCosine = Math.min(goldenMinCosine, cosine(e, golden.configs[CONFIG].float64[j].embedding));
    });
    if (!(goldenMinCosine >= threshold)) throw new Error(`${CONFIG} int8: golden min cosine ${goldenMinCosine} < ${threshold}; not timing a wrong model`);
  }
  const queries = textsOfLength(model, QUERY_TOKENS, 512, 1);
  const passages = textsOfLength(model, PASSAGE_TOKENS, 256, 2);
  const queryTextsPerSec = await inProcess(model, queries, QUERY_TOKENS);
  const passageTextsPerSec = await inProcess(model, passages, PASSAGE_TOKENS);
  baseline.push({ cores, queryTextsPerSec, passageTextsPerSec });
  console.log(`${cores} core(s) in-process encode: queries ${queryTextsPerSec.toFixed(1)} texts/s, passages ${passageTextsPerSec.toFixed(1)} texts/s`);
  model.dispose();
}

const ref = await loadInstructor(file);
const queries = textsOfLength(ref, QUERY_TOKENS, 512, 1);
const passages = textsOfLength(ref, PASSAGE_TOKENS, 256, 2);
const longs = textsOfLength(ref, LONG_TOKENS, LONG_INPUTS, 3);
const checkInputs = [queries.slice(0, 1), queries.slice(1, 4), passages.slice(0, 2), [queries[4], passages[2]]];
const checkWant = await Promise.all(checkInputs.map((inp) => Promise.all(inp.map(async (t) => (await ref.encode([t]))[0]))));
const config = ref.info.config;
const dim = ref.dim;
ref.dispose();
const queryBodies = queries.map((q) => JSON.stringify({ model: MODEL, input: [q], encoding_format: 'base64' }));
const passageBodies = Array.from({ length: 8 }, (_, i) => JSON.stringify({
  model: MODEL, input: passages.slice(i * PASSAGES_PER_REQUEST, (i + 1) * PASSAGES_PER_REQUEST), encoding_format: 'base64',
}));
const longBody = [JSON.stringify({ model: MODEL, input: longs, encoding_format: 'base64' })];
const weightsBytes = statSync(file).size;

for (const layout of LAYOUTS) {
  const base = baseline.find((b) => b.cores === layout.cores)!;
  const stopped: Array<number | null> = [];
  /** Runs `fn` against a fresh server; the server is stopped (SIGTERM, drained) whatever happens. */
  const withServer = async <T>(extra: string[], fn: (server: Served) => Promise<T>): Promise<T> => {
    const server = await startServer(file, layout, extra);
    try {
      await checkServer(server, checkInputs, checkWant, `server ${layout.name}`);
      return await fn(server);
    } finally {
      stopped.push(await server.stop());
    }
  };
  // The memory the settings allow: the weights, each replica's activation region (passes of
  // --max-batch-tokens), each admitted request's body three times (bytes, text, parsed) and its
  // answer, and the runtime itself (V8, the threads' heaps).
  const regions = layout.replicas * replicaRegionBytes(config, dim, MAX_BATCH_TOKENS, false);
  const requests = MAX_CONCURRENT * 3 * MAX_BODY;
  const runtime = (64 + 24 * layout.replicas) * 2 ** 20;
  const boundMiB = (weightsBytes + regions + requests + runtime) / 2 ** 20;
  bounds.push({ layout: layout.name, boundMiB, parts: `weights ${(weightsBytes / 2 ** 20).toFixed(0)} + regions ${(regions / 2 ** 20).toFixed(0)} + requests ${(requests / 2 ** 20).toFixed(0)} + runtime ${(runtime / 2 ** 20).toFixed(0)} MiB` });

  const q: Record<number, Scenario> = {};
  let open: Scenario | null = null;
  await withServer(['--max-queued-tokens', String(QUERY_QUEUE)], async (server) => {
    for (const c of QUERY_CLIENTS) {
      // Warm-up by a count of requests, each answered: a run cut at a duration leaves its requests
      // in the server, and their tokens would count against the next run's queue bound.
      await closedLoop(server, queryBodies, Math.min(c, SATURATION), { requests: Math.max(2 * Math.min(c, SATURATION), Math.round(WARMUP * base.queryTextsPerSec)) });
      // Up to saturation a fixed number of requests (about DURATION s at the in-process rate), every
      // one answered before the clock stops: a run cut at a duration leaves the requests in flight
      // uncounted (at 32 clients a whole pass, ~10% of a 10 s run). Past it a duration: what counts
      // there is that every request is answered, and how fast the ones taken are.
      const run: Run = c <= SATURATION ? { requests: Math.max(4 * c, Math.round(DURATION * base.queryTextsPerSec)) } : { seconds: DURATION };
      rows.push(q[c] = await scenario(server, layout.name, `query ${c}`, c, 1, () => closedLoop(server, queryBodies, c, run)));
    }
    const rate = 2 * q[SATURATION].requestsPerSec;
    rows.push(open = await scenario(server, layout.name, `open loop ${rate.toFixed(1)}/s (2x)`, null, 1, () => openLoop(server, queryBodies, rate, DURATION)));
  });
  let p: Scenario | null = null, long: Scenario | null = null;
  // 8 passage requests are ~80 s of work on one core: a drain deadline that covers them, so that all
  // 8 clients are admitted (the bound in time itself is tested in test/server-cli.test.ts)
  await withServer(['--max-queued-tokens', String(PASSAGE_QUEUE), '--drain-timeout-ms', String(PASSAGE_DRAIN_MS)], async (server) => {
    await closedLoop(server, passageBodies, 1, { requests: 1 });
    rows.push(p = await scenario(server, layout.name, 'passages 8', 8, PASSAGES_PER_REQUEST, () => closedLoop(server, passageBodies, 8, { requests: PASSAGE_ROUNDS * 8 })));
    rows.push(long = await scenario(server, layout.name, `${LONG_INPUTS} x ${LONG_TOKENS} (one request)`, 1, LONG_INPUTS, () => closedLoop(server, longBody, 1, { requests: 1 })));
  });
  if (stopped.some((code) => code !== 0)) throw new Error(`a server did not exit 0 after SIGTERM under load: ${stopped.join(', ')}`);

  const notAnswered = (s: Scenario) => s.errors + Object.entries(s.statuses).filter(([c]) => c !== '200' && c !== '429').reduce((a, [, n]) => a + n, 0);
  const add = (target: string, value: string, met: boolean) => targets.push({ layout: layout.name, target, value, met });
  const vsQ = q[SATURATION].textsPerSec / base.queryTextsPerSec;
  add(`${SATURATION} query clients >= 0.9x in-process encode (${layout.cores} core${layout.cores > 1 ? 's' : ''})`, `${vsQ.toFixed(2)}x`, vsQ >= 0.9);
  const vsP = p!.textsPerSec / base.passageTextsPerSec;
  add(`passages, 8 clients >= 0.9x in-process encode${layout.cores === 1 ? ' (asked at 2 cores)' : ''}`, `${vsP.toFixed(2)}x`, layout.cores === 1 || vsP >= 0.9);
  for (const s of [q[4 * SATURATION], q[16 * SATURATION], open!]) {
    add(`${s.name}: every request answered (200 or 429 with Retry-After), 0 errors`,
      `200: ${s.statuses['200'] ?? 0}, 429: ${s.statuses['429'] ?? 0}, other: ${notAnswered(s)}, 429 without Retry-After: ${s.retryAfterMissing}`,
      notAnswered(s) === 0 && s.retryAfterMissing === 0);
    add(`${s.name}: p99 of the 200s within 2x that at ${SATURATION} clients (${q[SATURATION].p99Ms} ms)`, `${s.p99Ms} ms`, s.p99Ms <= 2 * q[SATURATION].p99Ms);
    add(`${s.name}: peak RSS within the bound (${boundMiB.toFixed(0)} MiB)`, `${s.peakRssMiB.toFixed(0)} MiB`, s.peakRssMiB <= boundMiB);
  }
  const worstHealth = [...Object.values(q), open!, p!, long!].reduce((a, s) => Math.max(a, s.healthP99Ms), 0);
  add('/health p99 < 100 ms in every scenario (16 x 512 included)', `${worstHealth} ms (${long!.name}: ${long!.healthP99Ms} ms)`, worstHealth < 100);
}

for (const t of targets) console.log(`target ${t.layout}: ${t.target}: ${t.value} ${t.met ? 'met' : 'NOT met'}`);

const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
const env = {
  date: new Date().toISOString(), quick: QUICK, config: CONFIG, dtype: 'int8', durationSeconds: DURATION,
  cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, avxVnni: /\bavx_vnni\b/.test(cpuinfo), avx512Vnni: /\bavx512_vnni\b/.test(cpuinfo), node: process.version,
  maxBatchTokens: MAX_BATCH_TOKENS, queryQueueTokens: QUERY_QUEUE, passageQueueTokens: PASSAGE_QUEUE, maxConcurrentRequests: MAX_CONCURRENT,
  goldenMinCosine: Number.isFinite(goldenMinCosine) ? goldenMinCosine : null,
};
const dir = new URL('./results/', import.meta.url.replace('/dist/bench/', '/bench/'));
mkdirSync(dir, { recursive: true });
const stem = QUICK ? 'server-quick' : 'server';
writeFileSync(new URL(`${stem}.json`, dir), JSON.stringify({ ...env, baseline, bounds, rows, targets }, null, 2) + '\n');
const statusText = (s: Scenario) => Object.entries(s.statuses).filter(([c]) => c !== '200').map(([c, n]) => `${c}: ${n}`).join(', ') || '-';
const md = [
  `# Embedding server (${CONFIG} int8, layouts ${LAYOUTS.map((l) => l.name).join(', ')})${QUICK ? ' — quick mode, not for comparison' : ''}`, '',
  `${env.date} · ${env.cpu} (${env.cores} cores, avx_vnni ${env.avxVnni ? 'yes' : 'no'}, avx512_vnni ${env.avx512Vnni ? 'yes' : 'no'}) · Node ${env.node} · ${DURATION} s per query scenario after ${WARMUP} s of warm-up, ${PASSAGE_ROUNDS} round(s) of the 8 passage clients`, '',
  '`instructor-wasm serve` in a child process; the load from this process over loopback (the two share the cores). ' +
  'Layout RxT: R model threads (replicas over one copy of the weights) of T kernel threads each. ' +
  `Closed loop: each client sends its next request when answered; open loop: requests at a fixed rate whatever the answers. Queries: one ${QUERY_TOKENS}-token text per POST /v1/embeddings (base64); ` +
  `passages: ${PASSAGES_PER_REQUEST} texts of ${PASSAGE_TOKENS} tokens per request; ${LONG_INPUTS} x ${LONG_TOKENS}: one request of ${LONG_INPUTS} texts of ${LONG_TOKENS} tokens. ` +
  `--max-batch-tokens ${MAX_BATCH_TOKENS}, --max-concurrent-requests ${MAX_CONCURRENT}; query servers --max-queued-tokens ${QUERY_QUEUE} (1.5 x ${SATURATION} queries of ${QUERY_TOKENS} tokens), the passage server ${PASSAGE_QUEUE}. ` +
  `In-process: \`encode\` of the same texts in passes of ${MAX_BATCH_TOKENS} tokens on as many cores. /health: GET every ${HEALTH_EVERY_MS} ms on its own connection during each scenario. ` +
  `Correctness first: golden min cosine ${env.goldenMinCosine?.toFixed(6) ?? '-'} (sequences up to 128 tokens), and every server's answers equal encode() bit for bit.`, '',
  '| cores | in-process queries texts/s | in-process passages texts/s |',
  '| --- | --- | --- |',
  ...baseline.map((b) => `| ${b.cores} | ${b.queryTextsPerSec.toFixed(1)} | ${b.passageTextsPerSec.toFixed(1)} |`), '',
  '| layout | scenario | texts/s | p50 ms | p99 ms | non-200 | errors | peak RSS MiB | /health p99 / max ms |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.layout} | ${r.name} | ${r.textsPerSec.toFixed(1)} | ${r.p50Ms} | ${r.p99Ms} | ${statusText(r)} | ${r.errors} | ${r.peakRssMiB.toFixed(1)} | ${r.healthP99Ms} / ${r.healthMaxMs} |`), '',
  'RSS bound per layout (from the settings): ' + bounds.map((b) => `${b.layout} ${b.boundMiB.toFixed(0)} MiB (${b.parts})`).join('; ') + '.', '',
  '| layout | target | measured | met |',
  '| --- | --- | --- | --- |',
  ...targets.map((t) => `| ${t.layout} | ${t.target} | ${t.value} | ${t.met ? 'yes' : 'no'} |`), '',
];
writeFileSync(new URL(`${stem}.md`, dir), md.join('\n'));
console.log(`wrote bench/results/${stem}.json and ${stem}.md`);
