import { exp_f32x4 } from './math';

// softmax_rows: x[R,C] f32 in place, each row p = exp(x - max) / sum(exp(x - max)). Any C >= 1.
export function softmax_rows(x: usize, R: i32, C: i32): void {
  const C4 = C & ~3;
  for (let r = 0; r < R; r++) {
    const row = x + ((<usize>r * <usize>C) << 2);
    let mv = f32x4.splat(-Infinity);
    let c = 0;
    for (; c < C4; c += 4) mv = f32x4.max(mv, v128.load(row + (<usize>c << 2)));
    let m = Mathf.max(Mathf.max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
                      Mathf.max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; c < C; c++) m = Mathf.max(m, load<f32>(row + (<usize>c << 2)));
    const vm = f32x4.splat(m);
    let sv = f32x4.splat(0);
    for (c = 0; c < C4; c += 4) {
      const o = <usize>c << 2;
      const e = exp_f32x4(f32x4.sub(v128.load(row + o), vm));
      v128.store(row + o, e);
      sv = f32x4.add(sv, e);
    }
    let s = (f32x4.extract_lane(sv, 0) + f32x4.extract_lane(sv, 1)) + (f32x4.extract_lane(sv, 2) + f32x4.extract_lane(sv, 3));
    for (; c < C; c++) {
      // the tail uses the vector exp too, so a value's result never depends on its column
      const o = <usize>c << 2;
      const e = f32x4.extract_lane(exp_f32x4(f32x4.splat(load<f32>(row + o) - m)), 0);
      store<f32>(row + o, e);
      s += e;
    }
    const inv: f32 = <f32>1.0 / s;
    const vinv = f32x4.splat(inv);
    for (c = 0; c < C4; c += 4) {
      const o = <usize>c << 2;
      v128.store(row + o, f32x4.mul(v128.load(row + o), vinv));
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      store<f32>(row + o, load<f32>(row + o) * inv);
    }
  }
}

export function softmax_rows_scalar(x: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const row = x + ((<usize>r * <usize>C) << 2);
    let m: f32 = -Infinity;
    for (let c = 0; c < C; c++) m = Mathf.max(m, load<f32>(row + (<usize>c << 2)));
    let s: f32 = 0;
    for (let c = 0; c < C; c++) {
      const o = <usize>c << 2;
      const e = Mathf.exp(load<f32>(row + o) - m);
      store<f32>(row + o, e);
      s += e;
    }
    for (let c = 0; c < C; c++) {
      const o = <usize>c << 2;
      store<f32>(row + o, load<f32>(row + o) / s);
    }
  }
}

// attention: bidirectional multi-head attention of one sequence of T tokens, no 1/sqrt(Dk) scaling.
//   q, k, v, out: rows of `ld` floats; head h of token i is the Dk floats at row i, column h*Dk.
//   bias: f32 [H, 2T-1], added to the score of query i and key j at bias[h*(2T-1) + (j - i + T - 1)].
//   out[i, h*Dk + d] = sum_j softmax_j(q_i . k_j + bias) * v[j, h*Dk + d].
//   scratch: (Dk + 1) * roundup(T, 4) f32, 16-byte aligned, contents clobbered.
//   Dk % 4 == 0, ld >= H*Dk, any T >= 1.
//   Per head, K is transposed into scratch as kt[Dk, T4] (zero-padded keys), so that the scores
//   of 4 keys are one f32x4 multiply-add chain over d; the last T4 floats hold one score row.
export function attention(q: usize, k: usize, v: usize, out: usize, T: i32, H: i32, Dk: i32, ld: i32, bias: usize, scratch: usize): void {
  const T4 = (T + 3) & ~3;
  const T16 = T4 & ~15;
  const T4b = <usize>T4 << 2; // bytes per kt row
  const kt = scratch;
  const srow = scratch + <usize>Dk * T4b;
  const nb = 2 * T - 1;
  const D32 = Dk & ~31;
  const ldb = <usize>ld << 2;
  for (let h = 0; h < H; h++) {
    const hoff = (<usize>h * <usize>Dk) << 2;
    for (let j = 0; j < T; j++) {
      const kr = k + <usize>j * ldb + hoff;
      for (let d = 0; d < Dk; d++) store<f32>(kt + <usize>d * T4b + (<usize>j << 2), load<f32>(kr + (<usize>d << 2)));
    }
    for (let j = T; j < T4; j++) {
      for (let d = 0; d < Dk; d++) store<f32>(kt + <usize>d * T4b + (<usize>j << 2), 0);
    }
    const hb = bias + ((<usize>h * <usize>nb) << 2);
    for (let i = 0; i < T; i++) {
      const qi = q + <usize>i * ldb + hoff;
      // scores, 16 keys per pass so that each splat of q[i,d] feeds 4 vectors
      let j = 0;
      for (; j < T16; j += 16) {
        let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
        let p = kt + (<usize>j << 2);
        for (let d = 0; d < Dk; d++) {
          const qd = f32x4.splat(load<f32>(qi + (<usize>d << 2)));
          s0 = f32x4.add(s0, f32x4.mul(qd, v128.load(p)));
          s1 = f32x4.add(s1, f32x4.mul(qd, v128.load(p, 16)));
          s2 = f32x4.add(s2, f32x4.mul(qd, v128.load(p, 32)));
          s3 = f32x4.add(s3, f32x4.mul(qd, v128.load(p, 48)));
          p += T4b;
        }
        const sp = srow + (<usize>j << 2);
        v128.store(sp, s0); v128.store(sp, s1, 16); v128.store(sp, s2, 32); v128.store(sp, s3, 48);
      }
      for (; j < T4; j += 4) {
        let s0 = f32x4.splat(0);
        let p = kt + (<usize>j << 2);
        for (let d = 0; d < Dk; d++) {
          s0 = f32x4.add(s0, f32x4.mul(f32x4.splat(load<f32>(qi + (<usize>d << 2))), v128.load(p)));
          p += T4b;
        }
        v128.store(srow + (<usize>j << 2), s0);
      }
      // + bias (key j reads bias[T-1-i+j]), running max; padded keys get -Inf so exp gives 0
      const bi = hb + (<usize>(T - 1 - i) << 2);
      // two running maxima: f32x4.max (NaN-propagating, as the twin's Mathf.max) is ~8 dependent
      // instructions in V8, so one chain would bound this loop by its latency
      let mv = f32x4.splat(-Infinity), mv1 = f32x4.splat(-Infinity);
      j = 0;
      for (; j + 8 <= T; j += 8) {
        const o = <usize>j << 2;
        const s = f32x4.add(v128.load(srow + o), v128.load(bi + o));
        const s1 = f32x4.add(v128.load(srow + o, 16), v128.load(bi + o, 16));
        v128.store(srow + o, s);
        v128.store(srow + o, s1, 16);
        mv = f32x4.max(mv, s);
        mv1 = f32x4.max(mv1, s1);
      }
      for (; j + 4 <= T; j += 4) {
        const o = <usize>j << 2;
        const s = f32x4.add(v128.load(srow + o), v128.load(bi + o));
        v128.store(srow + o, s);
        mv = f32x4.max(mv, s);
      }
      mv = f32x4.max(mv, mv1);
      let m = Mathf.max(Mathf.max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
                        Mathf.max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
      for (; j < T; j++) {
        const o = <usize>j << 2;
        const s = load<f32>(srow + o) + load<f32>(bi + o);
        store<f32>(srow + o, s);
        m = Mathf.max(m, s);
      }
      for (; j < T4; j++) store<f32>(srow + (<usize>j << 2), -Infinity);
      const vm = f32x4.splat(m);
      let sv = f32x4.splat(0);
      for (j = 0; j < T4; j += 4) {
        const o = <usize>j << 2;
        const e = exp_f32x4(f32x4.sub(v128.load(srow + o), vm));
        v128.store(srow + o, e);
        sv = f32x4.add(sv, e);
      }
      const inv = f32x4.splat(<f32>1.0 / ((f32x4.extract_lane(sv, 0) + f32x4.extract_lane(sv, 1)) + (f32x4.extract_lane(sv, 2) + f32x4.extract_lane(sv, 3))));
      // out_i = (sum_j e_j v_j) / sum_j e_j, 32 columns of v per pass over the keys: v rows are
      // ld floats apart (a page each at ld = 1024), so fewer passes mean fewer TLB and L1 misses
      const oi = out + <usize>i * ldb + hoff;
      let d = 0;
      for (; d < D32; d += 32) {
        let o0 = f32x4.splat(0), o1 = f32x4.splat(0), o2 = f32x4.splat(0), o3 = f32x4.splat(0);
        let o4 = f32x4.splat(0), o5 = f32x4.splat(0), o6 = f32x4.splat(0), o7 = f32x4.splat(0);
        let vp = v + hoff + (<usize>d << 2);
        for (let jj = 0; jj < T; jj++) {
          const e = f32x4.splat(load<f32>(srow + (<usize>jj << 2)));
          o0 = f32x4.add(o0, f32x4.mul(e, v128.load(vp)));
          o1 = f32x4.add(o1, f32x4.mul(e, v128.load(vp, 16)));
          o2 = f32x4.add(o2, f32x4.mul(e, v128.load(vp, 32)));
          o3 = f32x4.add(o3, f32x4.mul(e, v128.load(vp, 48)));
          o4 = f32x4.add(o4, f32x4.mul(e, v128.load(vp, 64)));
          o5 = f32x4.add(o5, f32x4.mul(e, v128.load(vp, 80)));
          o6 = f32x4.add(o6, f32x4.mul(e, v128.load(vp, 96)));
          o7 = f32x4.add(o7, f32x4.mul(e, v128.load(vp, 112)));
          vp += ldb;
        }
        const op = oi + (<usize>d << 2);
        v128.store(op, f32x4.mul(o0, inv)); v128.store(op, f32x4.mul(o1, inv), 16);
        v128.store(op, f32x4.mul(o2, inv), 32); v128.store(op, f32x4.mul(o3, inv), 48);
        v128.store(op, f32x4.mul(o4, inv), 64); v128.store(op, f32x4.mul(o5, inv), 80);
        v128.store(op, f32x4.mul(o6, inv), 96); v128.store(op, f32x4.mul(o7, inv), 112);
      }
      for (; d < Dk; d += 4) {
        let o0 = f32x4.splat(0);
        let vp = v + hoff + (<usize>d << 2);
        for (let jj = 0; jj < T; jj++) {
          o0 = f32x4.add(o0, f32x4.mul(f32x4.splat(load<f32>(srow + (<usize>jj << 2))), v128.load(vp)));
          vp += ldb;
        }
        v128.store(oi + (<usize>d << 2), f32x4.mul(o0, inv));
      }
    }
  }
}

export function attention_scalar(q: usize, k: usize, v: usize, out: usize, T: i32, H: i32, Dk: i32, ld: i32, bias: usize, scratch: usize): void {
  const nb = 2 * T - 1;
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < T; i++) {
      const qi = q + ((<usize>i * <usize>ld + <usize>h * <usize>Dk) << 2);
      let m: f32 = -Infinity;
      for (let j = 0; j < T; j++) {
        const kj = k + ((<usize>j * <usize>ld + <usize>h * <usize>Dk) << 2);
        let s: f32 = 0;
        for (let d = 0; d < Dk; d++) s += load<f32>(qi + (<usize>d << 2)) * load<f32>(kj + (<usize>d << 2));
        s += load<f32>(bias + (<usize>(h * nb + j - i + T - 1) << 2));
        store<f32>(scratch + (<usize>j << 2), s);
        m = Mathf.max(m, s);
      }
      let sum: f32 = 0;
      for (let j = 0; j < T; j++) {
        const e = Mathf.exp(load<f32>(scratch + (<usize>j << 2)) - m);
        store<f32>(scratch + (<usize>j << 2), e);
        sum += e;
      }
      const oi = out + ((<usize>i * <usize>ld + <usize>h * <usize>Dk) << 2);
      for (let d = 0; d < Dk; d++) {
        let acc: f32 = 0;
        for (let j = 0; j < T; j++) {
          acc += load<f32>(scratch + (<usize>j << 2)) * load<f32>(v + ((<usize>j * <usize>ld + <usize>h * <usize>Dk + <usize>d) << 2));
        }
        store<f32>(oi + (<usize>d << 2), acc / sum);
      }
    }
  }
}
