// Every threshold the tests and benchmarks hold results to, declared once, each with its reason.
// Kernel-level error bounds (derived from each kernel's arithmetic) stay beside their tests in
// test/kernels.test.ts and test/kernels-q4.test.ts.

/** float32 reproduces the float64 reference to 1 - 1e-12; this leaves room for summation order. */
export const FP32_MIN_COSINE = 0.99999;
/** int8 per-row weights and int16 per-row activations; onnxruntime's own int8 reaches 0.9978 per token. */
export const INT8_MIN_COSINE = 0.999;
/** D = 32: one int8 scale per 32-value row is coarse; not an acceptance target (base and large are held to 0.999). */
export const TINY_INT8_MIN_COSINE = 0.995;
/** The target for 4-bit weights (base in a 128 MB Worker), every input length. */
export const INT4_MIN_COSINE = 0.99;
/** onnxruntime's per-tensor dynamic int8 reaches about 0.996 on these weights (golden README: 0.9978 per token on large). */
export const PEER_INT8_MIN_COSINE = 0.99;
/** Hidden states are O(10); float32 rounding over 2 layers is ~1e-6. */
export const FP32_MAX_ABS_HIDDEN = 1e-4;
/** Cosine-matrix entries are float32 (ulp 6e-8 near 1); the reference differs only in float64 rounding. */
export const COSINE_MATRIX_TOL = 1e-6;
/**
 * tiny (D = 32) in int4: a 4-bit group of 32 values is a whole row, outlier channels included, and
 * so narrow a model has no width to average the noise out (base, D = 768, holds 0.99). Measured
 * 0.975: a regression alarm, not a target.
 */
export const TINY_INT4_MIN_COSINE = 0.97;
/**
 * tiny-gated in int4: as tiny, and gated-gelu multiplies its two 4-bit branches (gelu(x wi_0) times
 * x wi_1) in the second layer, so their errors compound. Measured 0.917: a regression alarm.
 */
export const TINY_GATED_INT4_MIN_COSINE = 0.91;
/**
 * How far a cosine between two embeddings, each within FP32_MIN_COSINE of its reference, can be
 * from the references' cosine: at most the sum of their angles, sqrt(2 (1 - c)) each. A ranking
 * checked against golden needs its gaps wider than this.
 */
export const GOLDEN_COSINE_SHIFT = 2 * Math.sqrt(2 * (1 - FP32_MIN_COSINE));
/**
 * Int8 / int4 weights times int16 activations vs the same weights dequantized to f32: only the
 * per-row int16 rounding of the activations (relative error ~ 1/65534 of the row's largest) differs.
 */
export const INT16_ACTIVATIONS_MIN_COSINE = 1 - 1e-6;
/** float32 rounding through the encoder and head, as a relative L2 error: measured <= 2e-6 on tiny, tiny-gated and base. */
export const FP32_MAX_REL_ERROR = 1e-5;
/**
 * The length bar of a quantized row, for its pooled and Dense outputs: | ||a|| / ||b|| - 1 | at most
 * sqrt(2 (1 - c)), the relative size of the quantization noise across the vector that a cosine of c
 * admits, taken as the most it may change the length along it. The embedding's cosine holds the
 * direction; this holds what a cosine cannot see (a wrong pooling divisor keeps every cosine and
 * scales the length by (T - n_instr) / T, up to 1/512 on the golden's longest instruction).
 * Not ||a - b|| / ||b|| <= sqrt(2 (1 - c)), the bound it replaces: that is the error of a cosine c at
 * equal lengths, so at a row's worst cosine it left no room for any length error, and quantized
 * lengths do move: large int4's 3-token sequence, cosine 0.99002 and 3.3% longer, had ||a - b|| / ||b||
 * = sqrt(0.033^2 + 2 (1.033) (1 - 0.99002)) = 0.1476 > 0.1414 (npm run golden failed on it).
 * Measured max length errors (pooled / Dense) against this bar: base int8 0.0010 / 0.0013 (bar 0.045),
 * large int8 0.0027 / 0.0024, base int4 0.012 / 0.014 (bar 0.141), large int4 0.032 / 0.033, tiny
 * int8 0.009 / 0.020 (bar 0.1), tiny int4 0.147 / 0.155 (bar 0.245), tiny-gated int4 0.261 / 0.222 (bar 0.424).
 */
export function maxLengthErrorFor(minCosine: number): number {
  return Math.sqrt(2 * (1 - minCosine));
}
