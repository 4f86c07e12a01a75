// Memory that a model needs at run time (docs/memory.md; Cloudflare Workers allow
// 128 MB per isolate): wasm linear memory (weights + activations) and the JS heap, for synth
// base / large weights files (same sizes as hkunlp's, tokenizer included) in int8 and fp32.
//
//   node --expose-gc dist/test/runtimes/memory.js [base,large] [int8,fp32]
//
// Sizes in MiB; wasm memory only grows, so each column is the peak up to that point. Runs:
// "8 short", eight inputs of about 30 tokens (counts printed below the table); 1x512 / 4x512,
// one / four inputs of 512 tokens (the model's maximum; four run as one 2048-token forward pass,
// the default maxBatchTokens). JS heap: V8's heapUsed after GC, over the process's own before
// loading (the tokenizer, the model objects).
// Each measurement runs in a fresh process. The weights are streamed from a Blob (as a Worker
// streams an R2 object), so the file itself is never held in the JS heap.
import { spawnSync } from 'node:child_process';
import { mkdirSync, openAsBlob, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthTextWeights } from '../support/synth-text-model.js';
import { createInstructor, loadKernels } from '../../src/runtimes/node.js';
import { instantiateKernels } from '../../src/engine/wasm.js';

const MiB = 2 ** 20;
const mib = (n: number) => (n / MiB).toFixed(1);
const gc = () => (globalThis as { gc?: () => void }).gc?.();

async function child(file: string): Promise<void> {
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const kernels = await instantiateKernels(await loadKernels());
  const memory = kernels.memory;
  const model = await createInstructor(await openAsBlob(file), { kernels, verify: false });
  gc();
  const afterLoad = { wasm: memory.buffer.byteLength, heap: process.memoryUsage().heapUsed - heap0 };
  const word = 'embedding ';
  const long = word.repeat(600); // > 512 tokens: cut to max_seq_length
  const runs: Record<string, { wasm: number; heap: number; tokens: number }> = {};
  for (const [label, inputs] of [
    ['8x32', Array.from({ length: 8 }, (_, i) => ['Represent the document: ', `${i} ` + 'the cat sat on a mat '.repeat(4)])],
    ['1x512', [['Represent the document: ', long]]],
    ['4x512', Array.from({ length: 4 }, (_, i) => ['Represent the document: ', `${i} ` + long])],
  ] as const) {
    const r = await model.embed(inputs as unknown as string[]);
    gc();
    runs[label] = { wasm: memory.buffer.byteLength, heap: process.memoryUsage().heapUsed - heap0, tokens: r.tokens.reduce((a, b) => a + b, 0) };
  }
  console.log(JSON.stringify({ weightBytes: model.info.weightBytes, afterLoad, runs }));
  model.dispose();
}

async function main(): Promise<void> {
  const configs = (process.argv[2] ?? 'base,large').split(',');
  const dtypes = (process.argv[3] ?? 'int8,fp32').split(',');
  const dir = join(tmpdir(), 'instructor-wasm-memory');
  mkdirSync(dir, { recursive: true });
  const self = fileURLToPath(import.meta.url);
  let tokens = '';
  console.log('| model | weights file | wasm after load | wasm peak 8 short | wasm peak 1x512 | wasm peak 4x512 | JS heap | total 8 short | total 1x512 |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const config of configs) {
    for (const dtype of dtypes) {
      const file = join(dir, `${config}-${dtype}.iwt`);
      writeFileSync(file, synthTextWeights(config, dtype as 'int8' | 'fp32'));
      const r = spawnSync(process.execPath, ['--expose-gc', self, '--child', file], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`${config} ${dtype}: ${r.stderr}`);
      const m = JSON.parse(r.stdout.trim().split('\n').pop()!);
      const heap = Math.max(m.afterLoad.heap, m.runs['1x512'].heap);
      const cells = [statSync(file).size, m.afterLoad.wasm, m.runs['8x32'].wasm, m.runs['1x512'].wasm, m.runs['4x512'].wasm, heap, m.runs['8x32'].wasm + heap, m.runs['1x512'].wasm + heap];
      console.log(`| ${config} ${dtype} | ${cells.map((c) => mib(c)).join(' | ')} |`);
      tokens = `tokens per run: 8 short = ${m.runs['8x32'].tokens}, 1x512 = ${m.runs['1x512'].tokens}, 4x512 = ${m.runs['4x512'].tokens}`;
    }
  }
  console.log(`\n${tokens}`);
}

if (process.argv[2] === '--child') await child(process.argv[3]);
else await main();
