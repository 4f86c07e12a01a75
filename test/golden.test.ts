// The model-level golden set (PyTorch + transformers, float64) through the real code path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatGoldenLine, readGz, runGolden, type GoldenModelFile } from './support/golden.js';
import { FP32_MAX_ABS_HIDDEN, FP32_MIN_COSINE, INT4_MIN_COSINE, INT8_MIN_COSINE, TINY_INT8_MIN_COSINE } from './support/tolerances.js';

const golden = readGz<GoldenModelFile>('golden-model.json.gz');

test('golden file is synth-v1 with the four configs', () => {
  assert.is(golden.spec, 'synth-v1');
  for (const c of ['tiny', 'tiny-gated', 'base', 'large']) assert.ok(golden.configs[c], c);
});

for (const config of ['tiny', 'tiny-gated', 'base', 'large']) {
  for (const dtype of ['fp32', 'int8'] as const) {
    test(`golden ${config} ${dtype}`, async () => {
      const r = await runGolden(golden, config, dtype);
      console.log(`  ${formatGoldenLine(r)} (${r.seconds.toFixed(1)} s)`);
      assert.ok(Number.isFinite(r.minCosine), 'min cosine is a number');
      const threshold = dtype === 'fp32' ? FP32_MIN_COSINE : config.startsWith('tiny') ? TINY_INT8_MIN_COSINE : INT8_MIN_COSINE;
      assert.ok(r.minCosine >= threshold, formatGoldenLine(r));
      if (config.startsWith('tiny')) {
        assert.ok(r.maxAbsHidden !== null, 'tiny configs compare every hidden state');
        if (dtype === 'fp32') assert.ok(r.maxAbsHidden! <= FP32_MAX_ABS_HIDDEN, formatGoldenLine(r));
      }
    });
  }
}

// int4 on base, the model a 128 MB Worker is meant to serve: q4 weights in groups of 32, with the
// first half of the feed-forward layers and the Dense head in q8 (src/format/weights-file.ts storedDtype).
// Every sequence, 1 token included (the worst case: one token's noise, not averaged by pooling).
test('golden base int4', async () => {
  const r = await runGolden(golden, 'base', 'int4');
  console.log(`  ${formatGoldenLine(r)} (${r.seconds.toFixed(1)} s)`);
  for (let j = 0; j < r.cosines.length; j++) {
    const T = golden.sequences[j].ids.length;
    assert.ok(r.cosines[j] >= INT4_MIN_COSINE, `golden base int4 sequence ${j} (${T} tokens): cosine ${r.cosines[j]} < ${INT4_MIN_COSINE}`);
  }
});

test.run();
