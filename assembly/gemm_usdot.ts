// The usdot operand form of the relaxed int8 matmul (build/kernels-relaxed.wasm only; issue 25):
// XNNPACK's wasmusdot. The weights, int8 as the file stores them (no 7-bit requantization: the
// simd128 build's weight precision), are the FIRST operand of i32x4.relaxed_dot_i8x16_i7x16_add_s;
// the int8 activations XOR 0x80 (x + 128, as unsigned bytes) are the SECOND, and
// sum_k W * (x + 128) - 128 * wsum[n] = sum_k W * x, wsum[n] = sum_k W[n, k].
//
// The second operand leaves [0, 127], where the relaxed-SIMD spec lets lowerings differ, so these
// sums are right only where the dot is u8 x s8 into i32 without saturation: x64's AVX-VNNI vpdpbusd
// (V8 emits it for the relaxed dot where the CPU has AVX-VNNI, vpdpbusd ymm with the revectorizer).
// Elsewhere the results are wrong: V8's fallback vpmaddubsw saturates its i16 pair sums
// (2 * 255 * 127 > 32767), ARM's sdot and AVX-VNNI-INT8's vpdpbssd (V8 15.2) read the second
// operand as signed. usdotStatus() (src/engine/wasm.ts) probes for the exact lowering; nothing
// may call gemm_usdot where it says otherwise. The outlier channels are gemm_q7's (int16 codes
// against Wo), Wo here holding the outlier columns' int8 codes.
//
// Weight layout: pack_q7's ([K/4][8 rows][4 k] per 8-row group, the N % 8 last rows row-major).

/** Bytes of per-row metadata xm, as quantize_rows_i8 writes it (gemm_q7.ts). */
const XM: usize = 16;

// quantize_rows_u8: quantize_rows_i8's contract (gemm_q7.ts), each stored code then XOR 0x80
//   (x + 128 as an unsigned byte; an outlier channel's code 0 becomes 128). Same arguments.
export function quantize_rows_u8(x: usize, xq: usize, xo: usize, xm: usize, T: i32, K: i32, keep: usize, oidx: usize, O: i32): void {
  quantize_rows_i8(x, xq, xo, xm, T, K, keep, oidx, O);
  const total = <usize>T * <usize>K;
  const bias = i8x16.splat(-128);
  for (let i: usize = 0; i < total; i += 16) v128.store(xq + i, v128.xor(v128.load(xq + i), bias));
}

export function quantize_rows_u8_scalar(x: usize, xq: usize, xo: usize, xm: usize, T: i32, K: i32, keep: usize, oidx: usize, O: i32): void {
  quantize_rows_i8_scalar(x, xq, xo, xm, T, K, keep, oidx, O);
  const total = <usize>T * <usize>K;
  for (let i: usize = 0; i < total; i++) store<u8>(xq + i, load<u8>(xq + i) ^ 0x80);
}

import { quantize_rows_i8, quantize_rows_i8_scalar } from './gemm_q7';

// row_sums_i8: out[n] = sum_k W[n, k] (i32) of row-major int8 W [N, K], any N, K >= 1 (exact:
//   |sum| <= 128 K). Before packing.
export function row_sums_i8(W: usize, N: i32, K: i32, out: usize): void {
  const K16 = K & ~15;
  for (let n = 0; n < N; n++) {
    const r = W + <usize>n * <usize>K;
    let acc = i32x4.splat(0);
    let k = 0;
    for (; k < K16; k += 16) acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(r + <usize>k))));
    let s = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
    for (; k < K; k++) s += <i32>load<i8>(r + <usize>k);
    store<i32>(out + (<usize>n << 2), s);
  }
}

export function row_sums_i8_scalar(W: usize, N: i32, K: i32, out: usize): void {
  for (let n = 0; n < N; n++) {
    let s: i32 = 0;
    for (let k = 0; k < K; k++) s += <i32>load<i8>(W + <usize>n * <usize>K + <usize>k);
    store<i32>(out + (<usize>n << 2), s);
  }
}

// gemm_usdot: y[T,N] (+)= x . W^T for x = (xq u8 codes, xo, xm) from quantize_rows_u8, W int8 in
//   pack_q7's layout with scales ws, wsum = row_sums_i8 of W (row-major, before packing), Wo [N, O]
//   the outlier columns' int8 codes in pack_q8's layout (0 when O == 0).
//   a = sum_k W[n,k] * xq[t,k] - 128 * wsum[n] (= sum_k W * x exactly: |sum_k W * xq| <= 127 * 255 * K
//   < 2^31 for K <= 65536), b = sum_j xo[t,j] * Wo[n,j];
//   v = f32(a) * s[t]; if O > 0: v = v + f32(b) * so[t]; v = v * ws[n]; plus the old y[t,n] when
//   accumulate != 0. Each step one f32 rounding, in this order, in SIMD and scalar alike.
//   K % 16 == 0 (K <= 65536), O % 16 == 0; any T >= 1, N >= 1. Bit-identical to the twin ONLY
//   under an exact usdot lowering (see the top of this file). Tiles: 4 tokens x 8 rows; tail
//   tokens 1x8; tail rows 1x1.
export function gemm_usdot(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, wsum: usize, y: usize, T: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  const N8 = N & ~7;
  for (let n = 0; n < N8; n += 8) {
    let t = 0;
    for (; t + 4 <= T; t += 4) us_tile_4x8(xq, xo, xm, W, Wo, ws, wsum, y, t, n, K, N, O, accumulate);
    for (; t < T; t++) us_tile_1x8(xq, xo, xm, W, Wo, ws, wsum, y, t, n, K, N, O, accumulate);
  }
  for (let n = N8; n < N; n++) {
    for (let t = 0; t < T; t++) us_tile_1x1(xq, xo, xm, W, Wo, ws, wsum, y, t, n, K, N, O, accumulate);
  }
}

// f32(a - 128 * wsum[n..n+3]) * s[t]
// @ts-ignore: decorator
@inline
function main4(a: v128, wsum: usize, xm: usize, t: i32): v128 {
  return f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(a, i32x4.shl(v128.load(wsum), 7))), f32x4.splat(load<f32>(xm + <usize>t * XM)));
}

// v + f32(b) * so
// @ts-ignore: decorator
@inline
function out4(v: v128, b: v128, xm: usize, t: i32): v128 {
  return f32x4.add(v, f32x4.mul(f32x4.convert_i32x4_s(b), f32x4.splat(load<f32>(xm + <usize>t * XM, 8))));
}

// y[t, n..n+7] = (v0, v1) * ws[n..n+7] (+ old y), stores at immediate offsets 0 and 16 (revectorizable)
// @ts-ignore: decorator
@inline
function store8(y: usize, v0: v128, v1: v128, wn: usize, accumulate: i32): void {
  const r0 = f32x4.mul(v0, v128.load(wn)), r1 = f32x4.mul(v1, v128.load(wn, 16));
  if (accumulate != 0) {
    const o0 = v128.load(y), o1 = v128.load(y, 16);
    v128.store(y, f32x4.add(r0, o0));
    v128.store(y, f32x4.add(r1, o1), 16);
  } else {
    v128.store(y, r0);
    v128.store(y, r1, 16);
  }
}

// sum_j xo[t, j] * Wo[n..n+3 | n+4..n+7, j] of one token (b0, b1)
// @ts-ignore: decorator
@inline
function outliers8(xo: usize, Wo: usize, t: i32, n: i32, O: i32, half: i32): v128 {
  let q = xo + ((<usize>t * <usize>O) << 1);
  let po = Wo + <usize>n * <usize>O + <usize>(half << 3);
  const poe = po + (<usize>O << 3);
  let b = i32x4.splat(0);
  while (po < poe) {
    b = i32x4.add(b, i32x4.dot_i16x8_s(v128.load32_splat(q), v128.load8x8_s(po)));
    q += 4;
    po += 16;
  }
  return b;
}

// 4 tokens x 8 rows: the weights first, the broadcast unsigned activations second.
function us_tile_4x8(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, wsum: usize, y: usize, t: i32, n: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  let p0 = xq + <usize>t * <usize>K;
  let p1 = p0 + <usize>K, p2 = p1 + <usize>K, p3 = p2 + <usize>K;
  let pw = W + <usize>n * <usize>K;
  const pe = pw + (<usize>K << 3);
  let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
  let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
  while (pw < pe) {
    const b0 = v128.load(pw);
    const c0 = v128.load32_splat(p0);
    a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b0, c0, a00);
    const b1 = v128.load(pw, 16);
    a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b1, c0, a01);
    const c1 = v128.load32_splat(p1);
    a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b0, c1, a10);
    a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b1, c1, a11);
    const c2 = v128.load32_splat(p2);
    a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b0, c2, a20);
    a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b1, c2, a21);
    const c3 = v128.load32_splat(p3);
    a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b0, c3, a30);
    a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b1, c3, a31);
    p0 += 4; p1 += 4; p2 += 4; p3 += 4;
    pw += 32;
  }
  const sn = wsum + (<usize>n << 2);
  let v00 = main4(a00, sn, xm, t), v01 = main4(a01, sn + 16, xm, t), v10 = main4(a10, sn, xm, t + 1), v11 = main4(a11, sn + 16, xm, t + 1);
  let v20 = main4(a20, sn, xm, t + 2), v21 = main4(a21, sn + 16, xm, t + 2), v30 = main4(a30, sn, xm, t + 3), v31 = main4(a31, sn + 16, xm, t + 3);
  if (O > 0) {
    v00 = out4(v00, outliers8(xo, Wo, t, n, O, 0), xm, t); v01 = out4(v01, outliers8(xo, Wo, t, n, O, 1), xm, t);
    v10 = out4(v10, outliers8(xo, Wo, t + 1, n, O, 0), xm, t + 1); v11 = out4(v11, outliers8(xo, Wo, t + 1, n, O, 1), xm, t + 1);
    v20 = out4(v20, outliers8(xo, Wo, t + 2, n, O, 0), xm, t + 2); v21 = out4(v21, outliers8(xo, Wo, t + 2, n, O, 1), xm, t + 2);
    v30 = out4(v30, outliers8(xo, Wo, t + 3, n, O, 0), xm, t + 3); v31 = out4(v31, outliers8(xo, Wo, t + 3, n, O, 1), xm, t + 3);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2), y2 = y1 + (<usize>N << 2), y3 = y2 + (<usize>N << 2);
  store8(y0, v00, v01, wn, accumulate);
  store8(y1, v10, v11, wn, accumulate);
  store8(y2, v20, v21, wn, accumulate);
  store8(y3, v30, v31, wn, accumulate);
}

// 1 token x 8 rows (the T % 4 last tokens).
function us_tile_1x8(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, wsum: usize, y: usize, t: i32, n: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  let p0 = xq + <usize>t * <usize>K;
  let pw = W + <usize>n * <usize>K;
  const pe = pw + (<usize>K << 3);
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0);
  while (pw < pe) {
    const c0 = v128.load32_splat(p0);
    a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(pw), c0, a0);
    a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(pw, 16), c0, a1);
    p0 += 4;
    pw += 32;
  }
  const sn = wsum + (<usize>n << 2);
  let v0 = main4(a0, sn, xm, t), v1 = main4(a1, sn + 16, xm, t);
  if (O > 0) {
    v0 = out4(v0, outliers8(xo, Wo, t, n, O, 0), xm, t);
    v1 = out4(v1, outliers8(xo, Wo, t, n, O, 1), xm, t);
  }
  store8(y + ((<usize>t * <usize>N + <usize>n) << 2), v0, v1, ws + (<usize>n << 2), accumulate);
}

// One output of a row-major tail row (the N % 8 last rows).
function us_tile_1x1(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, wsum: usize, y: usize, t: i32, n: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  const x0 = xq + <usize>t * <usize>K;
  const w0 = W + <usize>n * <usize>K;
  let a = i32x4.splat(0);
  for (let k = 0; k < K; k += 16) a = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(w0 + <usize>k), v128.load(x0 + <usize>k), a);
  const s = i32x4.extract_lane(a, 0) + i32x4.extract_lane(a, 1) + i32x4.extract_lane(a, 2) + i32x4.extract_lane(a, 3);
  put1(y, t, n, N, finish(s - (load<i32>(wsum + (<usize>n << 2)) << 7), xo, xm, Wo, t, n, O, N & ~7), load<f32>(ws + (<usize>n << 2)), accumulate);
}

// f32(a) * s[t] (+ f32(b) * so[t] with b over the outlier channels, read by their defining formula)
// @ts-ignore: decorator
@inline
function finish(a: i32, xo: usize, xm: usize, Wo: usize, t: i32, n: i32, O: i32, N8: i32): f32 {
  const mr = xm + <usize>t * XM;
  let v = <f32>a * load<f32>(mr);
  if (O > 0) {
    let b: i32 = 0;
    for (let j = 0; j < O; j++) b += <i32>load<i16>(xo + ((<usize>t * <usize>O + <usize>j) << 1)) * <i32>load<i8>(q8_at(Wo, n, j, O, N8));
    v = v + <f32>b * load<f32>(mr, 8);
  }
  return v;
}

// @ts-ignore: decorator
@inline
function put1(y: usize, t: i32, n: i32, N: i32, v: f32, w: f32, accumulate: i32): void {
  const p = y + ((<usize>t * <usize>N + <usize>n) << 2);
  let r = v * w;
  if (accumulate != 0) r += load<f32>(p);
  store<f32>(p, r);
}

// The byte of W[n, k] in pack_q7's layout / of Wo[n, j] in pack_q8's (N8 = N & ~7: rows below it are packed).
// @ts-ignore: decorator
@inline
function q7_at(W: usize, n: i32, k: i32, K: i32, N8: i32): usize {
  if (n >= N8) return W + <usize>n * <usize>K + <usize>k;
  return W + <usize>(n & ~7) * <usize>K + (<usize>(k >> 2) << 5) + (<usize>(n & 7) << 2) + <usize>(k & 3);
}

// @ts-ignore: decorator
@inline
function q8_at(W: usize, n: i32, j: i32, O: i32, N8: i32): usize {
  if (n >= N8) return W + <usize>n * <usize>O + <usize>j;
  return W + <usize>(n & ~7) * <usize>O + (<usize>(j >> 1) << 4) + (<usize>(n & 7) << 1) + <usize>(j & 1);
}

// The twin reads both packed layouts by their defining formulas, one product at a time, in exact
// integer arithmetic: what an exact usdot lowering computes.
export function gemm_usdot_scalar(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, wsum: usize, y: usize, T: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  const N8 = N & ~7;
  for (let t = 0; t < T; t++) {
    const xr = xq + <usize>t * <usize>K;
    for (let n = 0; n < N; n++) {
      let a: i32 = 0;
      for (let k = 0; k < K; k++) a += <i32>load<u8>(xr + <usize>k) * <i32>load<i8>(q7_at(W, n, k, K, N8));
      put1(y, t, n, N, finish(a - (load<i32>(wsum + (<usize>n << 2)) << 7), xo, xm, Wo, t, n, O, N8), load<f32>(ws + (<usize>n << 2)), accumulate);
    }
  }
}
