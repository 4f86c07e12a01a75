// The model-level golden set (PyTorch + transformers, float64) through the real code path, with
// the thresholds of `npm run golden` (goldenMinCosine, test/support/tolerances.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatGoldenLine, goldenVerdict, readGz, runGolden, type GoldenDtype, type GoldenModelFile } from './support/golden.js';
import { INT4_MIN_COSINE } from './support/tolerances.js';

const golden = readGz<GoldenModelFile>('golden-model.json.gz');

test('golden file is synth-v1 with the four configs', () => {
  assert.is(golden.spec, 'synth-v1');
  for (const c of ['tiny', 'tiny-gated', 'base', 'large']) assert.ok(golden.configs[c], c);
});

const rows: Array<[string, GoldenDtype]> = [
  ...['tiny', 'tiny-gated', 'base', 'large'].flatMap((c) => [[c, 'fp32'], [c, 'int8']] as Array<[string, GoldenDtype]>),
  ['tiny', 'int4'], ['tiny-gated', 'int4'],
];
for (const [config, dtype] of rows) {
  test(`golden ${config} ${dtype}`, async () => {
    const r = await runGolden(golden, config, dtype, { threads: config.startsWith('tiny') ? 1 : 'auto' });
    console.log(`  ${formatGoldenLine(r)} (${r.seconds.toFixed(1)} s)`);
    assert.ok(Number.isFinite(r.minCosine), 'min cosine is a number');
    if (config.startsWith('tiny')) assert.ok(r.maxAbsHidden !== null, 'tiny configs compare every hidden state');
    assert.ok(goldenVerdict(r).pass, `${formatGoldenLine(r)} threshold=${goldenVerdict(r).threshold}`);
  });
}

// int4 on base, the model a 128 MB Worker is meant to serve: q4 weights in groups of 32, with the
// first half of the feed-forward layers and the Dense head in q8 (src/format/weights-file.ts storedDtype).
// Every sequence, 1 token included (the worst case: one token's noise, not averaged by pooling).
test('golden base int4', async () => {
  const r = await runGolden(golden, 'base', 'int4', { threads: 'auto' });
  console.log(`  ${formatGoldenLine(r)} (${r.seconds.toFixed(1)} s)`);
  for (let j = 0; j < r.cosines.length; j++) {
    const T = golden.sequences[j].ids.length;
    assert.ok(r.cosines[j] >= INT4_MIN_COSINE, `golden base int4 sequence ${j} (${T} tokens): cosine ${r.cosines[j]} < ${INT4_MIN_COSINE}`);
  }
});

test.run();
