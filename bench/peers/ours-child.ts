// instructor-wasm in its own process, driven by bench/peers.ts with the same job protocol as
// bench/peers/ort-child.mjs (both run harness.ts): loads the project's weights file from disk
// with loadModelFile (the kernels build the job names) and embeds through embedIds, whose
// INSTRUCTOR head (pooling, Dense, L2) runs in the timed call, as the peers' does.
//
//   node dist/bench/peers/ours-child.js '<job json>'
import type { TokenizedInput } from '../../src/engine/model.js';
import type { InstructorModel } from '../../src/format/model-loading.js';
import { runChild, type Job } from './harness.js';

const job = JSON.parse(process.argv[2]) as Job & { weights: string; simd: 'simd128' | 'relaxed' };

const tImport0 = performance.now();
const { loadModelFile } = await import('../../src/io/disk.js');
const importMs = performance.now() - tImport0;

const tLoad0 = performance.now();
// threads > 1: the worker pool over kernels-mt.wasm (LoadOptions.threads); model.threads says
// what it got, the parent reports n/a when that differs from what was asked.
// simd: the kernels build of this row (the parent runs one row per build)
const model: InstructorModel = await loadModelFile(job.weights, { threads: job.threads, simd: job.simd });
const loadMs = performance.now() - tLoad0;

await runChild(job, {
  // embedIds is synchronous today; awaiting also covers an async variant.
  embed: async (seqs) => (await model.embedIds(seqs as TokenizedInput[])).embeddings,
  padsBatches: false, // sequences are concatenated, never padded
}, { engine: job.engine, dtype: job.dtype, config: job.config, threads: job.threads, importMs, loadMs, threadsOption: model.threads, kernels: model.info.kernels });
