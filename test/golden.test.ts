// The model-level golden set (PyTorch + transformers, float64) through the real code path, with
// the thresholds of `npm run golden` (goldenMinCosine, test/support/tolerances.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  buildSynthModel, formatGoldenLine, goldenMagnitudeBar, goldenVerdict, lengthError, readGz, relativeError, runGolden, type GoldenDtype, type GoldenModelFile,
} from './support/golden.js';
import { FP32_MAX_REL_ERROR, INT4_MIN_COSINE, maxLengthErrorFor } from './support/tolerances.js';

const golden = readGz<GoldenModelFile>('golden-model.json.gz');

test('golden file is synth-v1 with the four configs', () => {
  assert.is(golden.spec, 'synth-v1');
  for (const c of ['tiny', 'tiny-gated', 'base', 'large']) assert.ok(golden.configs[c], c);
});

const rows: Array<[string, GoldenDtype]> = [
  ...['tiny', 'tiny-gated', 'base', 'large'].flatMap((c) => [[c, 'fp32'], [c, 'int8']] as Array<[string, GoldenDtype]>),
  ['tiny', 'int4'], ['tiny-gated', 'int4'],
  // every row of `npm run golden` but base int4 (below, per sequence) and the fp32 rows it shares
  ['large', 'int4'],
];
for (const [config, dtype] of rows) {
  test(`golden ${config} ${dtype}`, async () => {
    const r = await runGolden(golden, config, dtype, { threads: config.startsWith('tiny') ? 1 : 'auto' });
    console.log(`  ${formatGoldenLine(r)} (${r.seconds.toFixed(1)} s)`);
    assert.ok(Number.isFinite(r.minCosine), 'min cosine is a number');
    if (config.startsWith('tiny')) assert.ok(r.maxAbsHidden !== null, 'tiny configs compare every hidden state');
    // cosine, and pooled and Dense in magnitude too (a wrong pooling divisor keeps every cosine)
    const verdict = goldenVerdict(r);
    assert.ok(verdict.pass, `${formatGoldenLine(r)} threshold=${verdict.threshold} ${verdict.bar}`);
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
  assert.ok(r.maxLenPooled <= maxLengthErrorFor(INT4_MIN_COSINE) && r.maxLenDense <= maxLengthErrorFor(INT4_MIN_COSINE), formatGoldenLine(r));
});

// The magnitude bar is there for what a cosine cannot see; it must still see it. A pooling that
// divides by every token instead of the ones after the instruction scales the pooled vector (and so
// the Dense output) by (T - n_instr) / T and keeps every cosine.
test('the magnitude bar of a quantized row catches a wrong pooling divisor that every cosine misses', async () => {
  const model = await buildSynthModel('tiny', 'int8');
  const { bound } = goldenMagnitudeBar('tiny', 'int8');
  const caught: number[] = [];
  golden.sequences.forEach((s, j) => {
    const { pooled } = model.embedIds([{ ids: s.ids, nInstr: s.n_instr }], { intermediates: true });
    const ref = golden.configs.tiny.float64[j].pooled;
    assert.ok(lengthError(pooled![0], ref) <= bound, `sequence ${j} as computed`);
    const wrong = Array.from(pooled![0], (x) => x * (s.ids.length - s.n_instr) / s.ids.length);
    if (lengthError(wrong, ref) > bound) caught.push(j);
  });
  model.dispose();
  // one sequence over the bar fails the row; the golden's instructions of 1 to 511 tokens give several
  assert.ok(caught.length >= 5, `the wrong divisor passed the bar on all but sequences ${caught.join(', ')}`);
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
