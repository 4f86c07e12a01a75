// The model-level golden set (PyTorch + transformers, float64) through the real code path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildSynthModel, formatGoldenLine, readGz, relativeError, runGolden, type GoldenModelFile } from './support/golden.js';
import { FP32_MAX_ABS_HIDDEN, FP32_MAX_REL_ERROR, FP32_MIN_COSINE, INT4_MIN_COSINE, INT8_MIN_COSINE, maxRelErrorFor, TINY_INT8_MIN_COSINE } from './support/tolerances.js';

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
      // pooled and Dense outputs, in magnitude too (a wrong pooling divisor keeps every cosine)
      const maxRel = dtype === 'fp32' ? FP32_MAX_REL_ERROR : maxRelErrorFor(threshold);
      assert.ok(r.maxRelPooled <= maxRel, `pooled: ${formatGoldenLine(r)} > ${maxRel}`);
      assert.ok(r.maxRelDense <= maxRel, `dense: ${formatGoldenLine(r)} > ${maxRel}`);
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
  assert.ok(r.maxRelPooled <= maxRelErrorFor(INT4_MIN_COSINE) && r.maxRelDense <= maxRelErrorFor(INT4_MIN_COSINE), formatGoldenLine(r));
});

test('normalize: false returns the golden Dense output (tiny fp32, every sequence)', async () => {
  const model = await buildSynthModel('tiny', 'fp32');
  const seqs = golden.sequences.map((s) => ({ ids: s.ids, nInstr: s.n_instr }));
  const { embeddings } = model.embedIds(seqs, { normalize: false });
  embeddings.forEach((e, j) => {
    const err = relativeError(e, golden.configs.tiny.float64[j].dense);
    assert.ok(err <= FP32_MAX_REL_ERROR, `sequence ${j}: relative error ${err} against the golden dense output`);
  });
  model.dispose();
});

test.run();
