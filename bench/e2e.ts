// End-to-end throughput of the INSTRUCTOR forward pass (encoder + pooling + Dense + norm) on
// synth-v1 base and large, int8 and fp32, on 1 and 2 threads. Checks the model against the golden
// float64 embeddings first, then times; fp32 on 1 thread is the baseline measured in the same run.
// Writes bench/results/e2e.json and bench/results/e2e.md.
// Run: node dist/bench/e2e.js [configs=base,large] [threads=1,2] [dtypes=int8,fp32]
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { synthModel } from '../src/format/synth.js';
import { encodeWeightsFile } from '../src/format/weights-file.js';
import { cosine, readGz, type GoldenModelFile } from '../test/support/golden.js';
import { FP32_MIN_COSINE, INT8_MIN_COSINE } from '../test/support/tolerances.js';
import { tokenSequence } from '../test/support/random.js';

const configs = (process.argv[2] ?? 'base,large').split(',');
const threadCounts = (process.argv[3] ?? '1,2').split(',').map(Number);
const dtypes = (process.argv[4] ?? 'int8,fp32').split(',') as ('int8' | 'fp32')[];
const kernels = await loadKernelsFromDisk();
const golden = readGz<GoldenModelFile>('golden-model.json.gz');


// Median and best of single runs: other processes share the cores, so the mean would mostly
// measure them.
function timeIt(fn: () => void, minSeconds: number, minRuns: number): { seconds: number; best: number; runs: number } {
  fn(); // warm-up (JIT, memory growth)
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < minRuns || performance.now() - t0 < minSeconds * 1000) {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  return { seconds: times[times.length >> 1], best: times[0], runs: times.length };
}

interface Row {
  config: string; dtype: string; threads: number; goldenMinCosine: number;
  passagesTokensPerSec: number; passagesTokensPerSecBest: number; queryLatencyMs: number; queryLatencyMsBest: number;
}
const rows: Row[] = [];
for (const config of configs) {
  for (const dtype of dtypes) {
    const c = SYNTH_CONFIGS[config];
    const bytes = encodeWeightsFile(
      { config: toHfConfig(c), model: { dense_out: c.denseOut, max_seq_length: 512, synth: 'synth-v1', name: config }, dtype },
      synthModel(c, c.denseOut),
    );
    for (const threads of threadCounts) {
      const model = await InstructorModel.fromWeightsFile(bytes, { kernels, threads, verify: false });
      // Correctness first: the golden sequences up to 128 tokens.
      let minCos = Infinity;
      golden.sequences.forEach((s, j) => {
        if (s.ids.length > 128) return;
        const [e] = model.embedIds([{ ids: s.ids, nInstr: s.n_instr }]).embeddings;
        minCos = Math.min(minCos, cosine(e, golden.configs[config].float64[j].embedding));
      });
      const threshold = dtype === 'fp32' ? FP32_MIN_COSINE : INT8_MIN_COSINE;
      if (!(minCos >= threshold)) throw new Error(`${config} ${dtype}: golden min cosine ${minCos} < ${threshold}; not timing a wrong model`);

      const passages = Array.from({ length: 16 }, (_, i) => ({ ids: tokenSequence(128, i + 1), nInstr: 8 }));
      const tokens = passages.reduce((a, p) => a + p.ids.length, 0);
      const batch = timeIt(() => model.embedIds(passages), 5, 2);
      const query = { ids: tokenSequence(16, 99), nInstr: 8 };
      const q = timeIt(() => model.embedIds([query]), 2, 5);
      rows.push({
        config, dtype, threads, goldenMinCosine: minCos,
        passagesTokensPerSec: tokens / batch.seconds, passagesTokensPerSecBest: tokens / batch.best,
        queryLatencyMs: q.seconds * 1000, queryLatencyMsBest: q.best * 1000,
      });
      console.log(`${config} ${dtype} threads=${threads}: golden min cosine ${minCos.toFixed(6)}, 16x128 tokens: ${(tokens / batch.seconds).toFixed(1)} tokens/s (best ${(tokens / batch.best).toFixed(1)}, ${batch.runs} runs), 16-token query: ${(q.seconds * 1000).toFixed(1)} ms (best ${(q.best * 1000).toFixed(1)})`);
      model.dispose();
    }
  }
}

const env = { date: new Date().toISOString(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, v8: process.versions.v8, threads: threadCounts };
mkdirSync(new URL('./results/', import.meta.url.replace('/dist/bench/', '/bench/')), { recursive: true });
const dir = new URL('./results/', import.meta.url.replace('/dist/bench/', '/bench/'));
writeFileSync(new URL('e2e.json', dir), JSON.stringify({ ...env, rows }, null, 2) + '\n');
const md = [
  `# End-to-end throughput (threads: ${threadCounts.join(', ')})`, '',
  `${env.date} · ${env.cpu} (${env.cores} cores) · Node ${env.node} · V8 ${env.v8}`, '',
  'Workload: 16 passages of 128 tokens in one `embedIds` call (tokens/s), and one 16-token query (latency). synth-v1 weights; golden float64 min cosine checked first on the golden sequences up to 128 tokens. `threads` > 1: the `threads` load option (workers over kernels-mt.wasm; bit-identical results). Median of single runs (best in parentheses); other processes may share the cores.', '',
  '| config | dtype | threads | golden min cosine | tokens/s (16x128) | vs fp32 1 thread | vs 1 thread | query latency (ms) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => {
    const base = rows.find((x) => x.config === r.config && x.dtype === 'fp32' && x.threads === 1);
    const one = rows.find((x) => x.config === r.config && x.dtype === r.dtype && x.threads === 1);
    const ratio = (x: Row | undefined) => (x ? `${(r.passagesTokensPerSec / x.passagesTokensPerSec).toFixed(2)}x` : '-');
    return `| ${r.config} | ${r.dtype} | ${r.threads} | ${r.goldenMinCosine.toFixed(6)} | ${r.passagesTokensPerSec.toFixed(1)} (${r.passagesTokensPerSecBest.toFixed(1)}) | ${ratio(base)} | ${ratio(one)} | ${r.queryLatencyMs.toFixed(1)} (${r.queryLatencyMsBest.toFixed(1)}) |`;
  }), '',
];
writeFileSync(new URL('e2e.md', dir), md.join('\n'));
