// int8-weight matmul with int16 activations, over weights packed once at load time (see the
// contracts of pack_q8 and gemm_q8 below).
//
// Packed layout of W[N,K] int8 (same N*K bytes, same place): each group of 8 rows n0..n0+7
// (n0 % 8 == 0, n0 + 8 <= N) keeps its 8*K bytes at n0*K, reordered as [K/2][8 rows][2 k]:
//   byte n0*K + (k >> 1)*16 + r*2 + (k & 1) holds W[n0 + r, k];
// the N % 8 last rows stay row-major at n*K. Why: one 16-byte load then holds k and k+1 of 8
// rows, and i32x4.dot_i16x8_s of (4 rows x 2 k) against a broadcast pair (xq[t,k], xq[t,k+1])
// puts 4 outputs in 4 lanes, so a 4-token x 8-row tile needs no horizontal sums and each weight
// load serves 4 tokens (row-major rows give one output per vector, summed across lanes at the end).
// A column range of W that starts at a multiple of 8 rows is itself a packed matrix (the tail
// only in the last range): that is how threads split N.

// Exact-i32 block lengths in k. A dot step adds two products to a lane, at most
// 2 * 32768 * 128 = 2^23, so 2^7 steps per block bound a lane by 2^30 for any input (2^8 would
// reach exactly 2^31 with every xq = -32768 and Wq = -128). Packed tiles step over 2 k per lane
// (KB = 256) and fold each block into exact i32 totals (fold_hi / fold_lo below); the row-major
// tail rows step over 8 k, 2 per lane (KB_ROW = 1024), into i64 totals.
const KB: i32 = 256;
const KB_ROW: i32 = 1024;
// Tokens per pass over W: TB rows of xq (TB * K * 2 bytes <= 512 KiB, 256 tokens at K = 1024)
// stay in L2 while W streams past them once; up to T = 128 at K <= 2048, W streams once in all.
const X_BLOCK_BYTES: i32 = 512 * 1024;
// From this many tokens in a block on, each 8-row group is widened to i16 once into `scratch`
// (16*K bytes, stays in L1/L2) and the later 4x8 tiles read it with plain loads: one sign
// extension per weight per block instead of one per weight per 4 tokens. The first tile of the
// group writes the panel as it computes (q8_tile_4x8_widen), so the weights' trip from memory
// overlaps its dot products: a separate widening pass stalled on it, and at 16 tokens made the
// panel path 8% slower than none (base, 12 layers, weights cold: 39.5 ms; fused: 36.7 ms).
const PANEL_MIN_T: i32 = 32;
// Before the tiles of an 8-row group, the group PREFETCH_ROWS / 8 groups ahead is touched (see prefetch).
const PREFETCH_ROWS: i32 = 16;

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
    // max |x| as integers: the bits of non-negative floats order as the floats do, and Inf and
    // NaN (any payload) sort above every finite value, so a NaN row gets m = NaN as in the twin.
    // One pmaxsd per vector: f32x4.max's NaN and -0 rules cost V8 ~8 dependent instructions on
    // this loop-carried chain (quantizing took 1.3 ns per value; now ~0.2).
    const absMask = i32x4.splat(0x7fffffff);
    let mv = i32x4.splat(0);
    let k = 0;
    for (; k < K4; k += 4) mv = i32x4.max_s(mv, v128.and(v128.load(xr + (<usize>k << 2)), absMask));
    let m = reinterpret<f32>(max(max(i32x4.extract_lane(mv, 0), i32x4.extract_lane(mv, 1)),
                                 max(i32x4.extract_lane(mv, 2), i32x4.extract_lane(mv, 3))));
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

// pack_q8: W[N,K] int8, row-major -> the packed layout above, in place. scratch: 8*K bytes
//   (clobbered), so packing needs no second copy of the matrix. K % 16 == 0, any N >= 1.
export function pack_q8(W: usize, N: i32, K: i32, scratch: usize): void {
  const rowK = <usize>K;
  for (let n = 0; n + 8 <= N; n += 8) {
    const g = W + <usize>n * rowK;
    memory.copy(scratch, g, rowK << 3);
    let dst = g;
    for (let k: usize = 0; k < rowK; k += 16) {
      // an 8 x 8 transpose of u16 (k, k+1) pairs: rows 0..7 of k..k+15 in, pairs 0..7 of 8 rows out
      const s = scratch + k;
      const r0 = v128.load(s), r1 = v128.load(s + rowK), r2 = v128.load(s + 2 * rowK), r3 = v128.load(s + 3 * rowK);
      const r4 = v128.load(s + 4 * rowK), r5 = v128.load(s + 5 * rowK), r6 = v128.load(s + 6 * rowK), r7 = v128.load(s + 7 * rowK);
      const a01l = i16x8.shuffle(r0, r1, 0, 8, 1, 9, 2, 10, 3, 11), a01h = i16x8.shuffle(r0, r1, 4, 12, 5, 13, 6, 14, 7, 15);
      const a23l = i16x8.shuffle(r2, r3, 0, 8, 1, 9, 2, 10, 3, 11), a23h = i16x8.shuffle(r2, r3, 4, 12, 5, 13, 6, 14, 7, 15);
      const a45l = i16x8.shuffle(r4, r5, 0, 8, 1, 9, 2, 10, 3, 11), a45h = i16x8.shuffle(r4, r5, 4, 12, 5, 13, 6, 14, 7, 15);
      const a67l = i16x8.shuffle(r6, r7, 0, 8, 1, 9, 2, 10, 3, 11), a67h = i16x8.shuffle(r6, r7, 4, 12, 5, 13, 6, 14, 7, 15);
      const b0 = i32x4.shuffle(a01l, a23l, 0, 4, 1, 5), b1 = i32x4.shuffle(a01l, a23l, 2, 6, 3, 7);
      const b2 = i32x4.shuffle(a01h, a23h, 0, 4, 1, 5), b3 = i32x4.shuffle(a01h, a23h, 2, 6, 3, 7);
      const c0 = i32x4.shuffle(a45l, a67l, 0, 4, 1, 5), c1 = i32x4.shuffle(a45l, a67l, 2, 6, 3, 7);
      const c2 = i32x4.shuffle(a45h, a67h, 0, 4, 1, 5), c3 = i32x4.shuffle(a45h, a67h, 2, 6, 3, 7);
      v128.store(dst, i64x2.shuffle(b0, c0, 0, 2));
      v128.store(dst, i64x2.shuffle(b0, c0, 1, 3), 16);
      v128.store(dst, i64x2.shuffle(b1, c1, 0, 2), 32);
      v128.store(dst, i64x2.shuffle(b1, c1, 1, 3), 48);
      v128.store(dst, i64x2.shuffle(b2, c2, 0, 2), 64);
      v128.store(dst, i64x2.shuffle(b2, c2, 1, 3), 80);
      v128.store(dst, i64x2.shuffle(b3, c3, 0, 2), 96);
      v128.store(dst, i64x2.shuffle(b3, c3, 1, 3), 112);
      dst += 128;
    }
  }
}

// unpack_q8: the inverse of pack_q8, in place (same arguments).
export function unpack_q8(W: usize, N: i32, K: i32, scratch: usize): void {
  const rowK = <usize>K;
  for (let n = 0; n + 8 <= N; n += 8) {
    const g = W + <usize>n * rowK;
    memory.copy(scratch, g, rowK << 3);
    for (let r: usize = 0; r < 8; r++) {
      for (let k: usize = 0; k < rowK; k++) store<i8>(g + r * rowK + k, load<i8>(scratch + (k >> 1) * 16 + r * 2 + (k & 1)));
    }
  }
}

// The four i32 lanes of one block, summed exactly (their total can exceed i32).
// @ts-ignore: decorator
@inline
function block_sum(a: v128): i64 {
  const s = i64x2.add(i64x2.extend_low_i32x4_s(a), i64x2.extend_high_i32x4_s(a));
  return i64x2.extract_lane(s, 0) + i64x2.extract_lane(s, 1);
}

// Exact totals in i32 lanes. A block sum a (|a| <= 2^30, see KB) is split as a = hi * 2^16 + lo
// with hi = a >> 16 (arithmetic) in [-2^14, 2^14] and lo = a & 0xffff in [0, 2^16); hi and lo are
// summed over the blocks in their own i32 lanes (K <= 65536: at most 256 blocks, so
// |sum hi| <= 2^22 and sum lo < 2^24). Both sums are then exact in f32, f32(sum hi) * 2^16 is
// exact, and their f32 sum is one rounding of the exact total: the same f32 as converting the
// i64 total (f32.convert_i64_s, round to nearest even), with no lane ever leaving i32x4.
// Why not i64x2 totals: the whole path from the k loop to the stores of y is then made of
// operations V8's revectorizer (--experimental-wasm-revectorize, src/compiler/turboshaft/
// wasm-revec-reducer.cc) packs two by two into 256-bit AVX2 ones: it grows its trees from pairs
// of v128 stores 16 bytes apart (y[t, n..n+3] and y[t, n+4..n+7], same base, immediate offsets
// 0 and 16) through f32x4 / i32x4 arithmetic, splats, the loop phis and i32x4.dot_i16x8_s down to
// the loads (load8x8_s 8 bytes apart -> vpmovsxbw ymm, v128.load 16 apart -> vmovdqu ymm,
// load32_splat of one address -> vbroadcastss ymm). A tree fails as a whole at one operation it
// does not know (i64x2 extends, extract_lane) or at a store between two loads it would pair.
// Without the flag V8 compiles the same code to the 128-bit instructions it always did.
// @ts-ignore: decorator
@inline
function fold_hi(h: v128, a: v128): v128 {
  return i32x4.add(h, i32x4.shr_s(a, 16));
}

// @ts-ignore: decorator
@inline
function fold_lo(l: v128, a: v128): v128 {
  return i32x4.add(l, v128.and(a, i32x4.splat(0xffff)));
}

// f32(h * 2^16 + l) * (S * w), S = splat(xs[t]), w = ws[n..n+3]: put()'s roundings, lane by lane.
// @ts-ignore: decorator
@inline
function scaled4(h: v128, l: v128, S: v128, w: v128): v128 {
  const f = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(h), f32x4.splat(65536.0)), f32x4.convert_i32x4_s(l));
  return f32x4.mul(f, f32x4.mul(S, w));
}

// y[t, n..n+7] (+)= the totals of one token and 8 rows (h0, l0: rows n..n+3; h1, l1: n+4..n+7);
// s = xs[t], wn = &ws[n]. Both old vectors are loaded before either store (a store between two
// loads keeps the revectorizer from pairing them), and the stores use immediate offsets 0 and 16.
// @ts-ignore: decorator
@inline
function emit8(y: usize, h0: v128, l0: v128, h1: v128, l1: v128, s: f32, wn: usize, accumulate: i32): void {
  const S = f32x4.splat(s);
  const v0 = scaled4(h0, l0, S, v128.load(wn)), v1 = scaled4(h1, l1, S, v128.load(wn, 16));
  if (accumulate != 0) {
    const o0 = v128.load(y), o1 = v128.load(y, 16);
    v128.store(y, f32x4.add(v0, o0));
    v128.store(y, f32x4.add(v1, o1), 16);
  } else {
    v128.store(y, v0);
    v128.store(y, v1, 16);
  }
}

// @ts-ignore: decorator
@inline
function put(y: usize, acc: i64, scale: f32, accumulate: i32): void {
  let r = <f32>acc * scale;
  if (accumulate != 0) r += load<f32>(y);
  store<f32>(y, r);
}

// gemm_q8: y[T,N] (+)= x[T,K] . W[N,K]^T with x = xq * xs (i16 per-row), W = Wq * ws (i8 per-row),
//   Wq in the packed layout (pack_q8).
//   acc[t,n] = sum_k xq[t,k] * Wq[n,k], exact: i32 lanes over blocks of k (no input can
//   overflow them), the blocks summed exactly (i32 hi / lo totals, or i64 in the tail rows);
//   y[t,n] = f32(acc) * (xs[t] * ws[n]), one rounding of acc, plus the old y[t,n] when
//   accumulate != 0 (a fused residual add).
//   scratch: 16*K + X_BLOCK_BYTES bytes, 16-byte aligned, clobbered (the widened panel, then the
//   token block packed by pack_x4); 0: none (same results, slower when a token block has >= 16
//   tokens). K % 16 == 0, K <= 65536; any T >= 1, N >= 1. Bit-identical to the
//   twin, with or without V8's revectorizer (see fold_hi).
//   Tiles: 4 tokens x 8 rows (8 accumulators, 4 broadcasts, 2 weight vectors and a temporary
//   fill 15 of V8's 16 xmm, so no k-unrolling; revectorized: 4 ymm accumulators, vpmaddwd ymm);
//   token tails 3x8, 2x16, 1x16; tail rows 1x1.
export function gemm_q8(xq: usize, xs: usize, W: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32, scratch: usize): void {
  let TB = (X_BLOCK_BYTES / (K << 1)) & ~3;
  if (TB < 4) TB = 4;
  const NG = N & ~7;
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min(t0 + TB, T);
    const t4 = t0 + ((t1 - t0) & ~3);
    if (t4 - t0 >= PANEL_MIN_T && scratch != 0) {
      // the block's 4-token groups, each [K/2][4 tokens][2 k], after the panel: group g at X + g * 8K
      const X = scratch + (<usize>K << 4);
      pack_x4(xq + ((<usize>t0 * <usize>K) << 1), X, t4 - t0, K);
      for (let n = 0; n < NG; n += 8) {
        if (n + PREFETCH_ROWS + 8 <= NG) prefetch(W + <usize>(n + PREFETCH_ROWS) * <usize>K, K << 3, scratch);
        q8_tile_4x8_widen(X, xs, W, ws, y, t0, n, K, N, accumulate, scratch);
        for (let t = t0 + 4; t < t4; t += 4) {
          q8_tile_4x8_panel(X + ((<usize>(t - t0) * <usize>K) << 1), xs, scratch, ws, y, t, n, K, N, accumulate);
        }
      }
    } else {
      for (let n = 0; n < NG; n += 8) {
        for (let t = t0; t < t4; t += 4) q8_tile_4x8(xq, xs, W, ws, y, t, n, K, N, accumulate);
      }
    }
    const r = t1 - t4;
    if (r == 3) {
      for (let n = 0; n < NG; n += 8) q8_tile_3x8(xq, xs, W, ws, y, t4, n, K, N, accumulate);
    } else if (r == 2) {
      let n = 0;
      for (; n + 16 <= NG; n += 16) q8_tile_2x16(xq, xs, W, ws, y, t4, n, K, N, accumulate);
      if (n < NG) q8_tile_2x8(xq, xs, W, ws, y, t4, n, K, N, accumulate);
    } else if (r == 1) {
      let n = 0;
      for (; n + 16 <= NG; n += 16) q8_tile_1x16(xq, xs, W, ws, y, t4, n, K, N, accumulate);
      if (n < NG) q8_tile_1x8(xq, xs, W, ws, y, t4, n, K, N, accumulate);
    }
    for (let n = NG; n < N; n++) {
      for (let t = t0; t < t1; t++) q8_tile_1x1(xq, xs, W, ws, y, t, n, K, N, accumulate);
    }
  }
}

// Loads one byte of every 64-byte line of [src, src + bytes) and leaves their xor at `sink`
// (a byte of the caller's scratch that the tiles overwrite, so no engine may drop the loads).
// Wasm has no prefetch instruction. The tiles' own weight loads come one per few cycles among
// the dot products, so each cache miss stalls them; these loads have nothing between them, so
// their misses overlap. Base at T = 16, weights cold: 37.1 -> 35.8 ms for 12 layers' matmuls.
// Panel path only: in the direct path (< 16 tokens) the same touch measured 10-30% slower.
function prefetch(src: usize, bytes: i32, sink: usize): void {
  let acc: u32 = 0;
  const end = src + <usize>bytes;
  for (let p = src; p < end; p += 64) acc ^= load<u8>(p);
  store<u8>(sink, <u8>acc);
}

// pack_x4: rows [T4, K] of xq (T4 % 4 == 0) -> X, each 4-token group as [K/2][4 tokens][2 k] (8K
// bytes per group), so a tile broadcasts the four tokens' k pairs from one pointer with immediate
// offsets 0, 4, 8, 12: one address increment per k step instead of four (as fast without the
// revectorizer, +10-15% with it). K % 16 == 0.
function pack_x4(xq: usize, X: usize, T4: i32, K: i32): void {
  const row = <usize>K << 1;
  for (let g = 0; g < T4; g += 4) {
    const r0 = xq + <usize>g * row;
    let dst = X + <usize>g * row;
    for (let k: usize = 0; k < row; k += 16) {
      // a 4 x 4 transpose of u32 (k pairs): 4 pairs of each token in, 4 tokens of each pair out
      const a = v128.load(r0 + k), b = v128.load(r0 + row + k), c = v128.load(r0 + 2 * row + k), d = v128.load(r0 + 3 * row + k);
      const ab0 = i32x4.shuffle(a, b, 0, 4, 1, 5), ab1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
      const cd0 = i32x4.shuffle(c, d, 0, 4, 1, 5), cd1 = i32x4.shuffle(c, d, 2, 6, 3, 7);
      v128.store(dst, i64x2.shuffle(ab0, cd0, 0, 2));
      v128.store(dst, i64x2.shuffle(ab0, cd0, 1, 3), 16);
      v128.store(dst, i64x2.shuffle(ab1, cd1, 0, 2), 32);
      v128.store(dst, i64x2.shuffle(ab1, cd1, 1, 3), 48);
      dst += 64;
    }
  }
}

// 4 tokens x 8 rows, int8 weights sign-extended as loaded (blocks of < 16 tokens, or no scratch).
function q8_tile_4x8(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const x1 = x0 + (<usize>K << 1);
  const x2 = x1 + (<usize>K << 1);
  const x3 = x2 + (<usize>K << 1);
  const w = W + <usize>n * <usize>K;
  let l00 = i32x4.splat(0), h00 = i32x4.splat(0), l01 = i32x4.splat(0), h01 = i32x4.splat(0);
  let l10 = i32x4.splat(0), h10 = i32x4.splat(0), l11 = i32x4.splat(0), h11 = i32x4.splat(0);
  let l20 = i32x4.splat(0), h20 = i32x4.splat(0), l21 = i32x4.splat(0), h21 = i32x4.splat(0);
  let l30 = i32x4.splat(0), h30 = i32x4.splat(0), l31 = i32x4.splat(0), h31 = i32x4.splat(0);
  for (let kb = 0; kb < K; kb += KB) {
    const kl = <usize>(min(kb + KB, K) - kb);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
    let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
    let p0 = x0 + (<usize>kb << 1), p1 = x1 + (<usize>kb << 1), p2 = x2 + (<usize>kb << 1), p3 = x3 + (<usize>kb << 1);
    let pw = w + (<usize>kb << 3);
    const pe = pw + (kl << 3);
    while (pw < pe) {
      const c0 = v128.load32_splat(p0);
      const c1 = v128.load32_splat(p1);
      const c2 = v128.load32_splat(p2);
      const c3 = v128.load32_splat(p3);
      const b0 = v128.load8x8_s(pw);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(c0, b0));
      a10 = i32x4.add(a10, i32x4.dot_i16x8_s(c1, b0));
      a20 = i32x4.add(a20, i32x4.dot_i16x8_s(c2, b0));
      a30 = i32x4.add(a30, i32x4.dot_i16x8_s(c3, b0));
      const b1 = v128.load8x8_s(pw, 8);
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(c0, b1));
      a11 = i32x4.add(a11, i32x4.dot_i16x8_s(c1, b1));
      a21 = i32x4.add(a21, i32x4.dot_i16x8_s(c2, b1));
      a31 = i32x4.add(a31, i32x4.dot_i16x8_s(c3, b1));
      p0 += 4; p1 += 4; p2 += 4; p3 += 4;
      pw += 16;
    }
    h00 = fold_hi(h00, a00); l00 = fold_lo(l00, a00); h01 = fold_hi(h01, a01); l01 = fold_lo(l01, a01);
    h10 = fold_hi(h10, a10); l10 = fold_lo(l10, a10); h11 = fold_hi(h11, a11); l11 = fold_lo(l11, a11);
    h20 = fold_hi(h20, a20); l20 = fold_lo(l20, a20); h21 = fold_hi(h21, a21); l21 = fold_lo(l21, a21);
    h30 = fold_hi(h30, a30); l30 = fold_lo(l30, a30); h31 = fold_hi(h31, a31); l31 = fold_lo(l31, a31);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2), y2 = y1 + (<usize>N << 2), y3 = y2 + (<usize>N << 2);
  const s0 = load<f32>(xs + (<usize>t << 2)), s1 = load<f32>(xs + (<usize>t << 2), 4);
  const s2 = load<f32>(xs + (<usize>t << 2), 8), s3 = load<f32>(xs + (<usize>t << 2), 12);
  emit8(y0, h00, l00, h01, l01, s0, wn, accumulate);
  emit8(y1, h10, l10, h11, l11, s1, wn, accumulate);
  emit8(y2, h20, l20, h21, l21, s2, wn, accumulate);
  emit8(y3, h30, l30, h31, l31, s3, wn, accumulate);
}

// q8_tile_4x8 over tokens t..t+3 packed by pack_x4 at X, that also writes the widened group to P
// (the panel of the tiles that follow).
function q8_tile_4x8_widen(X: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32, P: usize): void {
  const w = W + <usize>n * <usize>K;
  let l00 = i32x4.splat(0), h00 = i32x4.splat(0), l01 = i32x4.splat(0), h01 = i32x4.splat(0);
  let l10 = i32x4.splat(0), h10 = i32x4.splat(0), l11 = i32x4.splat(0), h11 = i32x4.splat(0);
  let l20 = i32x4.splat(0), h20 = i32x4.splat(0), l21 = i32x4.splat(0), h21 = i32x4.splat(0);
  let l30 = i32x4.splat(0), h30 = i32x4.splat(0), l31 = i32x4.splat(0), h31 = i32x4.splat(0);
  for (let kb = 0; kb < K; kb += KB) {
    const kl = <usize>(min(kb + KB, K) - kb);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
    let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
    let px = X + (<usize>kb << 3);
    let pw = w + (<usize>kb << 3);
    let pp = P + (<usize>kb << 4);
    const pe = pw + (kl << 3);
    while (pw < pe) {
      const c0 = v128.load32_splat(px);
      const c1 = v128.load32_splat(px, 4);
      const c2 = v128.load32_splat(px, 8);
      const c3 = v128.load32_splat(px, 12);
      // Both loads before both stores (the revectorizer pairs no two loads across a store), each
      // load used at once: Binaryen then keeps b0's load before b1's (see fold_hi on load order).
      const b0 = v128.load8x8_s(pw);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(c0, b0));
      const b1 = v128.load8x8_s(pw, 8);
      v128.store(pp, b0);
      v128.store(pp, b1, 16);
      a10 = i32x4.add(a10, i32x4.dot_i16x8_s(c1, b0));
      a20 = i32x4.add(a20, i32x4.dot_i16x8_s(c2, b0));
      a30 = i32x4.add(a30, i32x4.dot_i16x8_s(c3, b0));
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(c0, b1));
      a11 = i32x4.add(a11, i32x4.dot_i16x8_s(c1, b1));
      a21 = i32x4.add(a21, i32x4.dot_i16x8_s(c2, b1));
      a31 = i32x4.add(a31, i32x4.dot_i16x8_s(c3, b1));
      px += 16;
      pw += 16;
      pp += 32;
    }
    h00 = fold_hi(h00, a00); l00 = fold_lo(l00, a00); h01 = fold_hi(h01, a01); l01 = fold_lo(l01, a01);
    h10 = fold_hi(h10, a10); l10 = fold_lo(l10, a10); h11 = fold_hi(h11, a11); l11 = fold_lo(l11, a11);
    h20 = fold_hi(h20, a20); l20 = fold_lo(l20, a20); h21 = fold_hi(h21, a21); l21 = fold_lo(l21, a21);
    h30 = fold_hi(h30, a30); l30 = fold_lo(l30, a30); h31 = fold_hi(h31, a31); l31 = fold_lo(l31, a31);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2), y2 = y1 + (<usize>N << 2), y3 = y2 + (<usize>N << 2);
  const s0 = load<f32>(xs + (<usize>t << 2)), s1 = load<f32>(xs + (<usize>t << 2), 4);
  const s2 = load<f32>(xs + (<usize>t << 2), 8), s3 = load<f32>(xs + (<usize>t << 2), 12);
  emit8(y0, h00, l00, h01, l01, s0, wn, accumulate);
  emit8(y1, h10, l10, h11, l11, s1, wn, accumulate);
  emit8(y2, h20, l20, h21, l21, s2, wn, accumulate);
  emit8(y3, h30, l30, h31, l31, s3, wn, accumulate);
}

// q8_tile_4x8 over the widened group P (i16, 32 bytes per k pair) of rows n..n+7 and tokens
// t..t+3 packed by pack_x4 at X.
function q8_tile_4x8_panel(X: usize, xs: usize, P: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  let l00 = i32x4.splat(0), h00 = i32x4.splat(0), l01 = i32x4.splat(0), h01 = i32x4.splat(0);
  let l10 = i32x4.splat(0), h10 = i32x4.splat(0), l11 = i32x4.splat(0), h11 = i32x4.splat(0);
  let l20 = i32x4.splat(0), h20 = i32x4.splat(0), l21 = i32x4.splat(0), h21 = i32x4.splat(0);
  let l30 = i32x4.splat(0), h30 = i32x4.splat(0), l31 = i32x4.splat(0), h31 = i32x4.splat(0);
  for (let kb = 0; kb < K; kb += KB) {
    const kl = <usize>(min(kb + KB, K) - kb);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
    let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
    let px = X + (<usize>kb << 3);
    let pw = P + (<usize>kb << 4);
    const pe = pw + (kl << 4);
    while (pw < pe) {
      const c0 = v128.load32_splat(px);
      const c1 = v128.load32_splat(px, 4);
      const c2 = v128.load32_splat(px, 8);
      const c3 = v128.load32_splat(px, 12);
      const b0 = v128.load(pw);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(c0, b0));
      a10 = i32x4.add(a10, i32x4.dot_i16x8_s(c1, b0));
      a20 = i32x4.add(a20, i32x4.dot_i16x8_s(c2, b0));
      a30 = i32x4.add(a30, i32x4.dot_i16x8_s(c3, b0));
      const b1 = v128.load(pw, 16);
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(c0, b1));
      a11 = i32x4.add(a11, i32x4.dot_i16x8_s(c1, b1));
      a21 = i32x4.add(a21, i32x4.dot_i16x8_s(c2, b1));
      a31 = i32x4.add(a31, i32x4.dot_i16x8_s(c3, b1));
      px += 16;
      pw += 32;
    }
    h00 = fold_hi(h00, a00); l00 = fold_lo(l00, a00); h01 = fold_hi(h01, a01); l01 = fold_lo(l01, a01);
    h10 = fold_hi(h10, a10); l10 = fold_lo(l10, a10); h11 = fold_hi(h11, a11); l11 = fold_lo(l11, a11);
    h20 = fold_hi(h20, a20); l20 = fold_lo(l20, a20); h21 = fold_hi(h21, a21); l21 = fold_lo(l21, a21);
    h30 = fold_hi(h30, a30); l30 = fold_lo(l30, a30); h31 = fold_hi(h31, a31); l31 = fold_lo(l31, a31);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2), y2 = y1 + (<usize>N << 2), y3 = y2 + (<usize>N << 2);
  const s0 = load<f32>(xs + (<usize>t << 2)), s1 = load<f32>(xs + (<usize>t << 2), 4);
  const s2 = load<f32>(xs + (<usize>t << 2), 8), s3 = load<f32>(xs + (<usize>t << 2), 12);
  emit8(y0, h00, l00, h01, l01, s0, wn, accumulate);
  emit8(y1, h10, l10, h11, l11, s1, wn, accumulate);
  emit8(y2, h20, l20, h21, l21, s2, wn, accumulate);
  emit8(y3, h30, l30, h31, l31, s3, wn, accumulate);
}

// The T % 4 == 3 last tokens of a block x 8 rows.
function q8_tile_3x8(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const x1 = x0 + (<usize>K << 1);
  const x2 = x1 + (<usize>K << 1);
  const w = W + <usize>n * <usize>K;
  let l00 = i32x4.splat(0), h00 = i32x4.splat(0), l01 = i32x4.splat(0), h01 = i32x4.splat(0);
  let l10 = i32x4.splat(0), h10 = i32x4.splat(0), l11 = i32x4.splat(0), h11 = i32x4.splat(0);
  let l20 = i32x4.splat(0), h20 = i32x4.splat(0), l21 = i32x4.splat(0), h21 = i32x4.splat(0);
  for (let kb = 0; kb < K; kb += KB) {
    const kl = <usize>(min(kb + KB, K) - kb);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
    let a20 = i32x4.splat(0), a21 = i32x4.splat(0);
    let p0 = x0 + (<usize>kb << 1), p1 = x1 + (<usize>kb << 1), p2 = x2 + (<usize>kb << 1);
    let pw = w + (<usize>kb << 3);
    const pe = pw + (kl << 3);
    while (pw < pe) {
      const c0 = v128.load32_splat(p0);
      const c1 = v128.load32_splat(p1);
      const c2 = v128.load32_splat(p2);
      const b0 = v128.load8x8_s(pw);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(c0, b0));
      a10 = i32x4.add(a10, i32x4.dot_i16x8_s(c1, b0));
      a20 = i32x4.add(a20, i32x4.dot_i16x8_s(c2, b0));
      const b1 = v128.load8x8_s(pw, 8);
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(c0, b1));
      a11 = i32x4.add(a11, i32x4.dot_i16x8_s(c1, b1));
      a21 = i32x4.add(a21, i32x4.dot_i16x8_s(c2, b1));
      p0 += 4; p1 += 4; p2 += 4;
      pw += 16;
    }
    h00 = fold_hi(h00, a00); l00 = fold_lo(l00, a00); h01 = fold_hi(h01, a01); l01 = fold_lo(l01, a01);
    h10 = fold_hi(h10, a10); l10 = fold_lo(l10, a10); h11 = fold_hi(h11, a11); l11 = fold_lo(l11, a11);
    h20 = fold_hi(h20, a20); l20 = fold_lo(l20, a20); h21 = fold_hi(h21, a21); l21 = fold_lo(l21, a21);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2), y2 = y1 + (<usize>N << 2);
  const s0 = load<f32>(xs + (<usize>t << 2)), s1 = load<f32>(xs + (<usize>t << 2), 4), s2 = load<f32>(xs + (<usize>t << 2), 8);
  emit8(y0, h00, l00, h01, l01, s0, wn, accumulate);
  emit8(y1, h10, l10, h11, l11, s1, wn, accumulate);
  emit8(y2, h20, l20, h21, l21, s2, wn, accumulate);
}

// The T % 4 == 2 last tokens of a block x 16 rows (two groups): 8 accumulators, as the 4x8 tile.
function q8_tile_2x16(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const x1 = x0 + (<usize>K << 1);
  const v = W + <usize>n * <usize>K;
  const u = v + (<usize>K << 3);
  let l00 = i32x4.splat(0), h00 = i32x4.splat(0), l01 = i32x4.splat(0), h01 = i32x4.splat(0);
  let l02 = i32x4.splat(0), h02 = i32x4.splat(0), l03 = i32x4.splat(0), h03 = i32x4.splat(0);
  let l10 = i32x4.splat(0), h10 = i32x4.splat(0), l11 = i32x4.splat(0), h11 = i32x4.splat(0);
  let l12 = i32x4.splat(0), h12 = i32x4.splat(0), l13 = i32x4.splat(0), h13 = i32x4.splat(0);
  for (let kb = 0; kb < K; kb += KB) {
    const kl = <usize>(min(kb + KB, K) - kb);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a02 = i32x4.splat(0), a03 = i32x4.splat(0);
    let a10 = i32x4.splat(0), a11 = i32x4.splat(0), a12 = i32x4.splat(0), a13 = i32x4.splat(0);
    let p0 = x0 + (<usize>kb << 1), p1 = x1 + (<usize>kb << 1);
    let pv = v + (<usize>kb << 3), pu = u + (<usize>kb << 3);
    const pe = pv + (kl << 3);
    while (pv < pe) {
      const c0 = v128.load32_splat(p0);
      const c1 = v128.load32_splat(p1);
      const b0 = v128.load8x8_s(pv);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(c0, b0));
      a10 = i32x4.add(a10, i32x4.dot_i16x8_s(c1, b0));
      const b1 = v128.load8x8_s(pv, 8);
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(c0, b1));
      a11 = i32x4.add(a11, i32x4.dot_i16x8_s(c1, b1));
      const b2 = v128.load8x8_s(pu);
      a02 = i32x4.add(a02, i32x4.dot_i16x8_s(c0, b2));
      a12 = i32x4.add(a12, i32x4.dot_i16x8_s(c1, b2));
      const b3 = v128.load8x8_s(pu, 8);
      a03 = i32x4.add(a03, i32x4.dot_i16x8_s(c0, b3));
      a13 = i32x4.add(a13, i32x4.dot_i16x8_s(c1, b3));
      p0 += 4; p1 += 4;
      pv += 16; pu += 16;
    }
    h00 = fold_hi(h00, a00); l00 = fold_lo(l00, a00); h01 = fold_hi(h01, a01); l01 = fold_lo(l01, a01);
    h02 = fold_hi(h02, a02); l02 = fold_lo(l02, a02); h03 = fold_hi(h03, a03); l03 = fold_lo(l03, a03);
    h10 = fold_hi(h10, a10); l10 = fold_lo(l10, a10); h11 = fold_hi(h11, a11); l11 = fold_lo(l11, a11);
    h12 = fold_hi(h12, a12); l12 = fold_lo(l12, a12); h13 = fold_hi(h13, a13); l13 = fold_lo(l13, a13);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2);
  const s0 = load<f32>(xs + (<usize>t << 2)), s1 = load<f32>(xs + (<usize>t << 2), 4);
  emit8(y0, h00, l00, h01, l01, s0, wn, accumulate);
  emit8(y0 + 32, h02, l02, h03, l03, s0, wn + 32, accumulate);
  emit8(y1, h10, l10, h11, l11, s1, wn, accumulate);
  emit8(y1 + 32, h12, l12, h13, l13, s1, wn + 32, accumulate);
}

// 2 tokens x the last group when the groups are odd in number.
function q8_tile_2x8(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const x1 = x0 + (<usize>K << 1);
  const w = W + <usize>n * <usize>K;
  let l00 = i32x4.splat(0), h00 = i32x4.splat(0), l01 = i32x4.splat(0), h01 = i32x4.splat(0);
  let l10 = i32x4.splat(0), h10 = i32x4.splat(0), l11 = i32x4.splat(0), h11 = i32x4.splat(0);
  for (let kb = 0; kb < K; kb += KB) {
    const kl = <usize>(min(kb + KB, K) - kb);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
    let p0 = x0 + (<usize>kb << 1), p1 = x1 + (<usize>kb << 1);
    let pw = w + (<usize>kb << 3);
    const pe = pw + (kl << 3);
    while (pw < pe) {
      const c0 = v128.load32_splat(p0);
      const c1 = v128.load32_splat(p1);
      const b0 = v128.load8x8_s(pw);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(c0, b0));
      a10 = i32x4.add(a10, i32x4.dot_i16x8_s(c1, b0));
      const b1 = v128.load8x8_s(pw, 8);
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(c0, b1));
      a11 = i32x4.add(a11, i32x4.dot_i16x8_s(c1, b1));
      p0 += 4; p1 += 4;
      pw += 16;
    }
    h00 = fold_hi(h00, a00); l00 = fold_lo(l00, a00); h01 = fold_hi(h01, a01); l01 = fold_lo(l01, a01);
    h10 = fold_hi(h10, a10); l10 = fold_lo(l10, a10); h11 = fold_hi(h11, a11); l11 = fold_lo(l11, a11);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const y1 = y0 + (<usize>N << 2);
  const s0 = load<f32>(xs + (<usize>t << 2)), s1 = load<f32>(xs + (<usize>t << 2), 4);
  emit8(y0, h00, l00, h01, l01, s0, wn, accumulate);
  emit8(y1, h10, l10, h11, l11, s1, wn, accumulate);
}

// The last token of a block (T % 4 == 1, e.g. T = 1 queries) x 16 rows.
function q8_tile_1x16(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const v = W + <usize>n * <usize>K;
  const u = v + (<usize>K << 3);
  let l00 = i32x4.splat(0), h00 = i32x4.splat(0), l01 = i32x4.splat(0), h01 = i32x4.splat(0);
  let l02 = i32x4.splat(0), h02 = i32x4.splat(0), l03 = i32x4.splat(0), h03 = i32x4.splat(0);
  for (let kb = 0; kb < K; kb += KB) {
    const kl = <usize>(min(kb + KB, K) - kb);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a02 = i32x4.splat(0), a03 = i32x4.splat(0);
    let p0 = x0 + (<usize>kb << 1);
    let pv = v + (<usize>kb << 3), pu = u + (<usize>kb << 3);
    const pe = pv + (kl << 3);
    while (pv < pe) {
      const c0 = v128.load32_splat(p0);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(c0, v128.load8x8_s(pv)));
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(c0, v128.load8x8_s(pv, 8)));
      a02 = i32x4.add(a02, i32x4.dot_i16x8_s(c0, v128.load8x8_s(pu)));
      a03 = i32x4.add(a03, i32x4.dot_i16x8_s(c0, v128.load8x8_s(pu, 8)));
      p0 += 4;
      pv += 16; pu += 16;
    }
    h00 = fold_hi(h00, a00); l00 = fold_lo(l00, a00); h01 = fold_hi(h01, a01); l01 = fold_lo(l01, a01);
    h02 = fold_hi(h02, a02); l02 = fold_lo(l02, a02); h03 = fold_hi(h03, a03); l03 = fold_lo(l03, a03);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const s0 = load<f32>(xs + (<usize>t << 2));
  emit8(y0, h00, l00, h01, l01, s0, wn, accumulate);
  emit8(y0 + 32, h02, l02, h03, l03, s0, wn + 32, accumulate);
}

// 1 token x the last group when the groups are odd in number.
function q8_tile_1x8(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const w = W + <usize>n * <usize>K;
  let l00 = i32x4.splat(0), h00 = i32x4.splat(0), l01 = i32x4.splat(0), h01 = i32x4.splat(0);
  for (let kb = 0; kb < K; kb += KB) {
    const kl = <usize>(min(kb + KB, K) - kb);
    let a00 = i32x4.splat(0), a01 = i32x4.splat(0);
    let p0 = x0 + (<usize>kb << 1);
    let pw = w + (<usize>kb << 3);
    const pe = pw + (kl << 3);
    while (pw < pe) {
      const c0 = v128.load32_splat(p0);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(c0, v128.load8x8_s(pw)));
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(c0, v128.load8x8_s(pw, 8)));
      p0 += 4;
      pw += 16;
    }
    h00 = fold_hi(h00, a00); l00 = fold_lo(l00, a00); h01 = fold_hi(h01, a01); l01 = fold_lo(l01, a01);
  }
  const wn = ws + (<usize>n << 2);
  const y0 = y + ((<usize>t * <usize>N + <usize>n) << 2);
  const s0 = load<f32>(xs + (<usize>t << 2));
  emit8(y0, h00, l00, h01, l01, s0, wn, accumulate);
}

// One output of a row-major tail row (the N % 8 last rows).
function q8_tile_1x1(xq: usize, xs: usize, W: usize, ws: usize, y: usize, t: i32, n: i32, K: i32, N: i32, accumulate: i32): void {
  const x0 = xq + ((<usize>t * <usize>K) << 1);
  const w0 = W + <usize>n * <usize>K;
  let f: i64 = 0;
  for (let kb = 0; kb < K; kb += KB_ROW) {
    const ke = min(kb + KB_ROW, K);
    let a = i32x4.splat(0);
    for (let k = kb; k < ke; k += 8) {
      a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load(x0 + (<usize>k << 1)), v128.load8x8_s(w0 + <usize>k)));
    }
    f += block_sum(a);
  }
  put(y + ((<usize>t * <usize>N + <usize>n) << 2), f, load<f32>(xs + (<usize>t << 2)) * load<f32>(ws + (<usize>n << 2)), accumulate);
}

// The twin reads the packed layout by its defining formula, one product at a time.
export function gemm_q8_scalar(xq: usize, xs: usize, W: usize, ws: usize, y: usize, T: i32, K: i32, N: i32, accumulate: i32, scratch: usize): void {
  const NG = N & ~7;
  for (let t = 0; t < T; t++) {
    const xr = xq + ((<usize>t * <usize>K) << 1);
    for (let n = 0; n < N; n++) {
      const packed = n < NG;
      const wr = packed ? W + <usize>(n & ~7) * <usize>K + (<usize>(n & 7) << 1) : W + <usize>n * <usize>K;
      let acc: i64 = 0;
      for (let k = 0; k < K; k++) {
        const at = packed ? wr + (<usize>(k >> 1) << 4) + <usize>(k & 1) : wr + <usize>k;
        acc += <i64>(<i32>load<i16>(xr + (<usize>k << 1)) * <i32>load<i8>(at));
      }
      put(y + ((<usize>t * <usize>N + <usize>n) << 2), acc, load<f32>(xs + (<usize>t << 2)) * load<f32>(ws + (<usize>n << 2)), accumulate);
    }
  }
}
