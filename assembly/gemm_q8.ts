// quantize_rows_i16: x[T,K] f32 -> xq[T,K] i16 and xs[T] f32, one symmetric scale per row.
//   m = max_k |x[t,k]|; if m == 0: xs[t] = 0 and xq[t,:] = 0;
//   else inv = f32(32767) / m, xs[t] = m / f32(32767), xq[t,k] = i16(nearest(x[t,k] * inv)),
//   nearest = round half to even (f32.nearest). Any K >= 1. SIMD and scalar results are identical.
export function quantize_rows_i16(x: usize, xq: usize, xs: usize, T: i32, K: i32): void { unreachable(); }
export function quantize_rows_i16_scalar(x: usize, xq: usize, xs: usize, T: i32, K: i32): void { unreachable(); }

// gemm_q8: y[T,N] (+)= x[T,K] . W[N,K]^T with x = xq * xs (i16 per-row), W = Wq * ws (i8 per-row).
//   acc[t,n] = sum_k xq[t,k] * Wq[n,k] in exact i32 over blocks of at most 2048 k (no overflow for
//   any input), the block sums added in f32; y[t,n] = f32(acc) * (xs[t] * ws[n]),
//   plus the old y[t,n] when accumulate != 0 (a fused residual add).
//   W i8 row-major, ws f32 per row; K % 16 == 0; any T >= 1, N >= 1.
export function gemm_q8(xq: usize, xs: usize, W: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32): void { unreachable(); }
export function gemm_q8_scalar(xq: usize, xs: usize, W: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32): void { unreachable(); }
