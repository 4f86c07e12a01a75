// The BullMQ fleet against one process: 1, 2 and 3 `instructor-wasm worker` processes embedding a
// corpus through a real redis-server (embedCorpus), against the in-process `embed` of the same
// corpus in this process; corpus tokens/s, and the queue's cost per chunk and per input (one
// worker's wall time minus the in-process time, over the chunks / inputs). Every fleet run is
// checked bit for bit against the in-process embeddings first.
//
//   npm run bench:fleet                 # synth base int8, 512 inputs, chunks 16,64,256, workers 1,2,3 (~10 min)
//   npm run bench:fleet -- --quick      # tiny model, 600 inputs: proves the harness (bench/results/fleet-quick.*)
//   node dist/bench/fleet.js --config base --inputs 2048 --chunks 64,256 --workers 1,2,3 --rounds 3
//
// Writes bench/results/fleet.json and fleet.md (quick mode: fleet-quick.json and .md, not committed: .gitignore).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { loadInstructor } from '../src/io/load-node.js';
import { embedCorpus } from '../src/queue/producer.js';
import type { EmbedInput } from '../src/text/inputs.js';
import { cliSync, corpus, startWorker, type Proc } from '../test/support/fleet.js';
import { startRedis } from '../test/support/redis.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' }, config: { type: 'string' }, inputs: { type: 'string' }, chunks: { type: 'string' },
    workers: { type: 'string' }, rounds: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const config = values.config ?? (quick ? 'tiny' : 'base');
const n = Number(values.inputs ?? (quick ? 600 : 512));
const chunkSizes = (values.chunks ?? '16,64,256').split(',').map(Number);
const workerCounts = (values.workers ?? '1,2,3').split(',').map(Number);
const rounds = Number(values.rounds ?? 1);

const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // from dist/bench/
const work = join(ROOT, 'build', 'bench');
mkdirSync(work, { recursive: true });

// The model as users run it: synth checkpoint -> convert (int8) with the CLI, cached in build/bench/.
const modelFile = join(work, `${config}.int8.iwt`);
if (!existsSync(modelFile)) {
  process.stderr.write(`fleet: writing ${modelFile}\n`);
  cliSync(['synth', '--config', config, '--out', join(work, config), '--quiet']);
  cliSync(['convert', join(work, config), '--out', modelFile, '--dtype', 'int8', '--quiet']);
}

const texts = corpus(n, 42, 80) as EmbedInput[];
const warmup = corpus(64, 43, 80) as EmbedInput[];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

// In-process: one load, one warm-up, then `embed` of the whole corpus (batches of 32, as encode's default).
const model = await loadInstructor(modelFile);
await model.embed(warmup);
const inProcessTimes: number[] = [];
let local!: Awaited<ReturnType<typeof model.embed>>;
for (let r = 0; r < rounds; r++) {
  const t = performance.now();
  local = await model.embed(texts);
  inProcessTimes.push((performance.now() - t) / 1000);
}
const dim = model.dim;
model.dispose();
const tokens = local.tokens.reduce((a, b) => a + b, 0);
const inProcess = median(inProcessTimes);
process.stderr.write(`fleet: in-process ${n} inputs, ${tokens} tokens: ${inProcess.toFixed(2)} s, ${(tokens / inProcess).toFixed(0)} tokens/s\n`);

interface Row {
  workers: number; chunkSize: number; chunks: number; seconds: number; tokensPerSec: number;
  vsInProcess: number; overheadMsPerChunk: number | null; overheadMsPerInput: number | null;
}
const rows: Row[] = [];
const redis = await startRedis();
const loadStart = loadavg()[0];
try {
  for (const w of workerCounts) {
    const name = `bench-${process.pid}-${w}`;
    const procs: Proc[] = [];
    try {
      for (let i = 0; i < w; i++) procs.push(await startWorker(redis.url, name, modelFile, `bench-w${i}`, ['--quiet']));
      const queue = new Queue(name, { connection: { url: redis.url, maxRetriesPerRequest: null } });
      try {
        await embedCorpus(queue, warmup.concat(warmup.map((x) => (typeof x === 'string' ? x + ' .' : x))), { chunkSize: 8 }); // JIT of every worker
        for (const chunkSize of chunkSizes) {
          const times: number[] = [];
          for (let r = 0; r < rounds; r++) {
            const t = performance.now();
            const got = await embedCorpus(queue, texts, { chunkSize });
            times.push((performance.now() - t) / 1000);
            for (let i = 0; i < n; i++) {
              const a = new Uint32Array(got.embeddings[i].buffer, got.embeddings[i].byteOffset, dim);
              const b = new Uint32Array(local.embeddings[i].buffer, local.embeddings[i].byteOffset, dim);
              for (let k = 0; k < dim; k++) if (a[k] !== b[k]) throw new Error(`workers ${w} chunk ${chunkSize}: input ${i} differs from in-process`);
            }
          }
          const seconds = median(times);
          const chunks = Math.ceil(n / chunkSize);
          const overhead = w === 1 ? (seconds - inProcess) * 1000 : null;
          const row: Row = {
            workers: w, chunkSize, chunks, seconds, tokensPerSec: tokens / seconds, vsInProcess: inProcess / seconds,
            overheadMsPerChunk: overhead === null ? null : overhead / chunks, overheadMsPerInput: overhead === null ? null : overhead / n,
          };
          rows.push(row);
          process.stderr.write(`fleet: ${w} worker(s) chunk ${chunkSize}: ${seconds.toFixed(2)} s, ${row.tokensPerSec.toFixed(0)} tokens/s, ${row.vsInProcess.toFixed(2)}x in-process\n`);
        }
      } finally {
        await queue.close();
      }
    } finally {
      await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    }
  }
} finally {
  await redis.dispose();
}

const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/);
const env = {
  date: new Date().toISOString(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length,
  cpuFlags: ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni'].filter((f) => flags.includes(f)),
  node: process.version, loadAverageStart: loadStart, loadAverageEnd: loadavg()[0],
  model: `synth ${config} int8`, inputs: n, tokens, rounds, inProcessSeconds: inProcess, inProcessTokensPerSec: tokens / inProcess,
};
const outDir = join(ROOT, 'bench', 'results');
const stem = quick ? 'fleet-quick' : 'fleet';
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `${stem}.json`), JSON.stringify({ ...env, rows }, null, 2) + '\n');
const fmt = (x: number | null, d = 2) => (x === null ? '-' : x.toFixed(d));
const md = [
  `# BullMQ fleet vs one process${quick ? ' (quick mode: proves the harness, not a measurement)' : ''}`, '',
  `${env.date} · ${env.cpu} (${env.cores} cores; ${env.cpuFlags.join(', ') || 'no avx2'}) · Node ${env.node} · load average ${env.loadAverageStart.toFixed(2)} at start, ${env.loadAverageEnd.toFixed(2)} at end`, '',
  `Corpus: ${n} inputs (every form encode takes, 1 to 80 words, every 211th cut to 512 tokens), ${tokens} tokens, ${env.model}. ` +
  `In-process: one \`embed\` call in this process, 1 thread: ${inProcess.toFixed(2)} s, ${env.inProcessTokensPerSec.toFixed(0)} tokens/s. ` +
  'Fleet: `instructor-wasm worker` processes (1 thread, concurrency 2) on one redis-server, `embedCorpus` from this process, timed from submit to the last embedding (jobs removed); ' +
  `every run bit-identical to the in-process embeddings. Queue overhead: one worker's time minus the in-process time, per chunk and per input. Median of ${rounds} round(s). Target: one worker >= 0.9x in-process at chunks >= 64.`, '',
  '| workers | chunk | chunks | seconds | tokens/s | vs in-process | overhead ms/chunk | overhead ms/input |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.workers} | ${r.chunkSize} | ${r.chunks} | ${r.seconds.toFixed(2)} | ${r.tokensPerSec.toFixed(0)} | ${r.vsInProcess.toFixed(2)}x | ${fmt(r.overheadMsPerChunk)} | ${fmt(r.overheadMsPerInput, 3)} |`),
  '',
];
writeFileSync(join(outDir, `${stem}.md`), md.join('\n'));
process.stdout.write(md.join('\n'));
process.stderr.write(`fleet: wrote ${join(outDir, stem)}.json and .md\n`);
