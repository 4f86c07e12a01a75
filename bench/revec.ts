// V8's revectorizer (--experimental-wasm-revectorize: pairs of 128-bit SIMD operations fused into
// 256-bit AVX2 ones, src/compiler/turboshaft/wasm-revec-reducer.cc), A/B in one process: the
// same kernels build compiled twice, once with the flag and once without (the flag is read when a
// function is compiled, so this process compiles every function eagerly with the optimizing tier:
// --no-liftoff --no-wasm-lazy-compilation, and each compile gets its own bytes, a tagged custom
// section, so V8's module cache cannot hand back the other one). Optionally a third variant:
// another kernels.wasm (--baseline FILE, e.g. the previous release's build), compiled without it.
//
//   kernels  gemm_q8 (quantize_rows_i16 included, as linear() runs it) at base's shapes and at
//            issue 16's, every variant checked bit-identical to the plain one first
//   e2e      base int8 (synth-v1) through embedIds: passages (4 x 128 tokens), queries (32 x 16),
//            embeddings checked bit-identical across variants first
// Rounds interleave the variants (their order rotates); each reports the median over rounds and
// the spread (min..max). Writes bench/results/revec.{json,md}.
//
//   node dist/bench/revec.js [--kernels] [--e2e] [--relaxed] [--rounds 7] [--threads 1] [--baseline FILE] [--shapes TxKxN,...] [--quick]
// --relaxed: also gemm_q7 of kernels-relaxed.wasm (32 int16 outlier channels at K = d_model, as the models run it)
// (it re-runs itself on Node 24 from the registry, with the flags above, unless INSTRUCTOR_BENCH_NODE=current)
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { BENCH_NODE_MAJOR, cpuFlags, nodeBinary } from '../test/runtimes/node-lines.js';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { DENSE_WEIGHT, t5TensorShapes } from '../src/engine/tensors.js';
import { synthModel } from '../src/format/synth.js';
import { writeWeightsFile } from '../src/format/weights-file-node.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { openWeightsFile, KERNELS_WASM_URL, KERNELS_MT_WASM_URL, KERNELS_RELAXED_WASM_URL } from '../src/io/disk.js';
import { Arena } from '../src/engine/arena.js';
import { gemmQ8ScratchBytes, relaxedSimdStatus, RELAXED_XM_BYTES, type KernelExports } from '../src/engine/wasm.js';
import { rng, tokenSequence } from '../test/support/random.js';
import { CACHE_DIR } from './peers/regenerate.js';

const EAGER = ['--no-liftoff', '--no-wasm-lazy-compilation'];
const argv = process.argv.slice(2);
if (!EAGER.every((f) => process.execArgv.includes(f))) {
  const node = process.env.INSTRUCTOR_BENCH_NODE === 'current' ? process.execPath : nodeBinary(BENCH_NODE_MAJOR);
  const r = spawnSync(node, [...EAGER, fileURLToPath(import.meta.url), ...argv], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
};
const QUICK = argv.includes('--quick');
const ROUNDS = Number(opt('rounds', QUICK ? '3' : '7'));
const THREADS = Number(opt('threads', '1'));
const BASELINE = opt('baseline', '');
const RELAXED = argv.includes('--relaxed') && relaxedSimdStatus() === 'ok';
const PARTS = ['kernels', 'e2e'].filter((p) => argv.includes(`--${p}`));
if (PARTS.length === 0) PARTS.push('kernels', 'e2e');
/** Milliseconds of calls per variant per round (kernels; e2e: at least 2 calls). */
const KERNEL_MS = QUICK ? 80 : 250;
const E2E_MS = QUICK ? 600 : 2500;

/** The wasm bytes plus a custom section named `tag`: the same code, other bytes. */
function tagged(bytes: Uint8Array, tag: string): Uint8Array {
  const name = new TextEncoder().encode(tag);
  const section = new Uint8Array([0, name.length + 1, name.length, ...name]);
  const out = new Uint8Array(bytes.length + section.length);
  out.set(bytes);
  out.set(section, bytes.length);
  return out;
}

/** Compiles `bytes` with the revectorizer on or off (every function, now: see EAGER). */
function compile(bytes: Uint8Array, revec: boolean, tag: string): WebAssembly.Module {
  v8.setFlagsFromString(revec ? '--experimental-wasm-revectorize' : '--no-experimental-wasm-revectorize');
  try {
    return new WebAssembly.Module(tagged(bytes, tag) as Uint8Array<ArrayBuffer>);
  } finally {
    v8.setFlagsFromString('--no-experimental-wasm-revectorize');
  }
}

interface Variant { name: string; module: WebAssembly.Module; mt?: WebAssembly.Module }
const current = new Uint8Array(readFileSync(KERNELS_WASM_URL));
const currentMt = new Uint8Array(readFileSync(KERNELS_MT_WASM_URL));
const variants: Variant[] = [
  { name: 'plain', module: compile(current, false, 'plain'), mt: compile(currentMt, false, 'plain-mt') },
  { name: 'revec', module: compile(current, true, 'revec'), mt: compile(currentMt, true, 'revec-mt') },
];
if (BASELINE) {
  const mtPath = BASELINE.replace(/kernels\.wasm$/, 'kernels-mt.wasm');
  const bytes = new Uint8Array(readFileSync(BASELINE));
  const mt = existsSync(mtPath) && mtPath !== BASELINE ? new Uint8Array(readFileSync(mtPath)) : undefined;
  for (const revec of [false, true]) {
    const name = revec ? 'baseline-revec' : 'baseline';
    variants.push({ name, module: compile(bytes, revec, name), mt: mt && compile(mt, revec, `${name}-mt`) });
  }
}

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const spread = (a: number[]) => `${Math.min(...a).toFixed(2)}..${Math.max(...a).toFixed(2)}`;
/** Rounds: every variant once per round, the order rotating; returns ms per call per variant per round. */
function rounds(names: string[], run: (name: string) => number): Record<string, number[]> {
  const out: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length];
      out[name].push(run(name));
    }
  }
  return out;
}
function timeCalls(fn: () => void, budgetMs: number, minCalls: number): number {
  let calls = 0;
  const t0 = performance.now();
  while (calls < minCalls || performance.now() - t0 < budgetMs) { fn(); calls++; }
  return (performance.now() - t0) / calls;
}

interface Row { part: string; what: string; unit: string; perVariant: Record<string, { median: number; min: number; max: number }>; ratios: Record<string, number> }
const rows: Row[] = [];
const load = () => loadavg()[0].toFixed(2);
console.log(`revec A/B on Node ${process.version} (V8 ${process.versions.v8}), ${ROUNDS} rounds, variants ${variants.map((v) => v.name).join(', ')}, load ${load()}`);

function report(part: string, what: string, unit: string, per: Record<string, number[]>, toRate: (ms: number) => number): void {
  const perVariant = Object.fromEntries(Object.entries(per).map(([n, ms]) => [n, { median: median(ms), min: Math.min(...ms), max: Math.max(...ms) }]));
  // ratios per round (interleaved neighbours), their median: plain / revec = speedup of revec
  const ratios: Record<string, number> = {};
  for (const n of Object.keys(per)) if (n !== 'plain') ratios[`${n} vs plain`] = median(per.plain.map((p, i) => p / per[n][i]));
  rows.push({ part, what, unit, perVariant, ratios });
  console.log(`  ${what}: ${Object.entries(per).map(([n, ms]) => `${n} ${median(ms).toFixed(2)} ms (${spread(ms)}) ${toRate(median(ms)).toFixed(1)} ${unit}`).join(' | ')} | ${Object.entries(ratios).map(([k, v]) => `${k} ${v.toFixed(2)}x`).join(', ')}`);
}

// ------------------------------------------------------------------------------------- kernels
if (PARTS.includes('kernels')) {
  /** base (D 768, F 3072) at 4 x 128 tokens and at 16 tokens; issue 16's shapes. */
  const SHAPES: Array<[number, number, number]> = opt('shapes', '').split(',').filter(Boolean).map((x) => x.split('x').map(Number) as [number, number, number]);
  if (SHAPES.length === 0) {
    SHAPES.push([512, 768, 768], [512, 768, 3072], [512, 3072, 768], [16, 768, 768], [16, 768, 3072], [16, 3072, 768], [128, 1024, 4096], [128, 4096, 1024]);
  }
  const inst = Object.fromEntries(variants.map((v) => [v.name, new WebAssembly.Instance(v.module, {}).exports as unknown as KernelExports]));
  console.log('gemm_q8 (quantize_rows_i16 included), ms per call, GOPS = 2 T K N / time:');
  for (const [T, K, N] of SHAPES) {
    const bufs: Record<string, { run: () => void; y: Float32Array; arena: Arena }> = {};
    for (const v of variants) {
      const k = inst[v.name];
      const a = new Arena(k);
      const x = a.alloc(T * K * 4), xq = a.alloc(T * K * 2), xs = a.alloc(T * 4), W = a.alloc(N * K), ws = a.alloc(N * 4);
      const y = a.alloc(T * N * 4), scratch = a.alloc(gemmQ8ScratchBytes(K));
      const r = rng(T * 31 + K * 7 + N);
      const xf = a.f32(x, T * K);
      for (let i = 0; i < xf.length; i++) xf[i] = (r() * 2 - 1) * (i % 97 === 0 ? 50 : 1);
      const w = a.i8(W, N * K);
      for (let i = 0; i < w.length; i++) w[i] = Math.floor(r() * 255) - 127;
      const wsf = a.f32(ws, N);
      for (let i = 0; i < N; i++) wsf[i] = r() * 0.01;
      k.pack_q8(W, N, K, scratch);
      const run = () => { k.quantize_rows_i16(x, xq, xs, T, K); k.gemm_q8(xq, xs, W, ws, y, T, K, N, 0, scratch); };
      run();
      bufs[v.name] = { run, y: a.f32(y, T * N), arena: a };
    }
    for (const v of variants) {
      const a = bufs.plain.y, b = bufs[v.name].y;
      for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) throw new Error(`gemm_q8 ${T}x${K}x${N}: ${v.name} differs from plain at ${i}: ${b[i]} vs ${a[i]}`);
    }
    const per = rounds(variants.map((v) => v.name), (n) => timeCalls(bufs[n].run, KERNEL_MS, 3));
    report('kernels', `gemm_q8 ${T}x${K}x${N}`, 'GOPS', per, (ms) => (2 * T * K * N) / ms / 1e6);
  }
}

// ------------------------------------------------------------------------------------- gemm_q7
if (PARTS.includes('kernels') && RELAXED) {
  const bytes = new Uint8Array(readFileSync(KERNELS_RELAXED_WASM_URL));
  const rv = { plain: compile(bytes, false, 'relaxed-plain'), revec: compile(bytes, true, 'relaxed-revec') };
  const SHAPES: Array<[number, number, number, number]> = [[512, 768, 768, 32], [512, 768, 3072, 32], [512, 3072, 768, 0], [16, 768, 3072, 32], [128, 1024, 4096, 32], [128, 4096, 1024, 0]];
  console.log('gemm_q7 (relaxed build, quantize_rows_i8 included), ms per call:');
  for (const [T, K, N, O] of SHAPES) {
    const runs: Record<string, { run: () => void; y: Float32Array }> = {};
    for (const [name, module] of Object.entries(rv)) {
      const k = new WebAssembly.Instance(module, {}).exports as unknown as KernelExports;
      const a = new Arena(k);
      const x = a.alloc(T * K * 4), xq = a.alloc(T * K), xo = a.alloc(T * Math.max(O, 1) * 2), xm = a.alloc(T * RELAXED_XM_BYTES);
      const keep = a.alloc(K * 4), oidx = a.alloc(Math.max(O, 1) * 4), W = a.alloc(N * K), Wo = a.alloc(Math.max(1, N * O)), ws = a.alloc(N * 4);
      const y = a.alloc(T * N * 4), scratch = a.alloc(gemmQ8ScratchBytes(K));
      const r = rng(T * 31 + K * 7 + N);
      const xf = a.f32(x, T * K);
      for (let i = 0; i < xf.length; i++) xf[i] = (r() * 2 - 1) * (i % 97 === 0 ? 50 : 1);
      const w = a.i8(W, N * K);
      for (let i = 0; i < w.length; i++) w[i] = Math.floor(r() * 255) - 127;
      a.f32(ws, N).fill(0.01);
      const kv = a.i32(keep, K).fill(-1), ov = a.i32(oidx, Math.max(O, 1));
      for (let j = 0; j < O; j++) { ov[j] = (j * 61 + 7) % K; kv[ov[j]] = 0; }
      k.requant_q7!(W, ws, N, K);
      a.i8(Wo, Math.max(1, N * O)).fill(3);
      k.pack_q7!(W, N, K, scratch);
      if (O > 0) k.pack_q8(Wo, N, O, scratch);
      const keepPtr = O > 0 ? keep : 0;
      const run = () => { k.quantize_rows_i8!(x, xq, xo, xm, T, K, keepPtr, oidx, O); k.gemm_q7!(xq, xo, xm, W, Wo, ws, y, T, K, N, O, 0); };
      run();
      runs[name] = { run, y: a.f32(y, T * N) };
    }
    const a0 = runs.plain.y, b0 = runs.revec.y;
    for (let i = 0; i < a0.length; i++) if (!Object.is(a0[i], b0[i])) throw new Error(`gemm_q7 ${T}x${K}x${N}: revec differs from plain at ${i}`);
    const per = rounds(['plain', 'revec'], (n) => timeCalls(runs[n].run, KERNEL_MS, 3));
    report('kernels', `gemm_q7 ${T}x${K}x${N}${O ? ` +${O} ch` : ''}`, 'GOPS', per, (ms) => (2 * T * K * N) / ms / 1e6);
  }
}

// ------------------------------------------------------------------------------------- e2e
if (PARTS.includes('e2e')) {
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
  const models: Record<string, InstructorModel> = {};
  for (const v of variants) {
    const reader = await openWeightsFile(path);
    try {
      models[v.name] = await InstructorModel.fromWeightsReader(reader, THREADS > 1
        ? { kernels: v.module, threads: THREADS, threadKernels: v.mt ?? v.module }
        : { kernels: v.module });
    } finally {
      await reader.close();
    }
  }
  const workloads = {
    'passages 4 x 128': Array.from({ length: 4 }, (_, i) => ({ ids: tokenSequence(128, 1 + i), nInstr: 8 })),
    'queries 32 x 16': Array.from({ length: 32 }, (_, i) => ({ ids: tokenSequence(16, 1001 + i), nInstr: 8 })),
  };
  console.log(`base int8 end to end (embedIds), ${THREADS} thread(s), ms per call:`);
  for (const [what, seqs] of Object.entries(workloads)) {
    const ref = models.plain.embedIds(seqs).embeddings;
    for (const v of variants) {
      const got = models[v.name].embedIds(seqs).embeddings;
      got.forEach((e, i) => e.forEach((x, j) => { if (!Object.is(x, ref[i][j])) throw new Error(`${what}: ${v.name} embedding ${i}[${j}] differs from plain`); }));
    }
    const tokens = seqs.reduce((s, q) => s + q.ids.length, 0);
    const per = rounds(variants.map((v) => v.name), (n) => timeCalls(() => models[n].embedIds(seqs), E2E_MS, 2));
    report('e2e', `${what} (${THREADS}t)`, 'tokens/s', per, (ms) => tokens / (ms / 1000));
  }
  for (const m of Object.values(models)) m.dispose();
}

const flags = cpuFlags();
const env = {
  date: new Date().toISOString(), cpu: flags.model, cores: cpus().length,
  cpuFlags: { avx_vnni: flags.avxVnni, avx512_vnni: flags.avx512Vnni },
  node: process.version, v8: process.versions.v8, rounds: ROUNDS, threads: THREADS, baseline: BASELINE || null, loadAfter: load(), quick: QUICK,
};
const names = variants.map((v) => v.name);
const md = [
  `# Revectorizer A/B`, '',
  `${env.date} · ${env.cpu} (${env.cores} logical cores; avx_vnni ${flags.avxVnni ? 'yes' : 'no'}, avx512_vnni ${flags.avx512Vnni ? 'yes' : 'no'}) · Node ${env.node} · V8 ${env.v8} · ${ROUNDS} interleaved rounds · load average after ${env.loadAfter}${QUICK ? ' · QUICK' : ''}`, '',
  `plain: build/kernels.wasm without --experimental-wasm-revectorize; revec: the same bytes with it${BASELINE ? `; baseline / baseline-revec: ${BASELINE} without / with it` : ''}. Medians over rounds (min..max); ratio = median over rounds of plain / variant ms (> 1: faster).`, '',
  `| part | what | ${names.map((n) => `${n} ms`).join(' | ')} | ${names.filter((n) => n !== 'plain').map((n) => `${n} vs plain`).join(' | ')} |`,
  `|${'---|'.repeat(2 + names.length + names.length - 1)}`,
  ...rows.map((r) => `| ${r.part} | ${r.what} | ${names.map((n) => (r.perVariant[n] ? `${r.perVariant[n].median.toFixed(2)} (${r.perVariant[n].min.toFixed(2)}..${r.perVariant[n].max.toFixed(2)})` : '-')).join(' | ')} | ${names.filter((n) => n !== 'plain').map((n) => (r.ratios[`${n} vs plain`] ? `${r.ratios[`${n} vs plain`].toFixed(2)}x` : '-')).join(' | ')} |`),
  '',
].join('\n');
const dir = new URL('../../bench/results/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('revec.json', dir), JSON.stringify({ ...env, rows }, null, 2) + '\n');
writeFileSync(new URL('revec.md', dir), md);
console.log(md);
