// InstructorModel: batching, padding, bad inputs and bad weights files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { t5TensorShapes, tensorRole } from '../src/engine/tensors.js';
import { InstructorError } from '../src/errors.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { loadKernelsFromDisk, loadModelFile } from '../src/io/disk.js';
import { writeWeightsFile } from '../src/format/weights-file-node.js';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthModel } from '../src/format/synth.js';
import { relativePositionBucket } from '../src/engine/t5.js';
import { instantiateKernels } from '../src/engine/wasm.js';
import { encodeWeightsFile, parseWeightsHeader, Q4_GROUP } from '../src/format/weights-file.js';
import { dequantizeGroupsQ4, dequantizeRowsQ8, quantizeGroupsQ4, quantizeRowsQ8 } from '../src/engine/quantize.js';
import { patchTensor, setF32, weightsFileWithDtypes, withHeaderText } from './support/weights.js';
import { buildSynthModel, cosine } from './support/golden.js';
import { rejects, sameBits, throwsCode } from './support/assert.js';
import { INT16_ACTIVATIONS_MIN_COSINE } from './support/tolerances.js';


// Deterministic token ids of mixed lengths (1 to 300), each ending in </s> = 1.
function mixedSequences(): Array<{ ids: number[]; nInstr: number }> {
  const lengths = [1, 7, 300, 2, 64, 129, 13, 5];
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  return lengths.map((T, i) => {
    const ids = Array.from({ length: T - 1 }, () => 2 + (next() % 32000));
    ids.push(1);
    return { ids, nInstr: i % 3 === 0 ? 0 : Math.min(T - 1, 3) };
  });
}

for (const [config, dtype] of [['tiny', 'fp32'], ['tiny-gated', 'fp32'], ['base', 'fp32'], ['tiny', 'int8']] as const) {
  test(`${config} ${dtype}: a mixed-length batch, split, padded or reversed, equals the sequences one by one bit for bit`, async () => {
    const model = await buildSynthModel(config, dtype);
    const seqs = mixedSequences();
    const alone = seqs.map((s) => model.embedIds([s]).embeddings[0]);
    const batched = model.embedIds(seqs).embeddings;
    const split = model.embedIds(seqs, { maxBatchTokens: 100 }).embeddings;
    const reversed = model.embedIds([...seqs].reverse()).embeddings;
    const maxLen = Math.max(...seqs.map((s) => s.ids.length));
    const padded = model.embedPadded({
      inputIds: seqs.map((s) => [...s.ids, ...new Array(maxLen - s.ids.length).fill(0)]),
      attentionMask: seqs.map((s) => [...new Array(s.ids.length).fill(1), ...new Array(maxLen - s.ids.length).fill(0)]),
      nInstr: seqs.map((s) => s.nInstr),
    }).embeddings;
    // sequences are concatenated, never padded, and every kernel computes a row from that row
    // alone: batching, splitting, padding and order change no bit
    for (let i = 0; i < seqs.length; i++) {
      assert.is(batched[i].length, SYNTH_CONFIGS[config].denseOut);
      for (const [what, got] of [['batched', batched[i]], ['split', split[i]], ['padded', padded[i]], ['reversed', reversed[seqs.length - 1 - i]]] as const) {
        sameBits(got, alone[i], `${what} sequence ${i} (${seqs[i].ids.length} tokens)`);
      }
    }
    // Outputs are distinct per input (a batch bug that repeats one row would pass the check above only by accident).
    assert.ok(cosine(batched[0], batched[1]) < 0.999);
    model.dispose();
  });
}

// transformers T5Attention._relative_position_bucket(offsets, bidirectional=True, B, M) on numpy
// float32 (numpy 2, the torch formula line for line: num_buckets //= 2, max_exact = num_buckets // 2,
// log(rel.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact), .to(long)).
const BUCKET_OFFSETS = [-600, -200, -128, -127, -64, -33, -32, -31, -17, -16, -15, -9, -8, -7, -5, -4, -3, -1, 0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 500];
const TRANSFORMERS_BUCKETS: Array<[number, number, number[]]> = [
  [32, 128, [15, 15, 15, 15, 14, 12, 12, 11, 10, 10, 9, 8, 8, 7, 5, 4, 3, 1, 0, 17, 19, 20, 21, 23, 24, 24, 25, 26, 26, 27, 28, 28, 29, 30, 30, 31, 31, 31]],
  [34, 128, [16, 16, 16, 16, 14, 12, 12, 12, 10, 10, 10, 8, 8, 7, 5, 4, 3, 1, 0, 18, 20, 21, 22, 24, 25, 25, 27, 27, 27, 29, 29, 29, 31, 31, 31, 33, 33, 33]],
  [33, 128, [15, 15, 15, 15, 14, 12, 12, 11, 10, 10, 9, 8, 8, 7, 5, 4, 3, 1, 0, 17, 19, 20, 21, 23, 24, 24, 25, 26, 26, 27, 28, 28, 29, 30, 30, 31, 31, 31]],
  [30, 128, [14, 14, 14, 14, 13, 11, 11, 11, 9, 9, 9, 7, 7, 7, 5, 4, 3, 1, 0, 16, 18, 19, 20, 22, 22, 22, 24, 24, 24, 26, 26, 26, 28, 28, 28, 29, 29, 29]],
  [10, 20, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 2, 2, 1, 0, 6, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]],
  [6, 3, [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 0, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]],
  [4, 2, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]],
  [32, 9, [15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 8, 7, 5, 4, 3, 1, 0, 17, 19, 20, 21, 23, 24, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31]],
  [64, 256, [31, 30, 28, 27, 24, 20, 20, 19, 16, 16, 15, 9, 8, 7, 5, 4, 3, 1, 0, 33, 35, 36, 37, 39, 40, 41, 47, 48, 48, 51, 52, 52, 55, 56, 56, 59, 60, 63]],
];

test('relative position buckets match transformers\' integer and float32 arithmetic for any bucket count', () => {
  for (const [B, M, want] of TRANSFORMERS_BUCKETS) {
    assert.equal(BUCKET_OFFSETS.map((o) => relativePositionBucket(o, B, M)), want, `num_buckets ${B}, max_distance ${M}`);
  }
});

test('relative-attention configs transformers cannot run are BAD_CONFIG; the ones it runs embed finite vectors', async () => {
  const hf = toHfConfig(SYNTH_CONFIGS.tiny);
  const kernels = await loadKernelsFromDisk();
  const withBuckets = (B: number, M: number) => {
    const c = { ...SYNTH_CONFIGS.tiny, relativeBuckets: B, relativeMaxDistance: M };
    return encodeWeightsFile({ config: { ...hf, relative_attention_num_buckets: B, relative_attention_max_distance: M }, model: { dense_out: c.denseOut }, dtype: 'fp32' }, synthModel(c, c.denseOut));
  };
  // 3 // 2 // 2 = 0 exact offsets: transformers divides by zero
  await rejects(InstructorModel.fromWeightsFile(withBuckets(3, 128), { kernels }), 'BAD_CONFIG', /num_buckets = 3, expected at least 4/);
  // log(max_distance / max_exact) = 0 or < 0: infinite or negative buckets
  await rejects(InstructorModel.fromWeightsFile(withBuckets(32, 8), { kernels }), 'BAD_CONFIG', /max_distance = 8, expected more than the 8 exact offsets/);
  await rejects(InstructorModel.fromWeightsFile(withBuckets(32, 5), { kernels }), 'BAD_CONFIG', /max_distance = 5/);
  for (const [B, M] of [[34, 128], [33, 128], [6, 3]]) {
    const model = await InstructorModel.fromWeightsFile(withBuckets(B, M), { kernels });
    const [e] = model.embedIds([{ ids: Array.from({ length: 300 }, (_, t) => 2 + t), nInstr: 1 }]).embeddings;
    assert.ok(e.every(Number.isFinite), `num_buckets ${B}, max_distance ${M}: a 300-token embedding is finite`);
    model.dispose();
  }
});

test('bad ids and inputs are typed errors naming the input', async () => {
  const model = await buildSynthModel('tiny', 'fp32');
  throwsCode(() => model.embedIds([{ ids: [5, 32128, 1], nInstr: 0 }]), 'BAD_INPUT', /32128.*outside the vocabulary/);
  throwsCode(() => model.embedIds([{ ids: [5, -1, 1], nInstr: 0 }]), 'BAD_INPUT', /-1.*outside the vocabulary/);
  throwsCode(() => model.embedIds([{ ids: [5, 1], nInstr: 0 }, { ids: [], nInstr: 0 }]), 'BAD_INPUT', /input 1: ids is empty/);
  throwsCode(() => model.embedIds([{ ids: [5, 1.5], nInstr: 0 }]), 'BAD_INPUT', /position 1 is 1.5/);
  throwsCode(() => model.embedIds([{ ids: [5, 1], nInstr: -1 }]), 'BAD_INPUT', /nInstr is -1/);
  // ids that are not an array of integers, and inputs that throw when read: BAD_INPUT, not a TypeError
  throwsCode(() => model.embedIds([{ ids: null as never, nInstr: 0 }]), 'BAD_INPUT', /input 0: ids is null, expected an array of token ids/);
  throwsCode(() => model.embedIds([{ ids: '51' as never, nInstr: 0 }]), 'BAD_INPUT', /input 0: ids is "51"/);
  throwsCode(() => model.embedIds([{ ids: { length: 2 ** 40 } as never, nInstr: 0 }]), 'BAD_INPUT', /1099511627776 ids, expected at most/);
  throwsCode(() => model.embedIds([{ ids: [5, 1], nInstr: 0 }, { ids: [5, '1'] as never, nInstr: 0 }]), 'BAD_INPUT', /input 1: id at position 1 is "1"/);
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  throwsCode(() => model.embedIds([revoked.proxy as never]), 'BAD_INPUT', /input 0: reading it threw TypeError/);
  throwsCode(() => model.embedIds(revoked.proxy as never), 'BAD_INPUT', /embedIds: reading the inputs threw TypeError/);
  assert.equal(model.embedIds([{ ids: new Uint16Array([5, 1]), nInstr: 0 }]).embeddings, model.embedIds([{ ids: [5, 1], nInstr: 0 }]).embeddings);
  throwsCode(() => model.embedIds([{ ids: [5, 1], nInstr: 0 }], { maxBatchTokens: 0 }), 'BAD_INPUT', /maxBatchTokens/);
  throwsCode(() => model.embedPadded({ inputIds: [[5, 1, 0]], attentionMask: [[1, 0, 1]], nInstr: [0] }), 'BAD_INPUT', /attentionMask\[2\] = 1/);
  // nInstr covering every token: the reference pools nothing and returns zeros.
  const [zero] = model.embedIds([{ ids: [5, 1], nInstr: 2 }]).embeddings;
  assert.ok(zero.every((v) => v === 0));
  model.dispose();
  throwsCode(() => model.embedIds([{ ids: [1], nInstr: 0 }]), 'DISPOSED', /disposed/);
});

function tinyFile(edit: (t: { name: string; shape: number[]; data: Float32Array }) => { name: string; shape: number[]; data: Float32Array } | null, config = toHfConfig(SYNTH_CONFIGS.tiny)): Uint8Array {
  const c = SYNTH_CONFIGS.tiny;
  const tensors = [];
  for (const t of synthModel(c, c.denseOut)) {
    const e = edit(t);
    if (e) tensors.push(e);
  }
  return encodeWeightsFile({ config, model: { dense_out: c.denseOut }, dtype: 'fp32' }, tensors);
}

test('weights files the model cannot use are typed errors', async () => {
  const kernels = await loadKernelsFromDisk();
  const load = (bytes: Uint8Array) => InstructorModel.fromWeightsFile(bytes, { kernels });
  const good = tinyFile((t) => t);
  await rejects(load(good.subarray(0, good.length - 100)), 'BAD_FILE', /truncated/);
  const flipped = good.slice();
  flipped[flipped.length - 5] ^= 0x40;
  await rejects(load(flipped), 'BAD_FILE', /crc|checksum/i);
  await rejects(load(new TextEncoder().encode('PK\x03\x04 not a weights file at all, but long enough to have a preamble of 64 bytes')), 'BAD_FILE', /magic|not an instructor-wasm/i);
  const missing = 'encoder.block.1.layer.1.DenseReluDense.wo.weight';
  await rejects(load(tinyFile((t) => (t.name === missing ? null : t))), 'UNKNOWN_TENSOR', new RegExp(missing.replace(/\./g, '\\.')));
  await rejects(load(tinyFile((t) => (t.name === 'encoder.final_layer_norm.weight' ? { ...t, name: 'encoder.extra.weight' } : t))), 'UNKNOWN_TENSOR', /encoder\.extra\.weight/);
  const wrong = 'encoder.block.0.layer.0.SelfAttention.q.weight';
  await rejects(load(tinyFile((t) => (t.name === wrong ? { ...t, shape: [16, 64] } : t))), 'BAD_SHAPE', /q\.weight.*\[16,64\].*expected \[32,32\]/);
  await rejects(load(tinyFile((t) => t, { ...toHfConfig(SYNTH_CONFIGS.tiny), feed_forward_proj: 'swish' })), 'BAD_CONFIG', /swish/);
  // Shapes in t5TensorShapes are what the model checks against: the list is complete.
  assert.is(t5TensorShapes(SYNTH_CONFIGS.tiny).length, 1 + 2 * 8 + 1 + 1);
});

test('a config absurd for its file is a typed error at once, before anything is sized from it', async () => {
  const kernels = await loadKernelsFromDisk();
  const load = (bytes: Uint8Array) => InstructorModel.fromWeightsFile(bytes, { kernels });
  const hf = toHfConfig(SYNTH_CONFIGS.tiny);
  // beyond any T5: refused by the config's own bounds (num_layers 1e12 used to build 9e12 expected tensors)
  await rejects(load(tinyFile((t) => t, { ...hf, num_layers: 1e12 })), 'BAD_CONFIG', /num_layers.*at most 1024, got 1000000000000/);
  await rejects(load(tinyFile((t) => t, { ...hf, vocab_size: 2 ** 40 })), 'BAD_CONFIG', /vocab_size.*at most/);
  await rejects(load(tinyFile((t) => t, { ...hf, d_model: 1 << 14, d_ff: 1 << 18 })), 'BAD_CONFIG', /d_ff x d_model = 4294967296 elements/);
  // within the bounds, beyond the int8 kernels' inner size (exact i32 totals up to K = 65536)
  await rejects(load(tinyFile((t) => t, { ...hf, d_ff: 1 << 17 })), 'BAD_CONFIG', /d_ff = 131072, expected at most 65536/);
  // config and metadata values nested 1e5 deep (the header JSON), or a max_seq_length beyond 8192
  const deep = withHeaderText(tinyFile((t) => t), (h) => h.replace('"feed_forward_proj":"relu"', `"feed_forward_proj":${'['.repeat(100_000)}${']'.repeat(100_000)}`));
  await rejects(load(deep), 'BAD_FILE', /header JSON nests 100002 deep, expected at most 64/);
  const c = SYNTH_CONFIGS.tiny;
  const withMeta = (model: Record<string, unknown>) => encodeWeightsFile({ config: hf, model: { dense_out: c.denseOut, ...model }, dtype: 'fp32' }, synthModel(c, c.denseOut));
  await rejects(load(withMeta({ max_seq_length: 1e9 })), 'BAD_FILE', /model\.max_seq_length must be a positive integer of at most 8192, got 1000000000/);
  await rejects(load(withMeta({ normalize: [[['x']]] })), 'BAD_FILE', /model\.normalize must be a boolean, got an array of length 1/);
  // plausible for a model, absurd for this file: its tensors number 2 blocks
  await rejects(load(tinyFile((t) => t, { ...hf, num_layers: 1000 })), 'BAD_FILE', /num_layers 1000, but its tensors are of 2 encoder blocks/);
  // more parameters than the data section could hold even at 4 bits each
  await rejects(load(tinyFile((t) => t, { ...hf, vocab_size: 1 << 20 })), 'BAD_FILE', /33554432 encoder parameters|at least .* bytes, but the data section holds/);
});

test('the data section is read in windows, in order, each tensor CRC-checked as soon as it is in; a bad CRC stops the reads', async () => {
  const kernels = await loadKernelsFromDisk();
  // 25 MB: the 8.2 MB embedding table ends inside the first 8 MiB window, the wide FFNs fill two more
  const c = { ...SYNTH_CONFIGS.tiny, dModel: 64, dFf: 16384 };
  const good = encodeWeightsFile({ config: toHfConfig(c), model: { dense_out: c.denseOut }, dtype: 'fp32' }, synthModel(c, c.denseOut));
  const { header, dataStart } = parseWeightsHeader(good);
  const reads: Array<[number, number]> = [];
  const reader = (bytes: Uint8Array) => ({
    size: bytes.length,
    read: async (offset: number, length: number) => bytes.slice(offset, offset + length),
    readInto: async (offset: number, dest: Uint8Array) => { reads.push([offset, dest.length]); dest.set(bytes.subarray(offset, offset + dest.length)); },
  });
  const model = await InstructorModel.fromWeightsReader(reader(good), { kernels });
  assert.ok(reads.length >= 3, `${reads.length} reads`);
  let at = dataStart;
  for (const [offset, length] of reads) {
    assert.is(offset, at, 'windows are contiguous and in file order');
    at += length;
  }
  assert.is(at, good.length, 'the windows cover the data section');
  const seqs = mixedSequences();
  const whole = await InstructorModel.fromWeightsFile(good, { kernels });
  const a = model.embedIds(seqs).embeddings, b = whole.embedIds(seqs).embeddings;
  for (let i = 0; i < seqs.length; i++) assert.equal(Array.from(a[i]), Array.from(b[i]), `sequence ${i}`);
  model.dispose();
  whole.dispose();

  // a flipped byte in the tensor that ends first (the embedding table) fails while the second window is in flight
  const first = [...header.tensors].sort((x, y) => (x.offset + x.bytes) - (y.offset + y.bytes))[0];
  const bad = good.slice();
  bad[dataStart + first.offset + 5] ^= 0x10;
  reads.length = 0;
  await rejects(InstructorModel.fromWeightsReader(reader(bad), { kernels }), 'BAD_FILE', new RegExp(`tensor "${first.name.replace(/\./g, '\\.')}": CRC-32 mismatch`));
  assert.is(reads.length, 2, 'no window is read after the failed check');
  // without verification the same bytes load (the caller asked not to check)
  (await InstructorModel.fromWeightsReader(reader(bad), { kernels, verify: false })).dispose();
});

// Blocks whose matrices mix f32 and int8 / int4 (the writer never makes such files, a hostile or
// hand-made one can): each quantized matmul must quantize its own input, never reuse an int16
// quantization a previous f32 matmul never made. The reference is the same file with those
// matrices dequantized to f32: the only difference left is the int16 rounding of their input.
for (const [config, roles, dtype] of [
  ['tiny', ['k', 'v'], 'q8'], ['tiny', ['k', 'v'], 'q4'], ['tiny', ['v'], 'q8'], ['tiny', ['q', 'v'], 'q4'],
  ['tiny-gated', ['wi_1'], 'q8'], ['tiny-gated', ['wi_1'], 'q4'],
] as const) {
  test(`${config}: f32 and ${dtype} ${roles.join(', ')} in one block embed as the ${dtype} matrices dequantized to f32`, async () => {
    const c = SYNTH_CONFIGS[config];
    const quantized = (name: string) => (roles as readonly string[]).includes(tensorRole(name)?.role ?? '');
    const opts = { config: toHfConfig(c), model: { dense_out: c.denseOut }, dtype: 'fp32' as const };
    const mixed = weightsFileWithDtypes(opts, synthModel(c, c.denseOut), (t) => (quantized(t.name) ? dtype : 'f32'));
    const dequantized = Array.from(synthModel(c, c.denseOut), (t) => {
      if (!quantized(t.name)) return t;
      const [rows, cols] = t.shape;
      const data = dtype === 'q8'
        ? (({ q, scales }) => dequantizeRowsQ8(q, scales, rows, cols))(quantizeRowsQ8(t.data, rows, cols))
        : (({ q, scales }) => dequantizeGroupsQ4(q, scales, rows, cols, Q4_GROUP))(quantizeGroupsQ4(t.data, rows, cols, Q4_GROUP));
      return { ...t, data };
    });
    const kernels = await loadKernelsFromDisk();
    const a = await InstructorModel.fromWeightsFile(mixed, { kernels });
    const b = await InstructorModel.fromWeightsFile(encodeWeightsFile(opts, dequantized), { kernels: await loadKernelsFromDisk() });
    const seqs = mixedSequences();
    const ea = a.embedIds(seqs).embeddings, eb = b.embedIds(seqs).embeddings;
    for (let i = 0; i < seqs.length; i++) {
      const cos = cosine(ea[i], eb[i]);
      assert.ok(cos >= INT16_ACTIVATIONS_MIN_COSINE, `sequence ${i} (${seqs[i].ids.length} tokens): cosine ${cos} < ${INT16_ACTIVATIONS_MIN_COSINE}`);
    }
    a.dispose();
    b.dispose();
  });
}

test('NaN or Inf in a q8 row scale, a q4 group scale or a small f32 tensor is refused at load; a non-finite embedding is never returned', async () => {
  const kernels = await loadKernelsFromDisk();
  const load = (bytes: Uint8Array) => InstructorModel.fromWeightsFile(bytes, { kernels });
  const c = SYNTH_CONFIGS.tiny;
  const file = (dtype: 'fp32' | 'int8' | 'int4') => encodeWeightsFile({ config: toHfConfig(c), model: { dense_out: c.denseOut }, dtype }, synthModel(c, c.denseOut));
  const q = 'encoder.block.1.layer.0.SelfAttention.q.weight'; // [32, 32]
  const int8 = file('int8'), int4 = file('int4'), fp32 = file('fp32');
  // q8: the per-row scales follow the int8 codes at align64(rows * cols)
  await rejects(load(patchTensor(int8, q, (b) => setF32(b, 1024 + 4 * 5, NaN))), 'BAD_FILE', /q\.weight.*scale of row 5 got NaN/);
  await rejects(load(patchTensor(int8, q, (b) => setF32(b, 1024 + 4 * 5, -1))), 'BAD_FILE', /scale of row 5 got -1/);
  await rejects(load(patchTensor(int8, 'shared.weight', (b) => setF32(b, 32128 * 32 + 4 * 7, Infinity))), 'BAD_FILE', /shared\.weight.*scale of row 7 got Infinity/);
  // q4: one scale per 32 values after the codes at align64(rows * cols / 2)
  await rejects(load(patchTensor(int4, q, (b) => setF32(b, 512 + 4 * 3, -Infinity))), 'BAD_FILE', /q\.weight.*scale of group 0 of row 3 got -Infinity/);
  for (const name of ['encoder.block.0.layer.1.layer_norm.weight', 'encoder.final_layer_norm.weight', 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight']) {
    await rejects(load(patchTensor(fp32, name, (b) => setF32(b, 8, NaN))), 'BAD_FILE', new RegExp(`${name.replace(/\./g, '\\.')}" holds NaN at index 2`));
    await rejects(load(patchTensor(int8, name, (b) => setF32(b, 0, Infinity))), 'BAD_FILE', /holds Infinity at index 0/);
  }
  // a large f32 matrix is not scanned at load: the embeddings it spoils are refused, the others come back
  const model = await load(patchTensor(fp32, 'shared.weight', (b) => setF32(b, 4 * (77 * 32 + 3), NaN)));
  const [ok] = model.embedIds([{ ids: [5, 6, 1], nInstr: 0 }]).embeddings;
  assert.ok(ok.every(Number.isFinite));
  throwsCode(() => model.embedIds([{ ids: [5, 6, 1], nInstr: 0 }, { ids: [5, 77, 1], nInstr: 0 }]), 'BAD_FILE', /input 1: the embedding came out non-finite/);
  model.dispose();
  const inf = await load(patchTensor(fp32, q, (b) => setF32(b, 0, Infinity)));
  throwsCode(() => inf.embedIds([{ ids: [5, 1], nInstr: 0 }]), 'BAD_FILE', /input 0: the embedding came out non-finite/);
  inf.dispose();
});

test('a weights file on disk loads straight into wasm memory and embeds as the in-memory one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-model-'));
  try {
    const c = SYNTH_CONFIGS['tiny-gated'];
    const opts = { config: toHfConfig(c), model: { dense_out: c.denseOut }, dtype: 'int8' as const };
    const path = join(dir, 'tiny-gated.int8.iwt');
    await writeWeightsFile(path, opts, synthModel(c, c.denseOut));
    const fromDisk = await loadModelFile(path);
    const fromBytes = await InstructorModel.fromWeightsFile(encodeWeightsFile(opts, synthModel(c, c.denseOut)), { kernels: await loadKernelsFromDisk() });
    assert.is(fromDisk.info.dtype, 'int8');
    const seqs = mixedSequences();
    const a = fromDisk.embedIds(seqs).embeddings, b = fromBytes.embedIds(seqs).embeddings;
    for (let i = 0; i < seqs.length; i++) assert.equal(Array.from(a[i]), Array.from(b[i]), `sequence ${i}`);
    truncateSync(path, 5000);
    await rejects(loadModelFile(path), 'BAD_FILE', /truncated/);
    await rejects(loadModelFile(join(dir, 'absent.iwt')), 'NOT_FOUND', /cannot open weights file .*absent\.iwt: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the loader rejects bytes that are not the kernels', async () => {
  await rejects(instantiateKernels(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])), 'BAD_FILE', /lacks export/);
  await rejects(instantiateKernels(new Uint8Array([1, 2, 3])), 'BAD_FILE', /does not compile/);
});

test.run();
