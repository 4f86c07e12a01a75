// `npm run bench:server`: the embedding server (`instructor-wasm serve`, a child process) under
// load from autocannon over loopback, against the library's in-process `encode` of the same texts
// in large batches and against the server with batching off, measured in the same run.
//
//   node dist/bench/server.js [--quick] [--config base|tiny] [--threads 1,2] [--duration S]
//
// Model: synth-v1 weights of `--config` (default base) in int8 with the T5 tokenizer, written
// once to build/bench-server/. Correctness first: the in-process model against the golden float64
// embeddings (sequences up to 128 tokens), then every server's answers bit for bit against encode.
// Scenarios per thread count (closed loop: each client sends its next request when answered):
//   query c      c = 1, 8, 32, 128 clients, each request one 16-token query (POST /v1/embeddings, base64)
//   passages 8   8 clients, each request 32 passages of 128 tokens (2 rounds: 16 requests)
//   no batching  the query scenarios at 1 and 32 clients on a server started with --no-batching
// The query servers admit 2 x 32 queries' tokens (--max-queued-tokens 1024): 128 clients are 4x the
// 32-client load, so their excess must be refused with 429. Reported per scenario: texts/s,
// latency p50/p99, non-2xx by status, errors, the server's peak RSS (VmRSS sampled every 50 ms).
// Targets (checked and printed, base int8, 1 and 2 threads): 32 query clients >= 0.8x in-process
// batched throughput and >= 3x the server with batching off; no error below saturation (1, 8, 32
// clients and passages); at 128 clients 429s, no 5xx, peak RSS within 1.2x of the 32-client run's.
// Writes bench/results/server.json and server.md (--quick: server-quick.*, short runs, not for
// committing). The load generator shares the machine's cores with the server: on 2 cores,
// autocannon's own CPU use is part of what the server numbers pay.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
const THREADS = (flag('--threads') ?? '1,2').split(',').map(Number);
const DURATION = Number(flag('--duration') ?? (QUICK ? 2 : 10));
const WARMUP = QUICK ? 1 : 3;
const QUERY_TOKENS = 16, PASSAGE_TOKENS = 128, PASSAGES_PER_REQUEST = 32;
const QUERY_CLIENTS = [1, 8, 32, 128];
const SATURATION = 32; // the load the query server is sized for; 128 clients are 4x it
const QUERY_QUEUE = 2 * SATURATION * QUERY_TOKENS;
const PASSAGE_QUEUE = 2 * 8 * PASSAGES_PER_REQUEST * PASSAGE_TOKENS;
const MAX_BATCH_TOKENS = 8192;
const MODEL = `${CONFIG}-int8`;
const PASSAGE_ROUNDS = QUICK ? 1 : 2;

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

interface Served { child: ChildProcess; url: string; stop: () => Promise<number | null>; rss: () => number }

async function startServer(file: string, threads: number, extra: string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--model', file, '--port', '0', '--threads', String(threads),
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
    child, url,
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
  name: string; threads: number; batching: boolean; clients: number; textsPerRequest: number;
  textsPerSec: number; requestsPerSec: number; p50Ms: number; p99Ms: number;
  ok: number; statuses: Record<string, number>; errors: number; timeouts: number; peakRssMiB: number;
}

type Run = { seconds: number } | { requests: number };

async function load(server: Served, bodies: string[], clients: number, run: Run): Promise<autocannon.Result & { statusCodeStats?: Record<string, { count: number }> }> {
  let k = 0;
  return autocannon({
    url: server.url, connections: clients, timeout: 600,
    ...('seconds' in run ? { duration: run.seconds } : { amount: run.requests }),
    requests: [{
      method: 'POST', path: '/v1/embeddings', headers: { 'content-type': 'application/json' },
      setupRequest: (req: autocannon.Request) => ({ ...req, body: bodies[k++ % bodies.length] }),
    }],
  }) as Promise<autocannon.Result & { statusCodeStats?: Record<string, { count: number }> }>;
}

/**
 * One scenario: a warm-up, then the measured run (a duration, or a number of requests for
 * passages, whose requests take tens of seconds on base), sampling the server's RSS.
 */
async function scenario(server: Served, name: string, threads: number, batching: boolean, bodies: string[], clients: number, textsPerRequest: number, run: Run): Promise<Scenario> {
  if ('seconds' in run) await load(server, bodies, clients, { seconds: WARMUP });
  else await load(server, bodies, 1, { requests: 1 }); // one request: an abandoned one would hold the next pass
  let peak = server.rss();
  const sampler = setInterval(() => { peak = Math.max(peak, server.rss()); }, 50);
  let r;
  try {
    r = await load(server, bodies, clients, run);
  } finally {
    clearInterval(sampler);
  }
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {})) statuses[code] = count ?? 0;
  const ok = r['2xx'];
  const row: Scenario = {
    name, threads, batching, clients, textsPerRequest,
    textsPerSec: (ok * textsPerRequest) / r.duration, requestsPerSec: ok / r.duration,
    p50Ms: r.latency.p50, p99Ms: r.latency.p99, ok, statuses, errors: r.errors, timeouts: r.timeouts,
    peakRssMiB: peak / 2 ** 20,
  };
  const other = Object.entries(statuses).filter(([c]) => c !== '200').map(([c, n]) => `${c}: ${n}`).join(', ');
  console.log(`threads=${threads} ${name} (${batching ? 'batching' : 'no batching'}): ${row.textsPerSec.toFixed(1)} texts/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ` +
    `${ok} ok${other ? `, ${other}` : ''}, ${r.errors} errors, ${r.timeouts} timeouts, peak RSS ${row.peakRssMiB.toFixed(1)} MiB (${r.duration} s)`);
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
const baseline: Array<{ threads: number; queryTextsPerSec: number; passageTextsPerSec: number }> = [];
const targets: Array<{ threads: number; target: string; value: string; met: boolean }> = [];
let goldenMinCosine = Infinity;

for (const threads of THREADS) {
  const model = await loadInstructor(file, { threads });
  // Correctness first: the model against the golden, then every server against this model.
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
  const checkInputs = [queries.slice(0, 1), queries.slice(1, 4), passages.slice(0, 2), [queries[4], passages[2]]];
  const checkWant = await Promise.all(checkInputs.map((inp) => Promise.all(inp.map(async (t) => (await model.encode([t]))[0]))));
  const queryBodies = queries.map((q) => JSON.stringify({ model: MODEL, input: [q], encoding_format: 'base64' }));
  const passageBodies = Array.from({ length: 8 }, (_, i) => JSON.stringify({
    model: MODEL, input: passages.slice(i * PASSAGES_PER_REQUEST, (i + 1) * PASSAGES_PER_REQUEST), encoding_format: 'base64',
  }));

  const queryTextsPerSec = await inProcess(model, queries, QUERY_TOKENS);
  const passageTextsPerSec = await inProcess(model, passages, PASSAGE_TOKENS);
  baseline.push({ threads, queryTextsPerSec, passageTextsPerSec });
  console.log(`threads=${threads} in-process encode: queries ${queryTextsPerSec.toFixed(1)} texts/s, passages ${passageTextsPerSec.toFixed(1)} texts/s`);
  model.dispose();

  const stopped: Array<number | null> = [];
  let server = await startServer(file, threads, ['--max-queued-tokens', String(QUERY_QUEUE)]);
  await checkServer(server, checkInputs, checkWant, 'server (batching)');
  const q: Record<number, Scenario> = {};
  for (const c of QUERY_CLIENTS) rows.push(q[c] = await scenario(server, `query ${c}`, threads, true, queryBodies, c, 1, { seconds: DURATION }));
  stopped.push(await server.stop());

  server = await startServer(file, threads, ['--max-queued-tokens', String(QUERY_QUEUE), '--no-batching']);
  await checkServer(server, checkInputs, checkWant, 'server (no batching)');
  const off: Record<number, Scenario> = {};
  for (const c of [1, SATURATION]) rows.push(off[c] = await scenario(server, `query ${c}`, threads, false, queryBodies, c, 1, { seconds: DURATION }));
  stopped.push(await server.stop());

  server = await startServer(file, threads, ['--max-queued-tokens', String(PASSAGE_QUEUE)]);
  await checkServer(server, checkInputs, checkWant, 'server (passages)');
  // a passage request is 4096 tokens (about 10 s of base on one thread): whole rounds of all 8 clients
  const p = await scenario(server, 'passages 8', threads, true, passageBodies, 8, PASSAGES_PER_REQUEST, { requests: PASSAGE_ROUNDS * 8 });
  rows.push(p);
  stopped.push(await server.stop());
  if (stopped.some((code) => code !== 0)) throw new Error(`a server did not exit 0 after SIGTERM under load: ${stopped.join(', ')}`);

  const bad = (s: Scenario) => s.errors + s.timeouts + Object.entries(s.statuses).filter(([c]) => c !== '200').reduce((a, [, n]) => a + n, 0);
  const fivexx = (s: Scenario) => Object.entries(s.statuses).filter(([c]) => c.startsWith('5')).reduce((a, [, n]) => a + n, 0);
  const add = (target: string, value: string, met: boolean) => targets.push({ threads, target, value, met });
  const vsInProcess = q[SATURATION].textsPerSec / queryTextsPerSec;
  const vsOff = q[SATURATION].textsPerSec / off[SATURATION].textsPerSec;
  add(`${SATURATION} query clients >= 0.8x in-process batched encode`, `${vsInProcess.toFixed(2)}x`, vsInProcess >= 0.8);
  add(`${SATURATION} query clients >= 3x the server with batching off`, `${vsOff.toFixed(2)}x`, vsOff >= 3);
  const below = [q[1], q[8], q[SATURATION], p];
  add('0 errors below saturation (1, 8, 32 query clients; 8 passage clients)', below.map(bad).join(', '), below.every((s) => bad(s) === 0));
  const over = q[4 * SATURATION];
  add(`${4 * SATURATION} clients (4x): excess refused with 429, no 5xx`, `429: ${over.statuses['429'] ?? 0}, 5xx: ${fivexx(over)}, errors: ${over.errors}`,
    (over.statuses['429'] ?? 0) > 0 && fivexx(over) === 0 && over.errors === 0);
  const rssRatio = over.peakRssMiB / q[SATURATION].peakRssMiB;
  add(`${4 * SATURATION} clients: peak RSS within 1.2x of ${SATURATION} clients'`, `${rssRatio.toFixed(2)}x`, rssRatio <= 1.2);
}

for (const t of targets) console.log(`target threads=${t.threads}: ${t.target}: ${t.value} ${t.met ? 'met' : 'NOT met'}`);

const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
const env = {
  date: new Date().toISOString(), quick: QUICK, config: CONFIG, dtype: 'int8', durationSeconds: DURATION,
  cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, avxVnni: /\bavx_vnni\b/.test(cpuinfo), node: process.version,
  maxBatchTokens: MAX_BATCH_TOKENS, queryQueueTokens: QUERY_QUEUE, passageQueueTokens: PASSAGE_QUEUE,
  goldenMinCosine: Number.isFinite(goldenMinCosine) ? goldenMinCosine : null,
};
const dir = new URL('./results/', import.meta.url.replace('/dist/bench/', '/bench/'));
mkdirSync(dir, { recursive: true });
const stem = QUICK ? 'server-quick' : 'server';
writeFileSync(new URL(`${stem}.json`, dir), JSON.stringify({ ...env, baseline, rows, targets }, null, 2) + '\n');
const statusText = (s: Scenario) => Object.entries(s.statuses).filter(([c]) => c !== '200').map(([c, n]) => `${c}: ${n}`).join(', ') || '-';
const md = [
  `# Embedding server (${CONFIG} int8, threads ${THREADS.join(', ')})${QUICK ? ' — quick mode, not for comparison' : ''}`, '',
  `${env.date} · ${env.cpu} (${env.cores} cores, avx_vnni ${env.avxVnni ? 'yes' : 'no'}) · Node ${env.node} · ${DURATION} s per query scenario after ${WARMUP} s of warm-up, ${PASSAGE_ROUNDS} round(s) of the 8 passage clients`, '',
  '`instructor-wasm serve` in a child process, autocannon over loopback in the benchmark process (the two share the cores). ' +
  `Closed loop: each client sends its next request when answered. Queries: one ${QUERY_TOKENS}-token text per POST /v1/embeddings (base64); ` +
  `passages: ${PASSAGES_PER_REQUEST} texts of ${PASSAGE_TOKENS} tokens per request. --max-batch-tokens ${MAX_BATCH_TOKENS}; query servers --max-queued-tokens ${QUERY_QUEUE} ` +
  `(2 x ${SATURATION} queries), the passage server ${PASSAGE_QUEUE}. In-process: \`encode\` of the same texts in passes of ${MAX_BATCH_TOKENS} tokens. ` +
  `Correctness first: golden min cosine ${env.goldenMinCosine?.toFixed(6) ?? '-'} (sequences up to 128 tokens), and every server's answers equal encode() bit for bit.`, '',
  '| threads | scenario | batching | texts/s | p50 ms | p99 ms | non-2xx | errors | peak RSS MiB |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...baseline.flatMap((b) => [
    `| ${b.threads} | in-process encode, queries | - | ${b.queryTextsPerSec.toFixed(1)} | - | - | - | - | - |`,
    `| ${b.threads} | in-process encode, passages | - | ${b.passageTextsPerSec.toFixed(1)} | - | - | - | - | - |`,
    ...rows.filter((r) => r.threads === b.threads).map((r) =>
      `| ${r.threads} | ${r.name} clients | ${r.batching ? 'on' : 'off'} | ${r.textsPerSec.toFixed(1)} | ${r.p50Ms} | ${r.p99Ms} | ${statusText(r)} | ${r.errors + r.timeouts} | ${r.peakRssMiB.toFixed(1)} |`),
  ]), '',
  '| threads | target | measured | met |',
  '| --- | --- | --- | --- |',
  ...targets.map((t) => `| ${t.threads} | ${t.target} | ${t.value} | ${t.met ? 'yes' : 'no'} |`), '',
];
writeFileSync(new URL(`${stem}.md`, dir), md.join('\n'));
console.log(`wrote bench/results/${stem}.json and ${stem}.md`);
