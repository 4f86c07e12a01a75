import { fail } from '../errors.js';

const RHE = 6755399441055744; // 1.5 * 2^52

/**
 * Symmetric per-row int8 quantization of a [rows, cols] row-major float32 matrix (PyTorch
 * [out, in] layout: one scale per output channel of y = x W^T).
 *
 *   scale[r] = float32(max_j |w[r, j]| / 127)            (0 for an all-zero row)
 *   q[r, j]  = clamp(roundHalfToEven(w[r, j] / scale[r]), -127, 127)   (0 when scale is 0)
 *
 * The division uses the stored float32 scale (in float64), so dequantization q * scale is within
 * scale / 2 of w. Non-finite weights are refused.
 */
export function quantizeRowsQ8(
  w: Float32Array, rows: number, cols: number,
  out?: { q: Int8Array; scales: Float32Array },
): { q: Int8Array; scales: Float32Array } {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || w.length !== rows * cols) {
    fail('BAD_INPUT', `quantizeRowsQ8: got ${w.length} values for rows ${rows} x cols ${cols}, expected rows * cols = ${rows * cols}`);
  }
  const q = out?.q ?? new Int8Array(rows * cols);
  const scales = out?.scales ?? new Float32Array(rows);
  if (q.length < rows * cols || scales.length < rows) {
    fail('BAD_INPUT', `quantizeRowsQ8: output arrays too small: q ${q.length}, scales ${scales.length}, expected ${rows * cols} and ${rows}`);
  }
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let m = 0;
    for (let j = 0; j < cols; j++) m = Math.max(m, Math.abs(w[base + j])); // NaN propagates
    if (!(m <= 3.4028234663852886e38)) {
      let j = 0;
      while (j < cols && Math.abs(w[base + j]) <= 3.4028234663852886e38) j++;
      fail('BAD_INPUT', `quantizeRowsQ8: row ${r} column ${j} is ${w[base + j]}, expected a finite number`);
    }
    const s = Math.fround(m / 127);
    scales[r] = s;
    if (s === 0) {
      q.fill(0, base, base + cols);
      continue;
    }
    for (let j = 0; j < cols; j++) {
      // (x + 1.5 * 2^52) - 1.5 * 2^52 rounds x to an integer, ties to even (|x| < 2^51).
      const f = ((w[base + j] / s + RHE) - RHE) | 0;
      q[base + j] = f > 127 ? 127 : f < -127 ? -127 : f;
    }
  }
  return { q, scales };
}

/** Row r of a row-major int8 matrix with `cols` columns and per-row scales, as float32 into out[at, at + cols). */
export function dequantizeRowQ8(q: Int8Array, scales: Float32Array, cols: number, r: number, out: Float32Array, at: number): void {
  const s = scales[r];
  for (let j = 0, b = r * cols; j < cols; j++) out[at + j] = q[b + j] * s;
}

/** q * scale per row, back to float32 (for tests and debugging). */
export function dequantizeRowsQ8(q: Int8Array, scales: Float32Array, rows: number, cols: number): Float32Array {
  if (q.length !== rows * cols || scales.length !== rows) {
    fail('BAD_INPUT', `dequantizeRowsQ8: got q ${q.length} and ${scales.length} scales, expected ${rows * cols} and ${rows}`);
  }
  const w = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) dequantizeRowQ8(q, scales, cols, r, w, r * cols);
  return w;
}

/**
 * Scale factors tried per q4 group, f = 1 first (ties keep the earlier one): 1, 0.98, ..., 0.80,
 * then 1.02, ..., 1.10. On the synth-v1 base golden the search raised the cosine of long inputs
 * from 0.992 to 0.994 and of the 1-token input from 0.962 to 0.970 (vs f = 1 only).
 */
const Q4_SCALE_FACTORS = [
  1, 0.98, 0.96, 0.94, 0.92, 0.9, 0.88, 0.86, 0.84, 0.82, 0.8, 1.02, 1.04, 1.06, 1.08, 1.1,
];

/**
 * Symmetric 4-bit quantization of a [rows, cols] row-major float32 matrix in groups of G
 * consecutive values along a row (the input dimension K of y = x W^T), G a multiple of 32 that
 * divides cols. Per group g of row r, with m = the value of largest magnitude (the first one):
 *
 *   scale[r, g] = float32((m / -8) * f)                             (0 for an all-zero group)
 *   q           = clamp(roundHalfToEven(w / scale), -8, 7)          (0 when scale is 0)
 *
 * with f the factor of Q4_SCALE_FACTORS giving the least squared error sum (q * scale - w)^2
 * over the group (evaluated in float64). With f = 1, m itself maps to -8: the group uses all 16
 * levels [-8, 7] (llama.cpp's Q4_0 choice; the scale's sign absorbs the sign of m, so the one
 * extra level goes to the side of the largest value; the symmetric [-7, 7] alternative lost
 * ~0.03 of golden cosine on short inputs). Stored as codes q + 8 (0..15), two per byte in the kernel's
 * block layout (assembly/gemm_q4.ts): per block of 32 values, byte j holds value j in its low
 * nibble and value j + 16 in its high nibble. `q` is [rows * cols / 2] bytes, `scales`
 * [rows, cols / G]. Non-finite weights are refused.
 */
export function quantizeGroupsQ4(
  w: Float32Array, rows: number, cols: number, G: number,
  out?: { q: Uint8Array; scales: Float32Array },
): { q: Uint8Array; scales: Float32Array } {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || w.length !== rows * cols) {
    fail('BAD_INPUT', `quantizeGroupsQ4: got ${w.length} values for rows ${rows} x cols ${cols}, expected rows * cols = ${rows * cols}`);
  }
  if (!Number.isInteger(G) || G < 32 || G % 32 !== 0 || cols % G !== 0) {
    fail('BAD_INPUT', `quantizeGroupsQ4: group size ${G} must be a positive multiple of 32 that divides cols ${cols}`);
  }
  const NG = cols / G;
  const q = out?.q ?? new Uint8Array(rows * cols / 2);
  const scales = out?.scales ?? new Float32Array(rows * NG);
  if (q.length < rows * cols / 2 || scales.length < rows * NG) {
    fail('BAD_INPUT', `quantizeGroupsQ4: output arrays too small: q ${q.length}, scales ${scales.length}, expected ${rows * cols / 2} and ${rows * NG}`);
  }
  const codes = new Uint8Array(G);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < NG; g++) {
      const base = r * cols + g * G;
      let m = 0;
      for (let j = 0; j < G; j++) {
        const v = w[base + j];
        if (!(Math.abs(v) <= 3.4028234663852886e38)) fail('BAD_INPUT', `quantizeGroupsQ4: row ${r} column ${g * G + j} is ${v}, expected a finite number`);
        if (Math.abs(v) > Math.abs(m)) m = v;
      }
      let s = 0;
      if (m !== 0) {
        let best = Infinity;
        for (const f of Q4_SCALE_FACTORS) {
          const c = Math.fround((m / -8) * f);
          let e = 0;
          for (let j = 0; j < G; j++) {
            const d = q4Code(w[base + j], c) * c - w[base + j];
            e += d * d;
          }
          if (e < best) { best = e; s = c; }
        }
      }
      scales[r * NG + g] = s;
      for (let j = 0; j < G; j++) codes[j] = (s === 0 ? 0 : q4Code(w[base + j], s)) + 8;
      packQ4(codes, q, (r * cols + g * G) / 2);
    }
  }
  return { q, scales };
}

/** clamp(roundHalfToEven(v / s), -8, 7) for s != 0. */
function q4Code(v: number, s: number): number {
  // (x + 1.5 * 2^52) - 1.5 * 2^52 rounds x to an integer, ties to even (|x| < 2^51).
  const f = ((v / s + RHE) - RHE) | 0;
  return f > 7 ? 7 : f < -8 ? -8 : f;
}

/** Packs G codes (G a multiple of 32) into q at byte `at`, in blocks of 32 (see quantizeGroupsQ4). */
function packQ4(codes: Uint8Array, q: Uint8Array, at: number): void {
  for (let b = 0; b < codes.length; b += 32) {
    for (let j = 0; j < 16; j++) q[at + b / 2 + j] = codes[b + j] | (codes[b + j + 16] << 4);
  }
}

/**
 * Row r of a packed q4 matrix with `cols` columns in groups of G (the layout of quantizeGroupsQ4:
 * per block of 32 values, byte j holds value j in its low nibble and value j + 16 in its high one,
 * code c meaning c - 8), as float32 into out[at, at + cols). The one decoder of that layout in
 * TypeScript; assembly/gemm_q4.ts unpacks it in SIMD.
 */
export function dequantizeRowQ4(q: Uint8Array, scales: Float32Array, cols: number, G: number, r: number, out: Float32Array, at: number): void {
  const row = r * cols / 2, srow = r * cols / G;
  for (let c = 0; c < cols; c += 32) {
    const b = row + c / 2, o = at + c;
    for (let j = 0; j < 16; j++) {
      const byte = q[b + j];
      out[o + j] = ((byte & 15) - 8) * scales[srow + ((c + j) / G | 0)];
      out[o + j + 16] = ((byte >> 4) - 8) * scales[srow + ((c + j + 16) / G | 0)];
    }
  }
}

/** q * scale per group, back to float32 (for tests and debugging). */
export function dequantizeGroupsQ4(q: Uint8Array, scales: Float32Array, rows: number, cols: number, G: number): Float32Array {
  if (G < 32 || G % 32 !== 0 || cols % G !== 0 || q.length !== rows * cols / 2 || scales.length !== rows * cols / G) {
    fail('BAD_INPUT', `dequantizeGroupsQ4: got q ${q.length} bytes and ${scales.length} scales for [${rows}, ${cols}] in groups of ${G}`);
  }
  const w = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) dequantizeRowQ4(q, scales, cols, G, r, w, r * cols);
  return w;
}

/** How a tensor's values are stored: float32, int8 rows with a scale each, or int4 groups of Q4_GROUP with a scale each. */
export type TensorDtype = 'f32' | 'q8' | 'q4';

/** Group size of q4 tensors along a row (K): 32 gave the best golden cosine per byte (see quantizeGroupsQ4). */
export const Q4_GROUP = 32;

/** A quantized tensor's codes are padded to a multiple of this many bytes; its float32 scales follow. */
const CODES_ALIGN = 64;

/** Bytes of a quantized tensor's codes, padded: where its scales start. */
export function codesBytes(dtype: 'q8' | 'q4', rows: number, cols: number): number {
  const bytes = dtype === 'q8' ? rows * cols : rows * cols / 2;
  return Math.ceil(bytes / CODES_ALIGN) * CODES_ALIGN;
}

/** Bytes of a tensor of `dtype` and `shape`: float32 values, or the padded codes and then the scales. */
export function tensorBytes(dtype: TensorDtype, shape: readonly number[]): number {
  const n = shape.reduce((p, d) => p * d, 1);
  if (dtype === 'f32') return 4 * n;
  if (dtype === 'q4') return codesBytes('q4', 1, n) + 4 * (n / Q4_GROUP);
  return codesBytes('q8', shape[0], shape[1]) + 4 * shape[0];
}
