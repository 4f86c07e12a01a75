// Kernel benchmarks: gemm_q8 (GOPS), gemm_f32 (GFLOPS) and attention, each SIMD kernel against its
// scalar twin on the same inputs (checked to agree first). Writes bench/results/kernels.{json,md}.
// Run: npx asc ... && npx tsc -p tsconfig.json && node dist/bench/kernels.js
import Benchmark from 'benchmark';
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { Arena } from '../src/engine/arena.js';
import { attentionScratchFloats, gemmQ8ScratchBytes } from '../src/engine/wasm.js';
import { rng } from '../test/support/random.js';

const wasm = await loadKernelsFromDisk();
const arena = new Arena(wasm);

// The SIMD kernels get ~3 s each; the scalar twins are 8-25x slower, so a few samples of them
// are enough for a ratio and keep the whole run under ~2 minutes.
const SIMD_OPTS = { minSamples: 5, maxTime: 3 };
const SCALAR_OPTS = { minSamples: 2, maxTime: 0.5, initCount: 1 };
// gemm_f32 twins sum in a different order: K = 4096 products of N(0,1) values, K U relative.
const F32_CHECK_REL = 4096 * 2 ** -24;
// attention twins: f32 score rounding (Dk = 64 terms) and the vector exp, relative to max |v|.
const ATTN_CHECK_ABS = 1e-4;

interface Row {
  kernel: string;
  shape: string;
  unit: string; // 'GOPS' | 'GFLOPS'
  ops: number; // per call
  simd_ms: number;
  simd_rme: number; // relative margin of error, %
  scalar_ms: number;
  scalar_rme: number;
  speedup: number;
}

function fillF32(p: number, n: number, seed: number, scale = 1): void {
  const r = rng(seed);
  const a = arena.f32(p, n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
}

function time(name: string, fn: () => void, opts: Benchmark.Options): { ms: number; rme: number } {
  const b = new Benchmark(name, fn, opts);
  b.run();
  if (b.error) throw b.error;
  return { ms: b.stats.mean * 1e3, rme: b.stats.rme };
}

function compare(name: string, a: Float32Array, b: Float32Array, tol: (i: number) => number): void {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i] - b[i]);
    if (!(err <= tol(i))) throw new Error(`${name}: SIMD and scalar disagree at ${i}: ${a[i]} vs ${b[i]}`);
    worst = Math.max(worst, err);
  }
  console.log(`  check ${name}: SIMD == scalar within tolerance (max |diff| ${worst.toExponential(2)})`);
}

function row(kernel: string, shape: string, unit: string, ops: number, simd: () => void, scalar: () => void): Row {
  // V8 runs a wasm function on its baseline compiler (Liftoff) until tier-up, which a call
  // already running never benefits from: warm both up before timing
  for (let i = 0; i < 5; i++) simd();
  scalar();
  const s = time(`${kernel} ${shape} simd`, simd, SIMD_OPTS);
  const r = time(`${kernel} ${shape} scalar`, scalar, SCALAR_OPTS);
  const out: Row = {
    kernel, shape, unit, ops,
    simd_ms: s.ms, simd_rme: s.rme, scalar_ms: r.ms, scalar_rme: r.rme, speedup: r.ms / s.ms,
  };
  console.log(`  ${kernel} ${shape}: simd ${s.ms.toFixed(2)} ms (${(ops / s.ms / 1e6).toFixed(2)} ${unit}), scalar ${r.ms.toFixed(1)} ms, x${out.speedup.toFixed(1)}`);
  return out;
}

function benchGemmQ8(T: number, K: number, N: number): Row {
  const m = arena.mark();
  const x = arena.alloc(T * K * 4), xq = arena.alloc(T * K * 2), xs = arena.alloc(T * 4);
  const W = arena.alloc(N * K), ws = arena.alloc(N * 4), scratch = arena.alloc(gemmQ8ScratchBytes(K));
  const y1 = arena.alloc(T * N * 4), y2 = arena.alloc(T * N * 4);
  fillF32(x, T * K, 1);
  fillF32(ws, N, 2, 0.01);
  const r = rng(3);
  const w = arena.i8(W, N * K);
  for (let i = 0; i < N * K; i++) w[i] = Math.floor(r() * 255) - 127;
  wasm.pack_q8(W, N, K, scratch); // once, as at model load: not part of the timings
  wasm.quantize_rows_i16(x, xq, xs, T, K);
  wasm.gemm_q8(xq, xs, W, ws, y1, T, K, N, 0, scratch);
  wasm.gemm_q8_scalar(xq, xs, W, ws, y2, T, K, N, 0, scratch);
  compare(`gemm_q8 ${T}x${K}x${N}`, arena.f32(y1, T * N), arena.f32(y2, T * N), () => 0); // bit-identical by contract
  const out = row('gemm_q8', `${T}x${K}x${N}`, 'GOPS', 2 * T * K * N,
    () => wasm.gemm_q8(xq, xs, W, ws, y1, T, K, N, 0, scratch),
    () => wasm.gemm_q8_scalar(xq, xs, W, ws, y2, T, K, N, 0, scratch));
  arena.reset(m);
  return out;
}

function benchGemmF32(T: number, K: number, N: number): Row {
  const m = arena.mark();
  const x = arena.alloc(T * K * 4), W = arena.alloc(N * K * 4);
  const y1 = arena.alloc(T * N * 4), y2 = arena.alloc(T * N * 4);
  fillF32(x, T * K, 4);
  fillF32(W, N * K, 5);
  wasm.gemm_f32(x, W, y1, T, K, N, 0);
  wasm.gemm_f32_scalar(x, W, y2, T, K, N, 0);
  // |x|, |W| <= 1: sum |x w| <= K
  compare(`gemm_f32 ${T}x${K}x${N}`, arena.f32(y1, T * N), arena.f32(y2, T * N), () => F32_CHECK_REL * K);
  const out = row('gemm_f32', `${T}x${K}x${N}`, 'GFLOPS', 2 * T * K * N,
    () => wasm.gemm_f32(x, W, y1, T, K, N, 0),
    () => wasm.gemm_f32_scalar(x, W, y2, T, K, N, 0));
  arena.reset(m);
  return out;
}

function benchAttention(T: number, H: number, Dk: number): Row {
  const m = arena.mark();
  const ld = H * Dk;
  const q = arena.alloc(T * ld * 4), k = arena.alloc(T * ld * 4), v = arena.alloc(T * ld * 4);
  const o1 = arena.alloc(T * ld * 4), o2 = arena.alloc(T * ld * 4);
  const bias = arena.alloc(H * (2 * T - 1) * 4);
  const scratch = arena.alloc(attentionScratchFloats(T, Dk) * 4);
  fillF32(q, T * ld, 6, 0.5);
  fillF32(k, T * ld, 7, 0.5);
  fillF32(v, T * ld, 8);
  fillF32(bias, H * (2 * T - 1), 9, 3);
  wasm.attention(q, k, v, o1, T, H, Dk, ld, bias, scratch);
  wasm.attention_scalar(q, k, v, o2, T, H, Dk, ld, bias, scratch);
  compare(`attention T=${T}`, arena.f32(o1, T * ld), arena.f32(o2, T * ld), () => ATTN_CHECK_ABS);
  const out = row('attention', `T=${T} H=${H} Dk=${Dk}`, 'GFLOPS', 4 * H * T * T * Dk,
    () => wasm.attention(q, k, v, o1, T, H, Dk, ld, bias, scratch),
    () => wasm.attention_scalar(q, k, v, o2, T, H, Dk, ld, bias, scratch));
  arena.reset(m);
  return out;
}

const started = Date.now();
const rows: Row[] = [];
console.log('gemm_q8 (int16 activations x int8 weights):');
rows.push(benchGemmQ8(128, 1024, 4096), benchGemmQ8(128, 4096, 1024));
console.log('gemm_f32:');
rows.push(benchGemmF32(128, 1024, 4096), benchGemmF32(128, 4096, 1024));
console.log('attention (4 H T^2 Dk flops):');
rows.push(benchAttention(128, 16, 64), benchAttention(512, 16, 64));

const env = {
  date: new Date().toISOString(),
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  node: process.version,
  v8: process.versions.v8,
  seconds: Math.round((Date.now() - started) / 1000),
};

const rate = (r: Row, ms: number) => (r.ops / ms / 1e6).toFixed(2);
const header = '| kernel | T x K x N / shape | SIMD ms | SIMD rate | scalar ms | scalar rate | SIMD / scalar |';
const lines = rows.map((r) =>
  `| ${r.kernel} | ${r.shape} | ${r.simd_ms.toFixed(2)} ±${r.simd_rme.toFixed(1)}% | ${rate(r, r.simd_ms)} ${r.unit} | ${r.scalar_ms.toFixed(1)} ±${r.scalar_rme.toFixed(1)}% | ${rate(r, r.scalar_ms)} ${r.unit} | ${r.speedup.toFixed(1)}x |`);
const table = [header, '|---|---|---|---|---|---|---|', ...lines].join('\n');
console.log(`\n${table}\n`);

const md = `# Kernel benchmarks

${env.date} · ${env.cpu} (${env.cores} logical cores) · Node ${env.node} · V8 ${env.v8} · ${env.seconds} s

gemm_q8 counts 2·T·K·N integer ops (GOPS), gemm_f32 2·T·K·N flops, attention 4·H·T²·Dk flops
(QKᵀ and P·V). SIMD and scalar twins ran in the same process on the same inputs, after a check
that they agree. Times are benchmark.js means with their relative margin of error; the machine
is shared, so expect noise.

${table}
`;

const dir = new URL('../../bench/results/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('kernels.json', dir), JSON.stringify({ ...env, rows }, null, 2) + '\n');
writeFileSync(new URL('kernels.md', dir), md);
console.log(`wrote bench/results/kernels.json and kernels.md (${env.seconds} s)`);
