// Relaxed-SIMD int8 matmul (build/kernels-relaxed.wasm only): 7-bit weight codes times int8
// activations on i32x4.relaxed_dot_i8x16_i7x16_add_s, plus a few int16 "outlier" channels.
//
// Why this shape. relaxed_dot multiplies a signed i8 by a second operand whose meaning is fixed by
// the spec only in [0, 127] (x64 VNNI's vpdpbusd reads it unsigned, the pmaddubsw fallback too,
// ARM's sdot signed): kept in [0, 127] every lowering gives the same bits. The weights are that
// operand: each int8 row of the weights file is requantized once at load to 7-bit codes
// w7 in [-63, 63] (requant_q7), stored offset as w7 + 64 in [1, 127]; the activations are int8
// with one scale per row, and sum_k x8 * w7 = sum_k x8 * (w7 + 64) - 64 * sum_k x8 (the row sum
// comes from the quantizer). Per-row int8 activations alone lose too much where a few channels
// carry most of the magnitude (T5's residual stream, so the rmsnorm outputs that feed q, k, v and
// wi): those O channels (found at load by a calibration pass) are left out of the int8 codes and
// carried in int16 with their own per-row scale, against their 7-bit weights kept signed in a
// side matrix Wo [N, O] (O % 16 == 0, padding columns 0).
//
// Packed layout of the 7-bit codes W[N,K] (pack_q7, in place): each group of 8 rows n0..n0+7
// (n0 % 8 == 0, n0 + 8 <= N) keeps its 8*K bytes at n0*K as [K/4][8 rows][4 k]:
//   byte n0*K + (k >> 2)*32 + r*4 + (k & 3) holds W[n0 + r, k];
// the N % 8 last rows stay row-major. One 16-byte load holds k..k+3 of 4 rows, so relaxed_dot
// against a broadcast (x[t,k..k+3]) leaves 4 rows' sums in 4 lanes, 16 multiply-adds per
// instruction. A column range that starts at a multiple of 8 rows is itself a packed matrix (how
// threads split N). Wo uses pack_q8's layout (gemm_q8.ts) over its O columns.

// Tokens per pass over W: TB rows of int8 x (TB * K bytes <= 256 KiB) stay in L2 while W streams.
const X_BLOCK_BYTES: i32 = 256 * 1024;
/** Bytes of per-row metadata xm written by quantize_rows_i8 and read by gemm_q7. */
const XM: usize = 16;

// quantize_rows_i8: x[T,K] f32 -> xq[T,K] i8, xo[T,O] i16, xm[T] (16 bytes each: s f32,
//   sum i32, so f32, 0). keep: 0 (every channel is int8) or K u32 masks (0xffffffff: channel in
//   the int8 codes; 0: an outlier, code 0). oidx: O i32 channel indices (-1: padding, value 0).
//   m = max |x[t,k]| over kept k (as integers over the float bits: NaN sorts above Inf);
//   s = m / 127, codes i8(nearest(x * (127 / m))) (trunc_sat semantics: NaN -> 0), 0 when m == 0;
//   sum = sum of the row's codes; mo = max |x[t, oidx[j]]|, so = mo / 32767, xo = i16 codes as
//   quantize_rows_i16. K % 16 == 0, O % 8 == 0 (may be 0). SIMD and scalar are identical.
export function quantize_rows_i8(x: usize, xq: usize, xo: usize, xm: usize, T: i32, K: i32, keep: usize, oidx: usize, O: i32): void {
  const absMask = i32x4.splat(0x7fffffff);
  for (let t = 0; t < T; t++) {
    const xr = x + ((<usize>t * <usize>K) << 2);
    const qr = xq + <usize>t * <usize>K;
    let mv = i32x4.splat(0);
    if (keep == 0) {
      for (let k = 0; k < K; k += 4) mv = i32x4.max_s(mv, v128.and(v128.load(xr + (<usize>k << 2)), absMask));
    } else {
      for (let k = 0; k < K; k += 4) {
        mv = i32x4.max_s(mv, v128.and(v128.and(v128.load(xr + (<usize>k << 2)), absMask), v128.load(keep + (<usize>k << 2))));
      }
    }
    const m = reinterpret<f32>(max(max(i32x4.extract_lane(mv, 0), i32x4.extract_lane(mv, 1)),
                                   max(i32x4.extract_lane(mv, 2), i32x4.extract_lane(mv, 3))));
    const inv: f32 = m == 0 ? 0 : <f32>127.0 / m;
    const vinv = f32x4.splat(inv);
    let sv = i32x4.splat(0);
    for (let k = 0; k < K; k += 16) {
      const p = xr + (<usize>k << 2);
      let a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), vinv)));
      let b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), vinv)));
      let c = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 32), vinv)));
      let d = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 48), vinv)));
      if (keep != 0) {
        const km = keep + (<usize>k << 2);
        a = v128.and(a, v128.load(km)); b = v128.and(b, v128.load(km, 16));
        c = v128.and(c, v128.load(km, 32)); d = v128.and(d, v128.load(km, 48));
      }
      const q = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d));
      v128.store(qr + <usize>k, q);
      sv = i32x4.add(sv, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(q)));
    }
    const sum = i32x4.extract_lane(sv, 0) + i32x4.extract_lane(sv, 1) + i32x4.extract_lane(sv, 2) + i32x4.extract_lane(sv, 3);
    const so = quantize_outliers(xr, xo + ((<usize>t * <usize>O) << 1), oidx, O);
    const mr = xm + <usize>t * XM;
    store<f32>(mr, m == 0 ? 0 : m / <f32>127.0);
    store<i32>(mr, sum, 4);
    store<f32>(mr, so, 8);
    store<i32>(mr, 0, 12);
  }
}

// The O outlier channels of one row as int16 (quantize_rows_i16's rule over those values alone);
// returns their scale. Shared by the SIMD kernel and its twin: O is a few dozen values.
function quantize_outliers(xr: usize, qo: usize, oidx: usize, O: i32): f32 {
  let m: f32 = 0;
  for (let j = 0; j < O; j++) {
    const c = load<i32>(oidx + (<usize>j << 2));
    if (c >= 0) m = Mathf.max(m, Mathf.abs(load<f32>(xr + (<usize>c << 2))));
  }
  const inv: f32 = m == 0 ? 0 : <f32>32767.0 / m;
  for (let j = 0; j < O; j++) {
    const c = load<i32>(oidx + (<usize>j << 2));
    store<i16>(qo + (<usize>j << 1), c >= 0 ? quant_i16(load<f32>(xr + (<usize>c << 2)) * inv) : 0);
  }
  return m == 0 ? 0 : m / <f32>32767.0;
}

// i32(nearest(v)) as trunc_sat gives it (NaN -> 0, saturated), then saturated to [lo, hi]
// as the narrowing instructions do.
// @ts-ignore: decorator
@inline
function trunc_sat_nearest(v: f32, lo: f32, hi: f32): i32 {
  const r = nearest<f32>(v);
  if (r != r) return 0;
  return <i32>Mathf.min(Mathf.max(r, lo), hi);
}

// @ts-ignore: decorator
@inline
function quant_i16(v: f32): i16 {
  return <i16>trunc_sat_nearest(v, -32768.0, 32767.0);
}

export function quantize_rows_i8_scalar(x: usize, xq: usize, xo: usize, xm: usize, T: i32, K: i32, keep: usize, oidx: usize, O: i32): void {
  for (let t = 0; t < T; t++) {
    const xr = x + ((<usize>t * <usize>K) << 2);
    const qr = xq + <usize>t * <usize>K;
    let mb: i32 = 0;
    for (let k = 0; k < K; k++) {
      let b = load<i32>(xr + (<usize>k << 2)) & 0x7fffffff;
      if (keep != 0) b &= load<i32>(keep + (<usize>k << 2));
      mb = max(mb, b);
    }
    const m = reinterpret<f32>(mb);
    const inv: f32 = m == 0 ? 0 : <f32>127.0 / m;
    let sum: i32 = 0;
    for (let k = 0; k < K; k++) {
      let q = trunc_sat_nearest(load<f32>(xr + (<usize>k << 2)) * inv, -128.0, 127.0);
      if (keep != 0 && load<i32>(keep + (<usize>k << 2)) == 0) q = 0;
      store<i8>(qr + <usize>k, <i8>q);
      sum += q;
    }
    const so = quantize_outliers(xr, xo + ((<usize>t * <usize>O) << 1), oidx, O);
    const mr = xm + <usize>t * XM;
    store<f32>(mr, m == 0 ? 0 : m / <f32>127.0);
    store<i32>(mr, sum, 4);
    store<f32>(mr, so, 8);
    store<i32>(mr, 0, 12);
  }
}

// requant_q7: int8 W[N,K] row-major with per-row scales ws[N] -> 7-bit offset codes, in place:
//   W[n,k] = nearest(W[n,k] * (63 / 127)) + 64 (one rounding, ties to even): [1, 127] for the
//   weights file's codes in [-127, 127], 0 for -128,
//   ws[n] *= 127 / 63. Rows stay row-major (pack_q7 packs them). Any N, K >= 1.
export function requant_q7(W: usize, ws: usize, N: i32, K: i32): void {
  const total = <usize>N * <usize>K;
  const r = f32x4.splat(<f32>63.0 / <f32>127.0);
  const off = i16x8.splat(64);
  let i: usize = 0;
  for (; i + 16 <= total; i += 16) {
    const v = v128.load(W + i);
    const lo = i16x8.extend_low_i8x16_s(v), hi = i16x8.extend_high_i8x16_s(v);
    const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), r)));
    const b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), r)));
    const c = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), r)));
    const d = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), r)));
    v128.store(W + i, i8x16.narrow_i16x8_s(i16x8.add(i16x8.narrow_i32x4_s(a, b), off), i16x8.add(i16x8.narrow_i32x4_s(c, d), off)));
  }
  for (; i < total; i++) store<i8>(W + i, <i8>(requant1(load<i8>(W + i)) + 64));
  scale_q7(ws, N);
}

// @ts-ignore: decorator
@inline
function requant1(w: i8): i32 {
  return <i32>nearest<f32>(<f32>w * (<f32>63.0 / <f32>127.0));
}

function scale_q7(ws: usize, N: i32): void {
  const s: f32 = <f32>127.0 / <f32>63.0;
  for (let n = 0; n < N; n++) store<f32>(ws + (<usize>n << 2), load<f32>(ws + (<usize>n << 2)) * s);
}

export function requant_q7_scalar(W: usize, ws: usize, N: i32, K: i32): void {
  const total = <usize>N * <usize>K;
  for (let i: usize = 0; i < total; i++) store<i8>(W + i, <i8>(requant1(load<i8>(W + i)) + 64));
  scale_q7(ws, N);
}

// pack_q7: W[N,K] bytes, row-major -> the packed layout above, in place. scratch: 8*K bytes
//   (clobbered). K % 16 == 0, any N >= 1.
export function pack_q7(W: usize, N: i32, K: i32, scratch: usize): void {
  const rowK = <usize>K;
  for (let n = 0; n + 8 <= N; n += 8) {
    const g = W + <usize>n * rowK;
    memory.copy(scratch, g, rowK << 3);
    let dst = g;
    for (let k: usize = 0; k < rowK; k += 16) {
      // two 4x4 transposes of u32 (4 k of one row): rows 0..3 and 4..7 of k..k+15
      const s = scratch + k;
      const r0 = v128.load(s), r1 = v128.load(s + rowK), r2 = v128.load(s + 2 * rowK), r3 = v128.load(s + 3 * rowK);
      const r4 = v128.load(s + 4 * rowK), r5 = v128.load(s + 5 * rowK), r6 = v128.load(s + 6 * rowK), r7 = v128.load(s + 7 * rowK);
      const a01l = i32x4.shuffle(r0, r1, 0, 4, 1, 5), a01h = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
      const a23l = i32x4.shuffle(r2, r3, 0, 4, 1, 5), a23h = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
      const a45l = i32x4.shuffle(r4, r5, 0, 4, 1, 5), a45h = i32x4.shuffle(r4, r5, 2, 6, 3, 7);
      const a67l = i32x4.shuffle(r6, r7, 0, 4, 1, 5), a67h = i32x4.shuffle(r6, r7, 2, 6, 3, 7);
      // k-quad j of rows 0..3: lanes (r0_j, r1_j, r2_j, r3_j)
      v128.store(dst, i64x2.shuffle(a01l, a23l, 0, 2));
      v128.store(dst, i64x2.shuffle(a45l, a67l, 0, 2), 16);
      v128.store(dst, i64x2.shuffle(a01l, a23l, 1, 3), 32);
      v128.store(dst, i64x2.shuffle(a45l, a67l, 1, 3), 48);
      v128.store(dst, i64x2.shuffle(a01h, a23h, 0, 2), 64);
      v128.store(dst, i64x2.shuffle(a45h, a67h, 0, 2), 80);
      v128.store(dst, i64x2.shuffle(a01h, a23h, 1, 3), 96);
      v128.store(dst, i64x2.shuffle(a45h, a67h, 1, 3), 112);
      dst += 128;
    }
  }
}

// The byte of W[n, k] in pack_q7's layout (N8 = N & ~7: rows below it are packed).
// @ts-ignore: decorator
@inline
function q7_at(W: usize, n: i32, k: i32, K: i32, N8: i32): usize {
  if (n >= N8) return W + <usize>n * <usize>K + <usize>k;
  return W + <usize>(n & ~7) * <usize>K + (<usize>(k >> 2) << 5) + (<usize>(n & 7) << 2) + <usize>(k & 3);
}

// outlier_codes_q7: Wo[n, j] = the signed 7-bit code of W[n, oidx[j]] (W: 7-bit offset codes in
//   pack_q7's layout, as requant_q7 and pack_q7 leave them), row-major i8 [N, O]; pack_q8 then puts
//   Wo into the layout gemm_q7 reads. oidx: O i32 channel indices in [0, K). Any N, K, O >= 1.
export function outlier_codes_q7(W: usize, N: i32, K: i32, oidx: usize, O: i32, Wo: usize): void {
  const N8 = N & ~7;
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < O; j++) {
      const k = load<i32>(oidx + (<usize>j << 2));
      store<i8>(Wo + <usize>n * <usize>O + <usize>j, <i8>(<i32>load<u8>(q7_at(W, n, k, K, N8)) - 64));
    }
  }
}

// The byte of Wo[n, j] in pack_q8's layout.
// @ts-ignore: decorator
@inline
function q8_at(W: usize, n: i32, j: i32, O: i32, N8: i32): usize {
  if (n >= N8) return W + <usize>n * <usize>O + <usize>j;
  return W + <usize>(n & ~7) * <usize>O + (<usize>(j >> 1) << 4) + (<usize>(n & 7) << 1) + <usize>(j & 1);
}

// gemm_q7: y[T,N] (+)= x . W^T for x = (xq, xo, xm) from quantize_rows_i8 and W = 7-bit offset
//   codes in pack_q7's layout with scales ws (requant_q7), Wo [N,O] the signed 7-bit codes of the
//   outlier channels in pack_q8's layout (0 when O == 0).
//   a = sum_k xq[t,k] * W[n,k] - 64 * sum[t] and b = sum_j xo[t,j] * Wo[n,j], both exact in i32
//   (|a| <= 127 * 127 * K, so K <= 65536; wrapping sums of exact terms give the exact total);
//   v = f32(a) * s[t]; if O > 0: v = v + f32(b) * so[t]; v = v * ws[n]; plus the old y[t,n] when
//   accumulate != 0. Each step one f32 rounding, in this order, in SIMD and scalar alike.
//   K % 16 == 0 (K <= 65536), O % 16 == 0; any T >= 1, N >= 1. Bit-identical to the twin.
//   Tiles: 4 tokens x 8 rows (8 accumulators, 4 broadcasts, 2 weight vectors); tail tokens 1x8;
//   tail rows 1x1.
export function gemm_q7(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  let TB = (X_BLOCK_BYTES / K) & ~3;
  if (TB < 4) TB = 4;
  const N8 = N & ~7;
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min(t0 + TB, T);
    const t4 = t0 + ((t1 - t0) & ~3);
    for (let n = 0; n < N8; n += 8) {
      for (let t = t0; t < t4; t += 4) q7_tile_4x8(xq, xo, xm, W, Wo, ws, y, t, n, K, N, O, accumulate);
      for (let t = t4; t < t1; t++) q7_tile_1x8(xq, xo, xm, W, Wo, ws, y, t, n, K, N, O, accumulate);
    }
    for (let n = N8; n < N; n++) {
      for (let t = t0; t < t1; t++) q7_tile_1x1(xq, xo, xm, W, Wo, ws, y, t, n, K, N, O, accumulate);
    }
  }
}

// v = f32(a - corr) * s (4 rows of one token), before the outliers and ws.
// @ts-ignore: decorator
@inline
function main4(a: v128, xm: usize, t: i32): v128 {
  const mr = xm + <usize>t * XM;
  return f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(a, i32x4.splat(load<i32>(mr, 4) << 6))), f32x4.splat(load<f32>(mr)));
}

// v + f32(b) * so
// @ts-ignore: decorator
@inline
function out4(v: v128, b: v128, xm: usize, t: i32): v128 {
  return f32x4.add(v, f32x4.mul(f32x4.convert_i32x4_s(b), f32x4.splat(load<f32>(xm + <usize>t * XM, 8))));
}

// y[t, n..n+7] = (v0, v1) * ws[n..n+7] (+ old y). As gemm_q8's emit8: both old vectors loaded
// before either store, the stores at immediate offsets 0 and 16 of one base, so that V8's
// revectorizer (--experimental-wasm-revectorize) pairs them and fuses the tile into 256-bit code.
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

// 4 tokens x 8 rows.
function q7_tile_4x8(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  let p0 = xq + <usize>t * <usize>K;
  let p1 = p0 + <usize>K, p2 = p1 + <usize>K, p3 = p2 + <usize>K;
  let pw = W + <usize>n * <usize>K;
  const pe = pw + (<usize>K << 3);
  let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
  let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
  while (pw < pe) {
    const c0 = v128.load32_splat(p0);
    const c1 = v128.load32_splat(p1);
    const c2 = v128.load32_splat(p2);
    const c3 = v128.load32_splat(p3);
    const b0 = v128.load(pw);
    a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c0, b0, a00);
    a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c1, b0, a10);
    a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c2, b0, a20);
    a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c3, b0, a30);
    const b1 = v128.load(pw, 16);
    a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c0, b1, a01);
    a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c1, b1, a11);
    a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c2, b1, a21);
    a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c3, b1, a31);
    p0 += 4; p1 += 4; p2 += 4; p3 += 4;
    pw += 32;
  }
  let v00 = main4(a00, xm, t), v01 = main4(a01, xm, t), v10 = main4(a10, xm, t + 1), v11 = main4(a11, xm, t + 1);
  let v20 = main4(a20, xm, t + 2), v21 = main4(a21, xm, t + 2), v30 = main4(a30, xm, t + 3), v31 = main4(a31, xm, t + 3);
  if (O > 0) {
    let q0 = xo + ((<usize>t * <usize>O) << 1);
    let q1 = q0 + (<usize>O << 1), q2 = q1 + (<usize>O << 1), q3 = q2 + (<usize>O << 1);
    let po = Wo + <usize>n * <usize>O;
    const poe = po + (<usize>O << 3);
    let b00 = i32x4.splat(0), b01 = i32x4.splat(0), b10 = i32x4.splat(0), b11 = i32x4.splat(0);
    let b20 = i32x4.splat(0), b21 = i32x4.splat(0), b30 = i32x4.splat(0), b31 = i32x4.splat(0);
    while (po < poe) {
      const w0 = v128.load8x8_s(po), w1 = v128.load8x8_s(po, 8);
      const c0 = v128.load32_splat(q0), c1 = v128.load32_splat(q1), c2 = v128.load32_splat(q2), c3 = v128.load32_splat(q3);
      b00 = i32x4.add(b00, i32x4.dot_i16x8_s(c0, w0)); b01 = i32x4.add(b01, i32x4.dot_i16x8_s(c0, w1));
      b10 = i32x4.add(b10, i32x4.dot_i16x8_s(c1, w0)); b11 = i32x4.add(b11, i32x4.dot_i16x8_s(c1, w1));
      b20 = i32x4.add(b20, i32x4.dot_i16x8_s(c2, w0)); b21 = i32x4.add(b21, i32x4.dot_i16x8_s(c2, w1));
      b30 = i32x4.add(b30, i32x4.dot_i16x8_s(c3, w0)); b31 = i32x4.add(b31, i32x4.dot_i16x8_s(c3, w1));
      q0 += 4; q1 += 4; q2 += 4; q3 += 4;
      po += 16;
    }
    v00 = out4(v00, b00, xm, t); v01 = out4(v01, b01, xm, t);
    v10 = out4(v10, b10, xm, t + 1); v11 = out4(v11, b11, xm, t + 1);
    v20 = out4(v20, b20, xm, t + 2); v21 = out4(v21, b21, xm, t + 2);
    v30 = out4(v30, b30, xm, t + 3); v31 = out4(v31, b31, xm, t + 3);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2), y2 = y1 + (<usize>N << 2), y3 = y2 + (<usize>N << 2);
  store8(y0, v00, v01, wn, accumulate);
  store8(y1, v10, v11, wn, accumulate);
  store8(y2, v20, v21, wn, accumulate);
  store8(y3, v30, v31, wn, accumulate);
}

// 1 token x 8 rows (the T % 4 last tokens of a block): two chains per row half, summed at the
// end (i32 addition is exact, so the split does not change a bit).
function q7_tile_1x8(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  let p0 = xq + <usize>t * <usize>K;
  let pw = W + <usize>n * <usize>K;
  const pe = pw + (<usize>K << 3);
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), e0 = i32x4.splat(0), e1 = i32x4.splat(0);
  while (pw < pe) {
    // K % 16 == 0: an even number of 4-k steps
    const c0 = v128.load32_splat(p0), c1 = v128.load32_splat(p0, 4);
    a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c0, v128.load(pw), a0);
    a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c0, v128.load(pw, 16), a1);
    e0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c1, v128.load(pw, 32), e0);
    e1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(c1, v128.load(pw, 48), e1);
    p0 += 8;
    pw += 64;
  }
  let v0 = main4(i32x4.add(a0, e0), xm, t), v1 = main4(i32x4.add(a1, e1), xm, t);
  if (O > 0) {
    let q0 = xo + ((<usize>t * <usize>O) << 1);
    let po = Wo + <usize>n * <usize>O;
    const poe = po + (<usize>O << 3);
    let b0 = i32x4.splat(0), b1 = i32x4.splat(0);
    while (po < poe) {
      const c0 = v128.load32_splat(q0);
      b0 = i32x4.add(b0, i32x4.dot_i16x8_s(c0, v128.load8x8_s(po)));
      b1 = i32x4.add(b1, i32x4.dot_i16x8_s(c0, v128.load8x8_s(po, 8)));
      q0 += 4;
      po += 16;
    }
    v0 = out4(v0, b0, xm, t); v1 = out4(v1, b1, xm, t);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  store8(y0, v0, v1, wn, accumulate);
}

// One output of a row-major tail row (the N % 8 last rows).
function q7_tile_1x1(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  const x0 = xq + <usize>t * <usize>K;
  const w0 = W + <usize>n * <usize>K;
  let a = i32x4.splat(0);
  for (let k = 0; k < K; k += 16) a = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x0 + <usize>k), v128.load(w0 + <usize>k), a);
  const mr = xm + <usize>t * XM;
  let v = <f32>(lanes_sum(a) - (load<i32>(mr, 4) << 6)) * load<f32>(mr);
  if (O > 0) {
    const q0 = xo + ((<usize>t * <usize>O) << 1);
    const o0 = Wo + <usize>n * <usize>O;
    let b = i32x4.splat(0);
    for (let j = 0; j < O; j += 8) b = i32x4.add(b, i32x4.dot_i16x8_s(v128.load(q0 + (<usize>j << 1)), v128.load8x8_s(o0 + <usize>j)));
    v = v + <f32>lanes_sum(b) * load<f32>(mr, 8);
  }
  put1(y + ((<usize>t * <usize>N + <usize>n) << 2), v, load<f32>(ws + (<usize>n << 2)), accumulate);
}

// @ts-ignore: decorator
@inline
function lanes_sum(a: v128): i32 {
  return i32x4.extract_lane(a, 0) + i32x4.extract_lane(a, 1) + i32x4.extract_lane(a, 2) + i32x4.extract_lane(a, 3);
}

// @ts-ignore: decorator
@inline
function put1(y: usize, v: f32, w: f32, accumulate: i32): void {
  let r = v * w;
  if (accumulate != 0) r += load<f32>(y);
  store<f32>(y, r);
}

// The twin reads both packed layouts by their defining formulas, one product at a time.
export function gemm_q7_scalar(xq: usize, xo: usize, xm: usize, W: usize, Wo: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, O: i32, accumulate: i32): void {
  const N8 = N & ~7;
  for (let t = 0; t < T; t++) {
    const xr = xq + <usize>t * <usize>K;
    const qr = xo + ((<usize>t * <usize>O) << 1);
    const mr = xm + <usize>t * XM;
    for (let n = 0; n < N; n++) {
      let a: i32 = 0;
      for (let k = 0; k < K; k++) a += <i32>load<i8>(xr + <usize>k) * <i32>load<u8>(q7_at(W, n, k, K, N8));
      let v = <f32>(a - (load<i32>(mr, 4) << 6)) * load<f32>(mr);
      if (O > 0) {
        let b: i32 = 0;
        for (let j = 0; j < O; j++) b += <i32>load<i16>(qr + (<usize>j << 1)) * <i32>load<i8>(q8_at(Wo, n, j, O, N8));
        v = v + <f32>b * load<f32>(mr, 8);
      }
      put1(y + ((<usize>t * <usize>N + <usize>n) << 2), v, load<f32>(ws + (<usize>n << 2)), accumulate);
    }
  }
}
