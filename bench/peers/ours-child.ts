// instructor-wasm in its own process, driven by bench/peers.ts with the same job protocol as
// bench/peers/ort-child.mjs (see there): loads the project's weights file from disk with
// loadModelFile, runs the golden sequences and the timed workloads through embedIds, and prints
// `FIRST <ms>` right after the first embedding (the cold start) and `RESULT <json>` on stdout.
//
//   node dist/bench/peers/ours-child.js '<job json>'
import { readFileSync } from 'node:fs';
import { cpuUsage, resourceUsage } from 'node:process';
import { gunzipSync } from 'node:zlib';
import type { InstructorModel, TokenizedInput } from '../../src/engine/model.js';

interface Job {
  engine: 'ours'; dtype: 'fp32' | 'int8'; config: string; threads: number;
  weights: string; golden: string | null; minCosine: number; workloads: string; estTokensPerSec?: number;
  plan: Array<{ kind: 'passages' | 'queries' | 'mixed' | 'latency'; count?: number; minSeconds: number; minRuns: number }>;
}
interface Workloads { passages: TokenizedInput[]; queries: TokenizedInput[]; mixed: TokenizedInput[]; query: TokenizedInput }

const job = JSON.parse(process.argv[2]) as Job;
const log = (...a: unknown[]) => console.error(`[ours ${job.dtype} ${job.config} t${job.threads}]`, ...a);

const tImport0 = performance.now();
const { loadModelFile } = await import('../../src/io/disk.js');
const importMs = performance.now() - tImport0;

const tLoad0 = performance.now();
// threads > 1: the worker pool over kernels-mt.wasm (LoadOptions.threads); model.threads says
// what it got, the parent reports n/a when that differs from what was asked.
const model: InstructorModel = await loadModelFile(job.weights, { threads: job.threads });
const loadMs = performance.now() - tLoad0;

// embedIds is synchronous today; awaiting also covers an async variant.
const embed = async (seqs: TokenizedInput[]): Promise<Float32Array[]> => (await model.embedIds(seqs)).embeddings;

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

const result: Record<string, unknown> = {
  engine: 'ours', dtype: job.dtype, config: job.config, threads: job.threads, importMs, loadMs,
  threadsOption: model.threads,
};
const wl = JSON.parse(readFileSync(job.workloads, 'utf8')) as Workloads;

// Cold start: the parent times spawn -> this line. The first embedding comes before anything else.
{
  const t0 = performance.now();
  await embed([wl.query]);
  result.firstEmbedMs = performance.now() - t0;
  process.stdout.write(`FIRST ${performance.now()}\n`);
  result.coldMaxRssMB = resourceUsage().maxRSS / 1024;
}

if (job.golden) {
  const golden = JSON.parse(gunzipSync(readFileSync(job.golden) as Uint8Array).toString('utf8')) as {
    sequences: Array<{ ids: number[]; n_instr: number }>;
    configs: Record<string, { float64: Array<{ embedding: number[] }> }>;
  };
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
  log(`golden min cosine ${minCos.toFixed(7)} (${(result.goldenTokensPerSec as number).toFixed(0)} tokens/s one sequence per call)`);
  if (!(minCos >= job.minCosine)) {
    result.refused = `golden min cosine ${minCos} < ${job.minCosine}`;
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  }
}

/** Simple timed loop: a warm-up call, then calls until >= minSeconds and >= minRuns. */
async function timeIt(fn: () => Promise<unknown>, warm: () => Promise<unknown>, o: { minSeconds: number; minRuns: number }) {
  await warm();
  const times: number[] = [];
  const c0 = cpuUsage();
  const t0 = performance.now();
  while (times.length < o.minRuns || performance.now() - t0 < o.minSeconds * 1000) {
    const s = performance.now();
    await fn();
    times.push(performance.now() - s);
  }
  const wall = performance.now() - t0;
  const c = cpuUsage(c0);
  times.sort((a, b) => a - b);
  return { meanMs: wall / times.length, medianMs: times[times.length >> 1], runs: times.length, cpuPerWall: (c.user + c.system) / 1000 / wall };
}

/** Texts per call, as in ort-child.mjs (sizePlan), except that ours never pads. */
function sizePlan(w: Job['plan'][number], est: number): { seqs: TokenizedInput[]; warm: TokenizedInput[] } {
  if (w.kind === 'latency') return { seqs: [wl.query], warm: [wl.query] };
  const all = wl[w.kind];
  const cost = (n: number) => all.slice(0, n).reduce((a, s) => a + s.ids.length, 0) / est;
  let n = w.count ?? 64;
  if (!w.count) while (n > 4 && cost(n) > w.minSeconds) n >>= 1;
  const seqs = all.slice(0, n);
  return { seqs, warm: cost(n) <= w.minSeconds / 3 ? seqs : all.slice(0, 1) };
}

const est = job.estTokensPerSec ?? (result.goldenTokensPerSec as number | undefined) ?? 100;
result.estTokensPerSec = est;
const workloads: Record<string, unknown> = {};
result.workloads = workloads;
for (const w of job.plan) {
  const { seqs, warm } = sizePlan(w, est);
  const tokens = seqs.reduce((a, s) => a + s.ids.length, 0);
  const r = await timeIt(() => embed(seqs), () => embed(warm), w);
  workloads[w.kind] = { ...r, texts: seqs.length, tokens, paddedTokens: tokens };
  log(`${w.kind} x${seqs.length}: ${r.meanMs.toFixed(1)} ms/call (${r.runs} runs, cpu/wall ${r.cpuPerWall.toFixed(2)}), ${(tokens / r.meanMs * 1000).toFixed(0)} tokens/s`);
}
result.maxRssMB = resourceUsage().maxRSS / 1024;
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
