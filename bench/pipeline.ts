// Time and peak resident memory of the CLI pipeline a user runs: synth -> convert -> embed, at
// base, large and xl. Each step is a fresh process measured by GNU time (wall seconds, max RSS).
// The embed step checks its output first (one embedding per input, unit norm). Writes
// bench/results/pipeline.json and bench/results/pipeline.md. Usage: node dist/bench/pipeline.js [configs] [workdir]
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const configs = (process.argv[2] ?? 'base,large,xl').split(',');
const work = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'iw-pipeline-'));
const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));

interface Step { config: string; step: string; seconds: number; maxRssMiB: number; note?: string }
const steps: Step[] = [];

function timed(config: string, step: string, args: string[], input?: string, note?: string): string {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', process.execPath, BIN, ...args, '--quiet'], { input, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${config} ${step} failed: ${r.stderr}`);
  const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`no GNU time line in: ${r.stderr}`);
  const s: Step = { config, step, seconds: Number(m[1]), maxRssMiB: Number(m[2]) / 1024, note };
  steps.push(s);
  console.log(`${config} ${step}: ${s.seconds.toFixed(1)} s, peak RSS ${s.maxRssMiB.toFixed(0)} MiB${note ? ` (${note})` : ''}`);
  return r.stdout;
}

// 16 texts in the model card's forms, 8 to ~60 words.
const TEXTS = 16;
const inputs = Array.from({ length: TEXTS }, (_, i) => {
  const words = Array.from({ length: 8 + ((i * 37) % 53) }, (_, j) => `token${(i * 131 + j * 7) % 997}`).join(' ');
  return JSON.stringify(i % 2 ? ['Represent the Science title:', words] : ['Represent the Wikipedia document for retrieval: ', words, 0]);
}).join('\n') + '\n';

for (const config of configs) {
  const folder = join(work, config);
  timed(config, 'synth', ['synth', '--config', config, '--out', folder]);
  for (const dtype of config === 'xl' ? ['int8'] : ['int8', 'fp32']) {
    const file = join(work, `${config}.${dtype}.iwt`);
    timed(config, `convert ${dtype}`, ['convert', folder, '--out', file, '--dtype', dtype]);
    const out = timed(config, `embed ${dtype} (${TEXTS} texts)`, ['embed', '--model', file, '--batch-size', '16'], inputs);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { index: number; embedding: number[] });
    if (lines.length !== TEXTS || lines.some((l, i) => l.index !== i || Math.abs(Math.hypot(...l.embedding) - 1) > 1e-5)) {
      throw new Error(`${config} ${dtype}: embed output is not one unit vector per input, in order`);
    }
    rmSync(file, { force: true });
  }
  rmSync(folder, { recursive: true, force: true });
}

const env = { date: new Date().toISOString(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, v8: process.versions.v8 };
mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, 'pipeline.json'), JSON.stringify({ ...env, steps }, null, 2) + '\n');
writeFileSync(join(RESULTS, 'pipeline.md'), [
  '# CLI pipeline: time and peak resident memory', '',
  `${env.date} · ${env.cpu} (${env.cores} cores) · Node ${env.node} · V8 ${env.v8}`, '',
  'Each step a fresh `instructor-wasm` process under GNU time. synth writes the float32 checkpoint (model.safetensors) streaming; convert streams it to the weights file; embed loads the file and embeds 16 texts (8 to ~60 words, batch size 16, one thread). xl fp32 is not embedded: its 4.9 GB of float32 weights exceed wasm32\'s 4 GiB memory.', '',
  '| config | step | seconds | peak RSS (MiB) |', '| --- | --- | --- | --- |',
  ...steps.map((s) => `| ${s.config} | ${s.step} | ${s.seconds.toFixed(1)} | ${s.maxRssMiB.toFixed(0)} |`), '',
].join('\n'));
if (!process.argv[3]) rmSync(work, { recursive: true, force: true });

