// gemm_f32: y[T,N] (+)= x[T,K] . W[N,K]^T, all f32 row-major; plus the old y when accumulate != 0.
//   K % 4 == 0; any T >= 1, N >= 1.
export function gemm_f32(x: usize, W: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32): void { unreachable(); }
export function gemm_f32_scalar(x: usize, W: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32): void { unreachable(); }
