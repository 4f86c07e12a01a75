import { fail } from './errors.js';

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

/** q * scale per row, back to float32 (for tests and debugging). */
export function dequantizeRowsQ8(q: Int8Array, scales: Float32Array, rows: number, cols: number): Float32Array {
  if (q.length !== rows * cols || scales.length !== rows) {
    fail('BAD_INPUT', `dequantizeRowsQ8: got q ${q.length} and ${scales.length} scales, expected ${rows * cols} and ${rows}`);
  }
  const w = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const s = scales[r];
    for (let j = 0, b = r * cols; j < cols; j++) w[b + j] = q[b + j] * s;
  }
  return w;
}
