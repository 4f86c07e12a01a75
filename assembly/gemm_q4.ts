// 4-bit grouped-weight matmul with int16 activations (see the contract of gemm_q4 below).
//
// Weight layout (one row n of W, K values, as the weights file stores a q4 tensor):
//   K / 2 bytes per row, rows back to back (row n at W + n * K/2). The row is cut into blocks of
//   32 consecutive k; block b is 16 bytes, and byte j (0..15) of it holds
//     low nibble  = code of k = 32b + j
//     high nibble = code of k = 32b + j + 16
//   A code c (0..15) means the integer c - 8 (offset binary, [-8, 7]). One 16-byte load gives
//   the whole block: `and 0x0f` / `shr 4` then `- 8` give k 32b..32b+15 and 32b+16..32b+31 as
//   i8x16, and the two sign extensions of each give four i16x8 vectors in k order, which line up
//   with four plain i16x8 loads of the activations: no shuffles.
//   Scales: f32 [N, K / G], one per group of G consecutive k (G a multiple of 32).

// Tokens per pass over W: TB rows of xq (TB * K * 2 bytes, 128 KiB at K = 1024) stay in L2 while
// every weight row streams past them once.
const X_BLOCK_BYTES: i32 = 128 * 1024;

// Nibble codes c (0..15) of a 16-byte block to the signed values c - 8, as i8x16.
// @ts-ignore: decorator
@inline
function unpack_lo(v: v128): v128 {
  return i8x16.sub(v128.and(v, i8x16.splat(0x0f)), i8x16.splat(8));
}

// @ts-ignore: decorator
@inline
function unpack_hi(v: v128): v128 {
  return i8x16.sub(i8x16.shr_u(v, 4), i8x16.splat(8));
}

// The four lanes of an f32 accumulator, summed in the fixed order of the contract.
// @ts-ignore: decorator
@inline
function hsum(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}

// @ts-ignore: decorator
@inline
function put(y: usize, sum: f32, scale: f32, accumulate: i32): void {
  let r = sum * scale;
  if (accumulate != 0) r += load<f32>(y);
  store<f32>(y, r);
}

// gemm_q4: y[T,N] (+)= x[T,K] . W[N,K]^T with x = xq * xs (i16 per-row, quantize_rows_i16) and
//   W[n,k] = (code[n,k] - 8) * ws[n, k / G] (4-bit codes in the layout above, f32 group scales).
//   Per (t, n), four f32 lanes l = 0..3, all starting at +0:
//     for each group g (in order): a_l = sum of xq[t,k] * (code[n,k] - 8) over the k of group g
//       with (k & 7) >> 1 == l, exact in i32; lane_l = lane_l + f32(a_l) * ws[n,g]
//       (f32(a_l) is exact too: |a_l| <= G/4 * 2^18 <= 2^24 for G <= 256; the product and the
//       sum are one f32 rounding each, no fused multiply-add);
//     y[t,n] = ((lane_0 + lane_1) + (lane_2 + lane_3)) * xs[t], plus the old y[t,n] when
//     accumulate != 0 (a fused residual add).
//   G % 32 == 0, 32 <= G <= 256, K % G == 0; any T >= 1, N >= 1. Bit-identical to the twin.
//   Tiles: 4 tokens x 1 row (each unpacked block serves 4 tokens), then 1 x 1 for T % 4; G = 32
//   (the weights file's) has its own one-loop tiles, same arithmetic in the same order.
export function gemm_q4(xq: usize, xs: usize, W: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, G: i32, accumulate: i32): void {
  let TB = (X_BLOCK_BYTES / (K << 1)) & ~3;
  if (TB < 4) TB = 4;
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min(t0 + TB, T);
    const t4 = t0 + ((t1 - t0) & ~3);
    for (let n = 0; n < N; n++) {
      let t = t0;
      if (G == 32) for (; t < t4; t += 4) q4_tile_4x1_g32(xq, xs, W, ws, y, t, n, K, N, accumulate);
      else for (; t < t4; t += 4) q4_tile_4x1(xq, xs, W, ws, y, t, n, K, N, G, accumulate);
      if (G == 32) for (; t < t1; t++) q4_tile_1x1_g32(xq, xs, W, ws, y, t, n, K, N, accumulate);
      else for (; t < t1; t++) q4_tile_1x1(xq, xs, W, ws, y, t, n, K, N, G, accumulate);
    }
  }
}

// 4 tokens x 1 weight row: each block of 32 weights is unpacked once and used by 4 tokens;
// 4 f32 + 4 i32 accumulators + 4 weight vectors stay within V8's 16 xmm.
function q4_tile_4x1(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, G: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const x1 = x0 + (<usize>K << 1);
  const x2 = x1 + (<usize>K << 1);
  const x3 = x2 + (<usize>K << 1);
  const wr = W + ((<usize>n * <usize>K) >> 1);
  const NG = K / G;
  const sr = ws + ((<usize>n * <usize>NG) << 2);
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  for (let g = 0; g < NG; g++) {
    const kb = g * G;
    const ke = kb + G;
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let k = kb; k < ke; k += 32) {
      const v = v128.load(wr + (<usize>k >> 1));
      const lo = unpack_lo(v);
      const hi = unpack_hi(v);
      const b0 = i16x8.extend_low_i8x16_s(lo);
      const b1 = i16x8.extend_high_i8x16_s(lo);
      const b2 = i16x8.extend_low_i8x16_s(hi);
      const b3 = i16x8.extend_high_i8x16_s(hi);
      const kx = <usize>k << 1;
      a0 = i32x4.add(a0, i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x0 + kx), b0), i32x4.dot_i16x8_s(v128.load(x0 + kx, 16), b1)),
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x0 + kx, 32), b2), i32x4.dot_i16x8_s(v128.load(x0 + kx, 48), b3))));
      a1 = i32x4.add(a1, i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x1 + kx), b0), i32x4.dot_i16x8_s(v128.load(x1 + kx, 16), b1)),
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x1 + kx, 32), b2), i32x4.dot_i16x8_s(v128.load(x1 + kx, 48), b3))));
      a2 = i32x4.add(a2, i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x2 + kx), b0), i32x4.dot_i16x8_s(v128.load(x2 + kx, 16), b1)),
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x2 + kx, 32), b2), i32x4.dot_i16x8_s(v128.load(x2 + kx, 48), b3))));
      a3 = i32x4.add(a3, i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x3 + kx), b0), i32x4.dot_i16x8_s(v128.load(x3 + kx, 16), b1)),
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x3 + kx, 32), b2), i32x4.dot_i16x8_s(v128.load(x3 + kx, 48), b3))));
    }
    const s = f32x4.splat(load<f32>(sr + (<usize>g << 2)));
    f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(a0), s));
    f1 = f32x4.add(f1, f32x4.mul(f32x4.convert_i32x4_s(a1), s));
    f2 = f32x4.add(f2, f32x4.mul(f32x4.convert_i32x4_s(a2), s));
    f3 = f32x4.add(f3, f32x4.mul(f32x4.convert_i32x4_s(a3), s));
  }
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const yN = <usize>N << 2;
  const s0 = xs + (<usize>t << 2);
  put(y0, hsum(f0), load<f32>(s0), accumulate);
  put(y0 + yN, hsum(f1), load<f32>(s0, 4), accumulate);
  put(y0 + 2 * yN, hsum(f2), load<f32>(s0, 8), accumulate);
  put(y0 + 3 * yN, hsum(f3), load<f32>(s0, 12), accumulate);
}

// q4_tile_4x1 for G = 32 (the weights file's group size): one block per group, one loop.
function q4_tile_4x1_g32(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const x1 = x0 + (<usize>K << 1);
  const x2 = x1 + (<usize>K << 1);
  const x3 = x2 + (<usize>K << 1);
  let wp = W + ((<usize>n * <usize>K) >> 1);
  let sp = ws + ((<usize>n * <usize>(K >> 5)) << 2);
  const we = wp + (<usize>K >> 1);
  let kx: usize = 0;
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  for (; wp < we; wp += 16, sp += 4, kx += 64) {
    const v = v128.load(wp);
    const lo = unpack_lo(v);
    const hi = unpack_hi(v);
    const b0 = i16x8.extend_low_i8x16_s(lo);
    const b1 = i16x8.extend_high_i8x16_s(lo);
    const b2 = i16x8.extend_low_i8x16_s(hi);
    const b3 = i16x8.extend_high_i8x16_s(hi);
    const s = f32x4.splat(load<f32>(sp));
    const a0 = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(v128.load(x0 + kx), b0), i32x4.dot_i16x8_s(v128.load(x0 + kx, 16), b1)),
      i32x4.add(i32x4.dot_i16x8_s(v128.load(x0 + kx, 32), b2), i32x4.dot_i16x8_s(v128.load(x0 + kx, 48), b3)));
    f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(a0), s));
    const a1 = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(v128.load(x1 + kx), b0), i32x4.dot_i16x8_s(v128.load(x1 + kx, 16), b1)),
      i32x4.add(i32x4.dot_i16x8_s(v128.load(x1 + kx, 32), b2), i32x4.dot_i16x8_s(v128.load(x1 + kx, 48), b3)));
    f1 = f32x4.add(f1, f32x4.mul(f32x4.convert_i32x4_s(a1), s));
    const a2 = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(v128.load(x2 + kx), b0), i32x4.dot_i16x8_s(v128.load(x2 + kx, 16), b1)),
      i32x4.add(i32x4.dot_i16x8_s(v128.load(x2 + kx, 32), b2), i32x4.dot_i16x8_s(v128.load(x2 + kx, 48), b3)));
    f2 = f32x4.add(f2, f32x4.mul(f32x4.convert_i32x4_s(a2), s));
    const a3 = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(v128.load(x3 + kx), b0), i32x4.dot_i16x8_s(v128.load(x3 + kx, 16), b1)),
      i32x4.add(i32x4.dot_i16x8_s(v128.load(x3 + kx, 32), b2), i32x4.dot_i16x8_s(v128.load(x3 + kx, 48), b3)));
    f3 = f32x4.add(f3, f32x4.mul(f32x4.convert_i32x4_s(a3), s));
  }
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const yN = <usize>N << 2;
  const s0 = xs + (<usize>t << 2);
  put(y0, hsum(f0), load<f32>(s0), accumulate);
  put(y0 + yN, hsum(f1), load<f32>(s0, 4), accumulate);
  put(y0 + 2 * yN, hsum(f2), load<f32>(s0, 8), accumulate);
  put(y0 + 3 * yN, hsum(f3), load<f32>(s0, 12), accumulate);
}

// One token against one weight row: the T % 4 last tokens of a token block.
function q4_tile_1x1(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, G: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const wr = W + ((<usize>n * <usize>K) >> 1);
  const NG = K / G;
  const sr = ws + ((<usize>n * <usize>NG) << 2);
  let f = f32x4.splat(0);
  for (let g = 0; g < NG; g++) {
    const kb = g * G;
    const ke = kb + G;
    let a = i32x4.splat(0);
    for (let k = kb; k < ke; k += 32) {
      const v = v128.load(wr + (<usize>k >> 1));
      const lo = unpack_lo(v);
      const hi = unpack_hi(v);
      const kx = <usize>k << 1;
      a = i32x4.add(a, i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x0 + kx), i16x8.extend_low_i8x16_s(lo)),
                  i32x4.dot_i16x8_s(v128.load(x0 + kx, 16), i16x8.extend_high_i8x16_s(lo))),
        i32x4.add(i32x4.dot_i16x8_s(v128.load(x0 + kx, 32), i16x8.extend_low_i8x16_s(hi)),
                  i32x4.dot_i16x8_s(v128.load(x0 + kx, 48), i16x8.extend_high_i8x16_s(hi)))));
    }
    f = f32x4.add(f, f32x4.mul(f32x4.convert_i32x4_s(a), f32x4.splat(load<f32>(sr + (<usize>g << 2)))));
  }
  put(y + ((<usize>t * <usize>N + <usize>n) << 2), hsum(f), load<f32>(xs + (<usize>t << 2)), accumulate);
}

// q4_tile_1x1 for G = 32: one block per group, one loop.
function q4_tile_1x1_g32(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  let xp = xq + ((<usize>t * <usize>K) << 1);
  let wp = W + ((<usize>n * <usize>K) >> 1);
  let sp = ws + ((<usize>n * <usize>(K >> 5)) << 2);
  const we = wp + (<usize>K >> 1);
  let f = f32x4.splat(0);
  for (; wp < we; wp += 16, sp += 4, xp += 64) {
    const v = v128.load(wp);
    const lo = unpack_lo(v);
    const hi = unpack_hi(v);
    const a = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(v128.load(xp), i16x8.extend_low_i8x16_s(lo)),
                i32x4.dot_i16x8_s(v128.load(xp, 16), i16x8.extend_high_i8x16_s(lo))),
      i32x4.add(i32x4.dot_i16x8_s(v128.load(xp, 32), i16x8.extend_low_i8x16_s(hi)),
                i32x4.dot_i16x8_s(v128.load(xp, 48), i16x8.extend_high_i8x16_s(hi))));
    f = f32x4.add(f, f32x4.mul(f32x4.convert_i32x4_s(a), f32x4.splat(load<f32>(sp))));
  }
  put(y + ((<usize>t * <usize>N + <usize>n) << 2), hsum(f), load<f32>(xs + (<usize>t << 2)), accumulate);
}

// The code of W[n, k] minus 8, from the block layout above.
// @ts-ignore: decorator
@inline
function q4_at(wr: usize, k: i32): i32 {
  const b = <i32>load<u8>(wr + <usize>((k >> 5) << 4) + <usize>(k & 15));
  return ((k & 16) != 0 ? b >> 4 : b & 15) - 8;
}

export function gemm_q4_scalar(xq: usize, xs: usize, W: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, G: i32, accumulate: i32): void {
  const NG = K / G;
  for (let t = 0; t < T; t++) {
    const xr = xq + ((<usize>t * <usize>K) << 1);
    for (let n = 0; n < N; n++) {
      const wr = W + ((<usize>n * <usize>K) >> 1);
      const sr = ws + ((<usize>n * <usize>NG) << 2);
      let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0;
      for (let g = 0; g < NG; g++) {
        let a0: i32 = 0, a1: i32 = 0, a2: i32 = 0, a3: i32 = 0;
        for (let k = g * G; k < g * G + G; k += 8) {
          const x = xr + (<usize>k << 1);
          a0 += <i32>load<i16>(x) * q4_at(wr, k) + <i32>load<i16>(x, 2) * q4_at(wr, k + 1);
          a1 += <i32>load<i16>(x, 4) * q4_at(wr, k + 2) + <i32>load<i16>(x, 6) * q4_at(wr, k + 3);
          a2 += <i32>load<i16>(x, 8) * q4_at(wr, k + 4) + <i32>load<i16>(x, 10) * q4_at(wr, k + 5);
          a3 += <i32>load<i16>(x, 12) * q4_at(wr, k + 6) + <i32>load<i16>(x, 14) * q4_at(wr, k + 7);
        }
        const s = load<f32>(sr + (<usize>g << 2));
        l0 += <f32>a0 * s;
        l1 += <f32>a1 * s;
        l2 += <f32>a2 * s;
        l3 += <f32>a3 * s;
      }
      put(y + ((<usize>t * <usize>N + <usize>n) << 2), (l0 + l1) + (l2 + l3), load<f32>(xs + (<usize>t << 2)), accumulate);
    }
  }
}
