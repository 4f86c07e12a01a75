// gemm_q4 (int16 activations x 4-bit grouped weights) and its quantizer: the SIMD kernel against its
// scalar twin (bit-identical by contract), both against an independent float64 computation that
// decodes the nibble layout itself (so that a layout bug shared by the kernel and quantize.ts is
// caught). Buffers get a guard of sentinel floats after them, as in kernels.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertClose, assertSame } from './support/assert.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { Arena } from '../src/engine/arena.js';
import { InstructorError } from '../src/errors.js';
import { dequantizeGroupsQ4, quantizeGroupsQ4 } from '../src/engine/quantize.js';
import { data, randn, rng, roundHalfEven } from './support/random.js';

const wasm = await loadKernelsFromDisk();
const arena = new Arena(wasm);

const U = 2 ** -24; // f32 unit roundoff
// gemm_q4: the per-group integer sums are exact; each lane adds NG products f32(a) * scale (one
// rounding each) in order, then 2 levels of lane sums, * xs and the residual add: at most
// NG + GEMM_Q4_EXTRA_ROUNDINGS roundings of U relative to sum_g |scale_g| sum |xq q| |xs| (+ |old y|).
const GEMM_Q4_EXTRA_ROUNDINGS = 6;
// quantizeGroupsQ4: w / scale is within half a step of its code, up to the float32 rounding of the
// scale (relative U, times |code| <= 8) and of the division in float64.
const Q4_ROUNDTRIP_SLACK = 1e-6;
const GUARD = 8;
const SENTINEL = -12345.678;

// --- helpers ---------------------------------------------------------------------------------




const guardAt = (n: number, size: number) => Math.ceil((n * size) / 4) * 4;

function allocGuarded(n: number, size: number): number {
  const p = arena.alloc(guardAt(n, size) + GUARD * 4);
  arena.u8(p + n * size, guardAt(n, size) - n * size).fill(0);
  arena.f32(p + guardAt(n, size), GUARD).fill(SENTINEL);
  return p;
}

function guardIntact(p: number, n: number, size: number): boolean {
  const pad = arena.u8(p + n * size, guardAt(n, size) - n * size);
  return pad.every((b) => b === 0) && arena.f32(p + guardAt(n, size), GUARD).every((x) => x === Math.fround(SENTINEL));
}

function put<A extends Float32Array | Int16Array | Uint8Array>(a: A, size: number): number {
  const p = allocGuarded(a.length, size);
  new (a.constructor as { new(b: ArrayBuffer, o: number, n: number): A })(arena.memory.buffer, p, a.length).set(a as never);
  return p;
}

function scoped<R>(f: () => R): R {
  const m = arena.mark();
  try { return f(); } finally { arena.reset(m); }
}

/**
 * Packs integer values v[N, K] in [-8, 7] the way the format says, written independently of
 * quantize.ts: per block of 32, byte j = (v[j] + 8) | (v[j + 16] + 8) << 4.
 */
function pack(v: Int8Array, N: number, K: number): Uint8Array {
  const out = new Uint8Array(N * K / 2);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < K; b += 32) {
      for (let j = 0; j < 16; j++) {
        out[(n * K + b) / 2 + j] = (v[n * K + b + j] + 8) | ((v[n * K + b + j + 16] + 8) << 4);
      }
    }
  }
  return out;
}

function runGemmQ4(f: typeof wasm.gemm_q4, xq: Int16Array, xs: Float32Array, W: Uint8Array, ws: Float32Array,
  y0: Float32Array, T: number, K: number, N: number, G: number, accumulate: number): Float32Array {
  return scoped(() => {
    const pxq = put(xq, 2), pxs = put(xs, 4), pW = put(W, 1), pws = put(ws, 4), py = put(y0, 4);
    f(pxq, pxs, pW, pws, py, T, K, N, G, accumulate);
    assert.ok(guardIntact(py, T * N, 4), `gemm_q4 T=${T} K=${K} N=${N} G=${G}: wrote past y`);
    return arena.f32(py, T * N).slice();
  });
}

/** The float64 value and error scale of y = x . W^T for integer weights v and group scales ws. */
function reference(xq: Int16Array, xs: Float32Array, v: Int8Array, ws: Float32Array, y0: Float32Array,
  T: number, K: number, N: number, G: number, accumulate: number): { want: Float64Array; mag: Float64Array } {
  const NG = K / G;
  const want = new Float64Array(T * N), mag = new Float64Array(T * N);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      let s = 0, sa = 0;
      for (let g = 0; g < NG; g++) {
        let a = 0, aa = 0;
        for (let k = g * G; k < g * G + G; k++) { const p = xq[t * K + k] * v[n * K + k]; a += p; aa += Math.abs(p); }
        s += a * ws[n * NG + g]; sa += aa * Math.abs(ws[n * NG + g]);
      }
      want[t * N + n] = s * xs[t] + (accumulate ? y0[t * N + n] : 0);
      mag[t * N + n] = sa * xs[t] + (accumulate ? Math.abs(y0[t * N + n]) : 0);
    }
  }
  return { want, mag };
}

// --- gemm_q4 ---------------------------------------------------------------------------------

test('gemm_q4: SIMD == scalar, both within f32 rounding of the exact float64 result (odd T, N; G 32..256)', () => {
  for (const T of [1, 3, 4, 5, 7, 9]) {
    for (const N of [1, 3, 5, 13]) {
      for (const [K, G] of [[32, 32], [96, 32], [128, 64], [256, 128], [512, 256], [4096, 32], [3072, 64]]) {
        const r = rng(T * 7919 + N * 104729 + K * 31 + G);
        // the full i16 range and every code, incl. -32768 and -8
        const xq = Int16Array.from({ length: T * K }, () => Math.floor(r() * 65536) - 32768);
        const v = Int8Array.from({ length: N * K }, () => Math.floor(r() * 16) - 8);
        const W = pack(v, N, K);
        const xs = Float32Array.from({ length: T }, () => r() * 1e-3);
        // scales of both signs, some exactly zero (all-zero groups)
        const ws = Float32Array.from({ length: N * K / G }, () => (r() < 0.1 ? 0 : (r() - 0.5) * 2e-2));
        const y0 = data(T * N, K + N, false);
        for (const accumulate of [0, 1]) {
          const tag = `gemm_q4 T=${T} K=${K} N=${N} G=${G} acc=${accumulate}`;
          const a = runGemmQ4(wasm.gemm_q4, xq, xs, W, ws, y0, T, K, N, G, accumulate);
          const b = runGemmQ4(wasm.gemm_q4_scalar, xq, xs, W, ws, y0, T, K, N, G, accumulate);
          assertSame(`${tag} simd vs scalar`, a, b);
          const { want, mag } = reference(xq, xs, v, ws, y0, T, K, N, G, accumulate);
          assertClose(`${tag} vs float64`, b, want, (i) => (K / G + GEMM_Q4_EXTRA_ROUNDINGS) * U * mag[i]);
        }
      }
    }
  }
});

test('gemm_q4: the nibble layout: a single nonzero weight at every k lands on x[k]', () => {
  scoped(() => {
    const T = 1, K = 64, N = 1, G = 32;
    const xq = Int16Array.from({ length: K }, (_, k) => k + 1); // x[k] = k + 1 tells k apart
    const xs = new Float32Array([1]);
    for (let k = 0; k < K; k++) {
      for (const val of [-8, 7]) {
        const v = new Int8Array(K);
        v[k] = val;
        const ws = new Float32Array([1, 1]);
        for (const f of [wasm.gemm_q4, wasm.gemm_q4_scalar]) {
          const [y] = runGemmQ4(f, xq, xs, pack(v, N, K), ws, new Float32Array(1), T, K, N, G, 0);
          assert.is(y, (k + 1) * val, `k=${k} value ${val}`);
        }
      }
    }
  });
});

test('gemm_q4: worst-case magnitudes stay exact (G = 256: lane sums reach 2^24)', () => {
  const T = 5, K = 512, N = 3, G = 256; // T covers the 4x1 and 1x1 tiles
  for (const [xv, wv] of [[-32768, -8], [32767, 7], [-32768, 7]]) {
    const xq = new Int16Array(T * K).fill(xv);
    const v = new Int8Array(N * K).fill(wv);
    const ws = new Float32Array(N * K / G).fill(1);
    const xs = new Float32Array(T).fill(1);
    for (const f of [wasm.gemm_q4, wasm.gemm_q4_scalar]) {
      const y = runGemmQ4(f, xq, xs, pack(v, N, K), ws, new Float32Array(T * N), T, K, N, G, 0);
      // per lane and group 64 products: |a| <= 2^24, exact in f32; two groups, 4 lanes: exact
      for (let i = 0; i < T * N; i++) assert.is(y[i], xv * wv * K, `x=${xv} w=${wv} [${i}]`);
    }
  }
});

test('gemm_q4: quantized outlier activations and quantizeGroupsQ4 weights, close to the float64 x . W', () => {
  scoped(() => {
    for (const [T, K, N, G] of [[5, 4096, 13, 32], [1, 768, 7, 32], [9, 3072, 3, 64], [37, 4096, 5, 32]]) { // 37 > 16 tokens per block at K = 4096
      const x = data(T * K, K + 1);
      const w = data(N * K, K + 2);
      for (let i = 0; i < w.length; i++) w[i] *= 0.05;
      const { q, scales } = quantizeGroupsQ4(w, N, K, G);
      const wd = dequantizeGroupsQ4(q, scales, N, K, G);
      const px = put(x, 4), pxq = allocGuarded(T * K, 2), pxs = allocGuarded(T, 4);
      wasm.quantize_rows_i16(px, pxq, pxs, T, K);
      const xq = arena.i16(pxq, T * K).slice(), xs = arena.f32(pxs, T).slice();
      const y0 = new Float32Array(T * N);
      const a = runGemmQ4(wasm.gemm_q4, xq, xs, q, scales, y0, T, K, N, G, 0);
      const b = runGemmQ4(wasm.gemm_q4_scalar, xq, xs, q, scales, y0, T, K, N, G, 0);
      assertSame(`gemm_q4 quantized T=${T} K=${K} simd vs scalar`, a, b);
      // against the unquantized activations and the dequantized weights: each xq is off by at
      // most half a step xs / 2, plus the kernel's f32 roundings
      const want = new Float64Array(T * N), tol = new Float64Array(T * N);
      for (let t = 0; t < T; t++) {
        for (let n = 0; n < N; n++) {
          let s = 0, sa = 0, sm = 0;
          for (let k = 0; k < K; k++) {
            s += x[t * K + k] * wd[n * K + k]; sa += Math.abs(wd[n * K + k]); sm += Math.abs(x[t * K + k] * wd[n * K + k]);
          }
          want[t * N + n] = s;
          tol[t * N + n] = 0.5 * xs[t] * sa + (K / G + GEMM_Q4_EXTRA_ROUNDINGS) * U * sm * 1.001;
        }
      }
      assertClose(`gemm_q4 quantized T=${T} K=${K} vs float64 x.W`, a, want, (i) => tol[i]);
    }
  });
});

test('gemm_q4: instructor-xl shapes (K = 16384 and 4096, N = 16384), SIMD == scalar, within f32 rounding of float64', () => {
  for (const [T, K, N] of [[5, 16384, 13], [9, 4096, 29], [3, 1024, 16384]]) {
    const G = 32;
    const r = rng(T * 7919 + N * 104729 + K);
    const xq = Int16Array.from({ length: T * K }, () => Math.floor(r() * 65536) - 32768);
    const v = Int8Array.from({ length: N * K }, () => Math.floor(r() * 16) - 8);
    const xs = Float32Array.from({ length: T }, () => r() * 1e-3);
    const ws = Float32Array.from({ length: N * K / G }, () => (r() - 0.5) * 2e-2);
    const y0 = data(T * N, K + N, false);
    const tag = `gemm_q4 T=${T} K=${K} N=${N}`;
    const a = runGemmQ4(wasm.gemm_q4, xq, xs, pack(v, N, K), ws, y0, T, K, N, G, 1);
    const b = runGemmQ4(wasm.gemm_q4_scalar, xq, xs, pack(v, N, K), ws, y0, T, K, N, G, 1);
    assertSame(`${tag} simd vs scalar`, a, b);
    const { want, mag } = reference(xq, xs, v, ws, y0, T, K, N, G, 1);
    assertClose(`${tag} vs float64`, a, want, (i) => (K / G + GEMM_Q4_EXTRA_ROUNDINGS) * U * mag[i]);
  }
});

// --- quantizeGroupsQ4 ------------------------------------------------------------------------

test('quantizeGroupsQ4: the scale searched near m / -8 never does worse than m / -8; errors within 2 |scale|; G = 32 / 64 / 128', () => {
  const factors = [1, 0.98, 0.96, 0.94, 0.92, 0.9, 0.88, 0.86, 0.84, 0.82, 0.8, 1.02, 1.04, 1.06, 1.08, 1.1];
  const code = (v: number, s: number) => Math.max(-8, Math.min(7, roundHalfEven(v / s)));
  for (const G of [32, 64, 128]) {
    const rows = 7, cols = 256;
    const w = data(rows * cols, G);
    const { q, scales } = quantizeGroupsQ4(w, rows, cols, G);
    assert.is(q.length, rows * cols / 2);
    assert.is(scales.length, rows * cols / G);
    const back = dequantizeGroupsQ4(q, scales, rows, cols, G);
    let searched = 0;
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < cols / G; g++) {
        const at = r * cols + g * G;
        let m = 0;
        for (let j = 0; j < G; j++) if (Math.abs(w[at + j]) > Math.abs(m)) m = w[at + j];
        const s = scales[r * cols / G + g];
        assert.ok(factors.some((f) => s === Math.fround((m / -8) * f)), `row ${r} group ${g}: scale ${s} is one of the candidates`);
        if (s !== Math.fround(m / -8)) searched++;
        let sse = 0, sse1 = 0;
        const s1 = Math.fround(m / -8);
        for (let j = 0; j < G; j++) {
          const i = at + j;
          assert.is(back[i], Math.fround(code(w[i], s) * s), `G=${G} [${r}, ${g * G + j}] is round-to-nearest at its scale`);
          const err = Math.abs(back[i] - w[i]);
          // clipping at f = 0.8 costs at most |m| - 8 |s| = 2 |s|
          assert.ok(err <= 2 * Math.abs(s) * (1 + Q4_ROUNDTRIP_SLACK), `G=${G} [${r}, ${g * G + j}]: |err| ${err} > 2 |scale| ${s}`);
          sse += (code(w[i], s) * s - w[i]) ** 2;
          sse1 += (code(w[i], s1) * s1 - w[i]) ** 2;
        }
        assert.ok(sse <= sse1, `G=${G} row ${r} group ${g}: squared error ${sse} > ${sse1} of m / -8`);
      }
    }
    assert.ok(searched > 0, 'the search picks another scale somewhere');
  }
});

test('quantizeGroupsQ4: zero groups, the block nibble layout, exact integers keep scale m / -8, bad input', () => {
  const cols = 64;
  const w = new Float32Array(2 * cols);
  // row 0 group 0 all zero; group 1: -8 at its first value and integers, so scale 1 is exact (no search wins)
  w.set([-8, 0, 1, 2, -1, -2, -3, 7, 6, 5], 32);
  w[32 + 16] = 3; // value 16 of the block: the high nibble of byte 0
  w[cols + 5] = -1e-3; // row 1: one tiny value
  const { q, scales } = quantizeGroupsQ4(w, 2, cols, 32);
  assert.equal(Array.from(scales), [0, 1, Math.fround(1e-3 / 8), 0]);
  assert.ok(q.subarray(0, 16).every((b) => b === 0x88), 'an all-zero group is code 8 (value 0) everywhere');
  assert.is(q[16], (0) | ((3 + 8) << 4), 'byte 0 of block 1: -8 low, +3 high');
  assert.equal(Array.from(q.subarray(17, 26), (b) => (b & 15) - 8), [0, 1, 2, -1, -2, -3, 7, 6, 5]);
  assert.is((q[32 + 5] & 15) - 8, -8, 'row 1: the tiny value is -8');
  throwsCode(() => quantizeGroupsQ4(new Float32Array(64), 1, 64, 48), 'group size 48');
  throwsCode(() => quantizeGroupsQ4(new Float32Array(96), 1, 96, 64), 'group size 64');
  throwsCode(() => quantizeGroupsQ4(new Float32Array(30), 1, 32, 32), 'rows * cols = 32');
  const bad = new Float32Array(64);
  bad[40] = NaN;
  throwsCode(() => quantizeGroupsQ4(bad, 1, 64, 32), 'column 40');
});

function throwsCode(fn: () => unknown, pattern: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, InstructorError);
    assert.is((e as InstructorError).code, 'BAD_INPUT');
    assert.ok((e as Error).message.includes(pattern), (e as Error).message);
    return;
  }
  assert.unreachable(`expected BAD_INPUT matching ${pattern}`);
}

test.run();
