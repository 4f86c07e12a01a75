// What the two peer children share, so that every engine is measured by the same code: the
// job they get from bench/peers.ts, the cold-start line, the golden fidelity check, the rule that
// sizes a call, the timing loop, and the RESULT line. ours-child.ts imports it; ort-child.mjs
// (plain JS, so that onnxruntime resolves from bench/peers/node_modules) imports its build.
//
// Order: one 16-token query (then `FIRST` on stdout: the parent times spawn -> that line as the
// cold start), fidelity, timed workloads. Progress on stderr, one `RESULT <json>` on stdout.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpuUsage, resourceUsage } from 'node:process';
import { gunzipSync } from 'node:zlib';

export interface Seq { ids: ArrayLike<number>; nInstr: number }

export interface Job {
  engine: 'ours' | 'ours-relaxed' | 'ort-web' | 'ort-node';
  dtype: 'fp32' | 'int8';
  config: string;
  threads: number;
  /** Path of golden-model.json.gz, or null to skip fidelity. */
  golden: string | null;
  minCosine: number;
  /** JSON path of { passages, queries, mixed, query }. */
  workloads: string;
  estTokensPerSec?: number;
  /** Workloads in order; `count`: texts per call, fixed by the parent for every engine and round. */
  plan: Array<{ kind: Kind; count: number; minSeconds: number; minRuns: number }>;
}

/**
 * passages, queries, mixed: one call of `count` texts (peers: one padded batch, as transformers.js
 * calls it); mixed-bucketed: the same mixed texts the way a careful user batches them for an engine
 * that pads: sorted by length, in calls of bucketSize(n) texts, each padded to its own longest (engines
 * that do not pad skip it: it would be their mixed row); latency: one 16-token query.
 */
export type Kind = 'passages' | 'queries' | 'mixed' | 'mixed-bucketed' | 'latency';

/** Texts per padded batch in mixed-bucketed: BUCKET, fewer when n is small (at least 4 batches). */
export const BUCKET = 8;
export const bucketSize = (n: number) => Math.min(BUCKET, Math.ceil(n / 4));

export interface Engine {
  /** One call: the embeddings of `seqs`, in order. */
  embed(seqs: Seq[]): Promise<ArrayLike<number>[]>;
  /** Whether a call costs the padded batch (n x longest) rather than the sum of its tokens. */
  padsBatches: boolean;
}

interface Workloads { passages: Seq[]; queries: Seq[]; mixed: Seq[]; query: Seq }

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

/** A warm-up call, then calls until >= minSeconds and >= minRuns. */
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

/**
 * The call of a workload: its `count` texts (a prefix of the list: every engine gets the same ids).
 * The warm-up call is the full call when it is cheap at the estimated speed, else one text.
 */
function callOf(w: Job['plan'][number], wl: Workloads, est: number, engine: Engine): { seqs: Seq[]; warm: Seq[]; run: (seqs: Seq[]) => Promise<unknown>; paddedTokens: number } {
  if (w.kind === 'latency') return { seqs: [wl.query], warm: [wl.query], run: (s) => engine.embed(s), paddedTokens: wl.query.ids.length };
  const seqs = wl[w.kind === 'mixed-bucketed' ? 'mixed' : w.kind].slice(0, w.count);
  const padded = (batch: Seq[]) => engine.padsBatches ? batch.length * Math.max(...batch.map((s) => s.ids.length)) : batch.reduce((a, s) => a + s.ids.length, 0);
  if (w.kind !== 'mixed-bucketed') {
    const paddedTokens = padded(seqs);
    return { seqs, warm: paddedTokens / est <= w.minSeconds / 3 ? seqs : seqs.slice(0, 1), run: (s) => engine.embed(s), paddedTokens };
  }
  // sorted by length (stable), BUCKET texts per call, results back in input order
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[a].ids.length - seqs[b].ids.length || a - b);
  const buckets: number[][] = [];
  const size = bucketSize(seqs.length);
  for (let i = 0; i < order.length; i += size) buckets.push(order.slice(i, i + size));
  const paddedTokens = buckets.reduce((a, b) => a + padded(b.map((i) => seqs[i])), 0);
  const run = async (all: Seq[]) => {
    if (all.length === 1) return engine.embed(all);
    const out: ArrayLike<number>[] = new Array(all.length);
    for (const b of buckets) {
      const e = await engine.embed(b.map((i) => all[i]));
      b.forEach((i, j) => { out[i] = e[j]; });
    }
    return out;
  };
  return { seqs, warm: paddedTokens / est <= w.minSeconds / 3 ? seqs : seqs.slice(0, 1), run, paddedTokens };
}

/** Runs the job on `engine`, adding to `result` (what the child measured of import and load). */
export async function runChild(job: Job, engine: Engine, result: Record<string, unknown>): Promise<never> {
  const log = (...a: unknown[]) => console.error(`[${job.engine} ${job.dtype} ${job.config} t${job.threads}]`, ...a);
  const wl = JSON.parse(readFileSync(job.workloads, 'utf8')) as Workloads;

  // Cold start: the first embedding comes before anything else.
  {
    const t0 = performance.now();
    await engine.embed([wl.query]);
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
    // the embeddings' bits, so that the parent can check two of our builds (e.g. with and without
    // the revectorizer) gave the same
    const digest = createHash('sha256');
    const t0 = performance.now();
    for (let j = 0; j < golden.sequences.length; j++) {
      const s = golden.sequences[j];
      const [e] = await engine.embed([{ ids: s.ids, nInstr: s.n_instr }]);
      minCos = Math.min(minCos, cosine(e, ref[j].embedding));
      digest.update(new Uint8Array(Float32Array.from(e).buffer));
      tokens += s.ids.length;
    }
    result.fidelity = minCos;
    result.goldenDigest = digest.digest('hex');
    result.goldenTokensPerSec = tokens / ((performance.now() - t0) / 1000);
    log(`golden min cosine ${minCos.toFixed(7)} (${(result.goldenTokensPerSec as number).toFixed(0)} tokens/s one sequence per call)`);
    if (!(minCos >= job.minCosine)) {
      result.refused = `golden min cosine ${minCos} < ${job.minCosine}`;
      process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
      process.exit(0);
    }
  }

  const est = job.estTokensPerSec ?? (result.goldenTokensPerSec as number | undefined) ?? 100;
  result.estTokensPerSec = est;
  const workloads: Record<string, unknown> = {};
  result.workloads = workloads;
  for (const w of job.plan) {
    if (w.kind === 'mixed-bucketed' && !engine.padsBatches) continue;
    const { seqs, warm, run, paddedTokens } = callOf(w, wl, est, engine);
    const tokens = seqs.reduce((a, s) => a + s.ids.length, 0);
    const r = await timeIt(() => run(seqs), () => run(warm), w);
    workloads[w.kind] = { ...r, texts: seqs.length, tokens, paddedTokens };
    log(`${w.kind} x${seqs.length}: ${r.meanMs.toFixed(1)} ms/call (${r.runs} runs, cpu/wall ${r.cpuPerWall.toFixed(2)}), ${(tokens / r.meanMs * 1000).toFixed(0)} tokens/s`);
  }
  result.maxRssMB = resourceUsage().maxRSS / 1024;
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}
