// One peer engine (onnxruntime-web or onnxruntime-node) in its own process, driven by
// bench/peers.ts. Plain JS in bench/peers/ so that `onnxruntime-*` resolve from
// bench/peers/node_modules (a separate package, not a dependency of instructor-wasm).
//
//   node bench/peers/ort-child.mjs '<job json>'
//
// job = { engine: 'ort-web' | 'ort-node', dtype: 'fp32' | 'int8', config, threads,
//         dir (regenerated graph + weights), dense (raw float32 Dense weight [out, in]), denseOut,
//         golden (path of golden-model.json.gz, or null to skip fidelity), minCosine,
//         workloads (json path), plan, estTokensPerSec? }
// After import and load, bench/peers/harness.ts runs the job (the same code as for ours).
//
// The INSTRUCTOR head runs here in JS, inside every timed call (as ours runs inside embedIds), the
// way a careful user writes it: mean of last_hidden_state over positions nInstr <= p < length
// (float64 sums, scaled once into a Float32Array), the Dense weight times it in one tight loop
// over Float32Arrays, L2 norm.
import { readFileSync } from 'node:fs';
// the compiled harness: `npm run bench` builds before it spawns this child
import { runChild } from '../../dist/bench/peers/harness.js';

const job = JSON.parse(process.argv[2]);
const tImport0 = performance.now();
const ort = job.engine === 'ort-web' ? await import('onnxruntime-web') : await import('onnxruntime-node');
const importMs = performance.now() - tImport0;

const G = job.dtype === 'fp32'
  ? { graph: 'graph_model.onnx', weights: 'model.weights' }
  : { graph: 'graph_model_quantized.onnx', weights: 'model_quantized.weights' };

const tLoad0 = performance.now();
let session;
if (job.engine === 'ort-web') {
  ort.env.wasm.numThreads = job.threads;
  ort.env.wasm.proxy = false;
  session = await ort.InferenceSession.create(job.dir + G.graph, {
    executionProviders: ['wasm'],
    externalData: [{ path: G.weights, data: job.dir + G.weights }],
  });
} else {
  session = await ort.InferenceSession.create(job.dir + G.graph, {
    executionProviders: ['cpu'],
    intraOpNumThreads: job.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
}
const loadMs = performance.now() - tLoad0;

const denseBytes = readFileSync(job.dense);
const dense = new Float32Array(denseBytes.buffer, denseBytes.byteOffset, denseBytes.byteLength / 4);
const N = job.denseOut;

/** Embeds [{ids, nInstr}] as one padded batch: right padding with id 0, attention_mask 0 there. */
async function embed(seqs) {
  const B = seqs.length;
  const T = Math.max(...seqs.map((s) => s.ids.length));
  const ids = new BigInt64Array(B * T), mask = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) {
    const s = seqs[b].ids;
    for (let t = 0; t < s.length; t++) { ids[b * T + t] = BigInt(s[t]); mask[b * T + t] = 1n; }
  }
  const out = await session.run({
    input_ids: new ort.Tensor('int64', ids, [B, T]),
    attention_mask: new ort.Tensor('int64', mask, [B, T]),
  });
  const h = out.last_hidden_state;
  const D = h.dims[2];
  const H = h.data;
  const res = [];
  const sum = new Float64Array(D);
  const mean = new Float32Array(D);
  for (let b = 0; b < B; b++) {
    const len = seqs[b].ids.length, n0 = seqs[b].nInstr;
    sum.fill(0);
    for (let p = n0; p < len; p++) {
      const o = (b * T + p) * D;
      for (let d = 0; d < D; d++) sum[d] += H[o + d];
    }
    const count = Math.max(0, len - n0);
    const scale = count > 0 ? 1 / count : 0;
    for (let d = 0; d < D; d++) mean[d] = sum[d] * scale;
    const e = new Float32Array(N);
    let ss = 0;
    for (let r = 0, w = 0; r < N; r++, w += D) {
      let acc = 0;
      for (let d = 0; d < D; d++) acc += dense[w + d] * mean[d];
      e[r] = acc;
      ss += acc * acc;
    }
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
    for (let r = 0; r < N; r++) e[r] *= inv;
    res.push(e);
  }
  if (typeof h.dispose === 'function') h.dispose();
  return res;
}

await runChild(job, { embed, padsBatches: true }, {
  engine: job.engine, dtype: job.dtype, config: job.config, threads: job.threads,
  versions: ort.env.versions, importMs, loadMs,
});
