// The simd128 kernels' results under one V8 setting, run in a child process by
// test/kernels-revec.test.ts with and without --experimental-wasm-revectorize (V8's 128 -> 256-bit
// revectorizer, which rewrites whichever kernels it can pair up, not only gemm_q8): every kernel
// on fixed inputs (the exact ones also against their scalar twins here), then base-shaped synth
// models end to end on 1 and 2 threads. Prints one line `RESULT {...}` with the failures and a
// SHA-256 over every output, so the parent can check that every setting gave the same bits.
//   node [flags] dist/test/revec/check.js
// The parent runs it with --no-liftoff --no-wasm-lazy-compilation, so that every function is
// compiled by the optimizing tier (where the revectorizer runs) before the first call.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Arena } from '../../src/engine/arena.js';
import { SYNTH_CONFIGS, toHfConfig } from '../../src/engine/config.js';
import { InstructorModel } from '../../src/format/model-loading.js';
import { tuning } from '../../src/engine/threads/parallel-kernels.js';
import { attentionScratchFloats, gemmQ8ScratchBytes, type KernelExports } from '../../src/engine/wasm.js';
import { synthModel } from '../../src/format/synth.js';
import { encodeWeightsFile } from '../../src/format/weights-file.js';
import { KERNELS_MT_WASM_URL, KERNELS_WASM_URL } from '../../src/io/disk.js';
import { rng, tokenSequence } from '../support/random.js';

const failures: string[] = [];
const digest = createHash('sha256');
const fail = (m: string) => { if (failures.length < 50) failures.push(m); };
const record = (a: ArrayBufferView) => digest.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
function same(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) { fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`); return; }
  }
}

const bytes = new Uint8Array(readFileSync(KERNELS_WASM_URL));
const k = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as KernelExports;
// compiled synchronously: an asynchronous compile pending under --no-liftoff --no-wasm-lazy-compilation
// does not keep Node 24's event loop alive (the process exits with an unsettled top-level await)
const mtModule = new WebAssembly.Module(new Uint8Array(readFileSync(KERNELS_MT_WASM_URL)));
const a = new Arena(k);
const f32 = (n: number, seed: number, scale = 1) => {
  const p = a.alloc(n * 4), r = rng(seed), v = a.f32(p, n);
  for (let i = 0; i < n; i++) v[i] = (r() * 2 - 1) * scale * (i % 61 === 0 ? 40 : 1);
  return p;
};

// ---------------------------------------------------------------- gemm_q8 (and its quantizer, pack_q8)
// T: direct tiles and tails (1..7, 16..19), the panel over packed token groups and its tails
// (32..35, 67), two token blocks (70 at K = 4112); N: tail rows only, groups with and without a
// 16-row pair, tail rows after groups; K: one k block, three (base's d_model), several.
// Full-range codes, -32768 and -128 included; accumulate 0 and 1; with and without scratch.
for (const K of [16, 768, 4112]) {
  for (const T of [1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 32, 33, 34, 35, 67, 70]) {
    if (K === 4112 && T < 67 && T % 2 === 0) continue; // keeps the run short; every tile still at K = 4112
    for (const N of [5, 8, 13, 24, 35]) {
      const m = a.mark();
      const r = rng(T * 7919 + N * 104729 + K);
      const xq = a.alloc(T * K * 2), xs = a.alloc(T * 4), W = a.alloc(N * K), ws = a.alloc(N * 4);
      const y0 = a.alloc(T * N * 4), y = a.alloc(T * N * 4), y2 = a.alloc(T * N * 4), scratch = a.alloc(gemmQ8ScratchBytes(K));
      const q = a.i16(xq, T * K);
      for (let i = 0; i < q.length; i++) q[i] = Math.floor(r() * 65536) - 32768;
      const w = a.i8(W, N * K);
      for (let i = 0; i < w.length; i++) w[i] = Math.floor(r() * 256) - 128;
      const xsv = a.f32(xs, T), wsv = a.f32(ws, N), yv = a.f32(y0, T * N);
      for (let i = 0; i < T; i++) xsv[i] = r() * 1e-3;
      for (let i = 0; i < N; i++) wsv[i] = r() * 1e-2;
      for (let i = 0; i < T * N; i++) yv[i] = r() * 2 - 1;
      k.pack_q8(W, N, K, scratch);
      for (const acc of [0, 1]) {
        for (const withScratch of [1, 0]) {
          a.f32(y, T * N).set(a.f32(y0, T * N));
          a.f32(y2, T * N).set(a.f32(y0, T * N));
          k.gemm_q8(xq, xs, W, ws, y, T, K, N, acc, withScratch ? scratch : 0);
          k.gemm_q8_scalar(xq, xs, W, ws, y2, T, K, N, acc, 0);
          same(`gemm_q8 T=${T} K=${K} N=${N} acc=${acc} scratch=${withScratch} vs scalar`, a.f32(y, T * N), a.f32(y2, T * N));
          record(a.f32(y, T * N));
        }
      }
      a.reset(m);
    }
  }
}
{
  const m = a.mark();
  const T = 37, K = 768;
  const x = f32(T * K, 5, 3), xq = a.alloc(T * K * 2), xs = a.alloc(T * 4), xq2 = a.alloc(T * K * 2), xs2 = a.alloc(T * 4);
  k.quantize_rows_i16(x, xq, xs, T, K);
  k.quantize_rows_i16_scalar(x, xq2, xs2, T, K);
  same('quantize_rows_i16 codes', a.i16(xq, T * K), a.i16(xq2, T * K));
  same('quantize_rows_i16 scales', a.f32(xs, T), a.f32(xs2, T));
  record(a.i16(xq, T * K)); record(a.f32(xs, T));
  const N = 40, W = a.alloc(N * K), scratch = a.alloc(gemmQ8ScratchBytes(K));
  const w = a.i8(W, N * K), r = rng(9);
  for (let i = 0; i < w.length; i++) w[i] = Math.floor(r() * 256) - 128;
  const orig = w.slice();
  k.pack_q8(W, N, K, scratch);
  record(a.i8(W, N * K));
  k.unpack_q8(W, N, K, scratch);
  same('unpack_q8(pack_q8(W))', a.i8(W, N * K), orig);
  a.reset(m);
}

// ---------------------------------------------------------------- the float kernels (their own bits)
// gemm_f32, attention, rmsnorm, relu, gelu and gemm_q4 round in f32 in a fixed order: a fused
// build must reproduce the plain build's bits, which the parent compares through the digest.
{
  const m = a.mark();
  for (const [T, K, N] of [[5, 64, 24], [37, 768, 40]]) {
    const x = f32(T * K, T + K), W = f32(N * K, N + K), y = f32(T * N, 3);
    k.gemm_f32(x, W, y, T, K, N, 1);
    record(a.f32(y, T * N));
  }
  for (const [T, H, Dk] of [[1, 2, 8], [7, 3, 16], [37, 12, 64], [130, 4, 64]]) {
    const ld = H * Dk;
    const q = f32(T * ld, T * 3 + 1, 0.5), kk = f32(T * ld, T * 3 + 2, 0.5), v = f32(T * ld, T * 3 + 3);
    const out = a.alloc(T * ld * 4), bias = f32(H * (2 * T - 1), T, 3), scratch = a.alloc(attentionScratchFloats(T, Dk) * 4);
    k.attention(q, kk, v, out, T, H, Dk, ld, bias, scratch);
    record(a.f32(out, T * ld));
  }
  for (const [T, D] of [[3, 8], [37, 768], [5, 1030]]) {
    const x = f32(T * D, D + T), w = f32(D, D), y = a.alloc(T * D * 4);
    k.rmsnorm(x, w, y, T, D, 1e-6);
    record(a.f32(y, T * D));
  }
  for (const n of [1, 37, 4099]) {
    const x = f32(n, n);
    k.relu_inplace(x, n);
    record(a.f32(x, n));
    const g = f32(n, n + 1, 6), u = f32(n, n + 2);
    k.gelu_tanh_mul(g, u, n);
    record(a.f32(g, n));
  }
  for (const [T, K, N, G] of [[5, 64, 13, 32], [37, 768, 24, 64]]) {
    const xq = a.alloc(T * K * 2), xs = f32(T, T, 1e-3), W = a.alloc(N * K / 2), ws = f32(N * K / G, N, 1e-2), y = f32(T * N, 4);
    const q = a.i16(xq, T * K), r = rng(T + K);
    for (let i = 0; i < q.length; i++) q[i] = Math.floor(r() * 65536) - 32768;
    const w = a.u8(W, N * K / 2);
    for (let i = 0; i < w.length; i++) w[i] = Math.floor(r() * 256);
    k.gemm_q4(xq, xs, W, ws, y, T, K, N, G, 1);
    record(a.f32(y, T * N));
  }
  a.reset(m);
}

// ---------------------------------------------------------------- models end to end
// base's widths (d_model 768, 12 heads, d_ff 3072) in 2 layers, relu and gated-gelu; lengths from
// 1 to 128, all in one forward pass (the panel path) and each alone (the direct tiles)
const MID = { ...SYNTH_CONFIGS.base, numLayers: 2, denseOut: 64 };
const models: Record<string, string> = {};
const saved = { ...tuning };
for (const [name, c] of [['mid', MID], ['mid-gated', { ...MID, ffn: 'gated-gelu' as const }]] as const) {
  try {
    const file = encodeWeightsFile(
      { config: toHfConfig(c), model: { dense_out: c.denseOut, max_seq_length: 512, synth: 'synth-v1', name }, dtype: 'int8' },
      synthModel(c, c.denseOut),
    );
    const inputs = [1, 5, 16, 37, 128].map((T, i) => ({ ids: tokenSequence(T, 21 + i), nInstr: Math.min(2, T - 1) }));
    for (const threads of [1, 2]) {
      // small thresholds on 2 threads: every cut of the threads wrapper runs (column blocks for the short inputs)
      if (threads > 1) Object.assign(tuning, { gemmMinMacs: 1 << 12, minElements: 1 << 8, chunkElements: 1 << 8 });
      const model = await InstructorModel.fromWeightsFile(file, { kernels: bytes, threads, threadKernels: threads > 1 ? mtModule : undefined });
      const one = model.embedIds(inputs).embeddings;
      const each = inputs.map((inp) => model.embedIds([inp]).embeddings[0]);
      model.dispose();
      Object.assign(tuning, saved);
      for (let i = 0; i < one.length; i++) same(`${name} threads=${threads} input ${i}: batched vs alone`, one[i], each[i]);
      const h = createHash('sha256');
      for (const e of one) h.update(new Uint8Array(e.buffer, e.byteOffset, e.byteLength));
      const d = h.digest('hex');
      if (threads === 1) models[name] = d;
      else if (d !== models[name]) fail(`${name}: 2 threads gave other bits than 1 thread`);
    }
    digest.update(models[name]);
  } catch (e) {
    fail(`${name}: ${(e as Error).stack ?? e}`);
  }
}

console.log('RESULT ' + JSON.stringify({ version: process.version, execArgv: process.execArgv, failures, digest: digest.digest('hex'), models }));
