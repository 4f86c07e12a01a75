// instructor-wasm in its own process, driven by bench/peers.ts with the same job protocol as
// bench/peers/ort-child.mjs (both run harness.ts): loads the project's weights file from disk
// with loadModelFile and embeds through embedIds.
//
//   node dist/bench/peers/ours-child.js '<job json>'
import type { InstructorModel, TokenizedInput } from '../../src/engine/model.js';
import { runChild, type Job } from './harness.js';

const job = JSON.parse(process.argv[2]) as Job & { weights: string };

const tImport0 = performance.now();
const { loadModelFile } = await import('../../src/io/disk.js');
const importMs = performance.now() - tImport0;

const tLoad0 = performance.now();
// threads > 1: the worker pool over kernels-mt.wasm (LoadOptions.threads); model.threads says
// what it got, the parent reports n/a when that differs from what was asked.
const model: InstructorModel = await loadModelFile(job.weights, { threads: job.threads });
const loadMs = performance.now() - tLoad0;

await runChild(job, {
  // embedIds is synchronous today; awaiting also covers an async variant.
  embed: async (seqs) => (await model.embedIds(seqs as TokenizedInput[])).embeddings,
  padsBatches: false, // sequences are concatenated, never padded
}, { engine: 'ours', dtype: job.dtype, config: job.config, threads: job.threads, importMs, loadMs, threadsOption: model.threads });
