// softmax_rows: x[R,C] f32 in place, each row p = exp(x - max) / sum(exp(x - max)). Any C >= 1.
export function softmax_rows(x: usize, R: i32, C: i32): void { unreachable(); }
export function softmax_rows_scalar(x: usize, R: i32, C: i32): void { unreachable(); }

// attention: bidirectional multi-head attention of one sequence of T tokens, no 1/sqrt(Dk) scaling.
//   q, k, v, out: rows of `ld` floats; head h of token i is the Dk floats at row i, column h*Dk.
//   bias: f32 [H, 2T-1], added to the score of query i and key j at bias[h*(2T-1) + (j - i + T - 1)].
//   out[i, h*Dk + d] = sum_j softmax_j(q_i . k_j + bias) * v[j, h*Dk + d].
//   scratch: (Dk + 1) * roundup(T, 4) f32, 16-byte aligned, contents clobbered.
//   Dk % 4 == 0, ld >= H*Dk, any T >= 1.
export function attention(q: usize, k: usize, v: usize, out: usize, T: i32, H: i32, Dk: i32, ld: i32, bias: usize, scratch: usize): void { unreachable(); }
export function attention_scalar(q: usize, k: usize, v: usize, out: usize, T: i32, H: i32, Dk: i32, ld: i32, bias: usize, scratch: usize): void { unreachable(); }
