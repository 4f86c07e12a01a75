// The relaxed build's kernel checks, run in a child process by test/kernels-relaxed.test.ts under
// each V8 lowering of relaxed SIMD (Node 24 with VNNI where the CPU has it, without it, without
// AVX; Node 20 with its flag; Node 22, 26): every SIMD kernel of gemm_q7.ts against its scalar
// twin and both against an exact JavaScript computation, then small synth models end to end. Prints one line `RESULT {...}` with the failures and a SHA-256 over every output, so
// the parent can check that all lowerings gave the same bits.
//   node [flags] dist/test/relaxed/check.js [--models tiny,base]
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SYNTH_CONFIGS, toHfConfig } from '../../src/engine/config.js';
import { InstructorModel } from '../../src/format/model-loading.js';
import { relaxedSimdStatus, usdotStatus } from '../../src/engine/wasm.js';
import { tuning } from '../../src/engine/threads/parallel-kernels.js';
import { synthModel } from '../../src/format/synth.js';
import { encodeWeightsFile } from '../../src/format/weights-file.js';
import { KERNELS_RELAXED_MT_WASM_URL, KERNELS_RELAXED_WASM_URL } from '../../src/io/disk.js';
import { data, rng, roundHalfEven, tokenSequence } from '../support/random.js';

interface RelaxedExports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  quantize_rows_i8(x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number): void;
  quantize_rows_i8_scalar(x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number): void;
  requant_q7(W: number, ws: number, N: number, K: number): void;
  requant_q7_scalar(W: number, ws: number, N: number, K: number): void;
  pack_q7(W: number, N: number, K: number, scratch: number): void;
  outlier_codes_q7(W: number, N: number, K: number, oidx: number, O: number, Wo: number): void;
  pack_q8(W: number, N: number, K: number, scratch: number): void;
  gemm_q7(xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, y: number, T: number, K: number, N: number, O: number, accumulate: number): void;
  gemm_q7_scalar(xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, y: number, T: number, K: number, N: number, O: number, accumulate: number): void;
  gemm_f32(x: number, W: number, y: number, T: number, K: number, N: number, accumulate: number): void;
  gemm_f32_scalar(x: number, W: number, y: number, T: number, K: number, N: number, accumulate: number): void;
  quantize_rows_u8(x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number): void;
  quantize_rows_u8_scalar(x: number, xq: number, xo: number, xm: number, T: number, K: number, keep: number, oidx: number, O: number): void;
  row_sums_i8(W: number, N: number, K: number, out: number): void;
  row_sums_i8_scalar(W: number, N: number, K: number, out: number): void;
  gemm_usdot(xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, wsum: number, y: number, T: number, K: number, N: number, O: number, accumulate: number): void;
  gemm_usdot_scalar(xq: number, xo: number, xm: number, W: number, Wo: number, ws: number, wsum: number, y: number, T: number, K: number, N: number, O: number, accumulate: number): void;
}

/** f32 unit roundoff; gemm_f32's bound as in test/kernels.test.ts: (K + 4) U sum |x w| against float64. */
const U = 2 ** -24;
const GEMM_F32_EXTRA_ROUNDINGS = 4;

const failures: string[] = [];
const digest = createHash('sha256');
const fail = (m: string) => { if (failures.length < 50) failures.push(m); };

const bytes = readFileSync(KERNELS_RELAXED_WASM_URL) as Uint8Array<ArrayBuffer>;
// compiled synchronously: an asynchronous compile pending under --no-liftoff --no-wasm-lazy-compilation
// (the revectorizer's lowering below) does not keep Node 24's event loop alive
const mtModule = new WebAssembly.Module(readFileSync(KERNELS_RELAXED_MT_WASM_URL) as Uint8Array<ArrayBuffer>);
const k = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as RelaxedExports;
let top = Math.ceil(k.heap_base() / 64) * 64;
function alloc(n: number): number {
  const p = top;
  top = Math.ceil((top + n + 64) / 64) * 64;
  const have = k.memory.buffer.byteLength;
  if (top > have) k.memory.grow(Math.ceil((top - have) / 65536));
  return p;
}
const mark = () => top;
const reset = (m: number) => { top = m; };
const f32 = (p: number, n: number) => new Float32Array(k.memory.buffer, p, n);
const i32 = (p: number, n: number) => new Int32Array(k.memory.buffer, p, n);
const i16 = (p: number, n: number) => new Int16Array(k.memory.buffer, p, n);
const i8 = (p: number, n: number) => new Int8Array(k.memory.buffer, p, n);
const u8 = (p: number, n: number) => new Uint8Array(k.memory.buffer, p, n);
const F = Math.fround;

function same(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) { fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`); return; }
  }
}
function record(a: ArrayBufferView): void {
  digest.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** trunc_sat(nearest(v)) saturated to [lo, hi], NaN -> 0: what the kernels' conversions do. */
function code(v: number, lo: number, hi: number): number {
  if (Number.isNaN(v)) return 0;
  return Math.min(hi, Math.max(lo, roundHalfEven(v)));
}

// ---------------------------------------------------------------- quantize_rows_i8

/** The reference quantization of one row (quantize_rows_i8's contract, in float32 steps). */
function quantRef(x: Float32Array, keep: boolean[] | null, oidx: number[]): { q: Int8Array; o: Int16Array; s: number; sum: number; so: number } {
  const K = x.length;
  const bitsOf = new Int32Array(x.buffer, x.byteOffset, K);
  let mb = 0;
  for (let k = 0; k < K; k++) if (!keep || keep[k]) mb = Math.max(mb, bitsOf[k] & 0x7fffffff);
  const m = new Float32Array(new Int32Array([mb]).buffer)[0];
  const inv = m === 0 ? 0 : F(127 / m);
  const q = new Int8Array(K);
  let sum = 0;
  for (let k = 0; k < K; k++) { q[k] = !keep || keep[k] ? code(F(x[k] * inv), -128, 127) : 0; sum += q[k]; }
  let mo = 0;
  for (const c of oidx) if (c >= 0) mo = Math.max(mo, Math.abs(x[c]));
  const invo = mo === 0 ? 0 : F(32767 / mo);
  const o = Int16Array.from(oidx, (c) => (c >= 0 ? code(F(x[c] * invo), -32768, 32767) : 0));
  return { q, o, s: m === 0 ? 0 : F(m / 127), sum, so: mo === 0 ? 0 : F(mo / 32767) };
}

function checkQuantize(T: number, K: number, O: number, withKeep: boolean, x: Float32Array, tag: string): void {
  const m0 = mark();
  const r = rng(K * 31 + O);
  const oidx: number[] = [];
  const keep = withKeep ? new Array<boolean>(K).fill(true) : null;
  for (let j = 0; j < O; j++) {
    // the last slot is padding (-1) when O > 8, else a channel
    const c = j === O - 1 && O > 8 ? -1 : Math.floor(r() * K);
    oidx.push(c);
    if (keep && c >= 0) keep[c] = false;
  }
  const px = alloc(T * K * 4);
  f32(px, T * K).set(x);
  const pk = withKeep ? alloc(K * 4) : 0;
  if (keep) i32(pk, K).set(keep.map((b) => (b ? -1 : 0)));
  const po = alloc(Math.max(1, O) * 4);
  i32(po, O).set(oidx);
  const outs = [k.quantize_rows_i8, k.quantize_rows_i8_scalar].map((f) => {
    const q = alloc(T * K), o = alloc(T * O * 2 + 2), xm = alloc(T * 16);
    f(px, q, o, xm, T, K, pk, po, O);
    return { q: i8(q, T * K).slice(), o: i16(o, T * O).slice(), xm: new Uint8Array(u8(xm, T * 16)) };
  });
  same(`${tag} xq simd vs scalar`, outs[0].q, outs[1].q);
  same(`${tag} xo simd vs scalar`, outs[0].o, outs[1].o);
  same(`${tag} xm simd vs scalar`, outs[0].xm, outs[1].xm);
  const xmF = new Float32Array(outs[1].xm.buffer), xmI = new Int32Array(outs[1].xm.buffer);
  for (let t = 0; t < T; t++) {
    const ref = quantRef(x.subarray(t * K, t * K + K), keep, oidx);
    same(`${tag} row ${t} xq vs reference`, outs[1].q.subarray(t * K, t * K + K), ref.q);
    same(`${tag} row ${t} xo vs reference`, outs[1].o.subarray(t * O, t * O + O), ref.o);
    same(`${tag} row ${t} meta vs reference`, [xmF[t * 4], xmI[t * 4 + 1], xmF[t * 4 + 2], xmI[t * 4 + 3]], [ref.s, ref.sum, ref.so, 0]);
  }
  record(outs[0].q); record(outs[0].o); record(outs[0].xm);
  reset(m0);
}

for (const T of [1, 3, 5]) {
  for (const K of [16, 48, 784]) {
    for (const O of [0, 8, 16]) {
      for (const withKeep of [false, true]) {
        const x = data(T * K, T * 100 + K + O);
        if (T > 1) x.fill(0, K, 2 * K); // an all-zero row
        checkQuantize(T, K, O, withKeep, x, `quantize_rows_i8 T=${T} K=${K} O=${O} keep=${withKeep}`);
      }
    }
  }
}
{
  // NaN, +-Inf, -0 and subnormal rows: SIMD == scalar == the reference's integer-max rule
  const K = 32, rows = [
    Array.from({ length: K }, (_, i) => (i === 5 ? NaN : i - 16)),
    Array.from({ length: K }, (_, i) => (i === 9 ? Infinity : i === 3 ? -Infinity : 1)),
    Array.from({ length: K }, () => -0),
    Array.from({ length: K }, (_, i) => (i % 2 ? 1e-45 : -1e-45)),
  ];
  checkQuantize(rows.length, K, 8, true, Float32Array.from(rows.flat()), 'quantize_rows_i8 NaN/Inf/-0/subnormal rows');
}

// ---------------------------------------------------------------- requant_q7

for (const [N, K] of [[1, 1], [3, 5], [9, 48], [17, 784]]) {
  const m0 = mark();
  const r = rng(N * K);
  const w = Int8Array.from({ length: N * K }, (_, i) => (i === 0 ? -128 : i === 1 ? 127 : i === 2 ? -127 : Math.floor(r() * 256) - 128));
  const s = Float32Array.from({ length: N }, () => r() * 0.01);
  const outs = [k.requant_q7, k.requant_q7_scalar].map((f) => {
    const pw = alloc(N * K), ps = alloc(N * 4);
    i8(pw, N * K).set(w);
    f32(ps, N).set(s);
    f(pw, ps, N, K);
    return { w: u8(pw, N * K).slice(), s: f32(ps, N).slice() };
  });
  const tag = `requant_q7 N=${N} K=${K}`;
  same(`${tag} codes simd vs scalar`, outs[0].w, outs[1].w);
  same(`${tag} scales simd vs scalar`, outs[0].s, outs[1].s);
  same(`${tag} codes vs reference`, outs[1].w, Uint8Array.from(w, (v) => roundHalfEven(F(v * F(F(63) / F(127)))) + 64));
  same(`${tag} scales vs reference`, outs[1].s, Float32Array.from(s, (v) => F(v * F(F(127) / F(63)))));
  for (const c of outs[1].w) if (c > 127) { fail(`${tag}: code ${c} outside [0, 127]`); break; }
  record(outs[0].w);
  reset(m0);
}

// ---------------------------------------------------------------- pack_q7

const q7At = (n: number, kk: number, K: number, N: number) =>
  n >= (N & ~7) ? n * K + kk : (n & ~7) * K + (kk >> 2) * 32 + (n & 7) * 4 + (kk & 3);
for (const [N, K] of [[1, 16], [8, 16], [9, 48], [23, 64]]) {
  const m0 = mark();
  const pw = alloc(N * K), sc = alloc(8 * K + 64);
  const src = Uint8Array.from({ length: N * K }, (_, i) => (i * 7 + (i >> 8)) & 127);
  u8(pw, N * K).set(src);
  u8(sc + 8 * K, 64).fill(0xa5); // the scratch must stay within 8*K bytes
  k.pack_q7(pw, N, K, sc);
  const got = u8(pw, N * K);
  const want = new Uint8Array(N * K);
  for (let n = 0; n < N; n++) for (let kk = 0; kk < K; kk++) want[q7At(n, kk, K, N)] = src[n * K + kk];
  same(`pack_q7 N=${N} K=${K} layout`, got, want);
  if (!u8(sc + 8 * K, 64).every((b) => b === 0xa5)) fail(`pack_q7 N=${N} K=${K}: wrote past its 8*K scratch`);
  // outlier_codes_q7 reads the packed codes back: Wo[n, j] = W[n, channels[j]] - 64, row-major
  const channels = [K - 1, 0, 5, 3];
  const oidx = alloc(4 * channels.length), Wo = alloc(N * channels.length);
  i32(oidx, channels.length).set(channels);
  k.outlier_codes_q7(pw, N, K, oidx, channels.length, Wo);
  const wantWo = Uint8Array.from({ length: N * channels.length }, (_, i) => (src[Math.floor(i / channels.length) * K + channels[i % channels.length]] - 64) & 255);
  same(`outlier_codes_q7 N=${N} K=${K}`, u8(Wo, N * channels.length), wantWo);
  reset(m0);
}

// ---------------------------------------------------------------- gemm_q7

/** y of gemm_q7's contract from the integer sums, in its float32 order. */
function gemmRef(q: Int8Array, o: Int16Array, xm: Uint8Array, Wrm: Uint8Array, Wo: Int8Array, ws: Float32Array, y0: Float32Array, T: number, K: number, N: number, O: number, acc: boolean): Float32Array {
  const xmF = new Float32Array(xm.buffer, xm.byteOffset, T * 4), xmI = new Int32Array(xm.buffer, xm.byteOffset, T * 4);
  const y = new Float32Array(T * N);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      let a = 0;
      for (let kk = 0; kk < K; kk++) a += q[t * K + kk] * Wrm[n * K + kk];
      a -= xmI[t * 4 + 1] * 64;
      let v = F(F(a) * xmF[t * 4]);
      if (O > 0) {
        let b = 0;
        for (let j = 0; j < O; j++) b += o[t * O + j] * Wo[n * O + j];
        v = F(v + F(F(b) * xmF[t * 4 + 2]));
      }
      v = F(v * ws[n]);
      y[t * N + n] = acc ? F(v + y0[t * N + n]) : v;
    }
  }
  return y;
}

function checkGemm(T: number, K: number, N: number, O: number, extreme: boolean): void {
  const m0 = mark();
  const r = rng(T * 1000 + K * 7 + N + O);
  const x = extreme ? new Float32Array(T * K).fill(-1) : data(T * K, T + K + N);
  const oidx = Array.from({ length: O }, (_, j) => (j * 37 + 3) % K);
  const keep = new Array<boolean>(K).fill(true);
  for (const c of oidx) keep[c] = false;
  const px = alloc(T * K * 4), pk = alloc(K * 4), po = alloc(Math.max(1, O) * 4);
  f32(px, T * K).set(x);
  i32(pk, K).set(keep.map((b) => (b ? -1 : 0)));
  i32(po, O).set(oidx);
  const xq = alloc(T * K), xo = alloc(T * O * 2 + 2), xm = alloc(T * 16);
  k.quantize_rows_i8(px, xq, xo, xm, T, K, O > 0 ? pk : 0, po, O);
  // weights: 7-bit offset codes (127 everywhere in the extreme case), Wo the signed codes
  const Wrm = Uint8Array.from({ length: N * K }, () => (extreme ? 127 : Math.floor(r() * 128)));
  const Wo = Int8Array.from({ length: N * O }, (_, i) => Wrm[Math.floor(i / O) * K + oidx[i % O]] - 64);
  const ws = Float32Array.from({ length: N }, () => r() * 0.02);
  const pw = alloc(N * K), pwo = alloc(Math.max(1, N * O)), pws = alloc(N * 4), sc = alloc(8 * Math.max(K, 16));
  u8(pw, N * K).set(Wrm);
  i8(pwo, N * O).set(Wo);
  f32(pws, N).set(ws);
  k.pack_q7(pw, N, K, sc);
  if (O > 0) k.pack_q8(pwo, N, O, sc);
  const q = i8(xq, T * K).slice(), o = i16(xo, T * O).slice(), meta = u8(xm, T * 16).slice();
  const old = Float32Array.from({ length: T * N }, () => r() - 0.5);
  for (const acc of [0, 1]) {
    const want = gemmRef(q, o, meta, Wrm, Wo, ws, old, T, K, N, O, acc === 1);
    const got = [k.gemm_q7, k.gemm_q7_scalar].map((f) => {
      const py = alloc(T * N * 4 + 32);
      f32(py, T * N).set(old);
      f32(py + T * N * 4, 8).fill(-12345);
      f(xq, xo, xm, pw, pwo, pws, py, T, K, N, O, acc);
      if (!f32(py + T * N * 4, 8).every((v) => v === F(-12345))) fail(`gemm_q7 T=${T} K=${K} N=${N} O=${O}: wrote past y`);
      return f32(py, T * N).slice();
    });
    const tag = `gemm_q7 T=${T} K=${K} N=${N} O=${O} acc=${acc}${extreme ? ' extreme' : ''}`;
    same(`${tag} simd vs scalar`, got[0], got[1]);
    same(`${tag} scalar vs exact reference`, got[1], want);
    record(got[0]);
  }
  reset(m0);
}

for (const T of [1, 2, 3, 4, 5, 9]) {
  for (const [K, N] of [[16, 1], [16, 8], [48, 9], [64, 24], [784, 33]]) {
    for (const O of [0, 16]) checkGemm(T, K, N, O, false);
  }
}
checkGemm(130, 48, 16, 16, false); // more than one token block at K = 48? no: TB = 5461; many 4x8 tiles
checkGemm(1, 65536, 8, 0, true); // |a| = 127 * 127 * 65536 < 2^31, the contract's largest K
checkGemm(4, 65536, 9, 16, true);

// ---------------------------------------------------------------- gemm_usdot (issue 25)

// The usdot operand form: right only where the relaxed dot is an exact u8 x s8 dot (AVX-VNNI's
// vpdpbusd, usdotStatus() 'exact'). Everywhere: quantize_rows_u8 is quantize_rows_i8 XOR 0x80 and
// its twin, row_sums_i8 its twin, the twin gemm_usdot_scalar the exact integer reference. SIMD ==
// twin: with |W| <= 63 under every x64 lowering (vpmaddubsw's i16 pair sums cannot saturate:
// 2 * 255 * 63 < 2^15), which checks the tiles, the packing and the corrections; with full-range
// weights only where usdotStatus() is 'exact' (elsewhere they must differ, as the probe says).
function checkUsdot(T: number, K: number, N: number, O: number, wmax: number): void {
  const m0 = mark();
  const r = rng(T * 977 + K * 13 + N * 3 + O + wmax);
  const x = data(T * K, T + K + N + 1);
  const oidx = Array.from({ length: O }, (_, j) => (j * 41 + 5) % K);
  const keep = new Array<boolean>(K).fill(true);
  for (const c of oidx) keep[c] = false;
  const px = alloc(T * K * 4), pk = alloc(K * 4), po = alloc(Math.max(1, O) * 4);
  f32(px, T * K).set(x);
  i32(pk, K).set(keep.map((b) => (b ? -1 : 0)));
  i32(po, O).set(oidx);
  const xq = alloc(T * K), xo = alloc(T * O * 2 + 2), xm = alloc(T * 16), xq2 = alloc(T * K), xo2 = alloc(T * O * 2 + 2), xm2 = alloc(T * 16), xq3 = alloc(T * K);
  const keepPtr = O > 0 ? pk : 0;
  k.quantize_rows_u8(px, xq, xo, xm, T, K, keepPtr, po, O);
  k.quantize_rows_u8_scalar(px, xq2, xo2, xm2, T, K, keepPtr, po, O);
  k.quantize_rows_i8(px, xq3, xo2, xm2, T, K, keepPtr, po, O);
  const tagQ = `quantize_rows_u8 T=${T} K=${K} O=${O}`;
  same(`${tagQ} simd vs scalar`, u8(xq, T * K), u8(xq2, T * K));
  same(`${tagQ} vs quantize_rows_i8 xor 0x80`, u8(xq, T * K), u8(xq3, T * K).map((b) => b ^ 0x80));
  same(`${tagQ} metadata`, u8(xm, T * 16), u8(xm2, T * 16));
  const Wrm = Int8Array.from({ length: N * K }, () => Math.floor(r() * (2 * wmax + 1)) - wmax);
  const Wo = Int8Array.from({ length: N * O }, (_, i) => Wrm[Math.floor(i / O) * K + oidx[i % O]]);
  const ws = Float32Array.from({ length: N }, () => r() * 0.02);
  const pw = alloc(N * K), pwo = alloc(Math.max(1, N * O)), pws = alloc(N * 4), psum = alloc(N * 4), psum2 = alloc(N * 4), sc = alloc(8 * Math.max(K, 16));
  i8(pw, N * K).set(Wrm);
  i8(pwo, N * O).set(Wo);
  f32(pws, N).set(ws);
  k.row_sums_i8(pw, N, K, psum);
  k.row_sums_i8_scalar(pw, N, K, psum2);
  const sums = Array.from({ length: N }, (_, n) => Wrm.subarray(n * K, n * K + K).reduce((a, b) => a + b, 0));
  same(`row_sums_i8 N=${N} K=${K} simd vs scalar`, i32(psum, N), i32(psum2, N));
  same(`row_sums_i8 N=${N} K=${K} vs exact`, i32(psum, N), sums);
  k.pack_q7(pw, N, K, sc);
  if (O > 0) k.pack_q8(pwo, N, O, sc);
  const q = u8(xq, T * K).slice(), o = i16(xo, T * O).slice(), meta = u8(xm, T * 16).slice();
  const xmF = new Float32Array(meta.buffer, 0, T * 4);
  const old = Float32Array.from({ length: T * N }, () => r() - 0.5);
  for (const acc of [0, 1]) {
    // the contract: a = sum W * (x + 128) - 128 * sum W, then its float32 steps
    const want = new Float32Array(T * N);
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        let a = 0;
        for (let kk = 0; kk < K; kk++) a += q[t * K + kk] * Wrm[n * K + kk];
        a -= 128 * sums[n];
        let v = F(F(a) * xmF[t * 4]);
        if (O > 0) {
          let b = 0;
          for (let j = 0; j < O; j++) b += o[t * O + j] * Wo[n * O + j];
          v = F(v + F(F(b) * xmF[t * 4 + 2]));
        }
        v = F(v * ws[n]);
        want[t * N + n] = acc ? F(v + old[t * N + n]) : v;
      }
    }
    const got = [k.gemm_usdot, k.gemm_usdot_scalar].map((f) => {
      const py = alloc(T * N * 4 + 32);
      f32(py, T * N).set(old);
      f32(py + T * N * 4, 8).fill(-12345);
      f(xq, xo, xm, pw, pwo, pws, psum, py, T, K, N, O, acc);
      if (!f32(py + T * N * 4, 8).every((v) => v === F(-12345))) fail(`gemm_usdot T=${T} K=${K} N=${N} O=${O}: wrote past y`);
      return f32(py, T * N).slice();
    });
    const tag = `gemm_usdot T=${T} K=${K} N=${N} O=${O} |W| <= ${wmax} acc=${acc}`;
    same(`${tag} scalar vs exact reference`, got[1], want);
    record(got[1]);
    if (wmax <= 63 || usdotStatus() === 'exact') same(`${tag} simd vs scalar`, got[0], got[1]);
    else if (got[0].every((v, i) => Object.is(v, got[1][i]))) fail(`${tag}: SIMD equals the exact twin, yet usdotStatus() says ${usdotStatus()}`);
  }
  reset(m0);
}

for (const T of [1, 4, 5, 9]) {
  for (const [K, N] of [[16, 8], [48, 9], [784, 33]]) {
    for (const O of [0, 16]) checkUsdot(T, K, N, O, 63);
  }
}
checkUsdot(6, 784, 24, 16, 127);

// ---------------------------------------------------------------- gemm_f32 (relaxed_madd)

// The relaxed build's gemm_f32 fuses its multiply-adds where the CPU has FMA (relaxed SIMD lets the
// engine choose), so its bits are not part of the digest: SIMD and the twin within the f32
// summation bound of float64, under every lowering.
for (const [T, K, N] of [[1, 4, 1], [3, 64, 7], [5, 1024, 9], [2, 4096, 4]]) {
  const m0 = mark();
  const r = rng(T * K + N);
  const x = Float32Array.from({ length: T * K }, () => r() * 2 - 1), w = Float32Array.from({ length: N * K }, () => r() * 2 - 1);
  const px = alloc(T * K * 4), pw = alloc(N * K * 4);
  f32(px, T * K).set(x);
  f32(pw, N * K).set(w);
  for (const f of [k.gemm_f32, k.gemm_f32_scalar]) {
    const py = alloc(T * N * 4);
    f(px, pw, py, T, K, N, 0);
    const y = f32(py, T * N);
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        let want = 0, mag = 0;
        for (let kk = 0; kk < K; kk++) { want += x[t * K + kk] * w[n * K + kk]; mag += Math.abs(x[t * K + kk] * w[n * K + kk]); }
        const err = Math.abs(y[t * N + n] - want);
        if (!(err <= (K + GEMM_F32_EXTRA_ROUNDINGS) * U * mag)) fail(`gemm_f32 ${f === k.gemm_f32 ? 'SIMD' : 'scalar'} T=${T} K=${K} N=${N} [${t},${n}]: |err| ${err} > bound`);
      }
    }
  }
  reset(m0);
}

// ---------------------------------------------------------------- models end to end

// gemm_q7 runs for K >= 256 only (model.ts): a small model of that width, 2 layers, relu and
// gated-gelu, besides the hkunlp configs on request (--models base,large)
const SMALL = { ...SYNTH_CONFIGS.tiny, dModel: 256, dKv: 32, numHeads: 8, dFf: 512, numLayers: 2, denseOut: 64 };
const CONFIGS: Record<string, typeof SMALL> = { ...SYNTH_CONFIGS, small: SMALL, 'small-gated': { ...SMALL, ffn: 'gated-gelu' } };
const models = (process.argv.includes('--models') ? process.argv[process.argv.indexOf('--models') + 1] : 'small,small-gated').split(',').filter(Boolean);
const modelDigests: Record<string, string> = {};
// small enough thresholds that these small models take every cut of the threads wrapper: gemm_q7
// by row blocks and (T < 8) by column blocks, quantize_rows_i8 by rows
tuning.gemmMinMacs = 1 << 12;
tuning.minElements = 1 << 8;
tuning.chunkElements = 1 << 8;
for (const name of models) try {
  const c = CONFIGS[name];
  const file = encodeWeightsFile(
    { config: toHfConfig(c), model: { dense_out: c.denseOut, max_seq_length: 512, synth: 'synth-v1', name }, dtype: 'int8' },
    synthModel(c, c.denseOut),
  );
  const inputs = [1, 2, 5, 16, 37].map((T, i) => ({ ids: tokenSequence(T, 11 + i), nInstr: Math.min(2, T - 1) }));
  const h = createHash('sha256');
  for (const threads of [1, 2]) {
    const model = await InstructorModel.fromWeightsFile(file, {
      kernels: bytes, threads, threadKernels: threads > 1 ? mtModule : undefined,
    });
    if (model.info.kernels !== 'relaxed' || model.info.outlierChannels !== 32) fail(`${name}: model.info says kernels ${model.info.kernels}, ${model.info.outlierChannels} outlier channels; expected relaxed, 32`);
    const one = model.embedIds(inputs, { maxBatchTokens: 1 << 20 }).embeddings;
    const each = inputs.map((inp) => model.embedIds([inp]).embeddings[0]);
    model.dispose();
    for (let i = 0; i < one.length; i++) same(`${name} threads=${threads} input ${i}: batched vs alone`, one[i], each[i]);
    const th = createHash('sha256');
    for (const e of one) th.update(new Uint8Array(e.buffer, e.byteOffset, e.byteLength));
    const d = th.digest('hex');
    if (threads === 1) h.update(d);
    else if (d !== modelDigests[name]) fail(`${name}: 2 threads gave other bits than 1 thread`);
    modelDigests[name] = d;
  }
  digest.update(modelDigests[name]);
} catch (e) {
  fail(`${name}: ${(e as Error).stack ?? e}`);
}

console.log('RESULT ' + JSON.stringify({
  version: process.version, execArgv: process.execArgv, relaxed: relaxedSimdStatus(), usdot: usdotStatus(),
  failures, digest: digest.digest('hex'), models: modelDigests,
}));
