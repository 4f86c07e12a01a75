import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { DENSE_WEIGHT, t5TensorShapes } from '../src/engine/tensors.js';
import { crc32, crc32Hex } from '../src/format/crc32.js';
import { InstructorError } from '../src/errors.js';
import { dequantizeGroupsQ4, dequantizeRowsQ8, quantizeGroupsQ4, quantizeRowsQ8 } from '../src/engine/quantize.js';
import { synthModel } from '../src/format/synth.js';
import {
  encodeWeightsFile, parseWeightsHeader, parseWeightsPreamble, readWeightsFile, verifyTensor, verifyTensorBytes,
  type WeightsHeader,
} from '../src/format/weights-file.js';
import { writeWeightsFile } from '../src/format/weights-file-node.js';
import { GOLDEN_DIR } from './support/golden.js';

const tiny = SYNTH_CONFIGS.tiny;
const enc = new TextEncoder();

function opts(dtype: 'int8' | 'int4' | 'fp32') {
  return { config: toHfConfig(tiny), model: { dense_out: tiny.denseOut, max_seq_length: 512, synth: 'synth-v1' }, dtype };
}
const layout = () => [...t5TensorShapes(tiny).map(([name, shape]) => ({ name, shape })), { name: DENSE_WEIGHT, shape: [tiny.denseOut, tiny.dModel] }];

function throwsCode(fn: () => unknown, code: string, pattern: RegExp | string): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof InstructorError)) return assert.unreachable(`expected InstructorError ${code}, got ${String(e)}`);
    assert.is(e.code, code, `code for: ${e.message}`);
    if (typeof pattern === 'string' ? !e.message.includes(pattern) : !pattern.test(e.message)) {
      assert.unreachable(`message "${e.message}" does not match ${String(pattern)}`);
    }
    return;
  }
  assert.unreachable(`expected InstructorError ${code} matching ${String(pattern)}, nothing was thrown`);
}
const badFile = (fn: () => unknown, pattern: RegExp | string) => throwsCode(fn, 'BAD_FILE', pattern);

// ---------------------------------------------------------------------------------------------
// crc32

test('crc32: known vectors', () => {
  assert.is(crc32(enc.encode('123456789')), 0xcbf43926);
  assert.is(crc32(new Uint8Array(0)), 0);
  assert.is(crc32(enc.encode('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  assert.is(crc32(new Uint8Array(32)), 0x190a55ad);
  assert.is(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
  assert.is(crc32Hex(0xcbf43926), 'cbf43926');
  assert.is(crc32Hex(0x1a), '0000001a');
});

test('crc32: incremental equals one-shot, every split, unaligned views', () => {
  const data = new Uint8Array(1000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 255;
  // bit-by-bit reference
  let ref = 0xffffffff;
  for (const b of data) { ref ^= b; for (let k = 0; k < 8; k++) ref = ref & 1 ? (ref >>> 1) ^ 0xedb88320 : ref >>> 1; }
  ref = (ref ^ 0xffffffff) >>> 0;
  assert.is(crc32(data), ref);
  for (let cut = 0; cut <= 40; cut++) assert.is(crc32(data.subarray(cut), crc32(data.subarray(0, cut))), ref, `cut ${cut}`);
  let c = 0;
  for (let i = 0; i < data.length; i += 13) c = crc32(data.subarray(i, i + 13), c);
  assert.is(c, ref);
});

// ---------------------------------------------------------------------------------------------
// quantize

test('quantize: round trip within scale / 2, scale = max / 127', () => {
  const rows = 37, cols = 48;
  const w = new Float32Array(rows * cols);
  let s = 12345;
  for (let i = 0; i < w.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; w[i] = (s / 2 ** 32 - 0.5) * (1 + (i % 7)); }
  const { q, scales } = quantizeRowsQ8(w, rows, cols);
  const back = dequantizeRowsQ8(q, scales, rows, cols);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let j = 0; j < cols; j++) m = Math.max(m, Math.abs(w[r * cols + j]));
    assert.is(scales[r], Math.fround(m / 127));
    let hit127 = false;
    for (let j = 0; j < cols; j++) {
      const i = r * cols + j;
      assert.ok(Math.abs(q[i]) <= 127);
      if (Math.abs(q[i]) === 127) hit127 = true;
      assert.ok(Math.abs(back[i] - w[i]) <= scales[r] / 2 * (1 + 1e-6), `row ${r} col ${j}`);
    }
    assert.ok(hit127, `row ${r} uses the full range`);
  }
});

test('quantize: zero rows, outliers, round half to even, clamp', () => {
  // row 0 all zero; row 1 one outlier; row 2 exact halves
  const cols = 8;
  const w = new Float32Array(3 * cols);
  w.set([0.01, -0.02, 0.03, 100, 0.5, -0.5, 0, 0.04], cols);
  // scale = 127 / 127 = 1: x.5 values tie
  w.set([127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -127], 2 * cols);
  const { q, scales } = quantizeRowsQ8(w, 3, cols);
  assert.is(scales[0], 0);
  assert.equal(Array.from(q.subarray(0, cols)), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.is(scales[1], Math.fround(100 / 127));
  assert.is(q[cols + 3], 127);
  assert.equal(Array.from(q.subarray(cols, 2 * cols)), [0, 0, 0, 127, 1, -1, 0, 0]);
  assert.is(scales[2], 1);
  assert.equal(Array.from(q.subarray(2 * cols)), [127, 0, 2, 2, -0, -2, -2, -127].map((v) => v | 0));
  const back = dequantizeRowsQ8(q, scales, 3, cols);
  assert.equal(Array.from(back.subarray(0, cols)), [0, 0, 0, 0, 0, 0, 0, 0]);
  throwsCode(() => quantizeRowsQ8(new Float32Array([1, NaN]), 1, 2), 'BAD_INPUT', 'column 1');
  throwsCode(() => quantizeRowsQ8(new Float32Array([Infinity, 1]), 1, 2), 'BAD_INPUT', 'column 0');
  throwsCode(() => quantizeRowsQ8(new Float32Array(5), 2, 3), 'BAD_INPUT', 'rows * cols = 6');
});

// ---------------------------------------------------------------------------------------------
// weights file: round trips

const tinyTensors = () => Array.from(synthModel(tiny, tiny.denseOut));
let FP32: Uint8Array, INT8: Uint8Array, INT4: Uint8Array;

test('fp32 round trip: every value equal, layout, alignment', () => {
  const tensors = tinyTensors();
  FP32 = encodeWeightsFile(opts('fp32'), tensors);
  const f = readWeightsFile(FP32);
  assert.is(f.header.format, 'instructor-wasm-weights');
  assert.is(f.header.version, 1);
  assert.equal(f.header.config, toHfConfig(tiny));
  assert.equal(f.header.model, opts('fp32').model);
  assert.is(f.dataStart % 64, 0);
  assert.is(FP32.length, f.dataStart + f.header.data_bytes);
  assert.equal(f.header.tensors.map((e) => e.name), tensors.map((t) => t.name));
  for (const t of tensors) {
    const { entry, data } = f.tensor(t.name);
    assert.is(entry.dtype, 'f32');
    assert.is(entry.offset % 64, 0);
    assert.is((f.dataStart + entry.offset) % 64, 0);
    assert.equal(entry.shape, t.shape);
    assert.instance(data, Float32Array);
    assert.ok((data as Float32Array).buffer === FP32.buffer, `${t.name} is a view`);
    assert.equal(Array.from(data as Float32Array), Array.from(t.data), t.name);
  }
  const p = parseWeightsPreamble(FP32.subarray(0, 64));
  assert.is(p.version, 1);
  assert.is(p.headerCrc, crc32(FP32.subarray(64, 64 + p.headerLength)));
  throwsCode(() => f.tensor('nope.weight'), 'UNKNOWN_TENSOR', 'nope.weight');
});

test('int8 round trip: q8 equals quantizeRowsQ8, f32 for norms and relative bias', () => {
  const tensors = tinyTensors();
  INT8 = encodeWeightsFile(opts('int8'), tensors);
  const f = readWeightsFile(INT8);
  for (const t of tensors) {
    const { entry, data } = f.tensor(t.name);
    assert.is(entry.offset % 64, 0);
    const isQ8 = t.shape.length === 2 && !t.name.endsWith('relative_attention_bias.weight');
    assert.is(entry.dtype, isQ8 ? 'q8' : 'f32', t.name);
    if (isQ8) {
      const [rows, cols] = t.shape;
      assert.is(entry.bytes, Math.ceil(rows * cols / 64) * 64 + 4 * rows);
      const want = quantizeRowsQ8(t.data, rows, cols);
      const got = data as { q: Int8Array; scales: Float32Array };
      assert.equal(Array.from(got.q), Array.from(want.q), t.name);
      assert.equal(Array.from(got.scales), Array.from(want.scales), t.name);
      assert.ok(got.q.buffer === INT8.buffer && got.scales.buffer === INT8.buffer, 'views');
      // padding between q and scales is zero
      const start = f.dataStart + entry.offset;
      for (let i = start + rows * cols; i < start + Math.ceil(rows * cols / 64) * 64; i++) assert.is(INT8[i], 0);
    } else {
      assert.equal(Array.from(data as Float32Array), Array.from(t.data), t.name);
    }
  }
  for (const n of ['shared.weight', DENSE_WEIGHT, 'encoder.block.1.layer.1.DenseReluDense.wo.weight']) assert.is(f.tensor(n).entry.dtype, 'q8');
  assert.is(f.tensor('encoder.final_layer_norm.weight').entry.dtype, 'f32');
  assert.is(f.tensor('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight').entry.dtype, 'f32');
  assert.ok(INT8.length < FP32.length / 3);
});

test('int4 round trip: q4 equals quantizeGroupsQ4 (G = 32), f32 for norms and relative bias, q8 for the first half of the FFNs and the Dense head; streaming writer identical', async () => {
  const tensors = tinyTensors();
  INT4 = encodeWeightsFile(opts('int4'), tensors);
  const f = readWeightsFile(INT4);
  const kinds = new Set<string>();
  for (const t of tensors) {
    const { entry, data } = f.tensor(t.name);
    assert.is(entry.offset % 64, 0);
    const is2d = t.shape.length === 2 && !t.name.endsWith('relative_attention_bias.weight');
    // tiny has 2 layers: layer 0's feed-forward weights are the first half
    const keepsQ8 = t.name === DENSE_WEIGHT || t.name.startsWith('encoder.block.0.layer.1.DenseReluDense.');
    const want = !is2d ? 'f32' : keepsQ8 ? 'q8' : 'q4';
    assert.is(entry.dtype, want, t.name);
    kinds.add(want);
    if (want === 'q8') {
      const q = quantizeRowsQ8(t.data, t.shape[0], t.shape[1]);
      const got = data as { q: Int8Array; scales: Float32Array };
      assert.equal(Array.from(got.q), Array.from(q.q), t.name);
      assert.equal(Array.from(got.scales), Array.from(q.scales), t.name);
    } else if (want === 'q4') {
      const [rows, cols] = t.shape;
      const codeBytes = rows * cols / 2;
      assert.is(entry.bytes, Math.ceil(codeBytes / 64) * 64 + 4 * rows * cols / 32);
      const want = quantizeGroupsQ4(t.data, rows, cols, 32);
      const got = data as { q4: Uint8Array; scales: Float32Array; group: number };
      assert.is(got.group, 32);
      assert.equal(Array.from(got.q4), Array.from(want.q), t.name);
      assert.equal(Array.from(got.scales), Array.from(want.scales), t.name);
      assert.ok(got.q4.buffer === INT4.buffer && got.scales.buffer === INT4.buffer, 'views');
      // values round trip within two steps of the group scale (half a step, or clipping by the scale search)
      const back = dequantizeGroupsQ4(got.q4, got.scales, rows, cols, 32);
      for (let i = 0; i < back.length; i++) assert.ok(Math.abs(back[i] - t.data[i]) <= 2 * Math.abs(got.scales[Math.floor(i / 32)]) * 1.000001, `${t.name}[${i}]`);
      const start = f.dataStart + entry.offset;
      for (let i = start + codeBytes; i < start + Math.ceil(codeBytes / 64) * 64; i++) assert.is(INT4[i], 0);
    } else {
      assert.equal(Array.from(data as Float32Array), Array.from(t.data), t.name);
    }
  }
  assert.equal([...kinds].sort(), ['f32', 'q4', 'q8']);
  assert.ok(INT4.length < INT8.length * 0.7, `int4 ${INT4.length} bytes vs int8 ${INT8.length}`);
  assert.equal(encodeWeightsFile(opts('int4'), tinyTensors()), INT4, 'deterministic');
  const dir = mkdtempSync(join(tmpdir(), 'instr-wf4-'));
  try {
    const a = join(dir, 'a.bin');
    await writeWeightsFile(a, { ...opts('int4'), layout: layout() }, synthModel(tiny, tiny.denseOut));
    assert.equal(new Uint8Array(readFileSync(a)), INT4, 'streaming writer with layout');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // which layers keep q8 needs the layer count
  throwsCode(() => encodeWeightsFile({ ...opts('int4'), config: {} }, tensors), 'BAD_INPUT', 'int4 needs options.config.num_layers');
  // a 2-D tensor whose cols is not a multiple of 32 falls back to q8
  const odd = readWeightsFile(encodeWeightsFile(opts('int4'), [{ name: 'x.weight', shape: [3, 48], data: new Float32Array(144).fill(0.5) }]));
  assert.is(odd.tensor('x.weight').entry.dtype, 'q8');
});

test('gaps between tensors are zero, data_bytes is 64-aligned, deterministic', () => {
  const { header, dataStart } = parseWeightsHeader(INT8);
  let pos = 0;
  for (const e of header.tensors) {
    for (let i = pos; i < e.offset; i++) assert.is(INT8[dataStart + i], 0);
    pos = e.offset + e.bytes;
  }
  assert.is(header.data_bytes % 64, 0);
  assert.equal(encodeWeightsFile(opts('int8'), tinyTensors()), INT8);
});

test('unaligned input buffer: tensors are still readable (copies)', () => {
  const shifted = new Uint8Array(FP32.length + 1).subarray(1);
  shifted.set(FP32);
  const f = readWeightsFile(shifted);
  const t = tinyTensors()[3];
  assert.equal(Array.from(f.tensor(t.name).data as Float32Array), Array.from(t.data));
});

test('streaming writer is byte-identical to encodeWeightsFile (with and without layout, sync and async)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'instr-wf-'));
  try {
    for (const dtype of ['int8', 'fp32'] as const) {
      const want = dtype === 'int8' ? INT8 : FP32;
      const a = join(dir, `a-${dtype}.bin`);
      await writeWeightsFile(a, { ...opts(dtype), layout: layout() }, synthModel(tiny, tiny.denseOut));
      assert.equal(new Uint8Array(readFileSync(a)), want, `${dtype} with layout`);
      const b = join(dir, `b-${dtype}.bin`);
      async function* gen() { for (const t of synthModel(tiny, tiny.denseOut)) { await Promise.resolve(); yield t; } }
      await writeWeightsFile(b, opts(dtype), gen());
      assert.equal(new Uint8Array(readFileSync(b)), want, `${dtype} async without layout`);
      assert.not.ok(existsSync(`${b}.data.tmp`), 'temporary file removed');
    }
    // layout mismatch is refused
    const c = join(dir, 'c.bin');
    const wrong = layout();
    wrong[1] = { ...wrong[1], shape: [16, 32] };
    try {
      await writeWeightsFile(c, { ...opts('int8'), layout: wrong }, synthModel(tiny, tiny.denseOut));
      assert.unreachable('layout mismatch');
    } catch (e) {
      assert.instance(e, InstructorError);
      assert.is((e as InstructorError).code, 'BAD_INPUT');
      assert.match((e as Error).message, 'encoder.block.0.layer.0.SelfAttention.q.weight');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer refuses bad input', () => {
  const t = tinyTensors();
  throwsCode(() => encodeWeightsFile(opts('int8'), [t[0], t[0]]), 'BAD_INPUT', 'duplicate tensor "shared.weight"');
  throwsCode(() => encodeWeightsFile({ ...opts('int8'), dtype: 'int2' as 'int8' }, t), 'BAD_INPUT', 'dtype must be "int8", "int4" or "fp32", got "int2"');
  throwsCode(() => encodeWeightsFile(opts('fp32'), [{ name: 'x', shape: [2, 3], data: new Float32Array(5) }]), 'BAD_INPUT', '6 values');
  throwsCode(() => encodeWeightsFile(opts('fp32'), [{ name: 'x', shape: [2, -3], data: new Float32Array(6) }]), 'BAD_INPUT', 'shape');
});

// ---------------------------------------------------------------------------------------------
// hostile files

/** Re-encode a file with its header changed (valid preamble + header CRC, data copied). */
function withHeader(file: Uint8Array, edit: (h: any) => unknown, raw?: string): Uint8Array {
  const { header, dataStart } = parseWeightsHeader(file);
  const h = JSON.parse(JSON.stringify(header));
  const r = edit(h);
  const text = raw ?? JSON.stringify(r === undefined ? h : r);
  return assemble(enc.encode(text), file.subarray(dataStart));
}

function assemble(headerBytes: Uint8Array, data: Uint8Array, version = 1): Uint8Array {
  const start = Math.ceil((64 + headerBytes.length) / 64) * 64;
  const out = new Uint8Array(start + data.length);
  out.set(enc.encode('INSTRWSM'));
  const dv = new DataView(out.buffer);
  dv.setUint32(8, version, true);
  dv.setUint32(12, headerBytes.length, true);
  dv.setUint32(16, crc32(headerBytes), true);
  out.set(headerBytes, 64);
  out.set(data, start);
  return out;
}

const T0 = 'shared.weight';
const T1 = 'encoder.block.0.layer.0.SelfAttention.q.weight';

test('sanity: withHeader without edits reads back', () => {
  const f = readWeightsFile(withHeader(INT8, () => undefined));
  assert.is(f.header.tensors.length, t5TensorShapes(tiny).length + 1);
});

test('hostile: foreign file, version, preamble', () => {
  const foreign = INT8.slice();
  foreign.set(enc.encode('PK\x03\x04abcd'));
  badFile(() => readWeightsFile(foreign), /magic got "PK\\x03\\x04abcd", expected "INSTRWSM"/);
  badFile(() => readWeightsFile(new Uint8Array(readFileSync(`${GOLDEN_DIR}tiny-st-safetensors/model.safetensors`))), 'magic');
  const v2 = INT8.slice();
  new DataView(v2.buffer).setUint32(8, 2, true);
  badFile(() => readWeightsFile(v2), 'version got 2, expected 1');
  const reserved = INT8.slice();
  reserved[40] = 1;
  badFile(() => readWeightsFile(reserved), 'reserved byte 40');
  const hugeHeader = INT8.slice();
  new DataView(hugeHeader.buffer).setUint32(12, 0xffffffff, true);
  badFile(() => readWeightsFile(hugeHeader), 'header length got 4294967295');
  badFile(() => readWeightsFile(new Uint8Array(0)), 'truncated: 0 bytes');
  badFile(() => parseWeightsPreamble(INT8.subarray(0, 63)), 'truncated: 63 bytes');
});

test('hostile: truncated header and data, trailing bytes', () => {
  const { headerLength } = parseWeightsPreamble(INT8);
  badFile(() => parseWeightsHeader(INT8.subarray(0, 64 + headerLength - 1)), `truncated header: got ${headerLength - 1} of its ${headerLength} bytes`);
  badFile(() => readWeightsFile(INT8.subarray(0, 100)), 'truncated header');
  badFile(() => readWeightsFile(INT8.subarray(0, INT8.length - 1)), `truncated: ${INT8.length - 1} bytes, expected ${INT8.length}`);
  const { dataStart } = parseWeightsHeader(INT8);
  badFile(() => readWeightsFile(INT8.subarray(0, dataStart)), 'truncated');
  const longer = new Uint8Array(INT8.length + 64);
  longer.set(INT8);
  badFile(() => readWeightsFile(longer), '64 trailing bytes');
});

test('hostile: header CRC, not UTF-8, not JSON, wrong top-level types', () => {
  const flipped = INT8.slice();
  flipped[70] ^= 1;
  badFile(() => readWeightsFile(flipped), /header CRC-32 mismatch: got [0-9a-f]{8}, expected [0-9a-f]{8}/);
  const data = INT8.subarray(parseWeightsHeader(INT8).dataStart);
  badFile(() => readWeightsFile(assemble(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), data)), 'not valid UTF-8');
  badFile(() => readWeightsFile(assemble(enc.encode('{"format": "instructor-wasm-weights",'), data)), 'not valid JSON');
  badFile(() => readWeightsFile(assemble(enc.encode('['.repeat(200000) + ']'.repeat(200000)), data)), /header JSON nests 200000 deep, expected at most 64/);
  badFile(() => readWeightsFile(assemble(enc.encode('null'), data)), 'header got null, expected a JSON object');
  badFile(() => readWeightsFile(assemble(enc.encode('[1]'), data)), 'header got an array');
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.format = 'gguf'; })), 'format got "gguf"');
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.version = 2; })), 'header version got 2, expected 1');
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.config = 'x'; })), 'config got "x"');
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.model = null; })), 'model got null');
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.tensors = {}; })), 'tensors got an object with no keys, expected an array');
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.data_bytes = '1024'; })), 'data_bytes got "1024"');
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.data_bytes = -64; })), 'data_bytes got -64');
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.data_bytes = 2 ** 60; })), 'data_bytes got');
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.data_bytes += 1; })), 'multiple of 64');
  // data_bytes larger than the file: truncated, and no allocation of that size
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.data_bytes = 2 ** 50; })), /truncated: \d+ bytes, expected/);
});

test('hostile: tensor entry fields of the wrong type', () => {
  const edit = (i: number, f: (e: any) => void) => withHeader(INT8, (h: WeightsHeader) => { f(h.tensors[i]); });
  badFile(() => readWeightsFile(withHeader(INT8, (h) => { h.tensors[2] = 7; })), 'tensors[2] got 7, expected an object');
  badFile(() => readWeightsFile(edit(0, (e) => { e.name = 12; })), 'tensors[0].name got 12');
  badFile(() => readWeightsFile(edit(0, (e) => { e.name = ''; })), 'tensors[0].name got ""');
  badFile(() => readWeightsFile(edit(0, (e) => { e.name = 'x'.repeat(100000); e.dtype = 1; })), `tensor "${'x'.repeat(100)}...": dtype got 1`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.dtype = 'f16'; })), `tensor "${T0}": dtype got "f16", expected "f32", "q8" or "q4"`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = '32128x32'; })), `tensor "${T0}": shape got "32128x32"`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = []; })), `tensor "${T0}": shape got rank 0`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.offset = '0'; })), `tensor "${T0}": offset got "0"`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.bytes = null; })), `tensor "${T0}": bytes got null`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.crc32 = 12345; })), `tensor "${T0}": crc32 got 12345, expected 8 lowercase hex digits`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.crc32 = 'DEADBEEF'; })), 'crc32 got "DEADBEEF"');
});

test('hostile: shapes with bad dims, huge products, q8 rank', () => {
  const edit = (i: number, f: (e: any) => void) => withHeader(INT8, (h: WeightsHeader) => { f(h.tensors[i]); });
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [32128, -32]; })), `tensor "${T0}": shape[1] got -32, expected a positive integer`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [32128, 0]; })), 'shape[1] got 0');
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [32128.5, 32]; })), 'shape[0] got 32128.5');
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [32128, '32']; })), 'shape[1] got "32"');
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [1e300, 32]; })), 'shape[0] got 1e+300');
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [2 ** 31, 2 ** 31]; })), 'more than 2^40 elements');
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = new Array(9).fill(2); })), 'rank 9');
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [32128 * 32]; })), `tensor "${T0}": q8 needs a 2-D shape`);
  // a huge but in-range shape with bytes to match: caught as outside the data section
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [2 ** 20, 2 ** 19]; e.bytes = 2 ** 39 + 4 * 2 ** 20; })), `tensor "${T0}": [offset 0, end`);
});

test('hostile: bytes vs dtype and shape, offsets outside, misaligned, overlapping, duplicates', () => {
  const edit = (i: number, f: (e: any) => void) => withHeader(INT8, (h: WeightsHeader) => { f(h.tensors[i]); });
  const q8bytes = Math.ceil(32128 * 32 / 64) * 64 + 4 * 32128;
  badFile(() => readWeightsFile(edit(0, (e) => { e.bytes = 32128 * 32 * 4; })), `tensor "${T0}": bytes got ${32128 * 32 * 4}, expected ${q8bytes} for q8 [32128,32]`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.dtype = 'f32'; })), `bytes got ${q8bytes}, expected ${32128 * 32 * 4} for f32`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.offset = 32; })), `tensor "${T0}": offset 32 is not a multiple of 64`);
  badFile(() => readWeightsFile(edit(1, (e) => { e.offset = 2 ** 40; })), `tensor "${T1}": [offset ${2 ** 40}`);
  badFile(() => readWeightsFile(edit(1, (e) => { e.offset = -64; })), `tensor "${T1}": offset got -64`);
  const { header } = parseWeightsHeader(INT8);
  const last = header.tensors[header.tensors.length - 1];
  badFile(() => readWeightsFile(edit(header.tensors.length - 1, (e) => { e.offset = header.data_bytes; })), `tensor "${last.name}": [offset ${header.data_bytes}`);
  badFile(() => readWeightsFile(edit(1, (e) => { e.offset = 64; })), `tensor "${T1}" at offset 64 overlaps tensor "${T0}"`);
  badFile(() => readWeightsFile(edit(1, (e) => { e.offset = header.tensors[2].offset; })), 'overlaps');
  badFile(() => readWeightsFile(edit(2, (e) => { e.name = T1; })), `duplicate tensor "${T1}" (tensors[2])`);
});

test('hostile: tensor CRC mismatch when verifying; verifyTensor', () => {
  const { header, dataStart } = parseWeightsHeader(INT8);
  const e = header.tensors.find((t) => t.name === T1)!;
  const bad = INT8.slice();
  bad[dataStart + e.offset + 5] ^= 0x40;
  badFile(() => readWeightsFile(bad), new RegExp(`tensor "${T1.replace(/\./g, '\\.')}": CRC-32 mismatch, got [0-9a-f]{8}, expected ${e.crc32}`));
  readWeightsFile(bad, { verify: false }); // opening without verification works
  badFile(() => verifyTensor(bad.subarray(dataStart), e), 'CRC-32 mismatch');
  verifyTensor(INT8.subarray(dataStart), e);
  badFile(() => verifyTensor(INT8.subarray(dataStart, dataStart + e.offset + 10), e), `data section is ${e.offset + 10} bytes, expected at least ${e.offset + e.bytes} (truncated)`);
  badFile(() => verifyTensorBytes(e, bad.subarray(dataStart + e.offset, dataStart + e.offset + e.bytes)), 'CRC-32 mismatch');
  verifyTensorBytes(e, INT8.subarray(dataStart + e.offset, dataStart + e.offset + e.bytes));
  badFile(() => verifyTensorBytes(e, INT8.subarray(0, 10)), `got 10 bytes, expected ${e.bytes}`);
  // corrupt a q8 scale into NaN (with a matching crc): refused on decode
  const nan = INT8.slice();
  const scalesAt = dataStart + e.offset + Math.ceil(e.shape[0] * e.shape[1] / 64) * 64;
  new DataView(nan.buffer).setFloat32(scalesAt + 4, NaN, true);
  const fixed = withHeader(nan, (h: WeightsHeader) => {
    const t = h.tensors.find((x) => x.name === T1)!;
    t.crc32 = crc32Hex(crc32(nan.subarray(dataStart + t.offset, dataStart + t.offset + t.bytes)));
  });
  badFile(() => readWeightsFile(fixed).tensor(T1), `tensor "${T1}": scale of row 1 got NaN`);
});

test('hostile: q4 entries (rank, cols, bytes, dtype swaps, non-finite group scales)', () => {
  const edit = (i: number, f: (e: any) => void) => withHeader(INT4, (h: WeightsHeader) => { f(h.tensors[i]); });
  readWeightsFile(withHeader(INT4, () => undefined));
  const q4bytes = 32128 * 16 + 4 * 32128; // [32128, 32]: 16 code bytes and one scale per row
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [32128 * 32]; })), `tensor "${T0}": q4 needs a 2-D shape`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.shape = [21419, 48]; })), `tensor "${T0}": q4 needs cols a multiple of 32, got shape [21419,48]`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.bytes = Math.ceil(32128 * 32 / 64) * 64 + 4 * 32128; })), `bytes got ${Math.ceil(32128 * 32 / 64) * 64 + 4 * 32128}, expected ${q4bytes} for q4 [32128,32]`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.dtype = 'q8'; })), `bytes got ${q4bytes}, expected ${Math.ceil(32128 * 32 / 64) * 64 + 4 * 32128} for q8`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.dtype = 'f32'; })), `bytes got ${q4bytes}, expected ${32128 * 32 * 4} for f32`);
  // a reader that does not know a dtype refuses it by name (as readers before q4 refuse "q4")
  badFile(() => readWeightsFile(edit(0, (e) => { e.dtype = 'q5'; })), `tensor "${T0}": dtype got "q5", expected "f32", "q8" or "q4"`);
  badFile(() => readWeightsFile(edit(0, (e) => { e.dtype = 'Q4'; })), 'dtype got "Q4"');
  // a non-finite group scale (with a matching crc) is refused on decode; a negative one is valid
  const { header, dataStart } = parseWeightsHeader(INT4);
  const e = header.tensors.find((t) => t.name === T1)!; // [32, 32]: one group per row
  const scalesAt = dataStart + e.offset + Math.ceil(e.shape[0] * e.shape[1] / 2 / 64) * 64;
  for (const [v, ok] of [[Infinity, false], [NaN, false], [-0.5, true]] as const) {
    const b = INT4.slice();
    new DataView(b.buffer).setFloat32(scalesAt + 4 * 3, v, true);
    const fixed = withHeader(b, (h: WeightsHeader) => {
      const t = h.tensors.find((x) => x.name === T1)!;
      t.crc32 = crc32Hex(crc32(b.subarray(dataStart + t.offset, dataStart + t.offset + t.bytes)));
    });
    if (ok) readWeightsFile(fixed).tensor(T1);
    else badFile(() => readWeightsFile(fixed).tensor(T1), `tensor "${T1}": scale of group 0 of row 3 got ${v}, expected a finite number`);
  }
});

test('hostile: random corruption never crashes with anything but InstructorError', () => {
  let s = 99;
  const rnd = (n: number) => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s % n; };
  const { dataStart } = parseWeightsHeader(INT8);
  for (let k = 0; k < 300; k++) {
    const b = INT8.slice(0, dataStart + 4096);
    const flips = 1 + rnd(4);
    for (let f = 0; f < flips; f++) b[rnd(dataStart)] = rnd(256);
    // keep the header crc valid half the time so JSON/field checks get exercised
    if (k % 2) {
      const len = new DataView(b.buffer).getUint32(12, true);
      if (64 + len <= b.length) new DataView(b.buffer).setUint32(16, crc32(b.subarray(64, 64 + len)), true);
    }
    try {
      readWeightsFile(b);
    } catch (e) {
      if (!(e instanceof InstructorError)) return assert.unreachable(`iteration ${k}: ${String(e)}`);
      assert.ok(e.code === 'BAD_FILE', e.message);
    }
  }
});

test.run();
