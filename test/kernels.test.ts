// Kernel tests: each SIMD kernel against its scalar twin, and both twins against an independent
// float64 computation here (so that a bug shared by the twins is caught). Buffers get a guard of
// sentinel floats after them, so that a tail loop that writes past n fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertClose, assertSame } from './support/assert.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { Arena } from '../src/engine/arena.js';
import { attentionScratchFloats, gemmQ8ScratchBytes } from '../src/engine/wasm.js';
import { data, randn, rng, roundHalfEven } from './support/random.js';

const wasm = await loadKernelsFromDisk();
const arena = new Arena(wasm);

const U = 2 ** -24; // f32 unit roundoff
// gemm_q8: acc is exact (i32 block sums, totalled exactly); f32(acc), xs*ws, their product and the residual add
// are one rounding of at most U each, relative to sum |xq Wq| xs ws (+ |old y|).
const GEMM_Q8_ROUNDINGS = 4;
// gemm_f32: sequential or 4-lane summation of K products errs by at most (K + 2) U sum |x w|
// (the standard bound); the factor is per-case K, so only the ulps count is named here.
const GEMM_F32_EXTRA_ROUNDINGS = 4;
// rmsnorm: the f32 sum of D squares errs by <= D U relative (all terms positive), halved by the
// square root, plus ~6 roundings for mean, eps, sqrt, division and the two products.
const RMS_EXTRA_ROUNDINGS = 8;
// attention's softmax: the vector exp's relative error (Cephes polynomial, ~1e-7) plus the f32
// rounding of the T-term sum of exponentials' few ulps.
const EXP_REL_TOL = 1e-6;
// gelu: exp's ~1e-7 and the f32 rounding of u (|2u| < 8 while |gelu(x)| > 1e-3), a few ulps.
const GELU_REL_TOL = 1e-6;
// gelu: for x < -4 (|gelu| < 1e-5) rounding of the large |2u| costs ~|2u| ulps of a tiny value,
// and for x << 0 the f64 formula gives -0 where the f32 kernel gives ~x * 1e-38.
const GELU_ABS_TOL = 1e-8;
const GUARD = 8; // sentinel floats after each buffer
const SENTINEL = -12345.678;

// --- helpers ---------------------------------------------------------------------------------




/** Allocate bytes for n elements of `size` bytes plus a guard of sentinel floats. */
function allocGuarded(n: number, size: number): number {
  const p = arena.alloc(guardAt(n, size) + GUARD * 4);
  arena.u8(p + n * size, guardAt(n, size) - n * size).fill(0);
  arena.f32(p + guardAt(n, size), GUARD).fill(SENTINEL);
  return p;
}

/** The guard starts at the first 4-byte boundary past the data (i8 / i16 buffers). */
function guardAt(n: number, size: number): number {
  return Math.ceil((n * size) / 4) * 4;
}

function guardIntact(p: number, n: number, size: number): boolean {
  // an i8 / i16 tail write also shows in the padding bytes before the guard
  const pad = arena.u8(p + n * size, guardAt(n, size) - n * size);
  return pad.every((b) => b === 0) && arena.f32(p + guardAt(n, size), GUARD).every((x) => x === Math.fround(SENTINEL));
}

function putF32(a: ArrayLike<number>): number {
  const p = allocGuarded(a.length, 4);
  arena.f32(p, a.length).set(a);
  return p;
}

function putI16(a: ArrayLike<number>): number {
  const p = allocGuarded(a.length, 2);
  arena.i16(p, a.length).set(a);
  return p;
}

function putI8(a: ArrayLike<number>): number {
  const p = allocGuarded(a.length, 1);
  arena.i8(p, a.length).set(a);
  return p;
}

function getF32(p: number, n: number): Float32Array {
  return arena.f32(p, n).slice();
}

/** Run f with a fresh arena region, released afterwards. */
function scoped<R>(f: () => R): R {
  const m = arena.mark();
  try { return f(); } finally { arena.reset(m); }
}

// --- quantize_rows_i16 -----------------------------------------------------------------------

test('quantize_rows_i16: SIMD == scalar == float reference, incl. all-zero rows and outliers', () => {
  for (const T of [1, 3, 5, 7]) {
    for (const K of [1, 3, 5, 13, 16, 48, 4112]) {
      scoped(() => {
        const x = data(T * K, T * 1000 + K);
        if (T > 1) x.fill(0, K, 2 * K); // row 1 all zero
        const px = putF32(x);
        const out: { q: Int16Array; s: Float32Array }[] = [];
        for (const f of [wasm.quantize_rows_i16, wasm.quantize_rows_i16_scalar]) {
          const pq = allocGuarded(T * K, 2);
          const ps = allocGuarded(T, 4);
          f(px, pq, ps, T, K);
          assert.ok(guardIntact(pq, T * K, 2) && guardIntact(ps, T, 4), `quantize T=${T} K=${K}: wrote past the end`);
          out.push({ q: arena.i16(pq, T * K).slice(), s: getF32(ps, T) });
        }
        const tag = `quantize T=${T} K=${K}`;
        assertSame(`${tag} xq simd vs scalar`, out[0].q, out[1].q);
        assertSame(`${tag} xs simd vs scalar`, out[0].s, out[1].s);
        const wantQ = new Int16Array(T * K);
        const wantS = new Float32Array(T);
        for (let t = 0; t < T; t++) {
          let m = 0;
          for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(x[t * K + k]));
          if (m === 0) continue;
          const inv = Math.fround(32767 / m);
          wantS[t] = Math.fround(m / 32767);
          for (let k = 0; k < K; k++) wantQ[t * K + k] = roundHalfEven(Math.fround(x[t * K + k] * inv));
        }
        assertSame(`${tag} xq vs reference`, out[1].q, wantQ);
        assertSame(`${tag} xs vs reference`, out[1].s, wantS);
        if (T > 1) assert.is(out[0].s[1], 0, `${tag}: all-zero row must have scale 0`);
      });
    }
  }
});

test('quantize_rows_i16: NaN, +-Inf and -0 rows give the same codes and scales in SIMD and scalar', () => {
  // the SIMD max runs on the float bits as integers; these are the values where that could differ
  const K = 21; // 5 vectors and a tail of 1
  const rows: Array<[string, number, number]> = [
    ['NaN in a vector', 6, NaN], ['NaN in the tail', 20, NaN], ['+Inf', 3, Infinity], ['-Inf in the tail', 20, -Infinity],
    ['-0 only', -1, -0], ['largest finite', 9, -3.4028234663852886e38], ['smallest subnormal', -1, 1.401298464324817e-45],
  ];
  for (const [name, at, value] of rows) {
    scoped(() => {
      const x = data(K, 77);
      if (at < 0) x.fill(value); else x[at] = value;
      const px = putF32(x);
      const out: { q: Int16Array; s: Float32Array }[] = [];
      for (const f of [wasm.quantize_rows_i16, wasm.quantize_rows_i16_scalar]) {
        const pq = allocGuarded(K, 2);
        const ps = allocGuarded(1, 4);
        f(px, pq, ps, 1, K);
        out.push({ q: arena.i16(pq, K).slice(), s: getF32(ps, 1) });
      }
      assertSame(`${name}: xq simd vs scalar`, out[0].q, out[1].q);
      assertSame(`${name}: xs simd vs scalar`, out[0].s, out[1].s);
      if (Number.isNaN(value)) assert.ok(Number.isNaN(out[0].s[0]), `${name}: the scale must be NaN, got ${out[0].s[0]}`);
      if (Math.abs(value) === Infinity) assert.is(out[0].s[0], Infinity, `${name}: scale`);
      if (Object.is(value, -0)) assert.is(out[0].s[0], 0, `${name}: scale`);
    });
  }
});

// --- gemm_q8 ---------------------------------------------------------------------------------

/** Where pack_q8 puts W[n, k] (the layout's definition, written out independently of the kernels). */
function packedIndex(n: number, k: number, N: number, K: number): number {
  if (n >= N - (N % 8)) return n * K + k; // the N % 8 last rows stay row-major
  return (n - (n % 8)) * K + (k >> 1) * 16 + (n % 8) * 2 + (k & 1);
}

test('pack_q8: every byte where the layout says, in place, within its 8*K scratch; unpack_q8 restores', () => {
  for (const N of [1, 7, 8, 9, 13, 24, 203]) {
    for (const K of [16, 48, 272]) {
      scoped(() => {
        const r = rng(N * 31 + K);
        const W = Int8Array.from({ length: N * K }, () => Math.floor(r() * 256) - 128);
        const pW = putI8(W), ps = allocGuarded(8 * K, 1);
        wasm.pack_q8(pW, N, K, ps);
        assert.ok(guardIntact(pW, N * K, 1), `pack_q8 N=${N} K=${K}: wrote past W`);
        assert.ok(guardIntact(ps, 8 * K, 1), `pack_q8 N=${N} K=${K}: wrote past its 8*K scratch`);
        const P = arena.i8(pW, N * K);
        for (let n = 0; n < N; n++) {
          for (let k = 0; k < K; k++) {
            const at = packedIndex(n, k, N, K);
            if (P[at] !== W[n * K + k]) assert.unreachable(`pack_q8 N=${N} K=${K}: W[${n},${k}] = ${W[n * K + k]}, packed[${at}] = ${P[at]}`);
          }
        }
        wasm.unpack_q8(pW, N, K, ps);
        assertSame(`unpack_q8(pack_q8(W)) N=${N} K=${K}`, arena.i8(pW, N * K), W);
      });
    }
  }
});

/**
 * Runs gemm_q8 or its twin on W (row-major here) packed with pack_q8, with a guarded scratch of
 * gemmQ8ScratchBytes(K) or with none (0). Checks y's and the scratch's guards and that W is left as packed.
 */
function runGemmQ8(f: typeof wasm.gemm_q8, xq: Int16Array, xs: Float32Array, W: Int8Array, ws: Float32Array,
  y0: Float32Array, T: number, K: number, N: number, accumulate: number, withScratch = true): Float32Array {
  return scoped(() => {
    const pxq = putI16(xq), pxs = putF32(xs), pW = putI8(W), pws = putF32(ws), py = putF32(y0);
    const bytes = gemmQ8ScratchBytes(K);
    const ps = allocGuarded(bytes, 1);
    wasm.pack_q8(pW, N, K, ps);
    const packed = arena.i8(pW, N * K).slice();
    f(pxq, pxs, pW, pws, py, T, K, N, accumulate, withScratch ? ps : 0);
    const tag = `gemm_q8 T=${T} K=${K} N=${N}`;
    assert.ok(guardIntact(py, T * N, 4), `${tag}: wrote past y`);
    assert.ok(guardIntact(ps, bytes, 1), `${tag}: wrote past its scratch`);
    assertSame(`${tag}: W after the call`, arena.i8(pW, N * K), packed);
    return getF32(py, T * N);
  });
}

// T: the direct 4x8 tile (4, 5, 7, 16..19), its 3/2/1-token tails (3, 2, 1, 7, 5, 17..19), the
// widened panel over pack_x4's token groups (32 tokens and up) with each tail (32..35), and two
// token blocks at K = 4112 (70: 60 + 10).
// N: tail rows only (1, 5), one 8-row group + 5 tail rows (13), 3 groups (24: 2x16 + 2x8 and
// 1x16 + 1x8 tiles), 4 groups + 3 tail rows (35). K: one k block, several (4112 = 16 * 257).
/** gemm_q8's operands for a [T, K] x [N, K] case, seeded by the shape: the full i16 / i8 ranges, incl. -32768 and -128. */
function gemmQ8Inputs(T: number, K: number, N: number) {
  const r = rng(T * 7919 + N * 104729 + K);
  const xq = Int16Array.from({ length: T * K }, () => Math.floor(r() * 65536) - 32768);
  const W = Int8Array.from({ length: N * K }, () => Math.floor(r() * 256) - 128);
  const xs = Float32Array.from({ length: T }, () => r() * 1e-3);
  const ws = Float32Array.from({ length: N }, () => r() * 1e-2);
  return { xq, W, xs, ws, y0: data(T * N, K + N, false) };
}

test('gemm_q8: SIMD == scalar on packed W (with and without scratch), both within f32 rounding of float64', () => {
  const shapes: number[][] = [];
  for (const T of [1, 2, 3, 4, 5, 7, 16, 17, 18, 19, 32, 33, 34, 35]) {
    for (const N of [1, 5, 13, 24, 35]) for (const K of [16, 48, 4112]) shapes.push([T, K, N]);
  }
  shapes.push([70, 4112, 13], [70, 16, 35]);
  for (const [T, K, N] of shapes) {
    const { xq, W, xs, ws, y0 } = gemmQ8Inputs(T, K, N);
    for (const accumulate of [0, 1]) {
      const tag = `gemm_q8 T=${T} K=${K} N=${N} acc=${accumulate}`;
      const a = runGemmQ8(wasm.gemm_q8, xq, xs, W, ws, y0, T, K, N, accumulate);
      const a0 = runGemmQ8(wasm.gemm_q8, xq, xs, W, ws, y0, T, K, N, accumulate, false);
      const b = runGemmQ8(wasm.gemm_q8_scalar, xq, xs, W, ws, y0, T, K, N, accumulate);
      assertSame(`${tag} simd vs scalar`, a, b);
      assertSame(`${tag} simd without scratch vs scalar`, a0, b);
      const want = new Float64Array(T * N);
      const mag = new Float64Array(T * N);
      for (let t = 0; t < T; t++) {
        for (let n = 0; n < N; n++) {
          let s = 0, sa = 0;
          for (let k = 0; k < K; k++) {
            const p = xq[t * K + k] * W[n * K + k];
            s += p; sa += Math.abs(p);
          }
          want[t * N + n] = s * xs[t] * ws[n] + (accumulate ? y0[t * N + n] : 0);
          mag[t * N + n] = sa * xs[t] * ws[n] + (accumulate ? Math.abs(y0[t * N + n]) : 0);
        }
      }
      assertClose(`${tag} vs float64`, b, want, (i) => GEMM_Q8_ROUNDINGS * U * mag[i]);
    }
  }
});

test('gemm_q8: quantized outlier activations, SIMD == scalar and close to the float64 x.W', () => {
  for (const T of [5, 21]) {
    scoped(() => {
      const K = 4112, N = 13;
      const x = data(T * K, T === 5 ? 1 : T);
      const r = rng(2);
      const W = Int8Array.from({ length: N * K }, () => Math.floor(r() * 255) - 127);
      const ws = Float32Array.from({ length: N }, () => 0.01 + r() * 1e-2);
      const px = putF32(x), pxq = allocGuarded(T * K, 2), pxs = allocGuarded(T, 4);
      wasm.quantize_rows_i16(px, pxq, pxs, T, K);
      const xq = arena.i16(pxq, T * K).slice(), xs = getF32(pxs, T);
      const y0 = new Float32Array(T * N);
      const a = runGemmQ8(wasm.gemm_q8, xq, xs, W, ws, y0, T, K, N, 0);
      const b = runGemmQ8(wasm.gemm_q8_scalar, xq, xs, W, ws, y0, T, K, N, 0);
      assertSame(`gemm_q8 T=${T} quantized simd vs scalar`, a, b);
      // against the unquantized activations: each xq is off by at most half a step xs/2
      const want = new Float64Array(T * N), tol = new Float64Array(T * N);
      for (let t = 0; t < T; t++) {
        for (let n = 0; n < N; n++) {
          let s = 0, sa = 0;
          for (let k = 0; k < K; k++) { s += x[t * K + k] * W[n * K + k]; sa += Math.abs(W[n * K + k]); }
          want[t * N + n] = s * ws[n];
          tol[t * N + n] = (0.5 * xs[t] * sa + 1e-5 * Math.abs(s)) * ws[n]; // half a quantization step per term
        }
      }
      assertClose(`gemm_q8 T=${T} quantized vs float64 x.W`, a, want, (i) => tol[i]);
    });
  }
});

test('gemm_q8: worst-case magnitudes do not overflow i32 (K = 8192)', () => {
  // T = 1: 1x16 and 1x8 tiles; 6: direct 4x8, 2x16, 2x8; 19: direct 4x8 and 3x8; 35: the panel's
  // 4x8 and 3x8 (and without scratch the direct 4x8); N = 29: three 8-row groups and 5 row-major tail rows
  const K = 8192, N = 29;
  for (const T of [1, 6, 19, 35]) {
    for (const [xv, wv] of [[32767, 127], [-32768, -128], [-32768, 127]]) {
      const xq = new Int16Array(T * K).fill(xv);
      const W = new Int8Array(N * K).fill(wv);
      const ones = new Float32Array(Math.max(T, N)).fill(1);
      const want = K * xv * wv; // 2^13 * (<= 2^22): exact in f32
      assert.is(Math.fround(want), want);
      for (const [f, withScratch] of [[wasm.gemm_q8, true], [wasm.gemm_q8, false], [wasm.gemm_q8_scalar, true]] as const) {
        const y = runGemmQ8(f, xq, ones.subarray(0, T), W, ones.subarray(0, N), new Float32Array(T * N), T, K, N, 0, withScratch);
        for (let i = 0; i < T * N; i++) assert.is(y[i], want, `T=${T} xq=${xv} W=${wv} y[${i}]`);
      }
    }
  }
});

test('gemm_q8: K up to 65536 (its limit: 256 blocks in the i32 hi / lo totals), extreme codes, the exact sum or its one rounding', () => {
  // 32767 * 127 per product: every full block sum has low 16 bits 0x8100, so the lo total grows to
  // 256 * 33024 (< 2^24); at K = 65520 the total (65520 * 4161409) has 34 significant bits, so its
  // f32 is a rounding, which must be the one of the exact integer
  const N = 13;
  for (const [K, T] of [[65536, 1], [65536, 6], [65520, 6]]) {
    for (const [xv, wv] of [[-32768, -128], [32767, 127], [-32768, 127], [32767, -128]]) {
      const ones = new Float32Array(Math.max(T, N)).fill(1);
      const want = Math.fround(K * xv * wv);
      for (const f of [wasm.gemm_q8, wasm.gemm_q8_scalar]) {
        const y = runGemmQ8(f, new Int16Array(T * K).fill(xv), ones.subarray(0, T), new Int8Array(N * K).fill(wv), ones.subarray(0, N), new Float32Array(T * N), T, K, N, 0);
        for (let i = 0; i < T * N; i++) assert.is(y[i], want, `K=${K} T=${T} xq=${xv} W=${wv} y[${i}]`);
      }
    }
  }
});

// instructor-xl's matmuls (d_model 1024, 32 heads of d_kv 128, d_ff 16384): K = 16384 (wo) and
// N = 16384 (wi) with tails in T, and K = 4096 (o), against float64; the worst case at K = 16384.
test('gemm_q8: instructor-xl shapes (K = 16384, N = 16384, K = 4096), SIMD == scalar, within f32 rounding of float64', () => {
  for (const [T, K, N] of [[5, 16384, 29], [17, 16384, 13], [3, 1024, 16384], [18, 4096, 40]]) {
    const { xq, W, xs, ws, y0 } = gemmQ8Inputs(T, K, N);
    const tag = `gemm_q8 T=${T} K=${K} N=${N}`;
    const a = runGemmQ8(wasm.gemm_q8, xq, xs, W, ws, y0, T, K, N, 1);
    const b = runGemmQ8(wasm.gemm_q8_scalar, xq, xs, W, ws, y0, T, K, N, 1);
    assertSame(`${tag} simd vs scalar`, a, b);
    const want = new Float64Array(T * N), mag = new Float64Array(T * N);
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        let s = 0, sa = 0;
        for (let k = 0; k < K; k++) { const p = xq[t * K + k] * W[n * K + k]; s += p; sa += Math.abs(p); }
        want[t * N + n] = s * xs[t] * ws[n] + y0[t * N + n];
        mag[t * N + n] = sa * xs[t] * ws[n] + Math.abs(y0[t * N + n]);
      }
    }
    assertClose(`${tag} vs float64`, a, want, (i) => GEMM_Q8_ROUNDINGS * U * mag[i]);
  }
  // K = 16384 at the extreme codes: sums of 2^36 stay exact (i32 hi / lo totals), T = 6 and 19 for every tile
  const K = 16384, N = 13;
  for (const T of [6, 19]) {
    for (const [xv, wv] of [[-32768, -128], [32767, 127]]) {
      const ones = new Float32Array(Math.max(T, N)).fill(1);
      const y = runGemmQ8(wasm.gemm_q8, new Int16Array(T * K).fill(xv), ones.subarray(0, T), new Int8Array(N * K).fill(wv), ones.subarray(0, N), new Float32Array(T * N), T, K, N, 0);
      for (let i = 0; i < T * N; i++) assert.is(y[i], K * xv * wv, `K=16384 T=${T} xq=${xv} W=${wv} y[${i}]`);
    }
  }
});

test('gemm_f32 and quantize_rows_i16: instructor-xl shapes (K = 16384 and 4096)', () => {
  for (const [T, K, N] of [[3, 16384, 5], [5, 4096, 13], [2, 1024, 4096]]) {
    const x = data(T * K, T + 31 * K), W = data(N * K, N + 17 * K), y0 = data(T * N, 5, false);
    const want = new Float64Array(T * N), mag = new Float64Array(T * N);
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        let s = 0, sa = 0;
        for (let k = 0; k < K; k++) { const p = x[t * K + k] * W[n * K + k]; s += p; sa += Math.abs(p); }
        want[t * N + n] = s + y0[t * N + n];
        mag[t * N + n] = sa + Math.abs(y0[t * N + n]);
      }
    }
    const tol = (i: number) => (K + GEMM_F32_EXTRA_ROUNDINGS) * U * mag[i];
    const a = runGemmF32(wasm.gemm_f32, x, W, y0, T, K, N, 1);
    assertClose(`gemm_f32 T=${T} K=${K} N=${N} simd vs float64`, a, want, tol);
    assertClose(`gemm_f32 T=${T} K=${K} N=${N} scalar vs float64`, runGemmF32(wasm.gemm_f32_scalar, x, W, y0, T, K, N, 1), want, tol);
    scoped(() => {
      const px = putF32(x);
      const outs = [wasm.quantize_rows_i16, wasm.quantize_rows_i16_scalar].map((f) => {
        const pq = allocGuarded(T * K, 2), ps = allocGuarded(T, 4);
        f(px, pq, ps, T, K);
        assert.ok(guardIntact(pq, T * K, 2) && guardIntact(ps, T, 4), `quantize T=${T} K=${K}: wrote past the end`);
        return { q: arena.i16(pq, T * K).slice(), s: getF32(ps, T) };
      });
      assertSame(`quantize T=${T} K=${K} simd vs scalar`, outs[0].q, outs[1].q);
      for (let t = 0; t < T; t++) {
        let m = 0;
        for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(x[t * K + k]));
        assert.is(outs[0].s[t], Math.fround(m / 32767), `quantize T=${T} K=${K}: scale of row ${t}`);
      }
    });
  }
});

// --- gemm_f32 --------------------------------------------------------------------------------

function runGemmF32(f: typeof wasm.gemm_f32, x: Float32Array, W: Float32Array, y0: Float32Array,
  T: number, K: number, N: number, accumulate: number): Float32Array {
  return scoped(() => {
    const px = putF32(x), pW = putF32(W), py = putF32(y0);
    f(px, pW, py, T, K, N, accumulate);
    assert.ok(guardIntact(py, T * N, 4), `gemm_f32 T=${T} K=${K} N=${N}: wrote past y`);
    return getF32(py, T * N);
  });
}

test('gemm_f32: SIMD and scalar within the f32 summation bound of float64', () => {
  for (const T of [1, 3, 5, 7]) {
    for (const N of [1, 3, 5, 13]) {
      for (const K of [4, 12, 48, 260]) {
        const x = data(T * K, T + 31 * K), W = data(N * K, N + 17 * K), y0 = data(T * N, 5, false);
        for (const accumulate of [0, 1]) {
          const tag = `gemm_f32 T=${T} K=${K} N=${N} acc=${accumulate}`;
          const want = new Float64Array(T * N), mag = new Float64Array(T * N);
          for (let t = 0; t < T; t++) {
            for (let n = 0; n < N; n++) {
              let s = 0, sa = 0;
              for (let k = 0; k < K; k++) { const p = x[t * K + k] * W[n * K + k]; s += p; sa += Math.abs(p); }
              want[t * N + n] = s + (accumulate ? y0[t * N + n] : 0);
              mag[t * N + n] = sa + (accumulate ? Math.abs(y0[t * N + n]) : 0);
            }
          }
          const tol = (i: number) => (K + GEMM_F32_EXTRA_ROUNDINGS) * U * mag[i];
          const a = runGemmF32(wasm.gemm_f32, x, W, y0, T, K, N, accumulate);
          const b = runGemmF32(wasm.gemm_f32_scalar, x, W, y0, T, K, N, accumulate);
          assertClose(`${tag} simd vs float64`, a, want, tol);
          assertClose(`${tag} scalar vs float64`, b, want, tol);
          assertClose(`${tag} simd vs scalar`, a, b, (i) => 2 * tol(i));
        }
      }
    }
  }
});

// --- attention -------------------------------------------------------------------------------

function attentionRef(q: Float32Array, k: Float32Array, v: Float32Array, bias: Float32Array,
  T: number, H: number, Dk: number, ld: number): Float64Array {
  const out = new Float64Array(T * ld);
  const nb = 2 * T - 1;
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < T; i++) {
      const s = new Float64Array(T);
      for (let j = 0; j < T; j++) {
        let d = 0;
        for (let e = 0; e < Dk; e++) d += q[i * ld + h * Dk + e] * k[j * ld + h * Dk + e];
        s[j] = d + bias[h * nb + (j - i + T - 1)];
      }
      const m = Math.max(...s);
      let z = 0;
      for (let j = 0; j < T; j++) { s[j] = Math.exp(s[j] - m); z += s[j]; }
      for (let e = 0; e < Dk; e++) {
        let a = 0;
        for (let j = 0; j < T; j++) a += s[j] * v[j * ld + h * Dk + e];
        out[i * ld + h * Dk + e] = a / z;
      }
    }
  }
  return out;
}

// A score's f32 error is <= (Dk + 2) U (sum_d |q k| + |bias|); the weights' relative error is at
// most twice that (numerator and normalizer) plus U |s - max| <= 2 U max |s| and exp's; the
// output is a convex combination of v, so that times max |v|, plus the T-term sum. Non-finite
// biases are left out (their rows are NaN, or their keys weigh 0).
function attentionTol(q: Float32Array, k: Float32Array, v: Float32Array, bias: Float32Array,
  T: number, H: number, Dk: number, ld: number): number {
  let vmax = 0, smax = 0;
  for (const x of v) vmax = Math.max(vmax, Math.abs(x));
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        let a = 0;
        for (let e = 0; e < Dk; e++) a += Math.abs(q[i * ld + h * Dk + e] * k[j * ld + h * Dk + e]);
        const b = bias[h * (2 * T - 1) + j - i + T - 1];
        smax = Math.max(smax, a + (Number.isFinite(b) ? Math.abs(b) : 0));
      }
    }
  }
  return vmax * (2 * (Dk + 2) * U * smax + 4 * U * smax + EXP_REL_TOL + (T + 2) * U);
}

/** attention and attention_scalar on fresh copies of the inputs; checks the guards and inputs. */
function runAttention(q: Float32Array, k: Float32Array, v: Float32Array, bias: Float32Array,
  T: number, H: number, Dk: number, ld: number): Float32Array[] {
  const outs: Float32Array[] = [];
  for (const f of [wasm.attention, wasm.attention_scalar]) {
    const pq = putF32(q), pk = putF32(k), pv = putF32(v), pb = putF32(bias);
    const po = putF32(new Float32Array(T * ld).fill(SENTINEL));
    const sf = attentionScratchFloats(T, Dk);
    const ps = allocGuarded(sf, 4);
    f(pq, pk, pv, po, T, H, Dk, ld, pb, ps);
    assert.ok(guardIntact(ps, sf, 4), `attention T=${T} H=${H} Dk=${Dk}: wrote past scratch`);
    assert.ok(guardIntact(po, T * ld, 4), `attention T=${T}: wrote past out`);
    assertSame('attention inputs unchanged', getF32(pq, T * ld), q);
    outs.push(getF32(po, T * ld));
  }
  return outs;
}

test('attention: SIMD and scalar vs float64 (relative-position bias, no 1/sqrt(Dk), strided rows)', () => {
  // T: 1 and odd (the SIMD kernel pairs queries), below / at / past 16 keys, T % 4 = 0 and 2
  for (const T of [1, 2, 3, 5, 7, 16, 17, 20, 34]) {
    for (const [H, Dk] of [[1, 4], [3, 8], [2, 20], [1, 36], [2, 64]]) {
      scoped(() => {
        const ld = H * Dk + 4; // a stride wider than the heads: the extra columns must stay untouched
        const seed = T * 100 + H * 10 + Dk;
        const q = data(T * ld, seed, false), k = data(T * ld, seed + 1, false), v = data(T * ld, seed + 2, false);
        for (let i = 0; i < q.length; i++) { q[i] *= 0.5; k[i] *= 0.5; }
        const bias = data(H * (2 * T - 1), seed + 3, false).map((b) => 3 * b);
        const want = attentionRef(q, k, v, bias, T, H, Dk, ld);
        const attnTol = attentionTol(q, k, v, bias, T, H, Dk, ld);
        const outs = runAttention(q, k, v, bias, T, H, Dk, ld);
        const tag = `attention T=${T} H=${H} Dk=${Dk}`;
        for (const [name, o] of [['simd', outs[0]], ['scalar', outs[1]]] as const) {
          for (let i = 0; i < T; i++) {
            for (let c = H * Dk; c < ld; c++) assert.is(o[i * ld + c], Math.fround(SENTINEL), `${tag} ${name}: column ${c} outside the heads was written`);
          }
          const mask = (i: number) => (i % ld) < H * Dk;
          assertClose(`${tag} ${name} vs float64`, o.filter((_, i) => mask(i)), want.filter((_, i) => mask(i)), () => attnTol);
        }
      });
    }
  }
});

test('attention: instructor-xl shapes (32 heads of d_kv 128), SIMD and scalar vs float64', () => {
  for (const T of [1, 5, 17, 34]) {
    scoped(() => {
      const H = 32, Dk = 128, ld = H * Dk;
      const seed = T * 131;
      const q = data(T * ld, seed, false), k = data(T * ld, seed + 1, false), v = data(T * ld, seed + 2, false);
      for (let i = 0; i < q.length; i++) { q[i] *= 0.25; k[i] *= 0.25; }
      const bias = data(H * (2 * T - 1), seed + 3, false).map((b) => 3 * b);
      const want = attentionRef(q, k, v, bias, T, H, Dk, ld);
      const attnTol = attentionTol(q, k, v, bias, T, H, Dk, ld);
      const outs = runAttention(q, k, v, bias, T, H, Dk, ld);
      assertClose(`attention T=${T} H=32 Dk=128 simd vs float64`, outs[0], want, () => attnTol);
      assertClose(`attention T=${T} H=32 Dk=128 scalar vs float64`, outs[1], want, () => attnTol);
    });
  }
});

test('attention: a NaN or +Inf score makes its query row NaN, -Inf weighs 0 (SIMD, scalar, float64)', () => {
  // One diagonal j - i = c of head 1's bias is special. The twin's max is NaN (NaN), or its
  // e^(Inf - Inf) is (+Inf), so every output of a row that the diagonal reaches is NaN; no other
  // row, head or pair partner may be touched. The diagonals reach keys in the vector body and
  // in the tail of the SIMD kernel's bias pass, and rows alone in their pair (c = +-(T-1)).
  const H = 2, Dk = 20, ld = H * Dk + 4;
  for (const T of [7, 18]) {
    for (const special of [NaN, Infinity, -Infinity]) {
      for (const c of [-(T - 1), -2, 0, 3, T - 2, T - 1]) {
        scoped(() => {
          const seed = T * 10 + c;
          const q = data(T * ld, seed, false), k = data(T * ld, seed + 1, false), v = data(T * ld, seed + 2, false);
          const bias = data(H * (2 * T - 1), seed + 3, false);
          bias[(2 * T - 1) + c + T - 1] = special;
          const want = attentionRef(q, k, v, bias, T, H, Dk, ld);
          const attnTol = attentionTol(q, k, v, bias, T, H, Dk, ld);
          const outs = runAttention(q, k, v, bias, T, H, Dk, ld);
          for (const [name, o] of [['simd', outs[0]], ['scalar', outs[1]]] as const) {
            for (let i = 0; i < T; i++) {
              for (let h = 0; h < H; h++) {
                const nanRow = h === 1 && special !== -Infinity && i + c >= 0 && i + c < T;
                for (let e = 0; e < Dk; e++) {
                  const x = i * ld + h * Dk + e, tag = `attention T=${T} bias ${special} at j - i = ${c} ${name}: row ${i} head ${h} column ${e}`;
                  assert.is(Number.isNaN(want[x]), nanRow, `${tag}: the float64 reference disagrees`);
                  if (nanRow) assert.ok(Number.isNaN(o[x]), `${tag}: got ${o[x]}, want NaN`);
                  else assert.ok(Math.abs(o[x] - want[x]) <= attnTol, `${tag}: got ${o[x]}, want ${want[x]}`);
                }
              }
            }
          }
        });
      }
    }
  }
});

// --- rmsnorm ---------------------------------------------------------------------------------

test('rmsnorm: SIMD and scalar vs float64, odd D, outliers, in place', () => {
  for (const T of [1, 3]) {
    for (const D of [1, 3, 5, 13, 33, 771]) {
      scoped(() => {
        const x = data(T * D, D * 3 + T), w = data(D, D, false);
        const eps = 1e-6;
        const want = new Float64Array(T * D);
        for (let t = 0; t < T; t++) {
          let ss = 0;
          for (let k = 0; k < D; k++) ss += x[t * D + k] ** 2;
          const inv = 1 / Math.sqrt(ss / D + Math.fround(eps));
          for (let k = 0; k < D; k++) want[t * D + k] = x[t * D + k] * inv * w[k];
        }
        const tol = (i: number) => (D / 2 + RMS_EXTRA_ROUNDINGS) * U * Math.abs(want[i]);
        for (const [name, f] of [['simd', wasm.rmsnorm], ['scalar', wasm.rmsnorm_scalar]] as const) {
          const px = putF32(x), pw = putF32(w), py = allocGuarded(T * D, 4);
          f(px, pw, py, T, D, eps);
          assert.ok(guardIntact(py, T * D, 4), `rmsnorm D=${D}: wrote past y`);
          const y = getF32(py, T * D);
          assertClose(`rmsnorm ${name} T=${T} D=${D} vs float64`, y, want, tol);
          f(px, pw, px, T, D, eps); // y == x
          assertSame(`rmsnorm ${name} T=${T} D=${D} in place`, getF32(px, T * D), y);
        }
      });
    }
  }
});

// --- elementwise -----------------------------------------------------------------------------

const SIZES = [1, 3, 5, 13, 67];

test('relu_inplace: SIMD == scalar == float reference, incl. -0 and 0', () => {
  for (const n of SIZES) {
    scoped(() => {
      const x = data(n, n);
      if (n > 2) { x[1] = -0; x[2] = 0; }
      const wantRelu = x.map((a) => (a < 0 ? 0 : a));
      for (const [name, relu] of [['simd', wasm.relu_inplace], ['scalar', wasm.relu_inplace_scalar]] as const) {
        const px = putF32(x);
        relu(px, n);
        assert.ok(guardIntact(px, n, 4), `relu n=${n}: wrote past the end`);
        assertSame(`relu_inplace ${name} n=${n}`, getF32(px, n), wantRelu);
      }
    });
  }
});

function geluRef(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

test('gelu_tanh_mul: SIMD and scalar vs float64 tanh formula, finite up to |x| = 1e4', () => {
  const special = [0, -0, 1e-3, -1e-3, 0.5, -0.5, 3, -3, 5.5, -5.5, 10, -10, 40, -40, 100, -100, 1e4, -1e4];
  for (const n of [...SIZES, special.length]) {
    scoped(() => {
      const x = n === special.length ? Float32Array.from(special) : data(n, n * 13);
      const u = data(n, n * 13 + 1, false);
      const want = Array.from(x, geluRef);
      const tol = (i: number) => GELU_REL_TOL * Math.abs(want[i]) + GELU_ABS_TOL;
      for (const [name, gm] of [['simd', wasm.gelu_tanh_mul], ['scalar', wasm.gelu_tanh_mul_scalar]] as const) {
        // times 1 (exact): gelu itself
        const px = putF32(x), ones = putF32(new Float32Array(n).fill(1));
        gm(px, ones, n);
        assert.ok(guardIntact(px, n, 4), `gelu n=${n}: wrote past the end`);
        const g = getF32(px, n);
        assert.ok(g.every(Number.isFinite), `gelu ${name}: non-finite result`);
        assertClose(`gelu ${name} n=${n} vs float64`, g, want, tol);
        const pg = putF32(x), pu = putF32(u);
        gm(pg, pu, n);
        assert.ok(guardIntact(pg, n, 4), `gelu_mul n=${n}: wrote past the end`);
        const gmv = getF32(pg, n);
        assert.ok(gmv.every(Number.isFinite), `gelu_mul ${name}: non-finite result`);
        assertClose(`gelu_mul ${name} n=${n} vs float64`, gmv, want.map((a, i) => a * u[i]), (i) => tol(i) * Math.abs(u[i]) + U * Math.abs(want[i] * u[i]));
      }
    });
  }
});

test.run();
