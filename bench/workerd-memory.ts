// Memory of the Cloudflare Worker example (examples/worker) serving base and large under workerd,
// the real Workers runtime (Cloudflare allows 128 MB per isolate, no threads).
//
//   npm run bench:workerd   (node --experimental-websocket dist/bench/workerd-memory.js [base:int4,base:int8,...] [--quick])
//
// For each model: synth-v1 weights of the hkunlp sizes with the T5 tokenizer (what `convert`
// writes), served by `workerd serve examples/worker/workerd.capnp` from static assets, exactly as
// test:runtimes serves tiny. Correctness first: every embedding the Worker returns must equal,
// bit for bit, what Node computes from the same file with the same kernels. Memory is read at
// each step:
//   idle     isolate started (one 404 answered), no model
//   loaded   after GET /health (the first request to a route of the server loads the model:
//            weights streamed into wasm memory, tokenizer built)
//   8 short  after POST /embed of eight ~40-token inputs
//   1x512    after POST /embed of one 512-token input
//   4x512    after POST /embed of four 512-token inputs (the Worker runs them as 512-token passes)
//   max      after POST /embed of the largest request the Worker accepts (GET /info limits:
//            max_inputs inputs of 512+ tokens, as long as max_body_bytes allows: the body at its limit too)
// After each request the JS heap is also read before the forced GC ("before GC"): what the request
// left behind (its body, inputs, ids and the response) is still counted, an estimate of its peak.
// What Cloudflare meters is the isolate's memory: V8's JS heap plus external memory (the wasm
// linear memory, ArrayBuffers). So at each step the benchmark also forces a full GC through
// workerd's inspector (CDP HeapProfiler.collectGarbage) and reads the JS heap in use
// (Runtime.getHeapUsage: usedSize, plus backingStorageSize for ArrayBuffers), and the Worker's
// GET /info reports the wasm linear memory (`models[0].memory_bytes`). isolate = JS heap + ArrayBuffers +
// wasm memory. The process's anonymous resident memory (RssAnon over idle) is printed too, as an
// upper bound: it also holds workerd's own I/O buffers (the static-asset file as it streamed) and
// freed memory the allocator keeps.
// Needs Node's WebSocket client (Node 20: --experimental-websocket).
// Writes bench/results/workerd-memory.json and .md.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { cpus } from 'node:os';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Instructor } from '../src/text/instructor.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { synthTextWeights } from '../test/support/synth-text-model.js';
import { Failure, findBinary, freePort, ROOT, run, tail, waitHttp, writeWorkerdModules } from '../test/runtimes/workerd.js';

const MiB = 2 ** 20;
const LIMIT_MB = 128; // Cloudflare Workers: memory per isolate
const DATA = join(ROOT, 'build/bench-workerd');
const models = (process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'base:int4,base:int8,large:int4,large:int8').split(',').map((s) => {
  const [config, dtype] = s.split(':');
  if (!['int4', 'int8', 'fp32'].includes(dtype)) throw new Error(`bad model ${s}: expected config:int4|int8|fp32`);
  return { config, dtype: dtype as 'int4' | 'int8' | 'fp32' };
});

const long = 'embedding '.repeat(600); // > 512 tokens: cut to max_seq_length by the library
const STEPS: Array<[string, unknown[]]> = [
  ['8 short', Array.from({ length: 8 }, (_, i) => ['Represent the document: ', `${i} ` + 'the cat sat on a mat '.repeat(4)])],
  ['1x512', [['Represent the document: ', long]]],
  ['4x512', Array.from({ length: 4 }, (_, i) => ['Represent the document: ', `${i} ${long}`])],
];
const MAX_STEP = 'max';
// One connection per request: workerd closes an idle keep-alive connection (the seconds Node spends
// on its reference embeddings are enough), and a request sent on it fails ("other side closed") or hangs.
const CLOSE = { connection: 'close' };
// `--quick`: the max step with 8 inputs (proves the code path; not the Worker's maximum)
const QUICK = process.argv.includes('--quick');

/** The largest request the Worker accepts: maxInputs texts of >= 512 tokens, the body just under maxBodyBytes. */
function maxRequest(maxInputs: number, maxBodyBytes: number): unknown[] {
  const n = QUICK ? Math.min(8, maxInputs) : maxInputs;
  const perInput = Math.floor((maxBodyBytes - 64) / maxInputs) - 48; // JSON quoting and the instruction
  const words = 'embedding '.repeat(Math.ceil(perInput / 10)).slice(0, perInput);
  return Array.from({ length: n }, (_, i) => ['Represent the document: ', `${i} ${words}`.slice(0, perInput)]);
}

/**
 * POST over node:http: fetch gives up waiting for the response headers after 300 s, and the
 * Worker's largest request takes longer than that on base (it answers only when done).
 */
function post(url: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The process's anonymous resident memory in bytes (RssAnon: not the workerd binary's pages). */
function anonRss(pid: number): number {
  const kb = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb ?? NaN) * 1024;
}

/**
 * Full GC, then V8's heap figures, through workerd's inspector. workerd handles inspector messages
 * when the isolate runs, so a request to the Worker is sent alongside each message to pump them.
 */
async function v8Heap(inspectorUrl: string, pump: () => Promise<unknown>): Promise<{ used: number; backing: number; beforeGc: number }> {
  const WS = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (!WS) throw new Error('no WebSocket client: run with node --experimental-websocket (npm run bench:workerd)');
  const ws = new WS(inspectorUrl);
  await new Promise((resolveOpen, reject) => {
    ws.onopen = resolveOpen;
    ws.onerror = () => reject(new Error(`inspector ${inspectorUrl}: connection failed`));
    setTimeout(() => reject(new Error(`inspector ${inspectorUrl}: no connection within 60 s`)), 60_000).unref();
  });
  let id = 0;
  const call = async (method: string): Promise<Record<string, number>> => {
    const my = ++id;
    const answer = new Promise<Record<string, number>>((resolveCall) => {
      ws.onmessage = (e) => {
        const m = JSON.parse(String(e.data));
        if (m.id === my) resolveCall(m.result ?? {});
      };
    });
    ws.send(JSON.stringify({ id: my, method }));
    for (let i = 0; ; i++) {
      const got = await Promise.race([answer, new Promise((r) => setTimeout(r, 200)).then(() => null)]);
      if (got !== null) return got;
      if (i > 300) throw new Error(`inspector: no answer to ${method}`);
      await pump();
    }
  };
  try {
    // first without a GC: the garbage the last request left (its body, inputs, ids, the response
    // it built) is still there, an estimate of what it held at its peak
    const before = await call('Runtime.getHeapUsage');
    await call('HeapProfiler.enable');
    await call('HeapProfiler.collectGarbage');
    const u = await call('Runtime.getHeapUsage');
    return { used: u.usedSize, backing: u.backingStorageSize ?? 0, beforeGc: before.usedSize + (before.backingStorageSize ?? 0) };
  } finally {
    const closed = new Promise((r) => { ws.onclose = r; });
    ws.close();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
  }
}

interface Isolate { heap: number; backing: number; wasm: number; total: number; beforeGc: number }

interface Row {
  model: string; fileBytes: number; steps: Record<string, number>; idle: number; peak: number;
  isolate: Record<string, Isolate>;
  tokens: Record<string, number>; identical: boolean; seconds: Record<string, number>;
}

async function measure(config: string, dtype: 'int4' | 'int8' | 'fp32', bin: string): Promise<Row> {
  const file = `${config}-${dtype}.iwt`;
  const bytes = synthTextWeights(config, dtype);
  writeFileSync(join(DATA, file), bytes);

  // Node's embeddings of the same file: the reference the Worker's must equal exactly (two threads:
  // bit-identical to one, and the max step is long).
  const reference = await Instructor.fromWeightsFile(bytes, { kernels: await loadKernelsFromDisk(), threads: 2 });
  const tokens: Record<string, number> = {};
  const expect = async (label: string, inputs: unknown[]): Promise<Float32Array[]> => {
    const r = await reference.embed(inputs as string[], { batchSize: 8, maxBatchTokens: 512 });
    tokens[label] = r.tokens.reduce((a, b) => a + b, 0);
    return r.embeddings;
  };

  const port = await freePort();
  const inspectorPort = await freePort();
  const child = spawn(bin, [
    'serve', join(ROOT, 'examples/worker/workerd.capnp'),
    '--directory-path', `assets=${DATA}`, '--socket-addr', `http=127.0.0.1:${port}`,
    `--inspector-addr=127.0.0.1:${inspectorPort}`,
  ], { env: { ...process.env, INSTRUCTOR_MODEL: file }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  try {
    const base = `http://127.0.0.1:${port}`;
    const notFound = await waitHttp(`${base}/nothing-here`, child, () => log);
    if (notFound.status !== 404) throw new Failure(`GET /nothing-here: HTTP ${notFound.status}, expected 404`);
    await notFound.text();
    const pid = child.pid!;
    const idle = anonRss(pid);
    const pump = async () => { await (await fetch(`${base}/nothing-here`, { headers: CLOSE })).text(); };
    const inspectorUrl = `ws://127.0.0.1:${inspectorPort}/embed`;
    const isolate: Record<string, Isolate> = {};
    const steps: Record<string, number> = {};
    const seconds: Record<string, number> = {};
    type Info = { models?: Array<{ dtype?: string; memory_bytes?: number }>; limits?: { max_inputs?: number; max_body_bytes?: number } };
    const getInfo = async (): Promise<Info> => (await fetch(`${base}/info`, { headers: CLOSE })).json() as Promise<Info>;
    const measureIsolate = async (label: string) => {
      const info = await getInfo();
      const wasm = info.models?.[0]?.memory_bytes;
      if (typeof wasm !== 'number') throw new Failure(`GET /info has no models[0].memory_bytes: ${JSON.stringify(info).slice(0, 300)}`);
      const v8 = await v8Heap(inspectorUrl, pump);
      isolate[label] = {
        heap: v8.used, backing: v8.backing, wasm, total: v8.used + v8.backing + wasm,
        beforeGc: Math.max(v8.beforeGc, v8.used + v8.backing) + wasm,
      };
      steps[label] = anonRss(pid);
    };
    let t0 = performance.now();
    const health = await fetch(`${base}/health`, { headers: CLOSE, signal: AbortSignal.timeout(600_000) });
    const status = health.status;
    await health.text();
    const info = await getInfo();
    if (status !== 200 || info.models?.[0]?.dtype !== dtype) throw new Failure(`GET /health: HTTP ${status}, /info ${JSON.stringify(info).slice(0, 300)} ${tail(log)}`);
    const maxInputs = info.limits?.max_inputs, maxBodyBytes = info.limits?.max_body_bytes;
    if (typeof maxInputs !== 'number' || typeof maxBodyBytes !== 'number') throw new Failure(`GET /info reports no limits.max_inputs / max_body_bytes: ${JSON.stringify(info).slice(0, 300)}`);
    seconds.load = (performance.now() - t0) / 1000;
    await measureIsolate('loaded');
    console.error(`  ${config} ${dtype} loaded in ${seconds.load.toFixed(1)} s, isolate ${(isolate.loaded.total / MiB).toFixed(1)} MiB`);
    let identical = true;
    const steps_: Array<[string, unknown[]]> = [...STEPS, [MAX_STEP, maxRequest(maxInputs, maxBodyBytes)]];
    for (const [label, inputs] of steps_) {
      const body = JSON.stringify({ inputs });
      if (Buffer.byteLength(body) > maxBodyBytes) throw new Failure(`${label}: a body of ${Buffer.byteLength(body)} bytes, over the Worker's ${maxBodyBytes}`);
      t0 = performance.now();
      const res = await post(`${base}/embed`, body)
        .catch((e: Error) => { throw new Failure(`POST /embed ${label}: ${e.message}; workerd: ${tail(log)}`); });
      const answer = JSON.parse(res.body) as number[][] | { error?: string };
      seconds[label] = (performance.now() - t0) / 1000;
      if (res.status !== 200 || !Array.isArray(answer)) throw new Failure(`POST /embed ${label}: HTTP ${res.status} ${res.body.slice(0, 300)} ${tail(log)}`);
      await measureIsolate(label);
      const want = await expect(label, inputs);
      console.error(`  ${config} ${dtype} ${label}: ${inputs.length} inputs, ${tokens[label]} tokens, ${seconds[label].toFixed(1)} s, isolate ${(isolate[label].total / MiB).toFixed(1)} MiB (before GC ${(isolate[label].beforeGc / MiB).toFixed(1)})`);
      if (answer.length !== want.length) identical = false;
      answer.forEach((v, i) => {
        // JSON carries each float32 as its exact double, so equal kernels give equal numbers.
        if (v.length !== want[i].length || v.some((x, d) => x !== want[i][d])) identical = false;
      });
    }
    reference.dispose();
    if (!identical) throw new Failure(`${config} ${dtype}: the Worker's embeddings differ from Node's on the same file`);
    return { model: `${config} ${dtype}`, fileBytes: statSync(join(DATA, file)).size, steps, idle, peak: Math.max(...Object.values(steps)), isolate, tokens, identical, seconds };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
    rmSync(join(DATA, file), { force: true });
  }
}

rmSync(DATA, { recursive: true, force: true });
mkdirSync(DATA, { recursive: true });
writeWorkerdModules();
const bin = findBinary('workerd');
const version = (await run(bin, ['--version'])).stdout.trim();
const rows: Row[] = [];
for (const { config, dtype } of models) {
  const row = await measure(config, dtype, bin);
  rows.push(row);
  console.log(`${row.model}: isolate ${Object.entries(row.isolate).map(([k, v]) => `${k} ${(v.total / MiB).toFixed(1)}`).join(', ')} MiB`);
}

const mib = (n: number) => (n / MiB).toFixed(1);
const stepNames = ['loaded', ...STEPS.map(([l]) => l), MAX_STEP];
const peakIsolate = (r: Row) => Math.max(...stepNames.map((s) => Math.max(r.isolate[s].total, r.isolate[s].beforeGc)));
const md = [
  '# Memory of the Worker example under workerd',
  '',
  `${new Date().toISOString()} · ${cpus()[0]?.model.trim() ?? 'unknown CPU'} · workerd ${version.replace(/^workerd\s*/, '')} · Node ${process.version} (reference and driver)`,
  '',
  'Written by `npm run bench:workerd` (bench/workerd-memory.ts): examples/worker/worker.js under `workerd serve`,',
  'weights from static assets (streamed into wasm memory), synth-v1 weights of the hkunlp sizes with the T5',
  'tokenizer. Every embedding the Worker returned equals Node\'s on the same file bit for bit (checked',
  'before any figure is written). The Worker runs forward passes of at most 512 tokens.',
  `"max" is the largest request the Worker accepts (${QUICK ? '--quick: 8 of its inputs only, NOT its maximum' : 'its maxInputs inputs of 512 tokens, the body at its maxBodyBytes'});`,
  '"before GC" is the isolate right after a request, before the forced GC: the garbage it left (body,',
  'inputs, ids, the response it built) still counted, an estimate of its peak. "peak MB" is the largest',
  'of all these figures; it decides "fits".',
  '',
  `**Isolate memory** (what Cloudflare meters; limit ${LIMIT_MB} MB = ${mib(LIMIT_MB * 1e6)} MiB): after a full GC`,
  '(inspector), V8\'s JS heap in use + ArrayBuffer backing stores + the wasm linear memory the Worker',
  'reports (weights + activations; it never shrinks), MiB after each step:',
  '',
  `| model | weights file | JS heap (loaded) | wasm (loaded) | ${stepNames.map((s) => `isolate ${s}`).join(' | ')} | before GC, max | peak MB | fits ${LIMIT_MB} MB |`,
  `| --- | --- | --- | --- | ${stepNames.map(() => '---').join(' | ')} | --- | --- | --- |`,
  ...rows.map((r) => `| ${r.model} | ${mib(r.fileBytes)} | ${mib(r.isolate.loaded.heap + r.isolate.loaded.backing)} | ${mib(r.isolate.loaded.wasm)} | ${stepNames.map((s) => mib(r.isolate[s].total)).join(' | ')} | ${mib(r.isolate[MAX_STEP].beforeGc)} | ${(peakIsolate(r) / 1e6).toFixed(1)} | ${peakIsolate(r) <= LIMIT_MB * 1e6 ? 'yes' : 'no'} |`),
  '',
  '**Process resident memory** (upper bound): workerd\'s anonymous RSS over its idle RSS (isolate up, no',
  'model), MiB. It also holds workerd\'s own buffers for the asset stream and memory freed but kept by the',
  'allocator, which Cloudflare does not meter as the isolate\'s.',
  '',
  `| model | idle RssAnon | ${stepNames.map((s) => `+${s}`).join(' | ')} | +max |`,
  `| --- | --- | ${stepNames.map(() => '---').join(' | ')} | --- |`,
  ...rows.map((r) => `| ${r.model} | ${mib(r.idle)} | ${stepNames.map((s) => mib(r.steps[s] - r.idle)).join(' | ')} | ${mib(r.peak - r.idle)} |`),
  '',
  `Tokens per step: ${stepNames.slice(1).map((l) => `${l} = ${rows[0]?.tokens[l]}`).join(', ')}. Seconds (load, then each step): ${rows.map((r) => `${r.model} ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' / ')}`).join('; ')}.`,
  '',
];
// --quick results are not the Worker's maximum: they go to build/, never over bench/results/
const RESULTS = QUICK ? DATA : join(ROOT, 'bench/results');
mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, 'workerd-memory.md'), md.join('\n'));
writeFileSync(join(RESULTS, 'workerd-memory.json'), JSON.stringify({
  date: new Date().toISOString(), cpu: cpus()[0]?.model.trim(), cores: cpus().length, workerd: version, node: process.version,
  limitBytes: LIMIT_MB * 1e6, rows,
}, null, 2));
console.log(md.join('\n'));
