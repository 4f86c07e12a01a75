// npm run golden: the model-level golden set through the real code path, one line per config
// and dtype: `golden <config> <fp32|int8> min_cosine=<x> max_abs_hidden=<y|->`.
import { formatGoldenLine, readGz, runGolden, type GoldenModelFile } from '../test/support/golden.js';

const configs = (process.argv[2] ?? 'tiny,tiny-gated,base,large').split(',');
const golden = readGz<GoldenModelFile>('golden-model.json.gz');
for (const config of configs) {
  for (const dtype of ['fp32', 'int8'] as const) {
    const r = await runGolden(golden, config, dtype);
    console.log(`${formatGoldenLine(r)}`);
    console.error(`  (${r.tokens} tokens in ${r.seconds.toFixed(1)} s: ${(r.tokens / r.seconds).toFixed(1)} tokens/s)`);
  }
}
