// rmsnorm: y[t,:] = x[t,:] * (1 / sqrt(mean_k x[t,k]^2 + eps)) * w[:] (T5's norm: no mean, no bias),
//   x, y [T,D] f32 (y may equal x), w [D]; sum of squares in f32. Any D >= 1.
export function rmsnorm(x: usize, w: usize, y: usize, T: i32, D: i32, eps: f32): void { unreachable(); }
export function rmsnorm_scalar(x: usize, w: usize, y: usize, T: i32, D: i32, eps: f32): void { unreachable(); }

// add_inplace: y[i] += x[i] for i < n.
export function add_inplace(y: usize, x: usize, n: i32): void { unreachable(); }
export function add_inplace_scalar(y: usize, x: usize, n: i32): void { unreachable(); }

// relu_inplace: x[i] = max(x[i], 0) for i < n.
export function relu_inplace(x: usize, n: i32): void { unreachable(); }
export function relu_inplace_scalar(x: usize, n: i32): void { unreachable(); }

// gelu_tanh_inplace: x = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (gelu_new), i < n.
export function gelu_tanh_inplace(x: usize, n: i32): void { unreachable(); }
export function gelu_tanh_inplace_scalar(x: usize, n: i32): void { unreachable(); }

// gelu_tanh_mul: g[i] = gelu_new(g[i]) * u[i] for i < n (the gated-gelu FFN's wi_0 / wi_1 product).
export function gelu_tanh_mul(g: usize, u: usize, n: i32): void { unreachable(); }
export function gelu_tanh_mul_scalar(g: usize, u: usize, n: i32): void { unreachable(); }
