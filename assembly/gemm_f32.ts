// f32 matmul (see the contract below).

// Tokens per pass over W: TB rows of x (TB * K * 4 bytes) stay in L2 while W streams past them.
const X_BLOCK_BYTES: i32 = 128 * 1024;

// acc + b * c per lane. kernels-relaxed.wasm: f32x4.relaxed_madd, one rounding where the CPU has
// FMA (V8: vfmadd231ps; ARM always), two where not: relaxed SIMD lets the engine pick, so its
// gemm_f32 bits may differ between CPUs. 128x1024x4096 on an AMD EPYC, Node 24: 31.1 -> 25.1 ms.
// kernels.wasm: f32x4.add(acc, f32x4.mul(b, c)), as always (the branch is resolved at compile time).
// @ts-ignore: decorator
@inline
function madd(acc: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(b, c, acc);
  return f32x4.add(acc, f32x4.mul(b, c));
}

// @ts-ignore: decorator
@inline
function hsum(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}

// @ts-ignore: decorator
@inline
function put(y: usize, r: f32, accumulate: i32): void {
  store<f32>(y, accumulate != 0 ? r + load<f32>(y) : r);
}

// gemm_f32: y[T,N] (+)= x[T,K] . W[N,K]^T, all f32 row-major; plus the old y when accumulate != 0.
//   K % 4 == 0; any T >= 1, N >= 1. Each (t, n) sums over k in 4 lanes, k = l mod 4, then the lanes
//   pairwise; the relaxed build fuses the multiply-adds where the CPU can (see madd).
export function gemm_f32(x: usize, W: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32): void {
  let TB = (X_BLOCK_BYTES / (K << 2)) & ~1;
  if (TB < 2) TB = 2;
  const N4 = N & ~3;
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min(t0 + TB, T);
    const t2 = t0 + ((t1 - t0) & ~1);
    for (let n = 0; n < N4; n += 4) {
      let t = t0;
      for (; t < t2; t += 2) f32_tile_2x4(x, W, y, t, n, K, N, accumulate);
      if (t < t1) f32_tile_1x4(x, W, y, t, n, K, N, accumulate);
    }
    for (let n = N4; n < N; n++) {
      for (let t = t0; t < t1; t++) f32_tile_1x1(x, W, y, t, n, K, N, accumulate);
    }
  }
}

// 2 tokens x 4 weight rows: 8 accumulators + 4 weight + 2 activation vectors fit V8's 16 xmm.
function f32_tile_2x4(x: usize, W: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = x + ((<usize>t * <usize>K) << 2);
  const x1 = x0 + (<usize>K << 2);
  const w0 = W + ((<usize>n * <usize>K) << 2);
  const w1 = w0 + (<usize>K << 2);
  const w2 = w1 + (<usize>K << 2);
  const w3 = w2 + (<usize>K << 2);
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
  const end = <usize>K << 2;
  for (let o: usize = 0; o < end; o += 16) {
    const c0 = v128.load(x0 + o);
    const c1 = v128.load(x1 + o);
    const b0 = v128.load(w0 + o);
    a00 = madd(a00, c0, b0);
    a10 = madd(a10, c1, b0);
    const b1 = v128.load(w1 + o);
    a01 = madd(a01, c0, b1);
    a11 = madd(a11, c1, b1);
    const b2 = v128.load(w2 + o);
    a02 = madd(a02, c0, b2);
    a12 = madd(a12, c1, b2);
    const b3 = v128.load(w3 + o);
    a03 = madd(a03, c0, b3);
    a13 = madd(a13, c1, b3);
  }
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2);
  put(y0, hsum(a00), accumulate); put(y0 + 4, hsum(a01), accumulate);
  put(y0 + 8, hsum(a02), accumulate); put(y0 + 12, hsum(a03), accumulate);
  put(y1, hsum(a10), accumulate); put(y1 + 4, hsum(a11), accumulate);
  put(y1 + 8, hsum(a12), accumulate); put(y1 + 12, hsum(a13), accumulate);
}

// The odd last token of a token block against 4 weight rows.
function f32_tile_1x4(x: usize, W: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = x + ((<usize>t * <usize>K) << 2);
  const w0 = W + ((<usize>n * <usize>K) << 2);
  const w1 = w0 + (<usize>K << 2);
  const w2 = w1 + (<usize>K << 2);
  const w3 = w2 + (<usize>K << 2);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const end = <usize>K << 2;
  for (let o: usize = 0; o < end; o += 16) {
    const c0 = v128.load(x0 + o);
    a0 = madd(a0, c0, v128.load(w0 + o));
    a1 = madd(a1, c0, v128.load(w1 + o));
    a2 = madd(a2, c0, v128.load(w2 + o));
    a3 = madd(a3, c0, v128.load(w3 + o));
  }
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  put(y0, hsum(a0), accumulate); put(y0 + 4, hsum(a1), accumulate);
  put(y0 + 8, hsum(a2), accumulate); put(y0 + 12, hsum(a3), accumulate);
}

// One output, for the N % 4 last weight rows.
function f32_tile_1x1(x: usize, W: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = x + ((<usize>t * <usize>K) << 2);
  const w0 = W + ((<usize>n * <usize>K) << 2);
  let a = f32x4.splat(0);
  const end = <usize>K << 2;
  for (let o: usize = 0; o < end; o += 16) a = madd(a, v128.load(x0 + o), v128.load(w0 + o));
  put(y + ((<usize>t * <usize>N + <usize>n) << 2), hsum(a), accumulate);
}

export function gemm_f32_scalar(x: usize, W: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32): void {
  for (let t = 0; t < T; t++) {
    const xr = x + ((<usize>t * <usize>K) << 2);
    for (let n = 0; n < N; n++) {
      const wr = W + ((<usize>n * <usize>K) << 2);
      let s: f32 = 0;
      for (let k = 0; k < K; k++) s += load<f32>(xr + (<usize>k << 2)) * load<f32>(wr + (<usize>k << 2));
      put(y + ((<usize>t * <usize>N + <usize>n) << 2), s, accumulate);
    }
  }
}
