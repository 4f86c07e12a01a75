// Vectorized transcendental helpers shared by the kernels (f32x4 lanes, no tables, no traps).

// Below ln(2^-126) the result would be subnormal; it is flushed to exactly 0 so that masked or
// very negative softmax scores contribute nothing (and -Infinity gives 0, not NaN).
const EXP_LO: f32 = -87.33654;
// 88.0 keeps floor(x*log2e + 0.5) <= 127, so the exponent bits never reach the Inf encoding
// (Cephes' 88.376 rounds to 128 there); e^88 ~ 1.65e38 is still finite.
const EXP_HI: f32 = 88.0;
const LOG2E: f32 = 1.44269504088896341;
// ln 2 split in two so that x - n*ln2 stays exact for |n| <= 127 (Cephes expf).
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

// exp_f32x4: e^x per lane, relative error ~1e-7 (Cephes expf: x = n ln2 + r, |r| <= ln2/2,
//   e^r by a degree-7 minimax polynomial, 2^n built in the exponent bits).
//   x < -87.34 (incl. -Inf) gives 0; x > 88 gives e^88; NaN gives 0.
// @ts-ignore: decorator
@inline
export function exp_f32x4(x: v128): v128 {
  // pmax/pmin are one maxps/minps each; max/min's NaN and -0 rules cost V8 about 8 instructions
  // each, and cannot matter here: a NaN lane is masked to 0 below, e^-0 = e^0
  const xc = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  const n = f32x4.floor(f32x4.add(f32x4.mul(xc, f32x4.splat(LOG2E)), f32x4.splat(0.5)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  const pow2n = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.and(f32x4.mul(p, pow2n), f32x4.ge(x, f32x4.splat(EXP_LO)));
}

// gelu_f32x4: gelu_new(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as
//   x / (1 + e^(-2u)) (the same function, since (1 + tanh u) / 2 = sigmoid(2u)). This form has no
//   cancellation at large negative u, and exp's clamping keeps it finite for any finite x:
//   e^(-2u) -> 0 gives x, e^(-2u) -> e^88 gives ~x * 6e-39.
// @ts-ignore: decorator
@inline
export function gelu_f32x4(x: v128): v128 {
  // -2u = x * (A + B x^2)
  const A = f32x4.splat(-1.5957691216057308); // -2 sqrt(2/pi)
  const B = f32x4.splat(-0.0713548162726009); // -2 sqrt(2/pi) 0.044715
  const m2u = f32x4.mul(x, f32x4.add(A, f32x4.mul(B, f32x4.mul(x, x))));
  return f32x4.div(x, f32x4.add(f32x4.splat(1.0), exp_f32x4(m2u)));
}
