// Runs test/golden/golden-model.json.gz through the real code path: synth-v1 weights ->
// the project's weights file (fp32, int8 or int4) -> InstructorModel -> embeddings, compared with the
// float64 reference of PyTorch + transformers. Shared by `npm run golden` and test/golden.test.ts.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import type { InstructorModel } from '../../src/format/model-loading.js';
import { loadModelFile } from '../../src/io/disk.js';
import { synthWeightsFile } from './synth-files.js';
import {
  FP32_MAX_ABS_HIDDEN, FP32_MAX_REL_ERROR, FP32_MIN_COSINE, INT4_MIN_COSINE, maxLengthErrorFor, INT8_MIN_COSINE, TINY_GATED_INT4_MIN_COSINE, TINY_INT4_MIN_COSINE, TINY_INT8_MIN_COSINE,
} from './tolerances.js';
import type { KernelBuild } from '../../src/engine/wasm.js';

/** The reference data, vendored into the repository (test/golden/README.md says where it came from). */
export const GOLDEN_DIR = fileURLToPath(new URL('../../../test/golden/', import.meta.url)); // from dist/test/support/

export interface GoldenModelFile {
  spec: string;
  sequences: Array<{ ids: number[]; n_instr: number }>;
  configs: Record<string, {
    config: Record<string, unknown>;
    float64: Array<{ pooled: number[]; dense: number[]; embedding: number[]; hidden_states?: number[][][] }>;
    float32: Array<{ embedding: number[] }>;
    fp32_vs_fp64_min_cosine: number;
  }>;
}

/** golden-text.json.gz: INSTRUCTOR's input forms, their token ids and float64 embeddings per synth config. */
export interface GoldenTextFile {
  spec: string;
  max_seq_length: number;
  cases: Array<{ instruction: string; text: string; mode: 'pair' | 'legacy' | 'plain'; ids: number[]; n_instr: number }>;
  configs: Record<string, { float64: number[][] }>;
}

export function readGz<T>(name: string): T {
  return JSON.parse(gunzipSync(readFileSync(GOLDEN_DIR + name) as Uint8Array).toString('utf8')) as T;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`cosine: lengths ${a.length} and ${b.length} differ`);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

/**
 * ||a - b|| / ||b||: unlike a cosine, it sees a wrong magnitude (a wrong pooling divisor, a
 * missing or extra normalisation), not only a wrong direction.
 */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relativeError: lengths ${a.length} and ${b.length} differ`);
  let e = 0, n = 0;
  for (let i = 0; i < a.length; i++) { e += (a[i] - b[i]) ** 2; n += b[i] ** 2; }
  return Math.sqrt(e / n);
}

export type GoldenDtype = 'fp32' | 'int8' | 'int4';

/**
 * synth-v1 weights of `name` as an engine-level model, through the real disk path: a weights file
 * streamed to a temporary folder (one tensor in memory at a time), then read straight into wasm
 * memory. `threads` as LoadOptions.threads (results are bit-identical to 1 thread); `build` the
 * kernels build (default simd128).
 */
export async function buildSynthModel(
  name: string, dtype: GoldenDtype, { threads = 1, build = 'simd128' }: { threads?: number | 'auto'; build?: KernelBuild } = {},
): Promise<InstructorModel> {
  return loadModelFile(await synthWeightsFile(name, dtype, { withTokenizer: false }), { threads, simd: build });
}

export interface GoldenResult {
  config: string;
  dtype: GoldenDtype;
  minCosine: number;
  /** Cosine of each golden sequence, in order (lengths in golden.sequences). */
  cosines: number[];
  /** Max |ours - reference| over every golden hidden state (tiny configs only). */
  maxAbsHidden: number | null;
  /** Max over the sequences of ||ours - reference|| / ||reference|| of the pooled vector (mean over p >= n_instr). */
  maxRelPooled: number;
  /** The same for the Dense output (the embedding before L2). */
  maxRelDense: number;
  /** Max over the sequences of | ||ours|| / ||reference|| - 1 | of the pooled vector: its length alone. */
  maxLenPooled: number;
  /** The same for the Dense output. */
  maxLenDense: number;
  seconds: number;
  tokens: number;
  kernels: KernelBuild;
  outlierChannels: number;
}

export async function runGolden(
  golden: GoldenModelFile, config: string, dtype: GoldenDtype, options: { threads?: number | 'auto'; build?: KernelBuild } = {},
): Promise<GoldenResult> {
  const ref = golden.configs[config];
  if (!ref) throw new Error(`golden has no config ${config}`);
  const model = await buildSynthModel(config, dtype, options);
  const t0 = performance.now();
  let minCosine = Infinity, maxAbsHidden: number | null = null, tokens = 0, maxRelPooled = 0, maxRelDense = 0, maxLenPooled = 0, maxLenDense = 0;
  const cosines: number[] = [];
  // One sequence per call, so the hidden-state hook sees exactly that sequence.
  for (let j = 0; j < golden.sequences.length; j++) {
    const seq = golden.sequences[j];
    const hs = ref.float64[j].hidden_states;
    tokens += seq.ids.length;
    const onHidden = hs ? (index: number, hidden: Float32Array) => {
      const want = hs[index];
      if (!want) throw new Error(`golden ${config} sequence ${j}: no hidden state ${index}`);
      let m = 0;
      for (let t = 0; t < want.length; t++) {
        for (let d = 0; d < want[t].length; d++) m = Math.max(m, Math.abs(hidden[t * want[t].length + d] - want[t][d]));
      }
      maxAbsHidden = Math.max(maxAbsHidden ?? 0, m);
    } : undefined;
    const { embeddings, pooled, dense } = model.embedIds([{ ids: seq.ids, nInstr: seq.n_instr }], { onHidden, intermediates: true });
    cosines.push(cosine(embeddings[0], ref.float64[j].embedding));
    maxRelPooled = Math.max(maxRelPooled, relativeError(pooled![0], ref.float64[j].pooled));
    maxRelDense = Math.max(maxRelDense, relativeError(dense![0], ref.float64[j].dense));
    maxLenPooled = Math.max(maxLenPooled, lengthError(pooled![0], ref.float64[j].pooled));
    maxLenDense = Math.max(maxLenDense, lengthError(dense![0], ref.float64[j].dense));
    minCosine = Math.min(minCosine, cosines[j]);
  }
  const seconds = (performance.now() - t0) / 1000;
  const kernels = model.info.kernels, outlierChannels = model.info.outlierChannels;
  model.dispose();
  return { config, dtype, minCosine, cosines, maxAbsHidden, maxRelPooled, maxRelDense, maxLenPooled, maxLenDense, seconds, tokens, kernels, outlierChannels };
}

export function formatGoldenLine(r: GoldenResult): string {
  const hidden = r.maxAbsHidden === null ? '-' : r.maxAbsHidden.toExponential(3);
  // the simd128 line is what it always was; the relaxed build says so
  const build = r.kernels === 'relaxed' ? ` kernels=relaxed outlier_channels=${r.outlierChannels}` : '';
  return `golden ${r.config} ${r.dtype} min_cosine=${r.minCosine.toFixed(10)} max_abs_hidden=${hidden}`
    + ` max_rel_pooled=${r.maxRelPooled.toExponential(3)} max_rel_dense=${r.maxRelDense.toExponential(3)}`
    + ` max_len_pooled=${r.maxLenPooled.toExponential(3)} max_len_dense=${r.maxLenDense.toExponential(3)}${build}`;
}


/** The min cosine a golden row must reach (test/support/tolerances.ts says why each is what it is). */
export function goldenMinCosine(config: string, dtype: GoldenDtype): number {
  const tiny = config.startsWith('tiny');
  if (dtype === 'fp32') return FP32_MIN_COSINE;
  if (dtype === 'int8') return tiny ? TINY_INT8_MIN_COSINE : INT8_MIN_COSINE;
  return config === 'tiny-gated' ? TINY_GATED_INT4_MIN_COSINE : tiny ? TINY_INT4_MIN_COSINE : INT4_MIN_COSINE;
}

/** | ||a|| / ||b|| - 1 |: how far a's length is from b's, relatively. */
export function lengthError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengthError: lengths ${a.length} and ${b.length} differ`);
  let aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return Math.abs(Math.sqrt(aa / bb) - 1);
}

/**
 * A golden row's magnitude bar (a wrong pooling divisor keeps every cosine): fp32, the pooled and
 * Dense outputs within FP32_MAX_REL_ERROR of the reference (`max_rel`); quantized, their lengths
 * within maxLengthErrorFor(threshold) (`max_len`; tolerances.ts says why not the relative error).
 */
export function goldenMagnitudeBar(config: string, dtype: GoldenDtype): { name: 'max_rel' | 'max_len'; bound: number } {
  return dtype === 'fp32' ? { name: 'max_rel', bound: FP32_MAX_REL_ERROR } : { name: 'max_len', bound: maxLengthErrorFor(goldenMinCosine(config, dtype)) };
}

/**
 * Whether a golden row passes: its min cosine; the pooled and Dense outputs in magnitude
 * (goldenMagnitudeBar); and for tiny fp32 every hidden state within FP32_MAX_ABS_HIDDEN. `bar` is
 * `max_rel=<b>` or `max_len=<b>`, for the row's line.
 */
export function goldenVerdict(r: GoldenResult): { pass: boolean; threshold: number; bar: string } {
  const threshold = goldenMinCosine(r.config, r.dtype);
  const { name, bound } = goldenMagnitudeBar(r.config, r.dtype);
  const hiddenOk = r.dtype !== 'fp32' || r.maxAbsHidden === null || r.maxAbsHidden <= FP32_MAX_ABS_HIDDEN;
  const magnitudeOk = name === 'max_rel' ? r.maxRelPooled <= bound && r.maxRelDense <= bound : r.maxLenPooled <= bound && r.maxLenDense <= bound;
  return { pass: r.minCosine >= threshold && magnitudeOk && hiddenOk, threshold, bar: `${name}=${bound.toExponential(3)}` };
}
