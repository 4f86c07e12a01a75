import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import * as zlib from 'node:zlib';
import { InstructorError, type InstructorErrorCode } from '../src/errors.js';
import { parseT5Config } from '../src/engine/config.js';
import { t5TensorShapes } from '../src/engine/tensors.js';
import { bytesSource, type ByteSource } from '../src/format/checkpoint/source.js';
import { fileSource } from '../src/format/checkpoint/source-node.js';
import { openCheckpointFile, type TensorReader } from '../src/format/checkpoint/index.js';
import { openSafetensors, f16ToF32, bf16ToF32, decodeFloats } from '../src/format/checkpoint/safetensors.js';
import { openTorchBin } from '../src/format/checkpoint/torch-bin.js';
import { openZip } from '../src/format/checkpoint/torch-zip.js';
import { crc32 } from '../src/format/crc32.js';
import { unpickle } from '../src/format/checkpoint/pickle.js';
import { rejects } from './support/assert.js';
import { GOLDEN_DIR } from './support/golden.js';

const GOLDEN = GOLDEN_DIR.replace(/\/$/, '');

import {
  cat, crcBitwise, enc, f32bytes, le16, le32, le64, makeZip, P, safetensorsFile, stateDictPickle, torchZip, u32,
} from './support/checkpoint-files.js';

// ---------------------------------------------------------------- real checkpoints

async function compareFolders(sub: string, expected: Array<[string, number[]]>, extraInBin: string[]): Promise<void> {
  const st = await openCheckpointFile(await fileSource(`${GOLDEN}/tiny-st-safetensors/${sub}model.safetensors`), 'safetensors');
  const bin = await openCheckpointFile(await fileSource(`${GOLDEN}/tiny-st-bin/${sub}pytorch_model.bin`), 'torch');
  try {
    assert.equal(st.names().slice().sort(), expected.map(([n]) => n).sort(), 'safetensors names = t5TensorShapes');
    assert.equal(bin.names().slice().sort(), [...expected.map(([n]) => n), ...extraInBin].sort(), 'torch names');
    for (const [name, shape] of expected) {
      assert.equal(st.info(name), { dtype: 'F32', shape }, `safetensors info ${name}`);
      assert.equal(bin.info(name), { dtype: 'F32', shape }, `torch info ${name}`);
      const a = await st.read(name), b = await bin.read(name);
      assert.is(a.length, shape.reduce((x, y) => x * y, 1));
      const ua = u32(a), ub = u32(b);
      let same = ua.length === ub.length;
      for (let i = 0; same && i < ua.length; i++) same = ua[i] === ub[i];
      assert.ok(same, `bit-exact ${name}`);
    }
  } finally {
    await st.close?.();
    await bin.close?.();
  }
}

test('tiny encoder: model.safetensors and pytorch_model.bin agree bit-exactly, names = t5TensorShapes', async () => {
  const cfg = parseT5Config(JSON.parse(await readFile(`${GOLDEN}/tiny-st-bin/config.json`, 'utf8')));
  const shapes = t5TensorShapes(cfg);
  // torch.save also wrote the tied `encoder.embed_tokens.weight` (its own storage, same values); safetensors dropped it.
  await compareFolders('', shapes, ['encoder.embed_tokens.weight']);
  const bin = await openTorchBin(await fileSource(`${GOLDEN}/tiny-st-bin/pytorch_model.bin`));
  const shared = await bin.read('shared.weight');
  const tied = await bin.read('encoder.embed_tokens.weight');
  assert.equal(u32(tied), u32(shared), 'embed_tokens tied to shared');
  // synth-v1 check values from the golden README
  assert.equal(Array.from(shared.subarray(0, 4)), [0.755548894405365, -0.48135310411453247, 0.503208339214325, 0.927586019039154]);
  await bin.close?.();
});

test('tiny 2_Dense: both formats agree bit-exactly', async () => {
  await compareFolders('2_Dense/', [['linear.weight', [24, 32]]], []);
});

test('both readers refuse unknown names with UNKNOWN_TENSOR', async () => {
  for (const [path, kind] of [['tiny-st-safetensors/2_Dense/model.safetensors', 'safetensors'], ['tiny-st-bin/2_Dense/pytorch_model.bin', 'torch']] as const) {
    const r = await openCheckpointFile(bytesSource(new Uint8Array(await readFile(`${GOLDEN}/${path}`))), kind);
    await rejects(() => r.info('nope.weight'), 'UNKNOWN_TENSOR', /nope\.weight/);
    await rejects(r.read('nope.weight'), 'UNKNOWN_TENSOR', /nope\.weight/);
  }
  await rejects(() => openCheckpointFile(bytesSource(new Uint8Array(8)), 'onnx' as 'torch'), 'BAD_INPUT', /kind/);
});

test('a real file truncated at several points gives BAD_FILE', async () => {
  const full = new Uint8Array(await readFile(`${GOLDEN}/tiny-st-bin/2_Dense/pytorch_model.bin`));
  for (const cut of [0, 10, 100, 1000, 3000, full.length - 200, full.length - 22, full.length - 1]) {
    await rejects(openTorchBin(bytesSource(full.subarray(0, cut))), 'BAD_FILE', /truncated|too small|not a zip/);
  }
  const st = new Uint8Array(await readFile(`${GOLDEN}/tiny-st-safetensors/2_Dense/model.safetensors`));
  for (const cut of [0, 5, 8, 50, st.length - 1]) {
    await rejects(openSafetensors(bytesSource(st.subarray(0, cut))), 'BAD_FILE', /too small|beyond|span|outside/);
  }
});

// ---------------------------------------------------------------- float conversion

test('F16 and BF16 conversion against known values', () => {
  const f16: Array<[number, number]> = [
    [0x3c00, 1], [0xc100, -2.5], [0x7bff, 65504], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x0400, 2 ** -14],
    [0x8001, -(2 ** -24)], [0x0000, 0], [0x7c00, Infinity], [0xfc00, -Infinity], [0x3555, 0.333251953125],
  ];
  for (const [h, v] of f16) assert.is(f16ToF32(h), v, `f16 0x${h.toString(16)}`);
  assert.ok(Object.is(f16ToF32(0x8000), -0), 'f16 -0');
  assert.ok(Number.isNaN(f16ToF32(0x7e00)), 'f16 nan');
  const bf: Array<[number, number]> = [
    [0x3f80, 1], [0xc020, -2.5], [0x477f, 65280], [0x0001, 2 ** -133], [0x7f80, Infinity], [0xff80, -Infinity], [0x7f7f, 3.3895313892515355e38],
  ];
  for (const [h, v] of bf) assert.is(bf16ToF32(h), v, `bf16 0x${h.toString(16)}`);
  assert.ok(Number.isNaN(bf16ToF32(0x7fc0)), 'bf16 nan');
  // the bulk decoders agree with the scalar ones on every 16-bit pattern
  const all = new Uint8Array(new Uint16Array(Array.from({ length: 65536 }, (_, i) => i)).buffer);
  const a = decodeFloats(all, 'F16'), b = decodeFloats(all, 'BF16');
  for (let i = 0; i < 65536; i++) {
    const x = f16ToF32(i), y = bf16ToF32(i);
    if (!(Object.is(a[i], Math.fround(x)) || (Number.isNaN(a[i]) && Number.isNaN(x)))) assert.unreachable(`F16 0x${i.toString(16)}: ${a[i]} vs ${x}`);
    if (!(Object.is(b[i], y) || (Number.isNaN(b[i]) && Number.isNaN(y)))) assert.unreachable(`BF16 0x${i.toString(16)}`);
  }
  // NaN payload / sign bits survive the bulk F16 path
  assert.is(new Uint32Array(decodeFloats(new Uint8Array([0x01, 0xfe]), 'F16').buffer)[0], 0xffc02000);
});

test('safetensors F16 / BF16 tensors read as float32; unsupported dtype is named', async () => {
  const data = new Uint8Array([0x00, 0x3c, 0x00, 0xc1, 0xff, 0x7b, 0x01, 0x00, /* bf16 */ 0x80, 0x3f, 0x20, 0xc0, /* i64 */ 1, 0, 0, 0, 0, 0, 0, 0]);
  const file = safetensorsFile({
    __metadata__: { format: 'pt' },
    h: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 8] },
    b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
    ids: { dtype: 'I64', shape: [1], data_offsets: [12, 20] },
    empty: { dtype: 'F32', shape: [0, 4], data_offsets: [20, 20] },
  }, data);
  const r = await openSafetensors(bytesSource(file));
  assert.equal(r.names(), ['h', 'b', 'ids', 'empty']);
  assert.equal(Array.from(await r.read('h')), [1, -2.5, 65504, 2 ** -24]);
  assert.equal(Array.from(await r.read('b')), [1, -2.5]);
  assert.is((await r.read('empty')).length, 0);
  assert.equal(r.info('ids'), { dtype: 'I64', shape: [1] });
  await rejects(r.read('ids'), 'BAD_FILE', /"ids".*I64/);
});

// ---------------------------------------------------------------- synthetic torch files

test('torch: OrderedDict root with _metadata BUILD, _rebuild_parameter, half/bf16 storages, deflated data.pkl', async () => {
  const pkl = stateDictPickle([
    { name: 'a.weight', key: '0', numel: 6, shape: [2, 3], param: true },
    { name: 'h', key: '1', type: 'HalfStorage', numel: 3, shape: [3] },
    { name: 'b', key: '2', type: 'BFloat16Storage', numel: 2, shape: [2] },
  ], { ordered: true });
  const file = torchZip(pkl, {
    '0': f32bytes([1, 2, 3, 4, 5, 6]),
    '1': new Uint8Array([0x00, 0x3c, 0x00, 0xc1, 0x00, 0x7c]),
    '2': new Uint8Array([0x80, 0x3f, 0x20, 0xc0]),
  }, { byteorder: 'little', deflatePkl: true });
  const r = await openTorchBin(bytesSource(file));
  assert.equal(r.names(), ['a.weight', 'h', 'b']);
  assert.equal(r.info('a.weight'), { dtype: 'F32', shape: [2, 3] });
  assert.equal(r.info('h'), { dtype: 'F16', shape: [3] });
  assert.equal(Array.from(await r.read('a.weight')), [1, 2, 3, 4, 5, 6]);
  assert.equal(Array.from(await r.read('h')), [1, -2.5, Infinity]);
  assert.equal(Array.from(await r.read('b')), [1, -2.5]);
});

test('torch: strided (transposed) views and storage offsets are gathered', async () => {
  // storage 0 = [0..11]; t = storage viewed [3,4] then transposed -> shape [4,3], stride [1,4]
  const file = torchZip(stateDictPickle([
    { name: 't', key: '0', numel: 12, shape: [4, 3], stride: [1, 4] },
    { name: 'row2', key: '0', numel: 12, offset: 8, shape: [4] },
    { name: 'col1', key: '0', numel: 12, offset: 1, shape: [3], stride: [4] },
    { name: 'scalar', key: '0', numel: 12, offset: 5, shape: [] },
  ]), { '0': f32bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) });
  const r = await openTorchBin(bytesSource(file));
  assert.equal(Array.from(await r.read('t')), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  assert.equal(Array.from(await r.read('row2')), [8, 9, 10, 11]);
  assert.equal(Array.from(await r.read('col1')), [1, 5, 9]);
  assert.equal(Array.from(await r.read('scalar')), [5]);
});

test('zip64: EOCD record + locator + zip64 extra fields are read', async () => {
  const pkl = stateDictPickle([{ name: 'w', key: '0', numel: 4, shape: [2, 2] }]);
  const file = torchZip(pkl, { '0': f32bytes([1.5, -2, 3, 4]) }, { zip64: true, byteorder: 'little' });
  const zip = await openZip(bytesSource(file));
  assert.equal(zip.entries.map((e) => e.name), ['archive/data.pkl', 'archive/byteorder', 'archive/data/0', 'archive/version']);
  assert.is(zip.entries[2].uncompressedSize, 16);
  const r = await openTorchBin(bytesSource(file));
  assert.equal(Array.from(await r.read('w')), [1.5, -2, 3, 4]);
});

test('zip: storage bytes are CRC-checked, local headers must agree with the central directory, entries may not share bytes', async () => {
  const pkl = stateDictPickle([{ name: 'a', key: '0', numel: 4, shape: [4] }, { name: 'b', key: '1', numel: 4, shape: [4] }]);
  const file = torchZip(pkl, { '0': f32bytes([1, 2, 3, 4]), '1': f32bytes([5, 6, 7, 8]) });
  const zip = await openZip(bytesSource(file));
  const [e0, e1] = ['archive/data/0', 'archive/data/1'].map((n) => zip.entry(n)!);
  const data0 = e0.localHeaderOffset + 30 + enc.encode(e0.name).length; // makeZip writes no local extra field
  assert.equal(Array.from(await (await openTorchBin(bytesSource(file))).read('a')), [1, 2, 3, 4]);
  const edited = (edit: (b: Uint8Array, dv: DataView) => void) => {
    const b = file.slice();
    edit(b, new DataView(b.buffer));
    return openTorchBin(bytesSource(b));
  };
  // a flipped storage byte (data.pkl's CRC is fine): different weights, unless the CRC is checked
  await rejects((await edited((b) => { b[data0 + 2] ^= 0x01; })).read('a'), 'BAD_FILE', /CRC-32 of "archive\/data\/0" is 0x[0-9a-f]+, expected/);
  // the local header's extra length shifts the data by 4 bytes: read as another entry's bytes
  await rejects((await edited((b, dv) => { dv.setUint16(e0.localHeaderOffset + 28, 4, true); })).read('a'), 'BAD_FILE', /CRC-32|runs past/);
  // local header names another entry (same length), or has another CRC than the central directory
  await rejects((await edited((b) => { b[e0.localHeaderOffset + 30 + enc.encode(e0.name).length - 1] = 0x39; })).read('a'), 'BAD_FILE', /local header of "archive\/data\/0" .* says name "archive\/data\/9", the central directory "archive\/data\/0"/);
  await rejects((await edited((b, dv) => { dv.setUint32(e0.localHeaderOffset + 14, e0.crc32 ^ 1, true); })).read('a'), 'BAD_FILE', /says CRC-32 0x[0-9a-f]+, the central directory 0x/);
  // a central directory entry pointing at another entry's local header
  const central = findCentral(file, 'archive/data/1');
  assert.ok(central > 0);
  await rejects(edited((b, dv) => { dv.setUint32(central + 42, e0.localHeaderOffset, true); }), 'BAD_FILE', /zip: entry "archive\/data\/(0|1)" .* overlaps entry "archive\/data\/(0|1)"/);
  // ... or into the middle of another entry's data
  await rejects(edited((b, dv) => { dv.setUint32(central + 42, e1.localHeaderOffset - 8, true); }), 'BAD_FILE', /overlaps/);
});

/** Offset of the central directory record of entry `name` in zip `file`. */
function findCentral(file: Uint8Array, name: string): number {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const want = enc.encode(name);
  for (let i = 0; i + 46 < file.length; i++) {
    if (dv.getUint32(i, true) !== 0x02014b50 || dv.getUint16(i + 28, true) !== want.length) continue;
    if (want.every((b, k) => file[i + 46 + k] === b)) return i;
  }
  return -1;
}

test('CRC-32 matches an independent implementation (and node:zlib when present)', () => {
  const d = enc.encode('The quick brown fox jumps over the lazy dog');
  assert.is(crc32(d), 0x414fa339);
  assert.is(crc32(d), crcBitwise(d));
  const z = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;
  if (typeof z === 'function') assert.is(crc32(d), z(d));
});

// ---------------------------------------------------------------- hostile pickles

const okTail = [...P.emptyDict, ...P.stop];
const pk = (...parts: number[][]) => new Uint8Array([...P.proto, ...parts.flat()]);

test('pickle: disallowed globals are refused by name', async () => {
  for (const [m, n] of [['os', 'system'], ['builtins', 'eval'], ['__builtin__', 'getattr'], ['posix', 'system'], ['torch', 'LongStorage'], ['torch._utils', '_rebuild_qtensor']]) {
    const data = pk(P.global(m, n), P.str('echo pwned'), P.tuple1, P.reduce, P.stop);
    await rejects(() => unpickle(data), 'BAD_FILE', new RegExp(`pickle global "${m.replace(/\./g, '\\.')}\\.${n}" is not allowed`));
  }
  await rejects(() => unpickle(pk(P.global('torch.storage', '_load_from_bytes'), P.stop)), 'BAD_FILE', /"torch\.storage\._load_from_bytes" is not allowed/);
  // STACK_GLOBAL uses the same allow-list
  await rejects(() => unpickle(pk(P.sstr('os'), P.sstr('system'), [0x93], P.stop)), 'BAD_FILE', /"os\.system" is not allowed/);
  // and inside a real-looking torch file
  const evil = pk(P.emptyDict, P.str('x'), P.global('builtins', 'eval'), P.str('1'), P.tuple1, P.reduce, P.setitem, P.stop);
  await rejects(openTorchBin(bytesSource(torchZip(evil, {}))), 'BAD_FILE', /"builtins\.eval" is not allowed/);
});

test('pickle: unknown / unsupported opcodes are named with their offset', async () => {
  await rejects(() => unpickle(pk([0xff], okTail)), 'BAD_FILE', /opcode unknown \(0xff\) at offset 2/);
  await rejects(() => unpickle(pk([0x69], okTail)), 'BAD_FILE', /opcode INST \(0x69\) at offset 2/);
  await rejects(() => unpickle(pk(P.emptyTuple, [0x81], okTail)), 'BAD_FILE', /opcode NEWOBJ \(0x81\) at offset 3/);
  await rejects(() => unpickle(new Uint8Array([0x80, 9, 0x2e])), 'BAD_FILE', /protocol 9/);
});

test('pickle: stack underflow, missing MARK, truncation, calling non-callables', async () => {
  await rejects(() => unpickle(pk(P.reduce)), 'BAD_FILE', /stack underflow at offset 2/);
  await rejects(() => unpickle(pk(P.stop)), 'BAD_FILE', /stack underflow/);
  await rejects(() => unpickle(pk(P.emptyDict, P.setitem, P.stop)), 'BAD_FILE', /stack underflow/);
  await rejects(() => unpickle(pk(P.emptyList, P.tuple, P.stop)), 'BAD_FILE', /no MARK/);
  await rejects(() => unpickle(pk(P.emptyDict)), 'BAD_FILE', /without STOP/);
  await rejects(() => unpickle(pk([0x58, ...le32(1000)], P.stop)), 'BAD_FILE', /needs 1000 bytes/);
  await rejects(() => unpickle(pk(P.global('torch', 'FloatStorage'), P.emptyTuple, P.reduce, P.stop)), 'BAD_FILE', /not callable/);
  await rejects(() => unpickle(pk(P.str('x'), P.emptyTuple, P.reduce, P.stop)), 'BAD_FILE', /not callable/);
  await rejects(() => unpickle(pk(P.str('x'), P.persid, P.stop)), 'BAD_FILE', /BINPERSID/);
  await rejects(() => unpickle(pk(P.emptyList, P.emptyDict, P.build, P.stop)), 'BAD_FILE', /BUILD/);
});

test('pickle: deep nesting, huge memo indices and op counts are bounded', async () => {
  await rejects(() => unpickle(pk(new Array(5000).fill(0x28), okTail)), 'BAD_FILE', /MARKs nested deeper than 1000/);
  await rejects(() => unpickle(pk(P.emptyDict, P.longBinput(0xffffffff), P.stop)), 'BAD_FILE', /memo index 4294967295 .* too large/);
  await rejects(() => unpickle(pk(P.longBinget(0x7fffffff), P.stop)), 'BAD_FILE', /memo index 2147483647 .* never stored/);
  await rejects(() => unpickle(pk(P.binget(3), P.stop)), 'BAD_FILE', /never stored/);
  await rejects(() => unpickle(pk(new Array(100).fill(0x4e), P.stop), { maxStack: 50 }), 'BAD_FILE', /stack grows beyond 50/);
  await rejects(() => unpickle(pk(new Array(100).fill(0x4e), P.stop), { maxOps: 20 }), 'BAD_FILE', /more than 20 opcodes/);
  await rejects(() => unpickle(pk(P.none, new Array(40).fill(0).flatMap((_, i) => P.binput(i)), P.stop), { maxMemo: 10 }), 'BAD_FILE', /memo/);
  await rejects(() => unpickle(pk([0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9], P.stop)), 'BAD_FILE', /LONG1 of 9 bytes/);
  // nesting is bounded (a state dict nests 6 deep); 100 levels still unpickle
  assert.ok(Array.isArray(unpickle(pk(P.none, new Array(99).fill(0x85), P.stop))));
  await rejects(() => unpickle(pk(P.none, new Array(101).fill(0x85), P.stop)), 'BAD_FILE', /containers nest deeper than 100/);
});

test('pickle: what a small file makes the unpickler hold is bounded (objects, stored items, nesting, memo), not only bytes and opcodes', async () => {
  // PROTO, NONE, 50 million TUPLE1, STOP (50 MB): each opcode allocates a tuple around the last one
  const chain = new Uint8Array(50_000_004).fill(0x85);
  chain.set([0x80, 2, 0x4e], 0);
  chain[chain.length - 1] = 0x2e;
  await rejects(() => unpickle(chain), 'BAD_FILE', /containers nest deeper than 100 at offset 103/);
  // a list of 300 thousand empty dicts (600 KB): flat, but 300 thousand objects
  const wide = new Uint8Array(2 + 1 + 2 * 300_000 + 1);
  wide.set([0x80, 2, 0x5d], 0);
  for (let i = 3; i < wide.length - 1; i += 2) { wide[i] = 0x7d; wide[i + 1] = 0x61; }
  wide[wide.length - 1] = 0x2e;
  await rejects(() => unpickle(wide), 'BAD_FILE', /more than 250000 objects/);
  // None appended to one list 3 million times (6 MB): no new objects, but 3 million stored items
  const long = new Uint8Array(3 + 2 * 3_000_000 + 1);
  long.set([0x80, 2, 0x5d], 0);
  for (let i = 3; i < long.length - 1; i += 2) { long[i] = 0x4e; long[i + 1] = 0x61; }
  long[long.length - 1] = 0x2e;
  await rejects(() => unpickle(long), 'BAD_FILE', /containers hold more than 2000000 items/);
  // a list appended to itself: nesting grows with every APPEND
  await rejects(() => unpickle(pk(P.emptyList, P.binput(0), new Array(200).fill([0x68, 0, 0x61]).flat(), P.stop)), 'BAD_FILE', /nest deeper than 100/);
  // 1.2 million memo entries (LONG_BINPUT i, 6 MB)
  const memo = new Uint8Array(3 + 5 * 1_200_000 + 1);
  memo.set([0x80, 2, 0x4e], 0);
  for (let i = 0; i < 1_200_000; i++) memo.set([0x72, ...le32(i)], 3 + 5 * i);
  memo[memo.length - 1] = 0x2e;
  await rejects(() => unpickle(memo), 'BAD_FILE', /memo (index 1000001|grows beyond 1000000)/);
});

// ---------------------------------------------------------------- hostile zips / torch files

test('zip: bad EOCD, central directory beyond the file, unknown methods', async () => {
  const good = torchZip(stateDictPickle([{ name: 'w', key: '0', numel: 2, shape: [2] }]), { '0': f32bytes([1, 2]) });
  await openTorchBin(bytesSource(good));
  const eocd = good.length - 22;
  const patch = (at: number, bytes: number[]) => { const c = good.slice(); c.set(bytes, at); return c; };
  await rejects(openTorchBin(bytesSource(patch(eocd, [0, 0, 0, 0]))), 'BAD_FILE', /no end-of-central-directory/);
  await rejects(openTorchBin(bytesSource(patch(eocd + 16, le32(good.length + 100)))), 'BAD_FILE', /central directory .* goes beyond/);
  await rejects(openTorchBin(bytesSource(patch(eocd + 12, le32(0xfffff)))), 'BAD_FILE', /central directory .* goes beyond/);
  await rejects(openTorchBin(bytesSource(patch(eocd + 8, [...le16(5000), ...le16(5000)]))), 'BAD_FILE', /entries cannot fit/);
  await rejects(openTorchBin(bytesSource(patch(eocd + 4, le16(1)))), 'BAD_FILE', /multi-disk/);
  await rejects(openTorchBin(bytesSource(patch(eocd + 8, [...le16(0xffff), ...le16(0xffff)]))), 'BAD_FILE', /zip64/);
  const cdOff = new DataView(good.buffer).getUint32(eocd + 16, true);
  await rejects(openTorchBin(bytesSource(patch(cdOff, [0x50, 0x4b, 9, 9]))), 'BAD_FILE', /bad central directory signature/);
  // first central entry: local header offset far beyond the file
  await rejects(openTorchBin(bytesSource(patch(cdOff + 42, le32(0x7fffff00)))), 'BAD_FILE', /"archive\/data\.pkl" .* points beyond/);
  // its compressed size beyond the file
  await rejects(openTorchBin(bytesSource(patch(cdOff + 20, le32(0x10000000)))), 'BAD_FILE', /points beyond|compressed size/);
  // method 12 (bzip2) for data.pkl in both headers
  await rejects(openTorchBin(bytesSource(patch(cdOff + 10, le16(12)))), 'BAD_FILE', /method 12/);
  // local header signature broken
  await rejects(openTorchBin(bytesSource(patch(0, [0, 0, 0, 0]))), 'BAD_FILE', /bad local header signature/);
  // data.pkl content corrupted: CRC mismatch
  await rejects(openTorchBin(bytesSource(patch(30 + 'archive/data.pkl'.length + 1, [0x03]))), 'BAD_FILE', /CRC-32/);
  // deflated data.pkl whose compressed bytes are garbage
  const defl = torchZip(stateDictPickle([]), {}, { deflatePkl: true });
  const bad = defl.slice();
  bad.fill(0xff, 30 + 'archive/data.pkl'.length, 30 + 'archive/data.pkl'.length + 4);
  await rejects(openTorchBin(bytesSource(bad)), 'BAD_FILE', /not valid deflate data|inflates to|CRC-32/);
  // not a zip at all
  await rejects(openTorchBin(bytesSource(new Uint8Array(1000))), 'BAD_FILE', /not a zip/);
});

test('zip: a synthetic torch file truncated at every 7th byte is BAD_FILE, never something else', async () => {
  const good = torchZip(stateDictPickle([{ name: 'w', key: '0', numel: 2, shape: [2] }]), { '0': f32bytes([1, 2]) }, { zip64: true });
  for (let cut = 0; cut < good.length; cut += 7) {
    await rejects(openTorchBin(bytesSource(good.subarray(0, cut))), 'BAD_FILE', /./);
  }
});

test('torch: storages and shapes that do not fit are refused before allocating', async () => {
  // storage declares 2^40 elements but its entry holds 8 bytes
  await rejects(openTorchBin(bytesSource(torchZip(stateDictPickle([{ name: 'w', key: '0', numel: 2 ** 40, shape: [2] }]), { '0': f32bytes([1, 2]) }))),
    'BAD_FILE', /storage "0" declares 1099511627776 F32 elements .* holds 8 bytes/);
  // shape [3, 3] in a 4-element storage
  await rejects(openTorchBin(bytesSource(torchZip(stateDictPickle([{ name: 'w', key: '0', numel: 4, shape: [3, 3] }]), { '0': f32bytes([1, 2, 3, 4]) }))),
    'BAD_FILE', /"w": shape \[3, 3\] .* needs 9 elements, but storage "0" has 4/);
  // offset pushes a view past the end
  await rejects(openTorchBin(bytesSource(torchZip(stateDictPickle([{ name: 'w', key: '0', numel: 4, offset: 3, shape: [2] }]), { '0': f32bytes([1, 2, 3, 4]) }))),
    'BAD_FILE', /needs 5 elements/);
  // a stride that reaches beyond the storage
  await rejects(openTorchBin(bytesSource(torchZip(stateDictPickle([{ name: 'w', key: '0', numel: 4, shape: [2, 2], stride: [100, 1] }]), { '0': f32bytes([1, 2, 3, 4]) }))),
    'BAD_FILE', /needs 102 elements/);
  // stride-0 and overlapping views of a small storage: more elements than the storage, not materialised
  const one = (shape: number[], stride: number[], numel = 1) =>
    openTorchBin(bytesSource(torchZip(stateDictPickle([{ name: 'shared.weight', key: '0', numel, shape, stride }]), { '0': f32bytes(new Array(numel).fill(1)) })));
  await rejects(one([32128 * 4, 1024 * 16], [0, 0]), 'BAD_FILE', /"shared\.weight": shape \[128512, 16384\] has 2105540608 elements, but storage "0" holds 1 from offset 0 \(a stride-0/);
  await rejects(one([3, 4], [1, 1], 6), 'BAD_FILE', /has 12 elements, but storage "0" holds 6/);
  assert.equal(Array.from(await (await one([2, 3], [1, 2], 6)).read('shared.weight')), [1, 1, 1, 1, 1, 1]); // overlapping, within the storage
  // missing storage entry
  await rejects(openTorchBin(bytesSource(torchZip(stateDictPickle([{ name: 'w', key: '7', numel: 1, shape: [1] }]), {}))),
    'BAD_FILE', /no zip entry "archive\/data\/7"/);
  // storage key with a path in it
  await rejects(openTorchBin(bytesSource(torchZip(stateDictPickle([{ name: 'w', key: '../x', numel: 1, shape: [1] }]), {}))),
    'BAD_FILE', /storage key "\.\.\/x"/);
  // big-endian byteorder
  await rejects(openTorchBin(bytesSource(torchZip(stateDictPickle([]), {}, { byteorder: 'big' }))), 'BAD_FILE', /byteorder is "big"/);
  // no data.pkl
  await rejects(openTorchBin(bytesSource(makeZip([{ name: 'x/other', data: new Uint8Array(3) }]))), 'BAD_FILE', /no "<prefix>\/data\.pkl"/);
  // root not a dict
  await rejects(openTorchBin(bytesSource(torchZip(pk(P.emptyList, P.stop), {}))), 'BAD_FILE', /expected a state dict/);
});

// ---------------------------------------------------------------- hostile safetensors

test('safetensors: hostile headers are refused with the problem named', async () => {
  const data = f32bytes([1, 2, 3, 4]);
  const ok = { w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } };
  assert.equal(Array.from(await (await openSafetensors(bytesSource(safetensorsFile(ok, data)))).read('w')), [1, 2, 3, 4]);
  const st = (h: unknown, d = data) => openSafetensors(bytesSource(safetensorsFile(h, d)));
  // huge header length (2^40) and one just beyond the file
  await rejects(openSafetensors(bytesSource(cat(le64(2 ** 40), enc.encode('{}')))), 'BAD_FILE', /header length 1099511627776 is absurd/);
  await rejects(openSafetensors(bytesSource(cat(le64(0xffffffff), enc.encode('{}')))), 'BAD_FILE', /absurd/);
  await rejects(openSafetensors(bytesSource(cat(le64(50), enc.encode('{}')))), 'BAD_FILE', /header length 50 goes beyond the end of the file/);
  await rejects(openSafetensors(bytesSource(safetensorsFile(null, data, enc.encode('{"w": nope')))), 'BAD_FILE', /not valid UTF-8 JSON/);
  await rejects(openSafetensors(bytesSource(safetensorsFile(null, data, new Uint8Array([0x7b, 0xff, 0x7d])))), 'BAD_FILE', /not valid UTF-8 JSON/);
  await rejects(st([1, 2]), 'BAD_FILE', /must be a JSON object/);
  await rejects(st({ w: 'x' }), 'BAD_FILE', /"w": expected an object/);
  await rejects(st({ w: { dtype: 7, shape: [4], data_offsets: [0, 16] } }), 'BAD_FILE', /"w": dtype must be a string/);
  await rejects(st({ w: { dtype: 'F33', shape: [4], data_offsets: [0, 16] } }), 'BAD_FILE', /"w": unknown dtype "F33"/);
  await rejects(st({ w: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }), 'BAD_FILE', /"w": shape must be/);
  await rejects(st({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 16] } }), 'BAD_FILE', /"w": shape must be/);
  await rejects(st({ w: { dtype: 'F32', shape: '4', data_offsets: [0, 16] } }), 'BAD_FILE', /"w": shape must be/);
  await rejects(st({ w: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 16] } }), 'BAD_FILE', /too many elements/);
  await rejects(st({ w: { dtype: 'F32', shape: [4], data_offsets: [0] } }), 'BAD_FILE', /data_offsets must be two/);
  await rejects(st({ w: { dtype: 'F32', shape: [4], data_offsets: ['0', 16] } }), 'BAD_FILE', /data_offsets must be two/);
  await rejects(st({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 17] } }), 'BAD_FILE', /data_offsets \[0, 17\] lie outside the data section of 16 bytes/);
  await rejects(st({ w: { dtype: 'F32', shape: [4], data_offsets: [8, 4] } }), 'BAD_FILE', /lie outside/);
  await rejects(st({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 8] } }), 'BAD_FILE', /span 8 bytes, expected 16/);
  await rejects(st({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }), 'BAD_FILE', /"a" and "b" overlap/);
  await rejects(openSafetensors(bytesSource(new Uint8Array(5))), 'BAD_FILE', /too small/);
});

test('safetensors: a header nested 1e5 deep is BAD_FILE (describing it used to overflow the stack)', async () => {
  const deep = enc.encode(`{"w": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
  await rejects(openSafetensors(bytesSource(safetensorsFile(null, new Uint8Array(0), deep))), 'BAD_FILE', /header JSON nests 100001 deep, expected at most 64/);
  // within the bound, but not an object: named by its kind, not printed
  const shallow = enc.encode(`{"w": ${'['.repeat(50)}${']'.repeat(50)}}`);
  await rejects(openSafetensors(bytesSource(safetensorsFile(null, new Uint8Array(0), shallow))), 'BAD_FILE', /"w": expected an object \{dtype, shape, data_offsets\}, got an array of length 1/);
});

test('safetensors: the tensors must cover the data section exactly (no hole, no tail, no shift by a header length off by one)', async () => {
  const data = f32bytes([1, 2, 3, 4, 5, 6]);
  const two = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } };
  // the writer's header, padded with spaces to 8 bytes as safetensors pads it
  const json = JSON.stringify(two);
  const h = enc.encode(json + ' '.repeat(8 - (json.length % 8) + 8));
  const good = cat(le64(h.length), h, data);
  const r = await openSafetensors(bytesSource(good));
  assert.equal(Array.from(await r.read('b')), [3, 4, 5, 6]);
  // header length one short: still valid JSON, but the data section starts a byte early
  const shifted = good.slice();
  shifted.set(le64(h.length - 1), 0);
  await rejects(openSafetensors(bytesSource(shifted)), 'BAD_FILE', /data section is 25 bytes but its tensors cover 24; the format requires exact coverage/);
  await rejects(openSafetensors(bytesSource(cat(good, [0, 0, 0, 0]))), 'BAD_FILE', /data section is 28 bytes but its tensors cover 24/);
  const hole = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: two.b };
  await rejects(openSafetensors(bytesSource(safetensorsFile(hole, data))), 'BAD_FILE', /bytes \[4, 8\) of the data section belong to no tensor \(before "b"\)/);
  // zero-element tensors take no bytes anywhere; an empty data section with no tensors is valid
  const empty = { e: { dtype: 'F32', shape: [0, 3], data_offsets: [8, 8] }, ...two };
  assert.equal(Array.from(await (await openSafetensors(bytesSource(safetensorsFile(empty, data)))).read('e')), []);
  assert.equal((await openSafetensors(bytesSource(safetensorsFile({ __metadata__: { format: 'pt' } }, new Uint8Array(0))))).names(), []);
});

test('bytesSource results never alias the caller\'s bytes', async () => {
  const file = safetensorsFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32bytes([1, 2]));
  const r = await openSafetensors(bytesSource(file));
  const a = await r.read('w');
  a[0] = 99;
  assert.equal(Array.from(await r.read('w')), [1, 2]);
  const t = await openTorchBin(bytesSource(torchZip(stateDictPickle([{ name: 'w', key: '0', numel: 2, shape: [2] }]), { '0': f32bytes([1, 2]) })));
  const b = await t.read('w');
  b[1] = 99;
  assert.equal(Array.from(await t.read('w')), [1, 2]);
});

test('fileSource reads ranges and refuses reads past the end', async () => {
  const src: ByteSource = await fileSource(`${GOLDEN}/tiny-st-bin/2_Dense/config.json`);
  const all = new Uint8Array(await readFile(`${GOLDEN}/tiny-st-bin/2_Dense/config.json`));
  assert.equal(await src.read(3, 10), all.subarray(3, 13));
  await rejects(src.read(src.size - 2, 5), 'BAD_FILE', /beyond the end/);
  await src.close?.();
});

test.run();
