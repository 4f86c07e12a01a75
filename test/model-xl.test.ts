// instructor-xl's shapes (d_model 1024, 32 heads of d_kv 128, d_ff 16384) through the whole model:
// the golden set has no xl (5 GB of weights), so a config with xl's per-layer shapes and one layer
// (and a 1024-piece vocabulary) runs against a float64 forward pass written plainly in
// test/support/t5-reference.ts, in fp32, int8 and int4, and on two threads bit for bit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SYNTH_CONFIGS, toHfConfig, type T5Config } from '../src/engine/config.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { tuning } from '../src/engine/threads/parallel-kernels.js';
import { loadKernelsFromDisk, loadModelFile } from '../src/io/disk.js';
import { synthModel } from '../src/format/synth.js';
import { encodeWeightsFile, type WeightsDtype } from '../src/format/weights-file.js';
import { writeWeightsFile } from '../src/format/weights-file-node.js';
import { sameBits } from './support/assert.js';
import { cosine, relativeError } from './support/golden.js';
import { rng } from './support/random.js';
import { referenceEmbedding } from './support/t5-reference.js';
import { FP32_MAX_REL_ERROR, FP32_MIN_COSINE, INT4_MIN_COSINE, INT8_MIN_COSINE } from './support/tolerances.js';

const xl = SYNTH_CONFIGS.xl;
const config: T5Config & { denseOut: number } = { ...xl, numLayers: 1, vocabSize: 1024 };
const opts = (dtype: WeightsDtype) => ({ config: toHfConfig(config), model: { dense_out: config.denseOut }, dtype });
const r = rng(2024);
const inputs = [9, 3].map((T, i) => ({ ids: [...Array.from({ length: T - 1 }, () => 2 + Math.floor(r() * 1000)), 1], nInstr: i }));

const weights = new Map<string, Float32Array>();
for (const t of synthModel(config, config.denseOut)) weights.set(t.name, t.data);
const reference = inputs.map((s) => referenceEmbedding(config, weights, s.ids, s.nInstr));

test('the config has instructor-xl\'s per-layer shapes', () => {
  assert.equal([config.dModel, config.numHeads, config.dKv, config.dFf, config.ffn], [1024, 32, 128, 16384, 'relu']);
});

test('fp32 at xl shapes: pooled, Dense and embedding within float32 rounding of the float64 forward pass', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-xl-'));
  try {
    const path = join(dir, 'xl1.iwt');
    await writeWeightsFile(path, opts('fp32'), synthModel(config, config.denseOut)); // streamed: the 200 MB file is never in memory
    const model = await loadModelFile(path);
    const got = model.embedIds(inputs, { intermediates: true });
    inputs.forEach((s, i) => {
      const what = `sequence ${i} (${s.ids.length} tokens)`;
      assert.ok(relativeError(got.pooled![i], reference[i].pooled) <= FP32_MAX_REL_ERROR, `${what}: pooled ${relativeError(got.pooled![i], reference[i].pooled)}`);
      assert.ok(relativeError(got.dense![i], reference[i].dense) <= FP32_MAX_REL_ERROR, `${what}: dense ${relativeError(got.dense![i], reference[i].dense)}`);
      assert.ok(cosine(got.embeddings[i], reference[i].embedding) >= FP32_MIN_COSINE, `${what}: cosine`);
    });
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [dtype, minCosine] of [['int8', INT8_MIN_COSINE], ['int4', INT4_MIN_COSINE]] as const) {
  test(`${dtype} at xl shapes: embeddings within ${minCosine} of the float64 forward pass; 2 threads bit-identical, the workers proven to run`, async () => {
    const bytes = encodeWeightsFile(opts(dtype), synthModel(config, config.denseOut));
    const kernels = await loadKernelsFromDisk();
    const m1 = await InstructorModel.fromWeightsFile(bytes, { kernels });
    const m2 = await InstructorModel.fromWeightsFile(bytes, { kernels, threads: 2 });
    const saved = { ...tuning };
    try {
      const a = m1.embedIds(inputs, { intermediates: true });
      inputs.forEach((s, i) => {
        const c = cosine(a.embeddings[i], reference[i].embedding);
        assert.ok(c >= minCosine, `sequence ${i} (${s.ids.length} tokens): cosine ${c} < ${minCosine}`);
      });
      for (const workersOnly of [false, true]) {
        Object.assign(tuning, workersOnly ? { gemmMinMacs: 0, minElements: 0, attentionMinMacs: 0, callerRuns: false } : saved);
        const before = m2.threadChunkCounts()[1];
        const b = m2.embedIds(inputs, { intermediates: true });
        inputs.forEach((_, i) => {
          for (const k of ['embeddings', 'pooled', 'dense'] as const) sameBits(b[k]![i], a[k]![i], `${k} ${i}${workersOnly ? ' (workers only)' : ''}`);
        });
        assert.ok(m2.threadChunkCounts()[1] > before, `the worker ran no chunk${workersOnly ? ' (workers only)' : ''}`);
      }
    } finally {
      Object.assign(tuning, saved);
      m1.dispose();
      m2.dispose();
    }
  });
}

test.run();
