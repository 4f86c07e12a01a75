// Fuzz targets, one per parser (weights file, safetensors, pytorch_model.bin zip, pickle, configs,
// checkpoint folders, encode inputs): a bounded number of seeded mutations of valid inputs each
// (test/support/fuzz-worker.ts), run in a worker thread whose V8 heap is capped, each case timed:
// every outcome must be a typed InstructorError or a result correct by the target's invariants,
// within CASE_SECONDS and the heap cap. A failure names the target, the seed and the case.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import type { FuzzJob, FuzzMessage, FuzzTarget } from './support/fuzz-worker.js';

/** Longest a case may run: a hang or a quadratic blow-up fails the case, not the whole run. */
const CASE_SECONDS = 10;
/** The worker's V8 heap: a case allocating beyond it (an OOM from a small file) fails. */
const HEAP_CAP_MB = 512;
const SEED = 12;

const JOBS: Array<[FuzzTarget, number]> = [
  ['weights-file', 1000], ['safetensors', 2000], ['torch-zip', 2000], ['pickle', 5000], ['config', 4000], ['folder', 200], ['encode', 100],
];

function runJob(job: FuzzJob): Promise<{ outcomes: Map<string, number>; failures: string[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./support/fuzz-worker.js', import.meta.url), {
      workerData: job, resourceLimits: { maxOldGenerationSizeMb: HEAP_CAP_MB, maxYoungGenerationSizeMb: 64 },
    });
    const outcomes = new Map<string, number>();
    const failures: string[] = [];
    let current = -1;
    let timer: NodeJS.Timeout | undefined;
    const finish = (e?: Error) => {
      clearTimeout(timer);
      void worker.terminate();
      if (e) reject(e); else resolve({ outcomes, failures });
    };
    worker.on('message', (m: FuzzMessage) => {
      if (m.kind === 'start') {
        current = m.i;
        clearTimeout(timer);
        timer = setTimeout(() => finish(new Error(`${job.target} seed ${job.seed} case ${m.i}: still running after ${CASE_SECONDS} s`)), CASE_SECONDS * 1000);
      } else if (m.kind === 'end') {
        outcomes.set(m.outcome, (outcomes.get(m.outcome) ?? 0) + 1);
      } else if (m.kind === 'fail') {
        failures.push(`case ${m.i}: ${m.message}`);
      } else {
        finish();
      }
    });
    worker.on('error', (e) => finish(new Error(`${job.target} seed ${job.seed} case ${current}: the worker died (${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}); heap cap ${HEAP_CAP_MB} MB`)));
    worker.on('exit', (code) => { if (code !== 0) finish(new Error(`${job.target} seed ${job.seed} case ${current}: the worker exited with ${code}`)); });
  });
}

for (const [target, cases] of JOBS) {
  test(`fuzz ${target}: ${cases} seeded cases, each a typed error or a correct result, within ${CASE_SECONDS} s and a ${HEAP_CAP_MB} MB heap`, async () => {
    const t0 = performance.now();
    const { outcomes, failures } = await runJob({ target, seed: SEED, cases });
    const summary = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(`  fuzz ${target}: ${summary} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    assert.equal(failures, [], `${target} seed ${SEED}:\n${failures.slice(0, 10).join('\n')}`);
    assert.is([...outcomes.values()].reduce((a, b) => a + b, 0), cases);
  });
}

test.run();
