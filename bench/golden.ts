// npm run golden: the model-level golden set through the real code path, one line per config and
// dtype, `golden <config> <fp32|int8|int4> min_cosine=<x> max_abs_hidden=<y|-> max_rel_pooled=<p>
// max_rel_dense=<d> max_len_pooled=<lp> max_len_dense=<ld> threshold=<t> max_rel=<r>|max_len=<l> PASS|FAIL`, against the thresholds of
// test/support/tolerances.ts (goldenVerdict); exits 1 when any row fails.
// Args: [configs, default tiny,tiny-gated,base,large] [dtypes, default fp32,int8,int4].
// INSTRUCTOR_WASM_SIMD=relaxed runs the relaxed build (Node >= 22); default simd128.
import { formatGoldenLine, goldenVerdict, readGz, runGolden, type GoldenDtype, type GoldenModelFile } from '../test/support/golden.js';

const configs = (process.argv[2] ?? 'tiny,tiny-gated,base,large').split(',');
const dtypes = (process.argv[3] ?? 'fp32,int8,int4').split(',') as GoldenDtype[];
const golden = readGz<GoldenModelFile>('golden-model.json.gz');
let failed = 0;
for (const config of configs) {
  for (const dtype of dtypes) {
    // the weights file streams to a temporary folder; threads change no bit of the result
    const build = process.env.INSTRUCTOR_WASM_SIMD === 'relaxed' ? 'relaxed' : 'simd128';
    const r = await runGolden(golden, config, dtype, { threads: config.startsWith('tiny') ? 1 : 'auto', build });
    const { pass, threshold, bar } = goldenVerdict(r);
    if (!pass) failed++;
    console.log(`${formatGoldenLine(r)} threshold=${threshold} ${bar} ${pass ? 'PASS' : 'FAIL'}`);
    console.error(`  per sequence (tokens:cosine): ${r.cosines.map((c, j) => `${golden.sequences[j].ids.length}:${c.toFixed(4)}`).join(' ')}`);
    console.error(`  (${r.tokens} tokens in ${r.seconds.toFixed(1)} s: ${(r.tokens / r.seconds).toFixed(1)} tokens/s)`);
  }
}
console.log(failed === 0 ? `golden: all ${configs.length * dtypes.length} rows pass` : `golden: ${failed} of ${configs.length * dtypes.length} rows FAIL`);
process.exitCode = failed === 0 ? 0 : 1;
