// End-to-end throughput of the INSTRUCTOR forward pass (encoder + pooling + Dense + norm) on
// synth-v1 base and large, int8 and fp32, one thread. Checks the model against the golden
// float64 embeddings first, then times; fp32 is the baseline measured in the same run.
// Writes bench/results/e2e.json and bench/results/e2e.md.
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import {
  FP32_MIN_COSINE, INT8_MIN_COSINE, buildSynthModel, cosine, readGz, type GoldenModelFile,
} from '../test/support/golden.js';

const configs = (process.argv[2] ?? 'base,large').split(',');
const golden = readGz<GoldenModelFile>('golden-model.json.gz');

// Deterministic pseudo-random token ids (ids 2..32001), ending in </s>.
function sequence(T: number, seed: number): number[] {
  let s = seed >>> 0;
  const ids: number[] = [];
  for (let t = 0; t < T - 1; t++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; ids.push(2 + (s % 32000)); }
  ids.push(1);
  return ids;
}

function timeIt(fn: () => void, minSeconds: number, minRuns: number): { seconds: number; runs: number } {
  fn(); // warm-up (JIT, memory growth)
  let runs = 0;
  const t0 = performance.now();
  while (runs < minRuns || performance.now() - t0 < minSeconds * 1000) { fn(); runs++; }
  return { seconds: (performance.now() - t0) / 1000 / runs, runs };
}

interface Row { config: string; dtype: string; goldenMinCosine: number; passagesTokensPerSec: number; queryLatencyMs: number; }
const rows: Row[] = [];
for (const config of configs) {
  for (const dtype of ['int8', 'fp32'] as const) {
    const model = await buildSynthModel(config, dtype);
    // Correctness first: the golden sequences up to 128 tokens.
    let minCos = Infinity;
    golden.sequences.forEach((s, j) => {
      if (s.ids.length > 128) return;
      const [e] = model.embedIds([{ ids: s.ids, nInstr: s.n_instr }]).embeddings;
      minCos = Math.min(minCos, cosine(e, golden.configs[config].float64[j].embedding));
    });
    const threshold = dtype === 'fp32' ? FP32_MIN_COSINE : INT8_MIN_COSINE;
    if (!(minCos >= threshold)) throw new Error(`${config} ${dtype}: golden min cosine ${minCos} < ${threshold}; not timing a wrong model`);

    const passages = Array.from({ length: 16 }, (_, i) => ({ ids: sequence(128, i + 1), nInstr: 8 }));
    const tokens = passages.reduce((a, p) => a + p.ids.length, 0);
    const batch = timeIt(() => model.embedIds(passages), 5, 2);
    const query = { ids: sequence(16, 99), nInstr: 8 };
    const q = timeIt(() => model.embedIds([query]), 2, 5);
    rows.push({ config, dtype, goldenMinCosine: minCos, passagesTokensPerSec: tokens / batch.seconds, queryLatencyMs: q.seconds * 1000 });
    console.log(`${config} ${dtype}: golden min cosine ${minCos.toFixed(6)}, 16x128 tokens: ${(tokens / batch.seconds).toFixed(1)} tokens/s, 16-token query: ${(q.seconds * 1000).toFixed(1)} ms`);
    model.dispose();
  }
}

const env = { date: new Date().toISOString(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, v8: process.versions.v8, threads: 1 };
mkdirSync(new URL('./results/', import.meta.url.replace('/dist/bench/', '/bench/')), { recursive: true });
const dir = new URL('./results/', import.meta.url.replace('/dist/bench/', '/bench/'));
writeFileSync(new URL('e2e.json', dir), JSON.stringify({ ...env, rows }, null, 2) + '\n');
const md = [
  `# End-to-end throughput (one thread)`, '',
  `${env.date} · ${env.cpu} (${env.cores} cores) · Node ${env.node} · V8 ${env.v8}`, '',
  'Workload: 16 passages of 128 tokens in one `embedIds` call (tokens/s), and one 16-token query (latency). synth-v1 weights; golden float64 min cosine checked first on the golden sequences up to 128 tokens.', '',
  '| config | dtype | golden min cosine | tokens/s (16x128) | vs fp32 | query latency (ms) |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => {
    const base = rows.find((x) => x.config === r.config && x.dtype === 'fp32')!;
    return `| ${r.config} | ${r.dtype} | ${r.goldenMinCosine.toFixed(6)} | ${r.passagesTokensPerSec.toFixed(1)} | ${(r.passagesTokensPerSec / base.passagesTokensPerSec).toFixed(2)}x | ${r.queryLatencyMs.toFixed(1)} |`;
  }), '',
];
writeFileSync(new URL('e2e.md', dir), md.join('\n'));
