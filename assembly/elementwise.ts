import { gelu_f32x4 } from './math';

// rmsnorm: y[t,:] = x[t,:] * (1 / sqrt(mean_k x[t,k]^2 + eps)) * w[:] (T5's norm: no mean, no bias),
//   x, y [T,D] f32 (y may equal x), w [D]; sum of squares in f32. Any D >= 1.
export function rmsnorm(x: usize, w: usize, y: usize, T: i32, D: i32, eps: f32): void {
  const D4 = D & ~3;
  const D8 = D & ~7;
  for (let t = 0; t < T; t++) {
    const xr = x + ((<usize>t * <usize>D) << 2);
    const yr = y + ((<usize>t * <usize>D) << 2);
    // two accumulators: the add latency, not the multiply, bounds this loop
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    let k = 0;
    for (; k < D8; k += 8) {
      const a = v128.load(xr + (<usize>k << 2));
      const b = v128.load(xr + (<usize>k << 2), 16);
      s0 = f32x4.add(s0, f32x4.mul(a, a));
      s1 = f32x4.add(s1, f32x4.mul(b, b));
    }
    if (k < D4) {
      const a = v128.load(xr + (<usize>k << 2));
      s0 = f32x4.add(s0, f32x4.mul(a, a));
      k += 4;
    }
    s0 = f32x4.add(s0, s1);
    let ss = (f32x4.extract_lane(s0, 0) + f32x4.extract_lane(s0, 1)) + (f32x4.extract_lane(s0, 2) + f32x4.extract_lane(s0, 3));
    for (; k < D; k++) {
      const a = load<f32>(xr + (<usize>k << 2));
      ss += a * a;
    }
    const inv: f32 = <f32>1.0 / Mathf.sqrt(ss / <f32>D + eps);
    const vinv = f32x4.splat(inv);
    k = 0;
    for (; k < D4; k += 4) {
      const o = <usize>k << 2;
      v128.store(yr + o, f32x4.mul(f32x4.mul(v128.load(xr + o), vinv), v128.load(w + o)));
    }
    for (; k < D; k++) {
      const o = <usize>k << 2;
      store<f32>(yr + o, load<f32>(xr + o) * inv * load<f32>(w + o));
    }
  }
}

export function rmsnorm_scalar(x: usize, w: usize, y: usize, T: i32, D: i32, eps: f32): void {
  for (let t = 0; t < T; t++) {
    const xr = x + ((<usize>t * <usize>D) << 2);
    const yr = y + ((<usize>t * <usize>D) << 2);
    let ss: f32 = 0;
    for (let k = 0; k < D; k++) {
      const a = load<f32>(xr + (<usize>k << 2));
      ss += a * a;
    }
    const inv: f32 = <f32>1.0 / Mathf.sqrt(ss / <f32>D + eps);
    for (let k = 0; k < D; k++) {
      const o = <usize>k << 2;
      store<f32>(yr + o, load<f32>(xr + o) * inv * load<f32>(w + o));
    }
  }
}

// relu_inplace: x[i] = max(x[i], 0) for i < n.
export function relu_inplace(x: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    // a select, not f32x4.max: matches the scalar twin bit for bit on -0 and NaN lanes
    const a = v128.load(x + o);
    v128.store(x + o, v128.bitselect(zero, a, f32x4.lt(a, zero)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const a = load<f32>(x + o);
    store<f32>(x + o, a < 0 ? 0 : a);
  }
}

export function relu_inplace_scalar(x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const a = load<f32>(x + o);
    store<f32>(x + o, a < 0 ? 0 : a);
  }
}

// gelu_new in f64 with the library tanh: the reference the vectorized form is tested against.
// @ts-ignore: decorator
@inline
function gelu_ref(x: f32): f32 {
  const xd = <f64>x;
  return <f32>(0.5 * xd * (1.0 + Math.tanh(0.7978845608028654 * (xd + 0.044715 * xd * xd * xd))));
}

// gelu_tanh_mul: g[i] = gelu_new(g[i]) * u[i] for i < n (the gated-gelu FFN's wi_0 / wi_1 product).
export function gelu_tanh_mul(g: usize, u: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(g + o, f32x4.mul(gelu_f32x4(v128.load(g + o)), v128.load(u + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const r = f32x4.mul(gelu_f32x4(f32x4.splat(load<f32>(g + o))), f32x4.splat(load<f32>(u + o)));
    store<f32>(g + o, f32x4.extract_lane(r, 0));
  }
}

export function gelu_tanh_mul_scalar(g: usize, u: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(g + o, gelu_ref(load<f32>(g + o)) * load<f32>(u + o));
  }
}
