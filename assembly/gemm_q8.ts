// int8-weight matmul with int16 activations (see the contracts below).

// Exact-i32 block length in k. Each i32x4 lane of a block gets KB/8 dot steps of two products,
// at most 2 * 32768 * 128 = 2^23 each, so KB = 1024 bounds a lane by 2^30: no i16 x i8 input can
// overflow (2048 would reach exactly 2^31 with every xq = -32768 and Wq = -128). The lanes are
// then flushed into an i64 total, exact for any K < 2^41.
const KB: i32 = 1024;
// Tokens per pass over W: TB rows of xq (TB * K * 2 bytes, 128 KiB at K = 1024) stay in L2 while
// every weight row streams past them once.
const X_BLOCK_BYTES: i32 = 128 * 1024;

// quantize_rows_i16: x[T,K] f32 -> xq[T,K] i16 and xs[T] f32, one symmetric scale per row.
//   m = max_k |x[t,k]|; if m == 0: xs[t] = 0 and xq[t,:] = 0;
//   else inv = f32(32767) / m, xs[t] = m / f32(32767), xq[t,k] = i16(nearest(x[t,k] * inv)),
//   nearest = round half to even (f32.nearest). Any K >= 1. SIMD and scalar results are identical.
export function quantize_rows_i16(x: usize, xq: usize, xs: usize, T: i32, K: i32): void {
  const K4 = K & ~3;
  const K8 = K & ~7;
  for (let t = 0; t < T; t++) {
    const xr = x + ((<usize>t * <usize>K) << 2);
    const qr = xq + ((<usize>t * <usize>K) << 1);
    let mv = f32x4.splat(0);
    let k = 0;
    for (; k < K4; k += 4) mv = f32x4.max(mv, f32x4.abs(v128.load(xr + (<usize>k << 2))));
    let m = Mathf.max(Mathf.max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
                      Mathf.max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; k < K; k++) m = Mathf.max(m, Mathf.abs(load<f32>(xr + (<usize>k << 2))));
    // m == 0 must give 0 codes and scale 0; inv = 0 does that without a separate path
    // (0 * inv is 0 where 32767 / 0 would make 0 * Inf = NaN)
    const inv: f32 = m == 0 ? 0 : <f32>32767.0 / m;
    store<f32>(xs + (<usize>t << 2), m == 0 ? 0 : m / <f32>32767.0);
    const vinv = f32x4.splat(inv);
    k = 0;
    for (; k < K8; k += 8) {
      const a = f32x4.nearest(f32x4.mul(v128.load(xr + (<usize>k << 2)), vinv));
      const b = f32x4.nearest(f32x4.mul(v128.load(xr + (<usize>k << 2), 16), vinv));
      // trunc_sat and the saturating narrow agree with the scalar twin's clamp, also when a
      // subnormal m makes inv infinite
      v128.store(qr + (<usize>k << 1), i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(a), i32x4.trunc_sat_f32x4_s(b)));
    }
    for (; k < K; k++) store<i16>(qr + (<usize>k << 1), quant1(load<f32>(xr + (<usize>k << 2)) * inv));
  }
}

// i16(nearest(v)) saturated to the i16 range, NaN -> 0 (what trunc_sat + narrow do per lane).
// @ts-ignore: decorator
@inline
function quant1(v: f32): i16 {
  const r = nearest<f32>(v);
  if (r != r) return 0;
  return <i16>(<i32>Mathf.min(Mathf.max(r, -32768.0), 32767.0));
}

export function quantize_rows_i16_scalar(x: usize, xq: usize, xs: usize, T: i32, K: i32): void {
  for (let t = 0; t < T; t++) {
    const xr = x + ((<usize>t * <usize>K) << 2);
    const qr = xq + ((<usize>t * <usize>K) << 1);
    let m: f32 = 0;
    for (let k = 0; k < K; k++) m = Mathf.max(m, Mathf.abs(load<f32>(xr + (<usize>k << 2))));
    const inv: f32 = m == 0 ? 0 : <f32>32767.0 / m;
    store<f32>(xs + (<usize>t << 2), m == 0 ? 0 : m / <f32>32767.0);
    for (let k = 0; k < K; k++) store<i16>(qr + (<usize>k << 1), quant1(load<f32>(xr + (<usize>k << 2)) * inv));
  }
}

// The four i32 lanes of one block, summed exactly (their total can exceed i32).
// @ts-ignore: decorator
@inline
function block_sum(a: v128): i64 {
  const s = i64x2.add(i64x2.extend_low_i32x4_s(a), i64x2.extend_high_i32x4_s(a));
  return i64x2.extract_lane(s, 0) + i64x2.extract_lane(s, 1);
}

// @ts-ignore: decorator
@inline
function put(y: usize, acc: i64, scale: f32, accumulate: i32): void {
  let r = <f32>acc * scale;
  if (accumulate != 0) r += load<f32>(y);
  store<f32>(y, r);
}

// gemm_q8: y[T,N] (+)= x[T,K] . W[N,K]^T with x = xq * xs (i16 per-row), W = Wq * ws (i8 per-row).
//   acc[t,n] = sum_k xq[t,k] * Wq[n,k], exact: i32 lanes over blocks of KB k (no input can
//   overflow them), the block sums added in i64; y[t,n] = f32(acc) * (xs[t] * ws[n]), one rounding
//   of acc, plus the old y[t,n] when accumulate != 0 (a fused residual add).
//   W i8 row-major, ws f32 per row; K % 16 == 0; any T >= 1, N >= 1. Bit-identical to the twin.
export function gemm_q8(xq: usize, xs: usize, W: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32): void {
  let TB = (X_BLOCK_BYTES / (K << 1)) & ~1;
  if (TB < 2) TB = 2;
  const N4 = N & ~3;
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min(t0 + TB, T);
    const t2 = t0 + ((t1 - t0) & ~1);
    for (let n = 0; n < N4; n += 4) {
      let t = t0;
      for (; t < t2; t += 2) q8_tile_2x4(xq, xs, W, ws, y, t, n, K, N, accumulate);
      if (t < t1) q8_tile_1x4(xq, xs, W, ws, y, t, n, K, N, accumulate);
    }
    for (let n = N4; n < N; n++) {
      for (let t = t0; t < t1; t++) q8_tile_1x1(xq, xs, W, ws, y, t, n, K, N, accumulate);
    }
  }
}

// 2 tokens x 4 weight rows: 8 accumulators + 4 weight + 2 activation vectors fit V8's 16 xmm.
function q8_tile_2x4(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const x1 = x0 + (<usize>K << 1);
  const w0 = W + <usize>n * <usize>K;
  const w1 = w0 + <usize>K;
  const w2 = w1 + <usize>K;
  const w3 = w2 + <usize>K;
  let f00: i64 = 0, f01: i64 = 0, f02: i64 = 0, f03: i64 = 0;
  let f10: i64 = 0, f11: i64 = 0, f12: i64 = 0, f13: i64 = 0;
  for (let kb = 0; kb < K; kb += KB) {
    const ke = min(kb + KB, K);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a02 = i32x4.splat(0), a03 = i32x4.splat(0);
    let a10 = i32x4.splat(0), a11 = i32x4.splat(0), a12 = i32x4.splat(0), a13 = i32x4.splat(0);
    for (let k = kb; k < ke; k += 8) {
      const kw = <usize>k;
      const kx = <usize>k << 1;
      const c0 = v128.load(x0 + kx);
      const c1 = v128.load(x1 + kx);
      const b0 = v128.load8x8_s(w0 + kw);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(c0, b0));
      a10 = i32x4.add(a10, i32x4.dot_i16x8_s(c1, b0));
      const b1 = v128.load8x8_s(w1 + kw);
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(c0, b1));
      a11 = i32x4.add(a11, i32x4.dot_i16x8_s(c1, b1));
      const b2 = v128.load8x8_s(w2 + kw);
      a02 = i32x4.add(a02, i32x4.dot_i16x8_s(c0, b2));
      a12 = i32x4.add(a12, i32x4.dot_i16x8_s(c1, b2));
      const b3 = v128.load8x8_s(w3 + kw);
      a03 = i32x4.add(a03, i32x4.dot_i16x8_s(c0, b3));
      a13 = i32x4.add(a13, i32x4.dot_i16x8_s(c1, b3));
    }
    f00 += block_sum(a00); f01 += block_sum(a01); f02 += block_sum(a02); f03 += block_sum(a03);
    f10 += block_sum(a10); f11 += block_sum(a11); f12 += block_sum(a12); f13 += block_sum(a13);
  }
  const s0 = load<f32>(xs + (<usize>t << 2));
  const s1 = load<f32>(xs + (<usize>t << 2), 4);
  const v0 = load<f32>(ws + (<usize>n << 2));
  const v1 = load<f32>(ws + (<usize>n << 2), 4);
  const v2 = load<f32>(ws + (<usize>n << 2), 8);
  const v3 = load<f32>(ws + (<usize>n << 2), 12);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2);
  put(y0, f00, s0 * v0, accumulate); put(y0 + 4, f01, s0 * v1, accumulate);
  put(y0 + 8, f02, s0 * v2, accumulate); put(y0 + 12, f03, s0 * v3, accumulate);
  put(y1, f10, s1 * v0, accumulate); put(y1 + 4, f11, s1 * v1, accumulate);
  put(y1 + 8, f12, s1 * v2, accumulate); put(y1 + 12, f13, s1 * v3, accumulate);
}

// The odd last token of a token block against 4 weight rows.
function q8_tile_1x4(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const w0 = W + <usize>n * <usize>K;
  const w1 = w0 + <usize>K;
  const w2 = w1 + <usize>K;
  const w3 = w2 + <usize>K;
  let f0: i64 = 0, f1: i64 = 0, f2: i64 = 0, f3: i64 = 0;
  for (let kb = 0; kb < K; kb += KB) {
    const ke = min(kb + KB, K);
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let k = kb; k < ke; k += 8) {
      const kw = <usize>k;
      const c0 = v128.load(x0 + (kw << 1));
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(c0, v128.load8x8_s(w0 + kw)));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(c0, v128.load8x8_s(w1 + kw)));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(c0, v128.load8x8_s(w2 + kw)));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(c0, v128.load8x8_s(w3 + kw)));
    }
    f0 += block_sum(a0); f1 += block_sum(a1); f2 += block_sum(a2); f3 += block_sum(a3);
  }
  const s0 = load<f32>(xs + (<usize>t << 2));
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  put(y0, f0, s0 * load<f32>(ws + (<usize>n << 2)), accumulate);
  put(y0 + 4, f1, s0 * load<f32>(ws + (<usize>n << 2), 4), accumulate);
  put(y0 + 8, f2, s0 * load<f32>(ws + (<usize>n << 2), 8), accumulate);
  put(y0 + 12, f3, s0 * load<f32>(ws + (<usize>n << 2), 12), accumulate);
}

// One output, for the N % 4 last weight rows.
function q8_tile_1x1(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const w0 = W + <usize>n * <usize>K;
  let f: i64 = 0;
  for (let kb = 0; kb < K; kb += KB) {
    const ke = min(kb + KB, K);
    let a = i32x4.splat(0);
    for (let k = kb; k < ke; k += 8) {
      a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load(x0 + (<usize>k << 1)), v128.load8x8_s(w0 + <usize>k)));
    }
    f += block_sum(a);
  }
  put(y + ((<usize>t * <usize>N + <usize>n) << 2), f, load<f32>(xs + (<usize>t << 2)) * load<f32>(ws + (<usize>n << 2)), accumulate);
}

export function gemm_q8_scalar(xq: usize, xs: usize, W: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32): void {
  for (let t = 0; t < T; t++) {
    const xr = xq + ((<usize>t * <usize>K) << 1);
    for (let n = 0; n < N; n++) {
      const wr = W + <usize>n * <usize>K;
      let acc: i64 = 0;
      for (let k = 0; k < K; k++) acc += <i64>(<i32>load<i16>(xr + (<usize>k << 1)) * <i32>load<i8>(wr + <usize>k));
      put(y + ((<usize>t * <usize>N + <usize>n) << 2), acc, load<f32>(xs + (<usize>t << 2)) * load<f32>(ws + (<usize>n << 2)), accumulate);
    }
  }
}
