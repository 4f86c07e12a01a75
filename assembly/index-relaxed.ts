// build/kernels-relaxed.wasm (and kernels-relaxed-mt.wasm): every kernel of index.ts plus the
// relaxed-SIMD int8 matmul (gemm_q7.ts). Compiled with the relaxed-simd feature, so the shared
// sources may branch on ASC_FEATURE_RELAXED_SIMD; kernels.wasm never contains a relaxed instruction.
export * from './index';
export { quantize_rows_i8, quantize_rows_i8_scalar, requant_q7, requant_q7_scalar, pack_q7, outlier_codes_q7, gemm_q7, gemm_q7_scalar } from './gemm_q7';
export { quantize_rows_u8, quantize_rows_u8_scalar, row_sums_i8, row_sums_i8_scalar, gemm_usdot, gemm_usdot_scalar } from './gemm_usdot';
