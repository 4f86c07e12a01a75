import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SYNTH_CONFIGS } from '../src/engine/config.js';
import { DENSE_WEIGHT, t5TensorShapes } from '../src/engine/tensors.js';
import { InstructorError } from '../src/errors.js';
import { fnv1a32, synthModel, synthTensor } from '../src/format/synth.js';
import { GOLDEN_DIR } from './support/golden.js';

const GOLDEN = `${GOLDEN_DIR}tiny-st-safetensors`;

/** Minimal safetensors reader: 8-byte LE header length, JSON {name: {dtype, shape, data_offsets}}, data. */
function readSafetensors(path: string): Map<string, { shape: number[]; bits: Uint32Array }> {
  const buf = readFileSync(path);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { shape: number[]; bits: Uint32Array }>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.is(t.dtype, 'F32', name);
    const [a, b] = t.data_offsets;
    const copy = bytes.slice(8 + n + a, 8 + n + b); // copy: aligned for Uint32Array
    out.set(name, { shape: t.shape, bits: new Uint32Array(copy.buffer) });
  }
  return out;
}

/** u of the README, written out literally (BigInt arithmetic, independent of src/format/synth.ts). */
function refU(name: string, i: number): number {
  const M = 0xffffffffn;
  let h = 0x811c9dc5n;
  for (const b of new TextEncoder().encode(name)) h = ((h ^ BigInt(b)) * 0x01000193n) & M;
  const key = (h * 0x9e3779b9n) & M;
  let x = (BigInt(i) + key) & M;
  x ^= x >> 16n; x = (x * 0x7feb352dn) & M; x ^= x >> 15n; x = (x * 0x846ca68bn) & M; x ^= x >> 16n;
  return (2 * Number(x >> 8n) - 16777215) / 16777216;
}

function bitsEqual(name: string, got: Float32Array, want: Uint32Array): void {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  assert.is(g.length, want.length, `${name}: length`);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== want[i]) assert.unreachable(`${name}[${i}]: got bits ${g[i].toString(16)}, expected ${want[i].toString(16)}`);
  }
}

test('fnv1a32 check value', () => {
  assert.is(fnv1a32('shared.weight'), 3685263478);
  assert.is(fnv1a32(''), 0x811c9dc5);
});

test('first four u of shared.weight', () => {
  const c = SYNTH_CONFIGS.tiny;
  const w = synthTensor('shared.weight', [c.vocabSize, c.dModel], c);
  assert.equal(Array.from(w.subarray(0, 4)), [0.755548894405365, -0.48135310411453247, 0.503208339214325, 0.927586019039154]);
});

test('tiny: every tensor bit-exact against the real safetensors checkpoint', () => {
  const c = SYNTH_CONFIGS.tiny;
  const enc = readSafetensors(`${GOLDEN}/model.safetensors`);
  const dense = readSafetensors(`${GOLDEN}/2_Dense/model.safetensors`);
  const lookup = (name: string) => {
    if (name === DENSE_WEIGHT) return dense.get(DENSE_WEIGHT) ?? dense.get('linear.weight');
    return enc.get(name) ?? (name === 'shared.weight' ? enc.get('encoder.embed_tokens.weight') : undefined);
  };
  let count = 0;
  const names: string[] = [];
  for (const t of synthModel(c, c.denseOut)) {
    const ref = lookup(t.name);
    assert.ok(ref, `checkpoint has ${t.name}`);
    assert.equal(t.shape, ref!.shape, `${t.name} shape`);
    bitsEqual(t.name, t.data, ref!.bits);
    names.push(t.name);
    count++;
  }
  assert.is(count, t5TensorShapes(c).length + 1);
  assert.is(names[names.length - 1], DENSE_WEIGHT);
  // Every encoder tensor of the checkpoint was covered (embed_tokens is tied to shared).
  for (const name of enc.keys()) if (name !== 'encoder.embed_tokens.weight') assert.ok(names.includes(name), `covered ${name}`);
  // An extra tied copy, if present, has the same bits.
  const tied = enc.get('encoder.embed_tokens.weight');
  if (tied) bitsEqual('encoder.embed_tokens.weight', synthTensor('shared.weight', tied.shape, c), tied.bits);
});

test('tiny-gated: wi_0 / wi_1 names, order and shapes', () => {
  const c = SYNTH_CONFIGS['tiny-gated'];
  const got = Array.from(synthModel(c, c.denseOut), (t) => [t.name, t.shape, t.data.length] as const);
  const want = [...t5TensorShapes(c), [DENSE_WEIGHT, [c.denseOut, c.dModel]] as [string, number[]]];
  assert.equal(got.map(([n, s]) => [n, s]), want);
  for (const [, s, len] of got) assert.is(len, s.reduce((p, d) => p * d, 1));
  const names = got.map(([n]) => n);
  for (let l = 0; l < c.numLayers; l++) {
    assert.ok(names.includes(`encoder.block.${l}.layer.1.DenseReluDense.wi_0.weight`));
    assert.ok(names.includes(`encoder.block.${l}.layer.1.DenseReluDense.wi_1.weight`));
    assert.not.ok(names.includes(`encoder.block.${l}.layer.1.DenseReluDense.wi.weight`));
  }
  const w0 = synthTensor('encoder.block.0.layer.1.DenseReluDense.wi_0.weight', [c.dFf, c.dModel], c);
  const w1 = synthTensor('encoder.block.0.layer.1.DenseReluDense.wi_1.weight', [c.dFf, c.dModel], c);
  assert.ok(w0.some((v, i) => v !== w1[i]), 'wi_0 and wi_1 differ');
  const a = Math.fround(Math.sqrt(3 / c.dModel));
  for (const v of w0) assert.ok(Math.abs(v) < a);
});

test('wo: outlier rows (r % 61 == 7) have 16x scale', () => {
  const c = SYNTH_CONFIGS.base; // d_model 768 rows: outliers at 7, 68, 129, ...
  const F = c.dFf;
  const w = synthTensor('encoder.block.0.layer.1.DenseReluDense.wo.weight', [c.dModel, F], c);
  const a = Math.fround(Math.sqrt(3 / F));
  const rowMax = (r: number) => { let m = 0; for (let j = 0; j < F; j++) m = Math.max(m, Math.abs(w[r * F + j])); return m; };
  for (let r = 0; r < 200; r++) {
    const m = rowMax(r);
    if (r % 61 === 7) {
      assert.ok(m > a && m < 16 * a, `outlier row ${r}: max ${m} in (a, 16a), a = ${a}`);
      assert.ok(m > 8 * a, `outlier row ${r}: max ${m} well above a`);
    } else {
      assert.ok(m < a, `row ${r}: max ${m} < a = ${a}`);
    }
  }
  // Exact against a literal transcription of the README formula.
  for (const r of [0, 6, 7, 68, 129, 130]) {
    for (const j of [0, 1, F - 1]) {
      const scale = r % 61 === 7 ? a * 16 : a;
      assert.is(w[r * F + j], Math.fround(refU('encoder.block.0.layer.1.DenseReluDense.wo.weight', r * F + j) * scale), `row ${r} col ${j}`);
    }
  }
});

test('layer norms are 1 + u/2, relative bias u*2, Dense fan is its in size', () => {
  const c = SYNTH_CONFIGS.tiny;
  const ln = synthTensor('encoder.final_layer_norm.weight', [c.dModel], c);
  for (const v of ln) assert.ok(v > 0.5 && v < 1.5);
  const rb = synthTensor('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', [c.relativeBuckets, c.numHeads], c);
  assert.ok(rb.some((v) => Math.abs(v) > 1) && rb.every((v) => Math.abs(v) < 2));
  const d = synthTensor(DENSE_WEIGHT, [5, 48], c);
  const a = Math.fround(Math.sqrt(3 / 48));
  assert.ok(d.every((v) => Math.abs(v) < a) && d.some((v) => Math.abs(v) > a / 2));
});

test('unknown tensor names and wrong shapes fail', () => {
  const c = SYNTH_CONFIGS.tiny;
  for (const name of ['lm_head.weight', 'encoder.block.0.layer.0.SelfAttention.x.weight', 'decoder.block.0.layer.0.SelfAttention.q.weight']) {
    try {
      synthTensor(name, [2, 2], c);
      assert.unreachable(name);
    } catch (e) {
      assert.instance(e, InstructorError);
      assert.is((e as InstructorError).code, 'UNKNOWN_TENSOR');
      assert.match((e as Error).message, name);
    }
  }
  try {
    synthTensor('encoder.block.0.layer.0.SelfAttention.q.weight', [16, 32], c);
    assert.unreachable();
  } catch (e) {
    assert.is((e as InstructorError).code, 'BAD_SHAPE');
    assert.match((e as Error).message, '[16, 32]');
  }
});

test('synthModel is lazy (one tensor per step)', () => {
  const c = SYNTH_CONFIGS.large;
  const it = synthModel(c, c.denseOut)[Symbol.iterator]();
  const first = it.next();
  assert.is(first.done, false);
  assert.is(first.value!.name, 'shared.weight');
  const second = it.next();
  assert.is(second.value!.name, 'encoder.block.0.layer.0.SelfAttention.q.weight');
  it.return?.();
});

test.run();
