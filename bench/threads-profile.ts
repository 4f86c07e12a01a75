// Where a forward pass spends its time, per kernel call kind, at 1 and at 2 threads (or more):
// base int8 (synth-v1), passages of 128 tokens, n per call as bench/peers.ts (4) and 8. Every
// kernel call of the model is wrapped with a timer (the calling thread's wall time, which at 2
// threads includes waiting for the workers' chunks), and the pool reports, per parallel call,
// how long the calling thread ran chunks and how long it then waited (ThreadPool.profile).
// Embeddings are checked bit-identical across thread counts first.
//
//   node dist/bench/threads-profile.js [--threads 1,2] [--n 4,8] [--calls 6] [--revec]
// --revec: compile the kernels with --experimental-wasm-revectorize (re-runs itself with it).
// Writes bench/results/threads-profile.{json,md}.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { DENSE_WEIGHT, t5TensorShapes } from '../src/engine/tensors.js';
import { synthModel } from '../src/format/synth.js';
import { writeWeightsFile } from '../src/format/weights-file-node.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { openWeightsFile, KERNELS_WASM_URL } from '../src/io/disk.js';
import type { KernelExports } from '../src/engine/wasm.js';
import type { ThreadPool } from '../src/engine/threads/pool.js';
import { tokenSequence } from '../test/support/random.js';
import { CACHE_DIR } from './peers/regenerate.js';
import { cpuFlags } from '../test/runtimes/node-lines.js';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
};
const REVEC = argv.includes('--revec');
if (REVEC && !process.execArgv.includes('--experimental-wasm-revectorize')) {
  const r = spawnSync(process.execPath, ['--experimental-wasm-revectorize', fileURLToPath(import.meta.url), ...argv], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const THREADS = opt('threads', '1,2').split(',').map(Number);
const NS = opt('n', '4,8').split(',').map(Number);
const CALLS = Number(opt('calls', '6'));

const c = SYNTH_CONFIGS.base;
const path = `${CACHE_DIR}base/ours-int8.weights`;
if (!(existsSync(`${path}.done`) && existsSync(path))) {
  mkdirSync(`${CACHE_DIR}base`, { recursive: true });
  const layout = [...t5TensorShapes(c).map(([name, shape]) => ({ name, shape })), { name: DENSE_WEIGHT, shape: [c.denseOut, c.dModel] }];
  await writeWeightsFile(path, {
    config: toHfConfig(c), model: { dense_out: c.denseOut, max_seq_length: 512, synth: 'synth-v1', name: 'base' }, dtype: 'int8', layout,
  }, synthModel(c, c.denseOut));
  writeFileSync(`${path}.done`, new Date().toISOString() + '\n');
}

/** A kernel call's kind: its name and the shape that matters for cutting it. */
type Timings = Map<string, { ms: number; calls: number }>;
const WRAPPED = ['gemm_q8', 'quantize_rows_i16', 'attention', 'rmsnorm', 'relu_inplace', 'gelu_tanh_mul', 'gemm_f32'] as const;

function instrument(k: KernelExports, timings: Timings): void {
  const rec = k as unknown as Record<string, (...a: number[]) => void>;
  for (const name of WRAPPED) {
    const f = rec[name];
    rec[name] = (...a: number[]) => {
      const key = name === 'gemm_q8' ? `gemm_q8 K=${a[6]} N=${a[7]}` : name === 'attention' ? `attention T=${a[4]} H=${a[5]}` : name;
      const t0 = performance.now();
      f(...a);
      const ms = performance.now() - t0;
      const e = timings.get(key) ?? { ms: 0, calls: 0 };
      e.ms += ms; e.calls++;
      timings.set(key, e);
    };
  }
}

interface Result { threads: number; n: number; tokens: number; msPerCall: number; perOp: Array<{ op: string; msPerCall: number; callsPerCall: number }>; pool?: { parallelCalls: number; runMs: number; waitMs: number } }
const results: Result[] = [];
const reference = new Map<number, Float32Array[]>();

for (const threads of THREADS) {
  const reader = await openWeightsFile(path);
  let model: InstructorModel;
  try {
    model = threads > 1
      ? await InstructorModel.fromWeightsReader(reader, { kernels: readFileSync(KERNELS_WASM_URL), threads })
      : await InstructorModel.fromWeightsReader(reader, { kernels: { ...(new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(readFileSync(KERNELS_WASM_URL))), {}).exports as unknown as KernelExports) } });
  } finally {
    await reader.close();
  }
  const internals = model as unknown as { core: { arena: { wasm: KernelExports } }; pool: { pool?: ThreadPool } | null };
  const timings: Timings = new Map();
  instrument(internals.core.arena.wasm, timings);
  for (const n of NS) {
    const seqs = Array.from({ length: n }, (_, i) => ({ ids: tokenSequence(128, 1 + i), nInstr: 8 }));
    const got = model.embedIds(seqs).embeddings; // warm-up, and the bits
    const ref = reference.get(n);
    if (!ref) reference.set(n, got);
    else got.forEach((e, i) => e.forEach((x, j) => { if (!Object.is(x, ref[i][j])) throw new Error(`n=${n}: ${threads} threads differ from ${THREADS[0]} at ${i}[${j}]`); }));
    for (let r = 0; r < 2; r++) model.embedIds(seqs);
    timings.clear();
    const pool = (model as unknown as { pool: { profile?: () => { parallelCalls: number; runMs: number; waitMs: number } } | null }).pool;
    const before = pool?.profile?.();
    const t0 = performance.now();
    for (let i = 0; i < CALLS; i++) model.embedIds(seqs);
    const ms = (performance.now() - t0) / CALLS;
    const after = pool?.profile?.();
    const perOp = [...timings.entries()].map(([op, e]) => ({ op, msPerCall: e.ms / CALLS, callsPerCall: e.calls / CALLS })).sort((a, b) => b.msPerCall - a.msPerCall);
    const res: Result = { threads, n, tokens: n * 128, msPerCall: ms, perOp };
    if (before && after) res.pool = { parallelCalls: (after.parallelCalls - before.parallelCalls) / CALLS, runMs: (after.runMs - before.runMs) / CALLS, waitMs: (after.waitMs - before.waitMs) / CALLS };
    results.push(res);
    console.log(`threads ${threads} n=${n}: ${ms.toFixed(1)} ms per call, ${(n * 128 / (ms / 1000)).toFixed(0)} tokens/s${res.pool ? `; pool: ${res.pool.parallelCalls.toFixed(0)} parallel calls, caller ran chunks ${res.pool.runMs.toFixed(1)} ms, waited ${res.pool.waitMs.toFixed(1)} ms` : ''} (load ${loadavg()[0].toFixed(2)})`);
    for (const o of perOp) console.log(`  ${o.op.padEnd(28)} ${o.msPerCall.toFixed(2).padStart(8)} ms  ${o.callsPerCall.toFixed(0).padStart(4)} calls`);
  }
  model.dispose();
}

const flags = cpuFlags();
const lines = [`# Per-op profile, base int8 passages`, '',
  `${new Date().toISOString()} · ${flags.model} (${cpus().length} logical cores; avx_vnni ${flags.avxVnni ? 'yes' : 'no'}) · Node ${process.version} · revectorizer ${REVEC ? 'on' : 'off'} · ${CALLS} calls per row · load average ${loadavg()[0].toFixed(2)}`, ''];
for (const n of NS) {
  const rs = results.filter((r) => r.n === n);
  const ops = [...new Set(rs.flatMap((r) => r.perOp.map((o) => o.op)))];
  lines.push(`## n = ${n} (${n * 128} tokens per call)`, '', `| op | ${rs.map((r) => `${r.threads}t ms`).join(' | ')} | ${rs.slice(1).map((r) => `${rs[0].threads}t / ${r.threads}t`).join(' | ')} |`, `|${'---|'.repeat(1 + rs.length * 2 - 1)}`);
  for (const op of ops) {
    const v = rs.map((r) => r.perOp.find((o) => o.op === op)?.msPerCall ?? 0);
    lines.push(`| ${op} | ${v.map((x) => x.toFixed(2)).join(' | ')} | ${v.slice(1).map((x) => (v[0] / x).toFixed(2) + 'x').join(' | ')} |`);
  }
  lines.push(`| **whole call** | ${rs.map((r) => r.msPerCall.toFixed(1)).join(' | ')} | ${rs.slice(1).map((r) => (rs[0].msPerCall / r.msPerCall).toFixed(2) + 'x').join(' | ')} |`, '');
  for (const r of rs) if (r.pool) lines.push(`${r.threads} threads: ${r.pool.parallelCalls.toFixed(0)} parallel calls per embedIds; the calling thread ran chunks ${r.pool.runMs.toFixed(1)} ms and waited for workers ${r.pool.waitMs.toFixed(1)} ms.`, '');
}
const dir = new URL('../../bench/results/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('threads-profile.json', dir), JSON.stringify({ date: new Date().toISOString(), node: process.version, revec: REVEC, results }, null, 2) + '\n');
writeFileSync(new URL('threads-profile.md', dir), lines.join('\n'));
console.log(lines.join('\n'));
