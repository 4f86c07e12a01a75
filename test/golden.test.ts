// The model-level golden set (PyTorch + transformers, float64) through the real code path, with
// the thresholds of `npm run golden` (goldenMinCosine, test/support/tolerances.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildSynthModel, formatGoldenLine, goldenVerdict, readGz, relativeError, runGolden, type GoldenDtype, type GoldenModelFile } from './support/golden.js';
import { FP32_MAX_REL_ERROR, INT4_MIN_COSINE, maxRelErrorFor } from './support/tolerances.js';

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
    // cosine, and pooled and Dense in magnitude too (a wrong pooling divisor keeps every cosine)
    const verdict = goldenVerdict(r);
    assert.ok(verdict.pass, `${formatGoldenLine(r)} threshold=${verdict.threshold} max_rel=${verdict.maxRel}`);
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
