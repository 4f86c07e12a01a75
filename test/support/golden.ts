// Runs ../shared/golden/golden-model.json.gz through the real code path: synth-v1 weights ->
// the project's weights file (fp32, int8 or int4) -> InstructorModel -> embeddings, compared with the
// float64 reference of PyTorch + transformers. Shared by `npm run golden` and test/golden.test.ts.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { SYNTH_CONFIGS, toHfConfig } from '../../src/engine/config.js';
import { InstructorModel } from '../../src/engine/model.js';
import { loadKernelsFromDisk } from '../../src/io/disk.js';
import { synthModel } from '../../src/format/synth.js';
import { encodeWeightsFile } from '../../src/format/weights-file.js';

export const SHARED = process.env.INSTRUCTOR_SHARED ?? fileURLToPath(new URL('../../../../shared/', import.meta.url));

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

export function readGz<T>(name: string): T {
  return JSON.parse(gunzipSync(readFileSync(SHARED + 'golden/' + name) as Uint8Array).toString('utf8')) as T;
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

export async function buildSynthModel(name: string, dtype: GoldenDtype): Promise<InstructorModel> {
  const c = SYNTH_CONFIGS[name];
  const bytes = encodeWeightsFile(
    { config: toHfConfig(c), model: { dense_out: c.denseOut, max_seq_length: 512, synth: 'synth-v1', name }, dtype },
    synthModel(c, c.denseOut),
  );
  return InstructorModel.fromWeightsFile(bytes, { kernels: await loadKernelsFromDisk() });
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
  seconds: number;
  tokens: number;
}

export async function runGolden(golden: GoldenModelFile, config: string, dtype: GoldenDtype): Promise<GoldenResult> {
  const ref = golden.configs[config];
  if (!ref) throw new Error(`golden has no config ${config}`);
  const model = await buildSynthModel(config, dtype);
  const t0 = performance.now();
  let minCosine = Infinity, maxAbsHidden: number | null = null, tokens = 0, maxRelPooled = 0, maxRelDense = 0;
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
    minCosine = Math.min(minCosine, cosines[j]);
  }
  const seconds = (performance.now() - t0) / 1000;
  model.dispose();
  return { config, dtype, minCosine, cosines, maxAbsHidden, maxRelPooled, maxRelDense, seconds, tokens };
}

export function formatGoldenLine(r: GoldenResult): string {
  const hidden = r.maxAbsHidden === null ? '-' : r.maxAbsHidden.toExponential(3);
  return `golden ${r.config} ${r.dtype} min_cosine=${r.minCosine.toFixed(10)} max_abs_hidden=${hidden} max_rel_pooled=${r.maxRelPooled.toExponential(3)} max_rel_dense=${r.maxRelDense.toExponential(3)}`;
}

