// Memory of the Cloudflare Worker example (examples/worker) serving base and large under workerd,
// the real Workers runtime (Cloudflare allows 128 MB per isolate, no threads).
//
//   npm run bench:workerd   (node --experimental-websocket dist/bench/workerd-memory.js [base:int4,base:int8,...])
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
import { cpus } from 'node:os';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInstructor } from '../src/runtimes/node.js';
import { synthTextWeights } from '../test/support/synth-text-model.js';
import { Failure, findBinary, freePort, ROOT, run, tail, waitHttp, writeWorkerdModules } from '../test/runtimes/workerd.js';

const MiB = 2 ** 20;
const LIMIT_MB = 128; // Cloudflare Workers: memory per isolate
const DATA = join(ROOT, 'build/bench-workerd');
const models = (process.argv[2] ?? 'base:int4,base:int8,large:int4,large:int8').split(',').map((s) => {
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

/** The process's anonymous resident memory in bytes (RssAnon: not the workerd binary's pages). */
function anonRss(pid: number): number {
  const kb = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb ?? NaN) * 1024;
}

/**
 * Full GC, then V8's heap figures, through workerd's inspector. workerd handles inspector messages
 * when the isolate runs, so a request to the Worker is sent alongside each message to pump them.
 */
async function v8Heap(inspectorUrl: string, pump: () => Promise<unknown>): Promise<{ used: number; backing: number }> {
  const WS = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (!WS) throw new Error('no WebSocket client: run with node --experimental-websocket (npm run bench:workerd)');
  const ws = new WS(inspectorUrl);
  await new Promise((resolveOpen, reject) => { ws.onopen = resolveOpen; ws.onerror = () => reject(new Error(`inspector ${inspectorUrl}: connection failed`)); });
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
    await call('HeapProfiler.enable');
    await call('HeapProfiler.collectGarbage');
    const u = await call('Runtime.getHeapUsage');
    return { used: u.usedSize, backing: u.backingStorageSize ?? 0 };
  } finally {
    ws.close();
  }
}

interface Isolate { heap: number; backing: number; wasm: number; total: number }

interface Row {
  model: string; fileBytes: number; steps: Record<string, number>; idle: number; peak: number;
  isolate: Record<string, Isolate>;
  tokens: Record<string, number>; identical: boolean; seconds: Record<string, number>;
}

async function measure(config: string, dtype: 'int4' | 'int8' | 'fp32', bin: string): Promise<Row> {
  const file = `${config}-${dtype}.iwt`;
  const bytes = synthTextWeights(config, dtype);
  writeFileSync(join(DATA, file), bytes);

  // Node's embeddings of the same file: the reference the Worker's must equal exactly.
  const reference = await createInstructor(bytes);
  const expected: Float32Array[][] = [];
  const tokens: Record<string, number> = {};
  for (const [label, inputs] of STEPS) {
    const r = await reference.embed(inputs as string[], { batchSize: 8, maxBatchTokens: 512 });
    expected.push(r.embeddings);
    tokens[label] = r.tokens.reduce((a, b) => a + b, 0);
  }
  reference.dispose();

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
    await notFound.body?.cancel();
    const pid = child.pid!;
    const idle = anonRss(pid);
    const pump = async () => { const r = await fetch(`${base}/nothing-here`); await r.body?.cancel(); };
    const inspectorUrl = `ws://127.0.0.1:${inspectorPort}/embed`;
    const isolate: Record<string, Isolate> = {};
    const steps: Record<string, number> = {};
    const seconds: Record<string, number> = {};
    const measureIsolate = async (label: string) => {
      const info = await (await fetch(`${base}/info`)).json() as { models?: Array<{ memory_bytes?: number }> };
      const wasm = info.models?.[0]?.memory_bytes;
      if (typeof wasm !== 'number') throw new Failure(`GET /info has no models[0].memory_bytes: ${JSON.stringify(info).slice(0, 300)}`);
      const v8 = await v8Heap(inspectorUrl, pump);
      isolate[label] = { heap: v8.used, backing: v8.backing, wasm, total: v8.used + v8.backing + wasm };
      steps[label] = anonRss(pid);
    };
    let t0 = performance.now();
    const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(600_000) });
    const status = health.status;
    await health.body?.cancel();
    const info = await (await fetch(`${base}/info`)).json() as { models?: Array<{ dtype?: string }> };
    if (status !== 200 || info.models?.[0]?.dtype !== dtype) throw new Failure(`GET /health: HTTP ${status}, /info ${JSON.stringify(info).slice(0, 300)} ${tail(log)}`);
    seconds.load = (performance.now() - t0) / 1000;
    await measureIsolate('loaded');
    let identical = true;
    for (let s = 0; s < STEPS.length; s++) {
      const [label, inputs] = STEPS[s];
      t0 = performance.now();
      const res = await fetch(`${base}/embed`, { method: 'POST', body: JSON.stringify({ inputs }), signal: AbortSignal.timeout(600_000) });
      const body = await res.json() as number[][] | { error?: string };
      seconds[label] = (performance.now() - t0) / 1000;
      if (res.status !== 200 || !Array.isArray(body)) throw new Failure(`POST /embed ${label}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)} ${tail(log)}`);
      await measureIsolate(label);
      body.forEach((v, i) => {
        // JSON carries each float32 as its exact double, so equal kernels give equal numbers.
        const want = expected[s][i];
        if (v.length !== want.length || v.some((x, d) => x !== want[d])) identical = false;
      });
    }
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
const stepNames = ['loaded', ...STEPS.map(([l]) => l)];
const peakIsolate = (r: Row) => Math.max(...stepNames.map((s) => r.isolate[s].total));
const md = [
  '# Memory of the Worker example under workerd',
  '',
  `${new Date().toISOString()} · ${cpus()[0]?.model.trim() ?? 'unknown CPU'} · workerd ${version.replace(/^workerd\s*/, '')} · Node ${process.version} (reference and driver)`,
  '',
  'Written by `npm run bench:workerd` (bench/workerd-memory.ts): examples/worker/worker.js under `workerd serve`,',
  'weights from static assets (streamed into wasm memory), synth-v1 weights of the hkunlp sizes with the T5',
  'tokenizer. Every embedding the Worker returned equals Node\'s on the same file bit for bit (checked',
  'before any figure is written). The Worker runs forward passes of at most 512 tokens.',
  '',
  `**Isolate memory** (what Cloudflare meters; limit ${LIMIT_MB} MB = ${mib(LIMIT_MB * 1e6)} MiB): after a full GC`,
  '(inspector), V8\'s JS heap in use + ArrayBuffer backing stores + the wasm linear memory the Worker',
  'reports (weights + activations; it never shrinks), MiB after each step:',
  '',
  `| model | weights file | JS heap (loaded) | wasm (loaded) | ${stepNames.map((s) => `isolate ${s}`).join(' | ')} | peak MB | fits ${LIMIT_MB} MB |`,
  `| --- | --- | --- | --- | ${stepNames.map(() => '---').join(' | ')} | --- | --- |`,
  ...rows.map((r) => `| ${r.model} | ${mib(r.fileBytes)} | ${mib(r.isolate.loaded.heap + r.isolate.loaded.backing)} | ${mib(r.isolate.loaded.wasm)} | ${stepNames.map((s) => mib(r.isolate[s].total)).join(' | ')} | ${(peakIsolate(r) / 1e6).toFixed(1)} | ${peakIsolate(r) <= LIMIT_MB * 1e6 ? 'yes' : 'no'} |`),
  '',
  '**Process resident memory** (upper bound): workerd\'s anonymous RSS over its idle RSS (isolate up, no',
  'model), MiB. It also holds workerd\'s own buffers for the asset stream and memory freed but kept by the',
  'allocator, which Cloudflare does not meter as the isolate\'s.',
  '',
  `| model | idle RssAnon | ${stepNames.map((s) => `+${s}`).join(' | ')} | +max |`,
  `| --- | --- | ${stepNames.map(() => '---').join(' | ')} | --- |`,
  ...rows.map((r) => `| ${r.model} | ${mib(r.idle)} | ${stepNames.map((s) => mib(r.steps[s] - r.idle)).join(' | ')} | ${mib(r.peak - r.idle)} |`),
  '',
  `Tokens per step: ${STEPS.map(([l]) => `${l} = ${rows[0]?.tokens[l]}`).join(', ')}. Seconds (load, then each step): ${rows.map((r) => `${r.model} ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' / ')}`).join('; ')}.`,
  '',
];
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/workerd-memory.md'), md.join('\n'));
writeFileSync(join(ROOT, 'bench/results/workerd-memory.json'), JSON.stringify({
  date: new Date().toISOString(), cpu: cpus()[0]?.model.trim(), cores: cpus().length, workerd: version, node: process.version,
  limitBytes: LIMIT_MB * 1e6, rows,
}, null, 2));
console.log(md.join('\n'));
