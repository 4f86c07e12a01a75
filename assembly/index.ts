// instructor-wasm kernels: pure numerics over byte pointers into one linear memory.
// No model names, no strings, no allocation: the TypeScript runtime owns every buffer and
// passes pointers (byte offsets). Each SIMD kernel has a `_scalar` twin with the same contract,
// tested against it in test/kernels.test.ts.
//
// Dimension letters: T rows (tokens), K inner size, N output size, D d_model, H heads, Dk d_kv.

export { heap_base } from './memory';
export { gemm_q8, gemm_q8_scalar, pack_q8, unpack_q8, quantize_rows_i16, quantize_rows_i16_scalar } from './gemm_q8';
export { gemm_q4, gemm_q4_scalar } from './gemm_q4';
export { gemm_f32, gemm_f32_scalar } from './gemm_f32';
export { attention, attention_scalar } from './attention';
export {
  rmsnorm, rmsnorm_scalar,
  relu_inplace, relu_inplace_scalar,
  gelu_tanh_mul, gelu_tanh_mul_scalar,
} from './elementwise';
