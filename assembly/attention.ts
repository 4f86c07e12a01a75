import { exp_f32x4 } from './math';

// attention: bidirectional multi-head attention of one sequence of T tokens, no 1/sqrt(Dk) scaling.
//   q, k, v, out: rows of `ld` floats; head h of token i is the Dk floats at row i, column h*Dk.
//   bias: f32 [H, 2T-1], added to the score of query i and key j at bias[h*(2T-1) + (j - i + T - 1)].
//   out[i, h*Dk + d] = sum_j softmax_j(q_i . k_j + bias) * v[j, h*Dk + d].
//   scratch: (2*Dk + 2) * roundup(T, 4) f32, 16-byte aligned, contents clobbered.
//   Dk % 4 == 0, ld >= H*Dk, any T >= 1.
//   Per head, K is transposed into scratch as kt[Dk, T4] (zero-padded keys), so that the scores
//   of 4 keys are one f32x4 multiply-add chain over d, and V is packed as vt[T, Dk]; the last
//   2*T4 floats hold two score rows. Queries go in pairs (an odd T computes its last row twice):
//   each load of kt or vt feeds both, and 8 accumulators hide the add latency.
export function attention(q: usize, k: usize, v: usize, out: usize, T: i32, H: i32, Dk: i32, ld: i32, bias: usize, scratch: usize): void {
  const T4 = (T + 3) & ~3;
  const T16 = T4 & ~15;
  const T4b = <usize>T4 << 2; // bytes per kt row
  const kt = scratch;
  const vt = scratch + <usize>Dk * T4b;
  const sr0 = vt + <usize>Dk * T4b;
  const sr1 = sr0 + T4b;
  const nb = 2 * T - 1;
  const D16 = Dk & ~15;
  const ldb = <usize>ld << 2;
  const Dkb = <usize>Dk << 2;
  for (let h = 0; h < H; h++) {
    const hoff = (<usize>h * <usize>Dk) << 2;
    // kt from 4x4 blocks of K: the unpacks and 64-bit half moves are one shuffle instruction each
    let j = 0;
    for (; j + 4 <= T; j += 4) {
      const kr = k + <usize>j * ldb + hoff;
      let p = kt + (<usize>j << 2);
      for (let d = 0; d < Dk; d += 4) {
        const o = <usize>d << 2;
        const r0 = v128.load(kr + o), r1 = v128.load(kr + ldb + o);
        const r2 = v128.load(kr + 2 * ldb + o), r3 = v128.load(kr + 3 * ldb + o);
        const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
        v128.store(p, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
        v128.store(p + T4b, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
        v128.store(p + 2 * T4b, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
        v128.store(p + 3 * T4b, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
        p += 4 * T4b;
      }
    }
    for (; j < T; j++) {
      const kr = k + <usize>j * ldb + hoff;
      for (let d = 0; d < Dk; d++) store<f32>(kt + <usize>d * T4b + (<usize>j << 2), load<f32>(kr + (<usize>d << 2)));
    }
    for (; j < T4; j++) {
      for (let d = 0; d < Dk; d++) store<f32>(kt + <usize>d * T4b + (<usize>j << 2), 0);
    }
    // v rows packed as vt[T, Dk]: rows ld floats apart fall in a few L1 sets (ld = 1024: a page
    // each), so PV passes over them would miss
    for (j = 0; j < T; j++) {
      const vr = v + <usize>j * ldb + hoff, p = vt + <usize>j * Dkb;
      for (let d = 0; d < Dk; d += 4) v128.store(p + (<usize>d << 2), v128.load(vr + (<usize>d << 2)));
    }
    const hb = bias + ((<usize>h * <usize>nb) << 2);
    for (let i = 0; i < T; i += 2) {
      const i1 = i + 1 < T ? i + 1 : i;
      const q0 = q + <usize>i * ldb + hoff, q1 = q + <usize>i1 * ldb + hoff;
      let j = 0;
      for (; j < T16; j += 16) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
        let p = kt + (<usize>j << 2);
        for (let d = 0; d < Dk; d++) {
          const x0 = v128.load32_splat(q0 + (<usize>d << 2)), x1 = v128.load32_splat(q1 + (<usize>d << 2));
          const k0 = v128.load(p), k1 = v128.load(p, 16), k2 = v128.load(p, 32), k3 = v128.load(p, 48);
          a0 = f32x4.add(a0, f32x4.mul(x0, k0)); b0 = f32x4.add(b0, f32x4.mul(x1, k0));
          a1 = f32x4.add(a1, f32x4.mul(x0, k1)); b1 = f32x4.add(b1, f32x4.mul(x1, k1));
          a2 = f32x4.add(a2, f32x4.mul(x0, k2)); b2 = f32x4.add(b2, f32x4.mul(x1, k2));
          a3 = f32x4.add(a3, f32x4.mul(x0, k3)); b3 = f32x4.add(b3, f32x4.mul(x1, k3));
          p += T4b;
        }
        const o = <usize>j << 2;
        v128.store(sr0 + o, a0); v128.store(sr0 + o, a1, 16); v128.store(sr0 + o, a2, 32); v128.store(sr0 + o, a3, 48);
        v128.store(sr1 + o, b0); v128.store(sr1 + o, b1, 16); v128.store(sr1 + o, b2, 32); v128.store(sr1 + o, b3, 48);
      }
      for (; j < T4; j += 4) {
        let a0 = f32x4.splat(0), b0 = f32x4.splat(0);
        let p = kt + (<usize>j << 2);
        for (let d = 0; d < Dk; d++) {
          const k0 = v128.load(p);
          a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(q0 + (<usize>d << 2)), k0));
          b0 = f32x4.add(b0, f32x4.mul(v128.load32_splat(q1 + (<usize>d << 2)), k0));
          p += T4b;
        }
        v128.store(sr0 + (<usize>j << 2), a0);
        v128.store(sr1 + (<usize>j << 2), b0);
      }
      // + bias (key j reads bias[T-1-i+j]), running max; padded keys get -Inf so exp gives 0.
      // pmax is one instruction, but drops NaN: a NaN score is flagged apart, and makes the max
      // NaN as the twin's Mathf.max would (so that every weight, and the output, is NaN)
      const bi0 = hb + (<usize>(T - 1 - i) << 2), bi1 = hb + (<usize>(T - 1 - i1) << 2);
      let mv0 = f32x4.splat(-Infinity), mv1 = f32x4.splat(-Infinity);
      let nan0 = i32x4.splat(0), nan1 = i32x4.splat(0);
      j = 0;
      for (; j + 4 <= T; j += 4) {
        const o = <usize>j << 2;
        const s0 = f32x4.add(v128.load(sr0 + o), v128.load(bi0 + o));
        const s1 = f32x4.add(v128.load(sr1 + o), v128.load(bi1 + o));
        v128.store(sr0 + o, s0);
        v128.store(sr1 + o, s1);
        mv0 = f32x4.pmax(mv0, s0);
        mv1 = f32x4.pmax(mv1, s1);
        nan0 = v128.or(nan0, f32x4.ne(s0, s0));
        nan1 = v128.or(nan1, f32x4.ne(s1, s1));
      }
      let m0 = Mathf.max(Mathf.max(f32x4.extract_lane(mv0, 0), f32x4.extract_lane(mv0, 1)),
                         Mathf.max(f32x4.extract_lane(mv0, 2), f32x4.extract_lane(mv0, 3)));
      let m1 = Mathf.max(Mathf.max(f32x4.extract_lane(mv1, 0), f32x4.extract_lane(mv1, 1)),
                         Mathf.max(f32x4.extract_lane(mv1, 2), f32x4.extract_lane(mv1, 3)));
      if (v128.any_true(nan0)) m0 = NaN;
      if (v128.any_true(nan1)) m1 = NaN;
      for (; j < T; j++) {
        const o = <usize>j << 2;
        const s0 = load<f32>(sr0 + o) + load<f32>(bi0 + o), s1 = load<f32>(sr1 + o) + load<f32>(bi1 + o);
        store<f32>(sr0 + o, s0);
        store<f32>(sr1 + o, s1);
        m0 = Mathf.max(m0, s0);
        m1 = Mathf.max(m1, s1);
      }
      for (; j < T4; j++) {
        store<f32>(sr0 + (<usize>j << 2), -Infinity);
        store<f32>(sr1 + (<usize>j << 2), -Infinity);
      }
      const vm0 = f32x4.splat(m0), vm1 = f32x4.splat(m1);
      let z0 = f32x4.splat(0), z1 = f32x4.splat(0);
      for (j = 0; j < T4; j += 4) {
        const o = <usize>j << 2;
        const e0 = exp_f32x4(f32x4.sub(v128.load(sr0 + o), vm0));
        const e1 = exp_f32x4(f32x4.sub(v128.load(sr1 + o), vm1));
        v128.store(sr0 + o, e0);
        v128.store(sr1 + o, e1);
        z0 = f32x4.add(z0, e0);
        z1 = f32x4.add(z1, e1);
      }
      const inv0 = f32x4.splat(<f32>1.0 / ((f32x4.extract_lane(z0, 0) + f32x4.extract_lane(z0, 1)) + (f32x4.extract_lane(z0, 2) + f32x4.extract_lane(z0, 3))));
      const inv1 = f32x4.splat(<f32>1.0 / ((f32x4.extract_lane(z1, 0) + f32x4.extract_lane(z1, 1)) + (f32x4.extract_lane(z1, 2) + f32x4.extract_lane(z1, 3))));
      // out_i = (sum_j e_j v_j) / sum_j e_j, 16 columns of vt per pass over the keys
      const o0 = out + <usize>i * ldb + hoff, o1 = out + <usize>i1 * ldb + hoff;
      let d = 0;
      for (; d < D16; d += 16) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
        let vp = vt + (<usize>d << 2);
        for (let jj = 0; jj < T; jj++) {
          const e0 = v128.load32_splat(sr0 + (<usize>jj << 2)), e1 = v128.load32_splat(sr1 + (<usize>jj << 2));
          const v0 = v128.load(vp), v1 = v128.load(vp, 16), v2 = v128.load(vp, 32), v3 = v128.load(vp, 48);
          a0 = f32x4.add(a0, f32x4.mul(e0, v0)); b0 = f32x4.add(b0, f32x4.mul(e1, v0));
          a1 = f32x4.add(a1, f32x4.mul(e0, v1)); b1 = f32x4.add(b1, f32x4.mul(e1, v1));
          a2 = f32x4.add(a2, f32x4.mul(e0, v2)); b2 = f32x4.add(b2, f32x4.mul(e1, v2));
          a3 = f32x4.add(a3, f32x4.mul(e0, v3)); b3 = f32x4.add(b3, f32x4.mul(e1, v3));
          vp += Dkb;
        }
        const od = <usize>d << 2;
        v128.store(o0 + od, f32x4.mul(a0, inv0)); v128.store(o0 + od, f32x4.mul(a1, inv0), 16);
        v128.store(o0 + od, f32x4.mul(a2, inv0), 32); v128.store(o0 + od, f32x4.mul(a3, inv0), 48);
        v128.store(o1 + od, f32x4.mul(b0, inv1)); v128.store(o1 + od, f32x4.mul(b1, inv1), 16);
        v128.store(o1 + od, f32x4.mul(b2, inv1), 32); v128.store(o1 + od, f32x4.mul(b3, inv1), 48);
      }
      for (; d < Dk; d += 4) {
        let a0 = f32x4.splat(0), b0 = f32x4.splat(0);
        let vp = vt + (<usize>d << 2);
        for (let jj = 0; jj < T; jj++) {
          const v0 = v128.load(vp);
          a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(sr0 + (<usize>jj << 2)), v0));
          b0 = f32x4.add(b0, f32x4.mul(v128.load32_splat(sr1 + (<usize>jj << 2)), v0));
          vp += Dkb;
        }
        v128.store(o0 + (<usize>d << 2), f32x4.mul(a0, inv0));
        v128.store(o1 + (<usize>d << 2), f32x4.mul(b0, inv1));
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
