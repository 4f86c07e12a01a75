// The relaxed build's int8 matmuls (assembly/gemm_q7.ts): which matrices run on gemm_q7, their
// 7-bit packing, and the outlier channels found at load by one calibration pass.
import type { Arena } from './arena.js';
import type { T5Config } from './config.js';
import { MAX_OUTLIERS, type Matrix, type OutlierSet, type T5Encoder } from './t5.js';

/**
 * The relaxed build runs gemm_q7 for int8 matrices with at least this inner size (every hkunlp
 * model's); smaller ones (the test models) stay on gemm_q8, same bits as kernels.wasm: their
 * time is negligible, and 7-bit weights cost them more (golden tiny int8: 0.9992 -> 0.990).
 */
const RELAXED_MIN_K = 256;

/** The encoder matrices the relaxed build runs on gemm_q7: int8, with an inner size of at least RELAXED_MIN_K. */
export function relaxedMatrices(matrices: Matrix[]): Matrix[] {
  return matrices.filter((m) => m.dtype === 'q8' && m.cols >= RELAXED_MIN_K);
}

/**
 * Requantizes the int8 matrices `q7` (in wasm memory, CRC-checked on the file's int8 bytes: these
 * are ours from here on) to 7-bit codes and packs them for gemm_q7, in place. scratch: the gemm_q8
 * scratch of the largest inner size.
 */
export function packQ7(arena: Arena, q7: Matrix[], scratch: number): void {
  for (const m of q7) {
    arena.wasm.requant_q7!(m.ptr, m.scales, m.rows, m.cols);
    arena.wasm.pack_q7!(m.ptr, m.rows, m.cols, scratch);
    m.packed = 'q7';
  }
}

/** Calibration input of the relaxed build: CALIBRATION_TOKENS pseudo-random ids and </s>. */
const CALIBRATION_TOKENS = 32;
/** A channel is an outlier when its max |x| over the calibration tokens exceeds this many times the median channel's. */
const OUTLIER_RATIO = 5;
/**
 * Channels carried in int16 at least (the largest ratios, outliers or not). Golden base int8 min
 * cosine: 13 outliers alone 0.99896, filled to 16 0.99911, to 32 0.99946 (large: 19 -> 32, 0.99949).
 */
const MIN_OUTLIER_SLOTS = 32;

/** The relaxed build's calibration input: CALIBRATION_TOKENS - 1 pseudo-random ids, then </s>. */
export function calibrationIds(vocabSize: number): Int32Array {
  const ids = new Int32Array(CALIBRATION_TOKENS);
  let s = 0x9e3779b9;
  for (let t = 0; t < ids.length - 1; t++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; ids[t] = 2 + (s % (vocabSize - 2)); }
  ids[ids.length - 1] = 1;
  return ids;
}

/**
 * The int16 channels from each channel's largest max |x| / median ratio over the calibration
 * sites: the outliers (ratio > OUTLIER_RATIO), at least MIN_OUTLIER_SLOTS channels (runners-up
 * fill the rest), a multiple of 16, at most MAX_OUTLIERS; ascending.
 */
export function chooseOutlierChannels(ratio: Float64Array): number[] {
  const D = ratio.length;
  const byRatio = [...ratio.keys()].sort((a, b) => ratio[b] - ratio[a] || a - b);
  const outliers = byRatio.filter((d) => ratio[d] > OUTLIER_RATIO).length;
  const O = Math.min(MAX_OUTLIERS, Math.max(MIN_OUTLIER_SLOTS, Math.ceil(outliers / 16) * 16), Math.floor(D / 16) * 16);
  return byRatio.slice(0, O).sort((a, b) => a - b);
}

/**
 * The relaxed build's outlier channels (assembly/gemm_q7.ts): one forward pass over a fixed
 * calibration input records each rmsnorm output's per-channel max |x| where it enters q, k, v and
 * wi; the channels above OUTLIER_RATIO x the median in any layer form one set (T5's large
 * residual channels are the same in every layer), filled up to a multiple of 16 with the next
 * largest ratios, at most MAX_OUTLIERS. Their
 * weights' 7-bit codes are copied into each such matrix's Wo. Deterministic: the same weights give
 * the same set, whatever is embedded later, so batching and threads still change no bit.
 */
export function prepareRelaxed(arena: Arena, encoder: T5Encoder, config: T5Config, scratch: number): OutlierSet | null {
  const wasm = arena.wasm;
  const D = config.dModel;
  const normInputs = new Set(encoder.weights.layers.flatMap((L) => [L.q, L.k, L.v, ...L.wi]).filter((m) => m.packed === 'q7'));
  const ratio = new Float64Array(D);
  encoder.relaxed = true;
  encoder.observe = (W, x, S) => {
    if (!normInputs.has(W) || W.cols !== D) return;
    const v = arena.f32(x, S * D);
    const cm = new Float64Array(D);
    for (let t = 0; t < S; t++) for (let d = 0; d < D; d++) cm[d] = Math.max(cm[d], Math.abs(v[t * D + d]));
    const median = Float64Array.from(cm).sort()[D >> 1];
    for (let d = 0; d < D; d++) ratio[d] = Math.max(ratio[d], median > 0 ? cm[d] / median : 0);
  };
  const ids = calibrationIds(config.vocabSize);
  const mark = arena.mark();
  try {
    encoder.forward([ids], arena.alloc(ids.length * D * 4));
  } finally {
    arena.reset(mark);
    encoder.observe = undefined;
  }
  const channels = chooseOutlierChannels(ratio);
  const O = channels.length;
  if (O === 0) return null;
  const set: OutlierSet = { O, oidx: arena.alloc(O * 4), keep: arena.alloc(D * 4), channels };
  arena.i32(set.oidx, O).set(Array.from({ length: O }, (_, j) => channels[j] ?? -1));
  const keep = arena.i32(set.keep, D);
  keep.fill(-1);
  for (const c of channels) keep[c] = 0;
  for (const m of normInputs) {
    const Wo = arena.alloc(m.rows * O);
    wasm.outlier_codes_q7!(m.ptr, m.rows, m.cols, set.oidx, O, Wo);
    wasm.pack_q8(Wo, m.rows, O, scratch);
    m.outliers = { set, Wo };
  }
  return set;
}
