// Kernel benchmarks: gemm_q8 and the relaxed build's gemm_q7 (GOPS, the activations' quantization
// included, as linear() runs them), gemm_f32 (GFLOPS) and attention, each SIMD kernel against its
// scalar twin on the same inputs (checked to agree first). The int8 matmuls run warm (the same W
// every call: it stays in L2 / L3) and cold (calls round-robin over copies of W larger than twice
// the last-level cache: W comes from DRAM, as one forward pass reads each layer's W once).
// Writes bench/results/kernels.{json,md}. Run by `npm run bench` (on Node 24: bench/run.ts), or
// node dist/bench/kernels.js [--quick]
import Benchmark from 'benchmark';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { Arena } from '../src/engine/arena.js';
import { attentionScratchFloats, gemmQ8ScratchBytes, relaxedSimdStatus, RELAXED_XM_BYTES, type KernelExports } from '../src/engine/wasm.js';
import { rng } from '../test/support/random.js';
import { cpuFlags } from '../test/runtimes/node-lines.js';

const QUICK = process.argv.includes('--quick');
const wasm = await loadKernelsFromDisk();
const arena = new Arena(wasm);
const relaxed = relaxedSimdStatus() === 'ok' ? await loadKernelsFromDisk('relaxed') : null;
const relaxedArena = relaxed ? new Arena(relaxed) : null;

// The SIMD kernels get ~3 s each; the scalar twins are 8-25x slower, so a few samples of them
// are enough for a ratio and keep the whole run under a few minutes.
const SIMD_OPTS = QUICK ? { minSamples: 3, maxTime: 0.4 } : { minSamples: 5, maxTime: 3 };
const SCALAR_OPTS = { minSamples: 2, maxTime: QUICK ? 0.1 : 0.5, initCount: 1 };
/** gemm_q7's int16 channels where the models have them (q, k, v, wi: K = d_model), as model.ts sets them. */
const OUTLIERS = 32;
// gemm_f32 twins sum in a different order: K = 4096 products of N(0,1) values, K U relative.
const F32_CHECK_REL = 4096 * 2 ** -24;
// attention twins: f32 score rounding (Dk = 64 terms) and the vector exp, relative to max |v|.
const ATTN_CHECK_ABS = 1e-4;

interface Row {
  kernel: string;
  shape: string;
  /** 'warm': the same W every call; 'cold': W from DRAM (copies round-robin); '-': not a matmul. */
  cache: string;
  build: 'simd128' | 'relaxed';
  unit: string; // 'GOPS' | 'GFLOPS'
  ops: number; // per call
  simd_ms: number;
  simd_rme: number; // relative margin of error, %
  scalar_ms: number;
  scalar_rme: number;
  speedup: number;
}

function fillF32(p: number, n: number, seed: number, scale = 1, a0: Arena = arena): void {
  const r = rng(seed);
  const a = a0.f32(p, n);
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

function row(kernel: string, shape: string, unit: string, ops: number, simd: () => void, scalar: () => void, cache = '-', build: Row['build'] = 'simd128'): Row {
  // V8 runs a wasm function on its baseline compiler (Liftoff) until tier-up, which a call
  // already running never benefits from: warm both up before timing
  for (let i = 0; i < 5; i++) simd();
  scalar();
  const s = time(`${kernel} ${shape} simd`, simd, SIMD_OPTS);
  const r = time(`${kernel} ${shape} scalar`, scalar, SCALAR_OPTS);
  const out: Row = {
    kernel, shape, cache, build, unit, ops,
    simd_ms: s.ms, simd_rme: s.rme, scalar_ms: r.ms, scalar_rme: r.rme, speedup: r.ms / s.ms,
  };
  console.log(`  ${kernel} ${shape} ${cache}: simd ${s.ms.toFixed(2)} ms (${(ops / s.ms / 1e6).toFixed(2)} ${unit}), scalar ${r.ms.toFixed(1)} ms, x${out.speedup.toFixed(1)}`);
  return out;
}

/** Bytes of the last-level cache (sysfs), or 32 MiB when unknown. */
function llcBytes(): number {
  for (const i of [3, 2]) {
    const f = `/sys/devices/system/cpu/cpu0/cache/index${i}/size`;
    if (!existsSync(f)) continue;
    const m = /^(\d+)([KMG]?)/.exec(readFileSync(f, 'utf8').trim());
    if (m) return Number(m[1]) * ({ '': 1, K: 1024, M: 1 << 20, G: 1 << 30 } as Record<string, number>)[m[2]];
  }
  return 32 << 20;
}

/** W copies per cold run: more bytes than twice the last-level cache (at least 2). */
const coldCopies = (bytes: number) => Math.max(2, Math.ceil((2 * llcBytes()) / bytes));

function benchGemmQ8(T: number, K: number, N: number, cache: 'warm' | 'cold'): Row {
  const m = arena.mark();
  const x = arena.alloc(T * K * 4), xq = arena.alloc(T * K * 2), xs = arena.alloc(T * 4);
  const copies = cache === 'cold' ? coldCopies(N * K) : 1;
  const Ws = Array.from({ length: copies }, () => arena.alloc(N * K));
  const ws = arena.alloc(N * 4), scratch = arena.alloc(gemmQ8ScratchBytes(K));
  const y1 = arena.alloc(T * N * 4), y2 = arena.alloc(T * N * 4);
  fillF32(x, T * K, 1);
  fillF32(ws, N, 2, 0.01);
  const r = rng(3);
  const w = arena.i8(Ws[0], N * K);
  for (let i = 0; i < N * K; i++) w[i] = Math.floor(r() * 255) - 127;
  wasm.pack_q8(Ws[0], N, K, scratch); // once, as at model load: not part of the timings
  for (const W of Ws.slice(1)) arena.u8(W, N * K).set(arena.u8(Ws[0], N * K));
  wasm.quantize_rows_i16(x, xq, xs, T, K);
  wasm.gemm_q8(xq, xs, Ws[0], ws, y1, T, K, N, 0, scratch);
  wasm.gemm_q8_scalar(xq, xs, Ws[0], ws, y2, T, K, N, 0, scratch);
  compare(`gemm_q8 ${T}x${K}x${N}`, arena.f32(y1, T * N), arena.f32(y2, T * N), () => 0); // bit-identical by contract
  let c = 0;
  const out = row('gemm_q8', `${T}x${K}x${N}`, 'GOPS', 2 * T * K * N,
    () => { wasm.quantize_rows_i16(x, xq, xs, T, K); wasm.gemm_q8(xq, xs, Ws[c++ % copies], ws, y1, T, K, N, 0, scratch); },
    () => { wasm.quantize_rows_i16_scalar(x, xq, xs, T, K); wasm.gemm_q8_scalar(xq, xs, Ws[0], ws, y2, T, K, N, 0, scratch); },
    cache === 'cold' ? `cold (${copies} copies of W)` : 'warm');
  arena.reset(m);
  return out;
}

/** gemm_q7 as the relaxed build's models run it: int8 + O int16 channels (O = 0 for wo, whose input has none). */
function benchGemmQ7(k: KernelExports, a: Arena, T: number, K: number, N: number, O: number, cache: 'warm' | 'cold'): Row {
  const m = a.mark();
  const x = a.alloc(T * K * 4), xq = a.alloc(T * K), xo = a.alloc(T * Math.max(O, 1) * 2), xm = a.alloc(T * RELAXED_XM_BYTES);
  const keep = a.alloc(K * 4), oidx = a.alloc(Math.max(O, 1) * 4);
  const copies = cache === 'cold' ? coldCopies(N * K) : 1;
  const Ws = Array.from({ length: copies }, () => a.alloc(N * K));
  const Wo = a.alloc(Math.max(1, N * O)), ws = a.alloc(N * 4), scratch = a.alloc(gemmQ8ScratchBytes(K));
  const y1 = a.alloc(T * N * 4), y2 = a.alloc(T * N * 4);
  fillF32(x, T * K, 1, 1, a);
  fillF32(ws, N, 2, 0.01, a);
  const kv = a.i32(keep, K).fill(-1), ov = a.i32(oidx, Math.max(O, 1));
  for (let j = 0; j < O; j++) { ov[j] = (j * 61 + 7) % K; kv[ov[j]] = 0; }
  const r = rng(3);
  const w = a.i8(Ws[0], N * K);
  for (let i = 0; i < N * K; i++) w[i] = Math.floor(r() * 255) - 127;
  k.requant_q7!(Ws[0], ws, N, K);
  const wo = a.i8(Wo, N * O);
  for (let n = 0; n < N; n++) for (let j = 0; j < O; j++) wo[n * O + j] = a.u8(Ws[0], N * K)[n * K + ov[j]] - 64;
  k.pack_q7!(Ws[0], N, K, scratch);
  if (O > 0) k.pack_q8(Wo, N, O, scratch);
  for (const W of Ws.slice(1)) a.u8(W, N * K).set(a.u8(Ws[0], N * K));
  const keepPtr = O > 0 ? keep : 0;
  k.quantize_rows_i8!(x, xq, xo, xm, T, K, keepPtr, oidx, O);
  k.gemm_q7!(xq, xo, xm, Ws[0], Wo, ws, y1, T, K, N, O, 0);
  k.gemm_q7_scalar!(xq, xo, xm, Ws[0], Wo, ws, y2, T, K, N, O, 0);
  compare(`gemm_q7 ${T}x${K}x${N} O=${O}`, a.f32(y1, T * N), a.f32(y2, T * N), () => 0);
  let c = 0;
  const out = row('gemm_q7', `${T}x${K}x${N}${O > 0 ? ` +${O} int16 ch` : ''}`, 'GOPS', 2 * T * K * N,
    () => { k.quantize_rows_i8!(x, xq, xo, xm, T, K, keepPtr, oidx, O); k.gemm_q7!(xq, xo, xm, Ws[c++ % copies], Wo, ws, y1, T, K, N, O, 0); },
    () => { k.quantize_rows_i8_scalar!(x, xq, xo, xm, T, K, keepPtr, oidx, O); k.gemm_q7_scalar!(xq, xo, xm, Ws[0], Wo, ws, y2, T, K, N, O, 0); },
    cache === 'cold' ? `cold (${copies} copies of W)` : 'warm', 'relaxed');
  a.reset(m);
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
// the base / large matmul shapes of issue 16's targets: 128 tokens, K x N = 1024 x 4096 (q, k, v,
// wi: inputs with int16 channels in gemm_q7) and 4096 x 1024 (wo: none)
const SHAPES: Array<[number, number, number, number]> = [[128, 1024, 4096, OUTLIERS], [128, 4096, 1024, 0]];
for (const cache of ['warm', 'cold'] as const) {
  console.log(`gemm_q8 (int16 activations x int8 weights, quantize_rows_i16 included), ${cache}:`);
  for (const [T, K, N] of SHAPES) rows.push(benchGemmQ8(T, K, N, cache));
  if (relaxed && relaxedArena) {
    console.log(`gemm_q7 (relaxed build: int8 activations x 7-bit weights, quantize_rows_i8 included), ${cache}:`);
    for (const [T, K, N, O] of SHAPES) rows.push(benchGemmQ7(relaxed, relaxedArena, T, K, N, O, cache));
  }
}
console.log('gemm_f32:');
rows.push(benchGemmF32(128, 1024, 4096), benchGemmF32(128, 4096, 1024));
console.log('attention (4 H T^2 Dk flops):');
rows.push(benchAttention(128, 16, 64), benchAttention(512, 16, 64));

const flags = cpuFlags();
const env = {
  date: new Date().toISOString(),
  cpu: flags.model,
  cpuFlags: { avx_vnni: flags.avxVnni, avx512_vnni: flags.avx512Vnni, fma: flags.fma },
  cores: cpus().length,
  node: process.version,
  v8: process.versions.v8,
  relaxedSimd: relaxedSimdStatus(),
  llcBytes: llcBytes(),
  quick: QUICK,
  seconds: Math.round((Date.now() - started) / 1000),
};

const rate = (r: Row, ms: number) => (r.ops / ms / 1e6).toFixed(2);
const header = '| kernel | build | T x K x N / shape | cache | SIMD ms | SIMD rate | scalar ms | scalar rate | SIMD / scalar |';
const lines = rows.map((r) =>
  `| ${r.kernel} | ${r.build} | ${r.shape} | ${r.cache} | ${r.simd_ms.toFixed(2)} ±${r.simd_rme.toFixed(1)}% | ${rate(r, r.simd_ms)} ${r.unit} | ${r.scalar_ms.toFixed(1)} ±${r.scalar_rme.toFixed(1)}% | ${rate(r, r.scalar_ms)} ${r.unit} | ${r.speedup.toFixed(1)}x |`);
const table = [header, '|---|---|---|---|---|---|---|---|---|', ...lines].join('\n');
// relaxed / simd128 per shape and cache (issue 16: >= 1.4x at both shapes, quantization included)
const ratios = rows.filter((r) => r.kernel === 'gemm_q7').map((r) => {
  const q8 = rows.find((o) => o.kernel === 'gemm_q8' && r.shape.startsWith(o.shape) && o.cache === r.cache)!;
  return `| ${q8.shape} | ${r.cache} | ${(q8.simd_ms / r.simd_ms).toFixed(2)}x |`;
});
const ratioTable = ratios.length > 0
  ? ['| T x K x N | cache | gemm_q7 (relaxed) / gemm_q8 (simd128) |', '|---|---|---|', ...ratios].join('\n')
  : `(no relaxed rows: this runtime's relaxed SIMD is ${env.relaxedSimd})`;
console.log(`\n${table}\n`);

const md = `# Kernel benchmarks

${env.date} · ${env.cpu} (${env.cores} logical cores; avx_vnni ${flags.avxVnni ? 'yes' : 'no'}, avx512_vnni ${flags.avx512Vnni ? 'yes' : 'no'}) · Node ${env.node} · V8 ${env.v8} · relaxed SIMD ${env.relaxedSimd} · ${env.seconds} s${QUICK ? ' · QUICK run (short timings)' : ''}

gemm_q8 and gemm_q7 count 2·T·K·N integer ops (GOPS) and include the activations' quantization
(quantize_rows_i16 / quantize_rows_i8, as linear() runs them); gemm_f32 2·T·K·N flops, attention
4·H·T²·Dk flops (QKᵀ and P·V). **cache**: warm = the same W every call (it stays in L2 / L3);
cold = calls round-robin over copies of W, more bytes than twice the last-level cache
(${(env.llcBytes / 1048576).toFixed(0)} MiB), so W comes from DRAM as in a forward pass. gemm_q7 runs
as the models do: +32 int16 channels at K = d_model (q, k, v, wi), none for wo. SIMD and scalar
twins ran in the same process on the same inputs, after a check that they agree. Times are
benchmark.js means with their relative margin of error; the machine is shared, so expect noise.
Without avx_vnni V8 lowers the relaxed dot product to vpmaddubsw + vpmaddwd + vpaddd, not vpdpbusd.

${table}

${ratioTable}
`;

const dir = new URL('../../bench/results/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('kernels.json', dir), JSON.stringify({ ...env, rows }, null, 2) + '\n');
writeFileSync(new URL('kernels.md', dir), md);
console.log(`wrote bench/results/kernels.json and kernels.md (${env.seconds} s)`);
