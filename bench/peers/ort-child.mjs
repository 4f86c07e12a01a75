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
// Order: import, load, one 16-token query (then `FIRST` on stdout: the parent times spawn -> that
// line as the cold start), fidelity, timed workloads. Progress on stderr, one `RESULT <json>` line
// on stdout at the end.
//
// The INSTRUCTOR head runs here in JS, as transformers.js users do it: mean of last_hidden_state
// over positions nInstr <= p < length (float64 sums), times the Dense weight, L2 norm.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { cpuUsage, resourceUsage } from 'node:process';

const job = JSON.parse(process.argv[2]);
const log = (...a) => console.error(`[${job.engine} ${job.dtype} ${job.config} t${job.threads}]`, ...a);
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
  for (let b = 0; b < B; b++) {
    const len = seqs[b].ids.length, n0 = seqs[b].nInstr;
    sum.fill(0);
    for (let p = n0; p < len; p++) {
      const o = (b * T + p) * D;
      for (let d = 0; d < D; d++) sum[d] += H[o + d];
    }
    const count = Math.max(0, len - n0);
    const e = new Float32Array(N);
    let ss = 0;
    for (let r = 0; r < N; r++) {
      let acc = 0;
      const w = r * D;
      for (let d = 0; d < D; d++) acc += dense[w + d] * (count > 0 ? sum[d] / count : 0);
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

function cosine(a, b) {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

const result = {
  engine: job.engine, dtype: job.dtype, config: job.config, threads: job.threads,
  versions: ort.env.versions, importMs, loadMs,
};

const wl = JSON.parse(readFileSync(job.workloads, 'utf8'));
// Cold start: the parent times spawn -> this line. The first embedding comes before anything else.
{
  const t0 = performance.now();
  await embed([wl.query]);
  result.firstEmbedMs = performance.now() - t0;
  process.stdout.write(`FIRST ${performance.now()}\n`);
  result.coldMaxRssMB = resourceUsage().maxRSS / 1024;
}

// ---- fidelity ------------------------------------------------------------------------------
if (job.golden) {
  const golden = JSON.parse(gunzipSync(readFileSync(job.golden)).toString('utf8'));
  const ref = golden.configs[job.config].float64;
  let minCos = Infinity, tokens = 0;
  const t0 = performance.now();
  for (let j = 0; j < golden.sequences.length; j++) {
    const s = golden.sequences[j];
    const [e] = await embed([{ ids: s.ids, nInstr: s.n_instr }]);
    minCos = Math.min(minCos, cosine(e, ref[j].embedding));
    tokens += s.ids.length;
  }
  result.fidelity = minCos;
  result.goldenTokensPerSec = tokens / ((performance.now() - t0) / 1000);
  log(`golden min cosine ${minCos.toFixed(7)} (${result.goldenTokensPerSec.toFixed(0)} tokens/s one sequence per call)`);
  if (!(minCos >= job.minCosine)) {
    result.refused = `golden min cosine ${minCos} < ${job.minCosine}`;
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  }
}

// ---- workloads -------------------------------------------------------------------------------
/** Simple timed loop: a warm-up call, then calls until >= minSeconds and >= minRuns. */
async function timeIt(fn, warm, { minSeconds, minRuns }) {
  await warm();
  const times = [];
  const c0 = cpuUsage();
  const t0 = performance.now();
  while (times.length < minRuns || performance.now() - t0 < minSeconds * 1000) {
    const s = performance.now();
    await fn();
    times.push(performance.now() - s);
  }
  const wall = performance.now() - t0;
  const c = cpuUsage(c0);
  times.sort((a, b) => a - b);
  return { meanMs: wall / times.length, medianMs: times[times.length >> 1], runs: times.length, cpuPerWall: (c.user + c.system) / 1000 / wall };
}

/**
 * Texts per call: the full 64 when one call fits the time budget at the estimated speed, else
 * the largest of 32, 16, 8, 4 that does (slow engines; at least 4). The warm-up call is the full
 * call when it is cheap, else one text of the same kind (code paths; the golden run or the first query came before). Every engine gets the same ids (a prefix of the list).
 */
function sizePlan(w, est) {
  if (w.kind === 'latency') return { seqs: [wl.query], warm: [wl.query] };
  const all = wl[w.kind];
  // onnxruntime pays for the padding of a batch: n x longest tokens
  const cost = (n) => (n * Math.max(...all.slice(0, n).map((x) => x.ids.length))) / est;
  let n = w.count ?? 64;
  if (!w.count) while (n > 4 && cost(n) > w.minSeconds) n >>= 1;
  const seqs = all.slice(0, n);
  return { seqs, warm: cost(n) <= w.minSeconds / 3 ? seqs : all.slice(0, 1) };
}

const est = job.estTokensPerSec ?? result.goldenTokensPerSec ?? 100;
result.estTokensPerSec = est;
result.workloads = {};
for (const w of job.plan) {
  const { seqs, warm } = sizePlan(w, est);
  const tokens = seqs.reduce((a, s) => a + s.ids.length, 0);
  const paddedTokens = seqs.length * Math.max(...seqs.map((s) => s.ids.length));
  const r = await timeIt(() => embed(seqs), () => embed(warm), w);
  result.workloads[w.kind] = { ...r, texts: seqs.length, tokens, paddedTokens };
  log(`${w.kind} x${seqs.length}: ${r.meanMs.toFixed(1)} ms/call (${r.runs} runs, cpu/wall ${r.cpuPerWall.toFixed(2)}), ${(tokens / r.meanMs * 1000).toFixed(0)} tokens/s`);
}
result.maxRssMB = resourceUsage().maxRSS / 1024;
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
