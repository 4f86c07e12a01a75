// One fuzz target, run in a worker thread by test/fuzz.test.ts (which caps its heap and the time
// of every case): seeded mutations of valid inputs, each outcome classified. A case passes when it
// ends in an InstructorError (any code the parser may give) or in a result that is correct by the
// target's own invariants; anything else (a TypeError, a RangeError, NaN, a wrong length) fails.
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { SYNTH_CONFIGS, toHfConfig, parseT5Config, validateT5Config } from '../../src/engine/config.js';
import { InstructorError } from '../../src/errors.js';
import { InstructorModel } from '../../src/format/model-loading.js';
import { loadKernelsFromDisk } from '../../src/io/disk.js';
import { synthModel } from '../../src/format/synth.js';
import { encodeWeightsFile, readWeightsFile } from '../../src/format/weights-file.js';
import { openSafetensors } from '../../src/format/checkpoint/safetensors.js';
import { openTorchBin } from '../../src/format/checkpoint/torch-bin.js';
import { unpickle } from '../../src/format/checkpoint/pickle.js';
import { bytesSource } from '../../src/format/checkpoint/source.js';
import { mapFiles } from '../../src/format/checkpoint/files.js';
import { openCheckpointFolder } from '../../src/format/checkpoint/folder.js';
import { Instructor } from '../../src/text/instructor.js';
import { mulberry32 } from '../../src/engine/random.js';
import { f32bytes, stateDictPickle, torchZip, safetensorsFile, enc } from './checkpoint-files.js';
import { patchTensor, setF32, withHeaderText } from './weights.js';
import { synthTextWeights } from './synth-text-model.js';
import { GOLDEN_DIR } from './golden.js';

export type FuzzTarget = 'weights-file' | 'safetensors' | 'torch-zip' | 'pickle' | 'config' | 'folder' | 'encode';
export interface FuzzJob { target: FuzzTarget; seed: number; cases: number }
/** Messages to the parent: a case starts, a case ended (outcome: 'ok' or the InstructorError code), a failure, the end. */
export type FuzzMessage =
  | { kind: 'start'; i: number }
  | { kind: 'end'; i: number; outcome: string }
  | { kind: 'fail'; i: number; message: string }
  | { kind: 'done' };

type Rng = () => number;
const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, a: readonly T[]): T => a[int(r, a.length)];

class Invariant extends Error {}
function check(ok: boolean, what: string): void {
  if (!ok) throw new Invariant(what);
}

// ---------------------------------------------------------------------------------------------
// Mutators

const INTERESTING_U32 = [0, 1, 2, 7, 8, 63, 64, 65, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** A byte-level mutation of `b` (a copy): bit flips, interesting bytes and words, truncation, growth, moved chunks. */
function mutateBytes(r: Rng, b: Uint8Array, region?: [number, number]): Uint8Array {
  const [lo, hi] = region ?? [0, b.length];
  const at = () => lo + int(r, Math.max(1, hi - lo));
  let out = b.slice();
  const n = 1 + int(r, 4);
  for (let m = 0; m < n; m++) {
    switch (int(r, 7)) {
      case 0: { const i = at(); if (i < out.length) out[i] ^= 1 << int(r, 8); break; }
      case 1: { const i = at(); if (i < out.length) out[i] = pick(r, [0, 0xff, 0x7f, 0x80, 0x20, 0x22, 0x5b, 0x7b, 0x30]); break; }
      case 2: {
        const i = at();
        if (i + 4 <= out.length) new DataView(out.buffer).setUint32(i, pick(r, [...INTERESTING_U32, b.length, b.length - 1, b.length + 1]), true);
        break;
      }
      case 3: out = out.slice(0, int(r, out.length + 1)); break;
      case 4: { const extra = new Uint8Array(1 + int(r, 64)).map(() => int(r, 256)); const o = new Uint8Array(out.length + extra.length); o.set(out); o.set(extra, out.length); out = o; break; }
      case 5: { // copy a chunk over another place
        const from = int(r, out.length), to = at(), len = Math.min(1 + int(r, 64), out.length - from);
        if (to + len <= out.length) out.copyWithin(to, from, from + len);
        break;
      }
      default: { const i = at(); if (i < out.length) out[i] = int(r, 256); }
    }
  }
  return out;
}

/** Values a parser of JSON must survive where it expects a number, a string, an object... */
function interestingValue(r: Rng): unknown {
  switch (int(r, 16)) {
    case 0: return null;
    case 1: return -1;
    case 2: return 0;
    case 3: return 1e12;
    case 4: return 2 ** 53 + 2;
    case 5: return 1.5;
    case 6: return '';
    case 7: return 'x'.repeat(1 + int(r, 5000));
    case 8: return [];
    case 9: return {};
    case 10: return JSON.parse('['.repeat(50) + ']'.repeat(50));
    case 11: return [1, 2, 3];
    case 12: return true;
    case 13: return -1e308;
    case 14: return { type: 'Sequence', normalizers: [{ type: 'Lowercase' }] };
    default: return int(r, 70000);
  }
}

/** A copy of a JSON value with one value somewhere in it replaced (or a key removed / added). */
function mutateJson(r: Rng, v: unknown): unknown {
  const copy = structuredClone(v);
  // walk to a random container
  const path: Array<Record<string, unknown> | unknown[]> = [];
  let cur: unknown = copy;
  for (let depth = 0; depth < 6 && typeof cur === 'object' && cur !== null; depth++) {
    path.push(cur as Record<string, unknown>);
    const keys: Array<string | number> = Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur);
    if (keys.length === 0 || r() < 0.3) break;
    cur = (cur as Record<string, unknown>)[pick(r, keys) as never];
  }
  const target = pick(r, path);
  if (target === undefined) return interestingValue(r);
  const keys: Array<string | number> = Array.isArray(target) ? target.map((_, i) => i) : Object.keys(target);
  const action = int(r, 4);
  if (keys.length === 0 || action === 0) (target as Record<string, unknown>)[Array.isArray(target) ? target.length : `k${int(r, 9)}`] = interestingValue(r);
  else if (action === 1 && !Array.isArray(target)) delete (target as Record<string, unknown>)[pick(r, keys) as string];
  else (target as Record<string, unknown>)[pick(r, keys) as never] = interestingValue(r) as never;
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Targets: each gets rng and case index, throws an InstructorError or returns when correct.

const tiny = SYNTH_CONFIGS.tiny;
const fileOpts = (dtype: 'int8' | 'int4' | 'fp32') => ({ config: toHfConfig(tiny), model: { dense_out: tiny.denseOut, max_seq_length: 512 }, dtype });

async function weightsFileTarget(): Promise<(r: Rng) => Promise<void>> {
  const kernels = await loadKernelsFromDisk();
  const files = (['int8', 'int4', 'fp32'] as const).map((d) => encodeWeightsFile(fileOpts(d), synthModel(tiny, tiny.denseOut)));
  const names = readWeightsFile(files[0], { verify: false }).header.tensors.map((e) => e.name);
  return async (r) => {
    const good = pick(r, files);
    const { header } = readWeightsFile(good, { verify: false });
    let bytes: Uint8Array;
    switch (int(r, 4)) {
      case 0: bytes = mutateBytes(r, good); break; // anywhere: checksums catch most
      case 1: bytes = mutateBytes(r, good, [0, 64 + 256]); break; // preamble and header start
      case 2: { // a header field changed, checksums recomputed: every check of the header runs
        bytes = withHeaderText(good, () => JSON.stringify(mutateJson(r, header)));
        break;
      }
      default: { // tensor values changed, CRCs recomputed: scales, norms, matrices with NaN / Inf / huge
        const name = pick(r, names);
        bytes = patchTensor(good, name, (b) => {
          for (let k = 0; k < 1 + int(r, 3); k++) setF32(b, 4 * int(r, b.length / 4), pick(r, [NaN, Infinity, -Infinity, 3e38, -1, 0, 1e-45]));
        });
      }
    }
    const model = await InstructorModel.fromWeightsFile(bytes, { kernels });
    try {
      const { embeddings } = model.embedIds([{ ids: [5, 6, 7, 1], nInstr: 1 }, { ids: [1], nInstr: 0 }]);
      check(embeddings.length === 2, 'two embeddings');
      for (const e of embeddings) check(e.length === model.info.dim && e.every(Number.isFinite), 'finite embeddings of the model\'s dim');
    } finally {
      model.dispose();
    }
  };
}

async function safetensorsTarget(): Promise<(r: Rng) => Promise<void>> {
  const tensors = [...synthModel({ ...tiny, numLayers: 1 }, tiny.denseOut)].filter((t) => t.name !== 'shared.weight');
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const t of tensors) {
    const dtype = pick(mulberry32(off), ['F32', 'F16', 'BF16']);
    const bytes = dtype === 'F32' ? new Uint8Array(t.data.buffer.slice(0)) : new Uint8Array(t.data.length * 2).map((_, i) => i * 7);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + bytes.length] };
    chunks.push(bytes);
    off += bytes.length;
  }
  const data = new Uint8Array(off);
  chunks.reduce((at, c) => (data.set(c, at), at + c.length), 0);
  const good = safetensorsFile(header, data);
  return async (r) => {
    const bytes = r() < 0.5 ? mutateBytes(r, good, r() < 0.5 ? [0, 600] : undefined) : safetensorsFile(mutateJson(r, header), data);
    const reader = await openSafetensors(bytesSource(bytes));
    let covered = 0;
    for (const name of reader.names()) {
      const { shape, dtype } = reader.info(name);
      const v = await reader.read(name);
      check(v.length === shape.reduce((a, b) => a * b, 1), `tensor ${name}: ${v.length} values for shape [${shape}]`);
      covered += v.length * (dtype === 'F32' ? 4 : 2);
    }
    // the format: the tensors cover the data section exactly (8-byte length, header, data)
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    check(covered === bytes.length - 8 - headerLength, `tensors cover ${covered} of the ${bytes.length - 8 - headerLength} data bytes`);
  };
}

function torchParts(): { pkl: Uint8Array; storages: Record<string, Uint8Array> } {
  const specs = [
    { name: 'a.weight', key: '0', numel: 12, shape: [3, 4] },
    { name: 'b', key: '1', numel: 6, shape: [2, 3], type: 'HalfStorage' },
    { name: 't', key: '0', numel: 12, shape: [4, 3], stride: [1, 4] },
    { name: 'c', key: '2', numel: 4, offset: 1, shape: [3], param: true },
  ];
  return {
    pkl: stateDictPickle(specs, { ordered: true }),
    storages: { '0': f32bytes(Array.from({ length: 12 }, (_, i) => i)), '1': new Uint8Array(12).fill(0x3c), '2': f32bytes([1, 2, 3, 4]) },
  };
}

async function torchZipTarget(): Promise<(r: Rng) => Promise<void>> {
  const { pkl, storages } = torchParts();
  const good = torchZip(pkl, storages, { byteorder: 'little' });
  return async (r) => {
    let bytes: Uint8Array;
    const mode = int(r, 3);
    if (mode === 0) bytes = mutateBytes(r, good); // the zip itself (checksums then catch storage edits)
    else if (mode === 1) bytes = torchZip(mutateBytes(r, pkl), storages, { byteorder: 'little' }); // the pickle, in a valid zip
    else { // storage bytes and sizes, in a valid zip (CRCs right)
      const st = { ...storages };
      const key = pick(r, Object.keys(st));
      st[key] = mutateBytes(r, st[key]);
      bytes = torchZip(pkl, st, { byteorder: 'little', deflatePkl: r() < 0.3 });
    }
    const reader = await openTorchBin(bytesSource(bytes));
    for (const name of reader.names()) {
      const { shape } = reader.info(name);
      const v = await reader.read(name);
      check(v.length === shape.reduce((a, b) => a * b, 1), `tensor ${name}: ${v.length} values for shape [${shape}]`);
    }
  };
}

/** Opcodes with their argument bytes, valid in form, for generated pickles. */
function randomOpcode(r: Rng): number[] {
  const s = () => { const b = enc.encode('x'.repeat(int(r, 4))); return [b.length, ...b]; };
  return pick(r, [
    [0x4e], [0x88], [0x89], [0x29], [0x5d], [0x7d], [0x28], [0x74], [0x85], [0x86], [0x87], [0x61], [0x65], [0x73], [0x75],
    [0x30], [0x31], [0x32], [0x62], [0x52], [0x51], [0x94], [0x4b, int(r, 256)], [0x4a, 1, 2, 3, 0x80], [0x71, int(r, 8)], [0x68, int(r, 8)],
    [0x8c, ...s()], [0x63, ...enc.encode('collections\nOrderedDict\n')], [0x63, ...enc.encode('torch\nFloatStorage\n')],
    [0x63, ...enc.encode('torch._utils\n_rebuild_tensor_v2\n')], [0x8a, 8, 1, 2, 3, 4, 5, 6, 7, 0x7f], [0x47, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0],
    [0x95, 8, 0, 0, 0, 0, 0, 0, 0], [0x80, 2],
  ]);
}

async function pickleTarget(): Promise<(r: Rng) => Promise<void>> {
  const { pkl } = torchParts();
  return async (r) => {
    const bytes = r() < 0.5
      ? mutateBytes(r, pkl)
      : new Uint8Array([0x80, 2, ...Array.from({ length: 1 + int(r, 200) }, () => randomOpcode(r)).flat(), 0x2e]);
    unpickle(bytes); // any value it returns is inert data; only the errors are in question
  };
}

async function configTarget(): Promise<(r: Rng) => Promise<void>> {
  const hf = toHfConfig(SYNTH_CONFIGS.base);
  return async (r) => {
    let json: unknown = hf;
    for (let k = 0; k < 1 + int(r, 3); k++) json = mutateJson(r, json);
    const c = parseT5Config(json);
    validateT5Config(c); // what it accepted is within every bound
  };
}

async function folderTarget(): Promise<(r: Rng) => Promise<void>> {
  const root = GOLDEN_DIR + 'tiny-st-safetensors/';
  const paths = ['config.json', 'modules.json', 'sentence_bert_config.json', 'tokenizer.json', 'tokenizer_config.json',
    '1_Pooling/config.json', '2_Dense/config.json', '2_Dense/model.safetensors', 'model.safetensors'];
  const files = new Map<string, Uint8Array>(paths.map((p) => [p, new Uint8Array(readFileSync(root + p))]));
  const jsonPaths = paths.filter((p) => p.endsWith('.json') && p !== 'tokenizer.json');
  return async (r) => {
    const edited = new Map<string, Uint8Array | string>(files);
    const path = pick(r, [...jsonPaths, ...jsonPaths, 'tokenizer.json', '2_Dense/model.safetensors']);
    if (r() < 0.2) edited.delete(path);
    else if (path.endsWith('.json') && r() < 0.6) edited.set(path, JSON.stringify(mutateJson(r, JSON.parse(new TextDecoder().decode(files.get(path)!)))));
    else edited.set(path, mutateBytes(r, files.get(path)!, path === 'tokenizer.json' ? [0, 2000] : undefined));
    const folder = await openCheckpointFolder(mapFiles('fuzz', edited));
    try {
      for (const l of folder.layout) check(l.shape.every((d) => Number.isInteger(d) && d > 0), `layout ${l.name}`);
      check(folder.meta.max_seq_length >= 1 && folder.meta.max_seq_length <= 8192, 'max_seq_length');
    } finally {
      await folder.close();
    }
  };
}

async function encodeTarget(): Promise<(r: Rng) => Promise<void>> {
  const model = await Instructor.fromWeightsFile(synthTextWeights('tiny', 'fp32'), { kernels: await loadKernelsFromDisk() });
  const codePoint = (r: Rng) => pick(r, [
    () => 0x20, () => 0x61 + int(r, 26), () => 0x30 + int(r, 10), () => int(r, 0x80), () => 0x3000, () => 0x4e00 + int(r, 2000),
    () => 0xd800 + int(r, 0x800), () => 0x300 + int(r, 0x70), () => 0x1f600 + int(r, 80), () => 0xfeff, () => 0x200d, () => int(r, 0x110000),
  ])();
  const text = (r: Rng): string => {
    const kind = int(r, 14);
    if (kind === 0) return pick(r, ['', ' ', '</s>', '<unk>', '<pad>', '\u2581', 'a b', '\r\n']);
    if (kind === 1) return pick(r, ['x', 'ab ', '中', 'é ', 'Ab1']).repeat(1000 + int(r, 100_000)); // long runs, words or none
    let s = '';
    for (let i = 0; i < 1 + int(r, 60); i++) { const cp = codePoint(r); s += cp >= 0xd800 && cp < 0xe000 ? String.fromCharCode(cp) : String.fromCodePoint(cp); }
    return s;
  };
  const input = (r: Rng): unknown => {
    switch (int(r, 30)) {
      case 0: return [text(r), text(r)];
      case 1: return [text(r), text(r), 0];
      case 2: return { instruction: text(r), text: text(r) };
      case 3: return pick(r, [null, undefined, 42, NaN, [], [text(r)], [text(r), text(r), 1], { text: 'x' }, Symbol('s'), 10n, new Uint8Array(3)]);
      case 4: { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; }
      case 5: return { instruction: 'x', get text(): string { throw new Error('getter'); } };
      case 6: return [text(r), interestingValue(r)];
      case 7: case 8: case 9: return [text(r), text(r)];
      case 10: case 11: return { instruction: text(r), text: text(r) };
      default: return text(r);
    }
  };
  return async (r) => {
    const inputs = Array.from({ length: 1 + int(r, 6) }, () => input(r));
    inputs.push(inputs[0]); // the same input twice: the same bits
    const opts = pick(r, [undefined, { batchSize: 1 + int(r, 4) }, { normalize: false }, { maxBatchTokens: 1 + int(r, 600) }, { instruction: text(r) }]);
    const res = await model.embed(inputs as never, opts);
    check(res.embeddings.length === inputs.length && res.tokens.length === inputs.length && res.cutChars.length === inputs.length, 'one result per input');
    res.embeddings.forEach((e, i) => {
      check(e.length === model.dim && e.every(Number.isFinite), `input ${i}: a finite embedding of dim ${model.dim}`);
      check(res.tokens[i] >= 1 && res.tokens[i] <= 512, `input ${i}: ${res.tokens[i]} tokens`);
      if (opts?.normalize !== false && !res.emptyPool.includes(i)) check(Math.abs(Math.hypot(...e) - 1) < 1e-5, `input ${i}: unit length`);
    });
    const a = res.embeddings[0], b = res.embeddings[inputs.length - 1];
    check(a.every((x, d) => Object.is(x, b[d])), 'the same input twice gives the same bits');
  };
}

const TARGETS: Record<FuzzTarget, () => Promise<(r: Rng) => Promise<void>>> = {
  'weights-file': weightsFileTarget, safetensors: safetensorsTarget, 'torch-zip': torchZipTarget, pickle: pickleTarget,
  config: configTarget, folder: folderTarget, encode: encodeTarget,
};

if (parentPort) {
  const job = workerData as FuzzJob;
  const post = (m: FuzzMessage) => parentPort!.postMessage(m);
  const run = await TARGETS[job.target]();
  for (let i = 0; i < job.cases; i++) {
    post({ kind: 'start', i });
    try {
      await run(mulberry32(job.seed * 1_000_003 + i));
      post({ kind: 'end', i, outcome: 'ok' });
    } catch (e) {
      if (e instanceof InstructorError) post({ kind: 'end', i, outcome: e.code });
      else post({ kind: 'fail', i, message: e instanceof Invariant ? `wrong result: ${e.message}` : `untyped ${(e as Error)?.name}: ${(e as Error)?.message?.slice(0, 300)}\n${(e as Error)?.stack?.split('\n').slice(1, 6).join('\n')}` });
    }
  }
  post({ kind: 'done' });
}
