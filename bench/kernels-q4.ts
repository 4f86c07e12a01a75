// gemm_q4 (int16 activations x 4-bit weights in groups of 32) against gemm_q8 (int8 per-row
// weights) on the same activations and shapes, and against its scalar twin (checked to agree first).
// Run: npx asc ... && npx tsc -p tsconfig.json && node dist/bench/kernels-q4.js
import Benchmark from 'benchmark';
import { cpus } from 'node:os';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { Arena } from '../src/engine/arena.js';
import { quantizeGroupsQ4 } from '../src/engine/quantize.js';
import { gemmQ8ScratchBytes } from '../src/engine/wasm.js';
import { rng } from '../test/support/random.js';

const wasm = await loadKernelsFromDisk();
const arena = new Arena(wasm);
const G = 32;

function time(fn: () => void, opts: Benchmark.Options): { ms: number; rme: number } {
  for (let i = 0; i < 5; i++) fn(); // past V8's baseline tier
  const b = new Benchmark(fn, opts);
  b.run();
  if (b.error) throw b.error;
  return { ms: b.stats.mean * 1e3, rme: b.stats.rme };
}

function bench(T: number, K: number, N: number): void {
  const m = arena.mark();
  const r = rng(T + K + N);
  const x = arena.alloc(T * K * 4), xq = arena.alloc(T * K * 2), xs = arena.alloc(T * 4);
  const xa = arena.f32(x, T * K);
  for (let i = 0; i < T * K; i++) xa[i] = r() * 2 - 1;
  wasm.quantize_rows_i16(x, xq, xs, T, K);
  const w = Float32Array.from({ length: N * K }, () => (r() * 2 - 1) * 0.05);
  const { q, scales } = quantizeGroupsQ4(w, N, K, G);
  const W4 = arena.alloc(q.length), ws4 = arena.alloc(scales.length * 4);
  arena.u8(W4, q.length).set(q);
  arena.f32(ws4, scales.length).set(scales);
  const W8 = arena.alloc(N * K), ws8 = arena.alloc(N * 4);
  const w8 = arena.i8(W8, N * K);
  for (let i = 0; i < N * K; i++) w8[i] = Math.floor(r() * 255) - 127;
  arena.f32(ws8, N).fill(0.001);
  const scratch = arena.alloc(gemmQ8ScratchBytes(K));
  wasm.pack_q8(W8, N, K, scratch); // the int8 layout the model uses (packed once at load)
  const y1 = arena.alloc(T * N * 4), y2 = arena.alloc(T * N * 4);
  wasm.gemm_q4(xq, xs, W4, ws4, y1, T, K, N, G, 0);
  wasm.gemm_q4_scalar(xq, xs, W4, ws4, y2, T, K, N, G, 0);
  const a = arena.f32(y1, T * N), b = arena.f32(y2, T * N);
  for (let i = 0; i < T * N; i++) if (!Object.is(a[i], b[i])) throw new Error(`gemm_q4 SIMD and scalar differ at ${i}`);
  const ops = 2 * T * K * N;
  const q4 = time(() => wasm.gemm_q4(xq, xs, W4, ws4, y1, T, K, N, G, 0), { minSamples: 5, maxTime: 3 });
  const q8 = time(() => wasm.gemm_q8(xq, xs, W8, ws8, y1, T, K, N, 0, scratch), { minSamples: 5, maxTime: 3 });
  const sc = time(() => wasm.gemm_q4_scalar(xq, xs, W4, ws4, y2, T, K, N, G, 0), { minSamples: 2, maxTime: 0.5, initCount: 1 });
  const rate = (ms: number) => (ops / ms / 1e6).toFixed(2);
  console.log(`| ${T}x${K}x${N} | ${q4.ms.toFixed(2)} ±${q4.rme.toFixed(1)}% (${rate(q4.ms)} GOPS) | ${q8.ms.toFixed(2)} ±${q8.rme.toFixed(1)}% (${rate(q8.ms)} GOPS) | ${(q4.ms / q8.ms).toFixed(2)} | ${sc.ms.toFixed(1)} (x${(sc.ms / q4.ms).toFixed(1)}) |`);
  arena.reset(m);
}

console.log(`${new Date().toISOString()} · ${cpus()[0]?.model ?? 'unknown'} · Node ${process.version}\n`);
console.log('| T x K x N | gemm_q4 ms | gemm_q8 ms | q4 / q8 time | gemm_q4_scalar ms (SIMD speedup) |');
console.log('|---|---|---|---|---|');
bench(128, 1024, 4096);
bench(128, 4096, 1024);
bench(1, 1024, 4096);
