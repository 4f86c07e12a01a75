/**
 * The instructor-wasm weights file: config, model metadata and every tensor in one file.
 * No Node built-ins here (browsers and Workers use it); the streaming disk writer is in
 * weights-file-node.ts.
 *
 * Layout (all integers little-endian):
 *
 *   [0, 64)     preamble
 *                 0  8 bytes  magic, ASCII "INSTRWSM"
 *                 8  u32      format version = 1
 *                12  u32      header length in bytes (L)
 *                16  u32      CRC-32 (IEEE, as zlib) of the L header bytes
 *                20  44 bytes zero
 *   [64, 64+L)  header: UTF-8 JSON, no BOM, written by JSON.stringify without whitespace:
 *                 { "format": "instructor-wasm-weights", "version": 1,
 *                   "config": <Hugging Face config.json object>,
 *                   "model": <free-form object from the caller: dense out size, max_seq_length...>,
 *                   "tensors": [ { "name", "dtype": "f32" | "q8" | "q4", "shape": [...], "offset", "bytes",
 *                                  "crc32": "<8 lowercase hex digits>" }, ... ],
 *                   "data_bytes": <length of the data section> }
 *               crc32 has a fixed width so that a streaming writer can write the header first with
 *               placeholders ("00000000") and patch it in place at the end.
 *   zero padding to the first 64-byte boundary after the header = dataStart
 *   [dataStart, dataStart + data_bytes)  data section; the file ends there.
 *               Tensors are laid out in header order; each `offset` is relative to dataStart and a
 *               multiple of 64; the bytes between tensors and after the last one (up to data_bytes,
 *               which is a multiple of 64) are zero.
 *     f32 tensor: float32 little-endian, row-major; bytes = 4 * prod(shape).
 *     q8 tensor (2-D [rows, cols] only): int8 row-major (rows * cols bytes), zero padding to a
 *               64-byte boundary, then float32 per-row scales [rows] (see quantize.ts: symmetric,
 *               scale = max|row| / 127, value = q * scale); bytes = align64(rows * cols) + 4 * rows.
 *     q4 tensor (2-D [rows, cols] only, cols a multiple of Q4_GROUP = 32): 4-bit codes, rows * cols / 2
 *               bytes, row-major; each row in blocks of 32 values = 16 bytes, byte j of a block holding
 *               value j in its low nibble and value j + 16 in its high nibble (the layout the SIMD
 *               kernel unpacks with one load, see assembly/gemm_q4.ts); a code c means the integer
 *               c - 8 in [-8, 7]. Then zero padding to a 64-byte boundary, then float32 scales
 *               [rows, cols / 32], one per group of 32 consecutive values of a row (see quantize.ts:
 *               scale ~ m / -8 for the group's value m of largest magnitude, refined by a squared-error search; value = (c - 8) * scale;
 *               scales may be negative); bytes = align64(rows * cols / 2) + 4 * rows * cols / 32.
 *               Readers before q4 refuse such a file with BAD_FILE (dtype "q4" is unknown to them), so
 *               the format version stays 1.
 *     crc32 of a tensor covers its `bytes` bytes.
 *
 * With dtype 'int8' the writer stores as q8 every 2-D tensor except `...relative_attention_bias.weight`
 * (so every matmul weight, the embedding table `shared.weight` and the Dense head); 1-D tensors
 * (layer norms) stay f32. With dtype 'int4' the same tensors are stored as q4 (a tensor whose cols
 * is not a multiple of 32 falls back to q8), except the feed-forward weights of the first half of
 * the encoder layers and the Dense head, which stay q8 (see `storedDtype`). With dtype 'fp32'
 * everything is f32.
 */
import { tensorRole } from '../engine/tensors.js';
import { crc32, crc32Hex } from './crc32.js';
import { jsonTextDepth, MAX_JSON_DEPTH } from './json.js';
import { describeValue, fail } from '../errors.js';
import { Q4_GROUP, quantizeGroupsQ4, quantizeRowsQ8, tensorBytes, type TensorDtype } from '../engine/quantize.js';
import { parseDtype, type WeightsDtype } from '../engine/dtype.js';

export const WEIGHTS_MAGIC = 'INSTRWSM';
export const WEIGHTS_FORMAT = 'instructor-wasm-weights';
export const WEIGHTS_VERSION = 1;
export const PREAMBLE_BYTES = 64;
export const WEIGHTS_ALIGN = 64;
/** Largest header a reader accepts (a 24-layer model's header is about 40 KB). */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** Largest tensor element count a reader accepts (2^40). */
const MAX_ELEMENTS = 2 ** 40;
const MAX_RANK = 8;
const CRC_PLACEHOLDER = '00000000';

export type { TensorDtype };
/** The file-level dtype a writer is asked for (which tensors become q8 / q4: see the top). */
export type { WeightsDtype };
export { Q4_GROUP, tensorBytes };

export interface TensorEntry {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** Relative to the data section's start; a multiple of 64. */
  offset: number;
  bytes: number;
  /** CRC-32 of the tensor's bytes, 8 lowercase hex digits. */
  crc32: string;
}

export interface WeightsHeader {
  format: typeof WEIGHTS_FORMAT;
  version: 1;
  config: Record<string, unknown>;
  model: Record<string, unknown>;
  tensors: TensorEntry[];
  data_bytes: number;
}

export interface WeightsFileOptions {
  /** The Hugging Face config.json object (e.g. toHfConfig(c)). */
  config: object;
  /** Free-form model metadata (dense out size, max_seq_length, modules...). */
  model: object;
  dtype: WeightsDtype;
}

export interface InputTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export type TensorData = Float32Array | { q: Int8Array; scales: Float32Array }
  | { q4: Uint8Array; scales: Float32Array; group: number };

export interface WeightsFile {
  header: WeightsHeader;
  dataStart: number;
  /** Views into the file's bytes where alignment allows (copies otherwise). */
  tensor(name: string): { entry: TensorEntry; data: TensorData };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const utf8Encoder = new TextEncoder();

export function align64(n: number): number {
  return Math.ceil(n / WEIGHTS_ALIGN) * WEIGHTS_ALIGN;
}

// ---------------------------------------------------------------------------------------------
// Writing (shared by encodeWeightsFile and the streaming Node writer)

/**
 * The stored dtype of a tensor for the requested file dtype (rule in the comment at the top).
 * int4 keeps in q8 the feed-forward weights (`DenseReluDense.*`) of layers < numLayers / 2 and the
 * Dense head: 4-bit noise made early is carried and amplified by every later layer, and the FFN
 * holds two thirds of a layer's weights. Measured on synth-v1 base against the float64 golden
 * (min cosine, set by the 1-token input): all q4 0.961; first-half FFN + Dense q8 0.991 for
 * +10.4 MiB (76 MiB of weights, inside a 128 MB Worker); second-half FFN + Dense q8 only 0.984.
 */
export function storedDtype(name: string, shape: readonly number[], dtype: WeightsDtype, numLayers: number): TensorDtype {
  if (dtype === 'fp32') return 'f32';
  const t = tensorRole(name);
  if (shape.length !== 2 || t?.role === 'relative_bias') return 'f32';
  if (dtype === 'int8' || shape[1] % Q4_GROUP !== 0 || t?.role === 'dense') return 'q8';
  const ffn = t?.role === 'wi' || t?.role === 'wi_0' || t?.role === 'wi_1' || t?.role === 'wo';
  return ffn && t.layer < numLayers / 2 ? 'q8' : 'q4';
}

/** The encoder's layer count from the writer options' config (`num_layers`), 0 if absent. */
export function configLayers(config: object): number {
  const n = (config as { num_layers?: unknown }).num_layers;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : 0;
}

/** Bytes of a tensor of this dtype and shape in the data section (without trailing padding). */

/** Check the writer options (BAD_INPUT). */
export function checkWriteOptions(opts: WeightsFileOptions): void {
  if (opts === null || typeof opts !== 'object') fail('BAD_INPUT', `weights file: options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  parseDtype(opts.dtype, 'weights file: dtype');
  for (const k of ['config', 'model'] as const) {
    const v = opts[k];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      fail('BAD_INPUT', `weights file: options.${k} must be a plain object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
    }
  }
  if (opts.dtype === 'int4' && configLayers(opts.config) === 0) {
    fail('BAD_INPUT', `weights file: int4 needs options.config.num_layers (a positive integer: which layers keep q8 feed-forward weights), got ${describeValue((opts.config as { num_layers?: unknown }).num_layers)}`);
  }
}

/** Check a tensor's name and shape before writing it. */
export function checkInputLayout(name: unknown, shape: unknown, seen: Set<string>): void {
  if (typeof name !== 'string' || name.length === 0) fail('BAD_INPUT', `weights file: tensor name must be a non-empty string, got ${describeValue(name)}`);
  if (seen.has(name)) fail('BAD_INPUT', `weights file: duplicate tensor "${name}"`);
  seen.add(name);
  if (!Array.isArray(shape) || shape.length === 0 || shape.length > MAX_RANK
    || !shape.every((d) => Number.isInteger(d) && d > 0 && d < 2 ** 32)) {
    fail('BAD_INPUT', `weights file: tensor "${name}" shape must be 1 to ${MAX_RANK} positive integers, got ${describeValue(shape)}`);
  }
  if (shape.reduce((p: number, d: number) => p * d, 1) > MAX_ELEMENTS) {
    fail('BAD_INPUT', `weights file: tensor "${name}" shape ${JSON.stringify(shape)} has more than 2^40 elements`);
  }
}

/** Entries (with placeholder crcs) for tensors in this order; returns them and data_bytes. */
export function planLayout(
  tensors: Iterable<{ name: string; shape: number[] }>, dtype: WeightsDtype, numLayers: number,
): { entries: TensorEntry[]; dataBytes: number } {
  const seen = new Set<string>();
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    checkInputLayout(t.name, t.shape, seen);
    const d = storedDtype(t.name, t.shape, dtype, numLayers);
    const bytes = tensorBytes(d, t.shape);
    entries.push({ name: t.name, dtype: d, shape: t.shape.slice(), offset, bytes, crc32: CRC_PLACEHOLDER });
    offset = align64(offset + bytes);
  }
  return { entries, dataBytes: offset };
}

/**
 * The stored bytes of one tensor (exactly `entry.bytes`: for q8 / q4 including the padding between
 * the codes and the scales). An f32 tensor on a little-endian machine is a view of `data`. With
 * `into` (exactly `entry.bytes` long, e.g. the tensor's place in wasm memory) the bytes are
 * encoded there and `into` is returned, so no second copy of the tensor is made.
 */
export function encodeTensorBytes(entry: TensorEntry, data: Float32Array, into?: Uint8Array): Uint8Array {
  const n = entry.shape.reduce((p, d) => p * d, 1);
  if (!(data instanceof Float32Array) || data.length !== n) {
    fail('BAD_INPUT', `weights file: tensor "${entry.name}" data must be a Float32Array of ${n} values (shape ${JSON.stringify(entry.shape)}), got ${data instanceof Float32Array ? data.length + ' values' : typeof data}`);
  }
  if (into !== undefined && (!(into instanceof Uint8Array) || into.length !== entry.bytes || into.byteOffset % 4 !== 0)) {
    fail('BAD_INPUT', `weights file: tensor "${entry.name}" needs a 4-aligned destination of ${entry.bytes} bytes, got ${into instanceof Uint8Array ? `${into.length} bytes at offset ${into.byteOffset}` : typeof into}`);
  }
  if (entry.dtype === 'f32') {
    if (LITTLE_ENDIAN) {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (!into) return bytes;
      into.set(bytes);
      return into;
    }
    const out = into ?? new Uint8Array(4 * n);
    const dv = new DataView(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < n; i++) dv.setFloat32(4 * i, data[i], true);
    return out;
  }
  const [rows, cols] = entry.shape;
  const out = into ?? new Uint8Array(entry.bytes);
  const at = out.byteOffset;
  if (entry.dtype === 'q4') {
    const codes = rows * cols / 2, q4At = align64(codes), ns = rows * cols / Q4_GROUP;
    if (into) out.fill(0, codes, q4At);
    const q = out.subarray(0, codes);
    const { scales } = quantizeGroupsQ4(data, rows, cols, Q4_GROUP, { q, scales: LITTLE_ENDIAN ? new Float32Array(out.buffer, at + q4At, ns) : new Float32Array(ns) });
    if (!LITTLE_ENDIAN) {
      const dv = new DataView(out.buffer, at, out.length);
      for (let i = 0; i < ns; i++) dv.setFloat32(q4At + 4 * i, scales[i], true);
    }
    return out;
  }
  const scalesAt = align64(rows * cols);
  if (into) out.fill(0, rows * cols, scalesAt);
  const q = new Int8Array(out.buffer, at, rows * cols);
  if (LITTLE_ENDIAN) {
    quantizeRowsQ8(data, rows, cols, { q, scales: new Float32Array(out.buffer, at + scalesAt, rows) });
  } else {
    const { scales } = quantizeRowsQ8(data, rows, cols, { q, scales: new Float32Array(rows) });
    const dv = new DataView(out.buffer, at, out.length);
    for (let r = 0; r < rows; r++) dv.setFloat32(scalesAt + 4 * r, scales[r], true);
  }
  return out;
}

/** Preamble + header + zero padding up to dataStart. */
export function encodeHeaderBlock(opts: WeightsFileOptions, entries: TensorEntry[], dataBytes: number): Uint8Array {
  const header: WeightsHeader = {
    format: WEIGHTS_FORMAT,
    version: WEIGHTS_VERSION,
    config: opts.config as Record<string, unknown>,
    model: opts.model as Record<string, unknown>,
    tensors: entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, offset: e.offset, bytes: e.bytes, crc32: e.crc32 })),
    data_bytes: dataBytes,
  };
  let json: string;
  try {
    json = JSON.stringify(header);
  } catch (e) {
    return fail('BAD_INPUT', `weights file: config/model metadata cannot be written as JSON: ${(e as Error).message}`);
  }
  const headerBytes = utf8Encoder.encode(json);
  if (headerBytes.length > MAX_HEADER_BYTES) {
    fail('BAD_INPUT', `weights file: header is ${headerBytes.length} bytes, more than the ${MAX_HEADER_BYTES} readers accept`);
  }
  const dataStart = align64(PREAMBLE_BYTES + headerBytes.length);
  const out = new Uint8Array(dataStart);
  for (let i = 0; i < 8; i++) out[i] = WEIGHTS_MAGIC.charCodeAt(i);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, WEIGHTS_VERSION, true);
  dv.setUint32(12, headerBytes.length, true);
  dv.setUint32(16, crc32(headerBytes), true);
  out.set(headerBytes, PREAMBLE_BYTES);
  return out;
}

/** Write a whole weights file in memory (tests, small models). */
export function encodeWeightsFile(opts: WeightsFileOptions, tensors: Iterable<InputTensor>): Uint8Array {
  checkWriteOptions(opts);
  const list = Array.from(tensors);
  const { entries, dataBytes } = planLayout(list, opts.dtype, configLayers(opts.config));
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < list.length; i++) {
    const bytes = encodeTensorBytes(entries[i], list[i].data);
    entries[i].crc32 = crc32Hex(crc32(bytes));
    chunks.push(bytes);
  }
  const head = encodeHeaderBlock(opts, entries, dataBytes);
  const out = new Uint8Array(head.length + dataBytes);
  out.set(head, 0);
  for (let i = 0; i < list.length; i++) out.set(chunks[i], head.length + entries[i].offset);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading (every check of a hostile file raises BAD_FILE)

/** A tensor name for a message: quoted, cut to 100 characters. */
function quoted(name: string): string {
  return JSON.stringify(name.length > 100 ? name.slice(0, 100) + '...' : name);
}

function bad(message: string): never {
  return fail('BAD_FILE', `weights file: ${message}`);
}

function printable(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

/** Read the 64-byte preamble. */
export function parseWeightsPreamble(first64: Uint8Array): { version: number; headerLength: number; headerCrc: number } {
  if (!(first64 instanceof Uint8Array)) bad(`expected a Uint8Array, got ${describeValue(first64)}`);
  if (first64.length < PREAMBLE_BYTES) bad(`truncated: ${first64.length} bytes, expected at least the ${PREAMBLE_BYTES}-byte preamble`);
  for (let i = 0; i < 8; i++) {
    if (first64[i] !== WEIGHTS_MAGIC.charCodeAt(i)) {
      bad(`not an instructor-wasm weights file: magic got "${printable(first64.subarray(0, 8))}", expected "${WEIGHTS_MAGIC}"`);
    }
  }
  const dv = new DataView(first64.buffer, first64.byteOffset, PREAMBLE_BYTES);
  const version = dv.getUint32(8, true);
  if (version !== WEIGHTS_VERSION) bad(`format version got ${version}, expected ${WEIGHTS_VERSION}`);
  const headerLength = dv.getUint32(12, true);
  if (headerLength < 2 || headerLength > MAX_HEADER_BYTES) {
    bad(`header length got ${headerLength} bytes, expected 2 to ${MAX_HEADER_BYTES}`);
  }
  const headerCrc = dv.getUint32(16, true);
  for (let i = 20; i < PREAMBLE_BYTES; i++) {
    if (first64[i] !== 0) bad(`preamble reserved byte ${i} got ${first64[i]}, expected 0`);
  }
  return { version, headerLength, headerCrc };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function safeInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${what} got ${describeValue(v)}, expected a non-negative integer`);
  return v;
}

function checkEntry(raw: unknown, index: number, dataBytes: number): TensorEntry {
  if (!isPlainObject(raw)) bad(`tensors[${index}] got ${describeValue(raw)}, expected an object`);
  const name = raw.name;
  if (typeof name !== 'string' || name.length === 0) bad(`tensors[${index}].name got ${describeValue(name)}, expected a non-empty string`);
  const where = `tensor ${quoted(name)}`;
  const dtype = raw.dtype;
  if (dtype !== 'f32' && dtype !== 'q8' && dtype !== 'q4') bad(`${where}: dtype got ${describeValue(dtype)}, expected "f32", "q8" or "q4"`);
  const shape = raw.shape;
  if (!Array.isArray(shape) || shape.length === 0 || shape.length > MAX_RANK) {
    bad(`${where}: shape got ${Array.isArray(shape) ? `rank ${shape.length}` : describeValue(shape)}, expected an array of 1 to ${MAX_RANK} dims`);
  }
  let elements = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d <= 0 || d >= 2 ** 32) {
      bad(`${where}: shape[${i}] got ${describeValue(d)}, expected a positive integer below 2^32`);
    }
    elements *= d;
    if (elements > MAX_ELEMENTS) bad(`${where}: shape ${JSON.stringify(shape)} has more than 2^40 elements`);
  }
  if (dtype !== 'f32' && shape.length !== 2) bad(`${where}: ${dtype} needs a 2-D shape [rows, cols], got rank ${shape.length}`);
  if (dtype === 'q4' && shape[1] % Q4_GROUP !== 0) bad(`${where}: q4 needs cols a multiple of ${Q4_GROUP}, got shape ${JSON.stringify(shape)}`);
  const offset = safeInt(raw.offset, `${where}: offset`);
  if (offset % WEIGHTS_ALIGN !== 0) bad(`${where}: offset ${offset} is not a multiple of ${WEIGHTS_ALIGN}`);
  const bytes = safeInt(raw.bytes, `${where}: bytes`);
  const expected = tensorBytes(dtype, shape as number[]);
  if (bytes !== expected) bad(`${where}: bytes got ${bytes}, expected ${expected} for ${dtype} ${JSON.stringify(shape)}`);
  if (offset + bytes > dataBytes) {
    bad(`${where}: [offset ${offset}, end ${offset + bytes}) is outside the data section of ${dataBytes} bytes`);
  }
  const crc = raw.crc32;
  if (typeof crc !== 'string' || !/^[0-9a-f]{8}$/.test(crc)) bad(`${where}: crc32 got ${describeValue(crc)}, expected 8 lowercase hex digits`);
  return { name, dtype, shape: (shape as number[]).slice(), offset, bytes, crc32: crc };
}

/**
 * Parse and validate the preamble and header. `bytes` must hold at least the first
 * 64 + headerLength bytes of the file (the whole file also works). The header CRC is always checked.
 */
export function parseWeightsHeader(bytes: Uint8Array): { header: WeightsHeader; dataStart: number } {
  const { headerLength, headerCrc } = parseWeightsPreamble(bytes);
  if (bytes.length < PREAMBLE_BYTES + headerLength) {
    bad(`truncated header: got ${bytes.length - PREAMBLE_BYTES} of its ${headerLength} bytes`);
  }
  const hb = bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength);
  const gotCrc = crc32(hb);
  if (gotCrc !== headerCrc) bad(`header CRC-32 mismatch: got ${crc32Hex(gotCrc)}, expected ${crc32Hex(headerCrc)}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(hb);
  } catch {
    return bad('header is not valid UTF-8');
  }
  const depth = jsonTextDepth(text);
  if (depth > MAX_JSON_DEPTH) bad(`header JSON nests ${depth} deep, expected at most ${MAX_JSON_DEPTH}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return bad(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(json)) bad(`header got ${describeValue(json)}, expected a JSON object`);
  if (json.format !== WEIGHTS_FORMAT) bad(`header format got ${describeValue(json.format)}, expected "${WEIGHTS_FORMAT}"`);
  if (json.version !== WEIGHTS_VERSION) bad(`header version got ${describeValue(json.version)}, expected ${WEIGHTS_VERSION}`);
  if (!isPlainObject(json.config)) bad(`header config got ${describeValue(json.config)}, expected an object`);
  if (!isPlainObject(json.model)) bad(`header model got ${describeValue(json.model)}, expected an object`);
  const dataBytes = safeInt(json.data_bytes, 'header data_bytes');
  if (dataBytes % WEIGHTS_ALIGN !== 0) bad(`header data_bytes got ${dataBytes}, expected a multiple of ${WEIGHTS_ALIGN}`);
  if (!Array.isArray(json.tensors)) bad(`header tensors got ${describeValue(json.tensors)}, expected an array`);
  const seen = new Set<string>();
  const tensors: TensorEntry[] = [];
  for (let i = 0; i < json.tensors.length; i++) {
    const e = checkEntry(json.tensors[i], i, dataBytes);
    if (seen.has(e.name)) bad(`duplicate tensor ${quoted(e.name)} (tensors[${i}])`);
    seen.add(e.name);
    tensors.push(e);
  }
  const byOffset = tensors.slice().sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const p = byOffset[i - 1], c = byOffset[i];
    if (c.offset < p.offset + p.bytes) {
      bad(`tensor ${quoted(c.name)} at offset ${c.offset} overlaps tensor ${quoted(p.name)} [${p.offset}, ${p.offset + p.bytes}); expected offset >= ${p.offset + p.bytes}`);
    }
  }
  const header: WeightsHeader = {
    format: WEIGHTS_FORMAT, version: WEIGHTS_VERSION, config: json.config, model: json.model, tensors, data_bytes: dataBytes,
  };
  return { header, dataStart: align64(PREAMBLE_BYTES + headerLength) };
}

/**
 * Check one tensor against its CRC-32. `data` is the data section (the file's bytes from
 * dataStart on, so `entry.offset` indexes it), at least up to the tensor's end.
 */
export function verifyTensor(data: Uint8Array, entry: TensorEntry): void {
  const end = entry.offset + entry.bytes;
  if (data.length < end) bad(`tensor ${quoted(entry.name)}: data section is ${data.length} bytes, expected at least ${end} (truncated)`);
  verifyTensorBytes(entry, data.subarray(entry.offset, end));
}

/** Check one tensor's own bytes (exactly entry.bytes long, e.g. fetched alone) against its CRC-32. */
export function verifyTensorBytes(entry: TensorEntry, tensorBytes: Uint8Array): void {
  if (tensorBytes.length !== entry.bytes) bad(`tensor ${quoted(entry.name)}: got ${tensorBytes.length} bytes, expected ${entry.bytes}`);
  const got = crc32Hex(crc32(tensorBytes));
  if (got !== entry.crc32) bad(`tensor ${quoted(entry.name)}: CRC-32 mismatch, got ${got}, expected ${entry.crc32}`);
}

/**
 * Decode one tensor's bytes (exactly entry.bytes long): views when the bytes are 4-aligned in
 * their buffer and the machine is little-endian, copies otherwise.
 */
export function decodeTensor(entry: TensorEntry, tensorBytes: Uint8Array): TensorData {
  if (tensorBytes.length !== entry.bytes) bad(`tensor ${quoted(entry.name)}: got ${tensorBytes.length} bytes, expected ${entry.bytes}`);
  const f32At = (at: number, n: number): Float32Array => {
    const off = tensorBytes.byteOffset + at;
    if (LITTLE_ENDIAN && off % 4 === 0) return new Float32Array(tensorBytes.buffer, off, n);
    const out = new Float32Array(n);
    const dv = new DataView(tensorBytes.buffer, off, 4 * n);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    return out;
  };
  if (entry.dtype === 'f32') return f32At(0, entry.bytes / 4);
  const [rows, cols] = entry.shape;
  if (entry.dtype === 'q4') {
    const ns = rows * cols / Q4_GROUP;
    const q4 = tensorBytes.subarray(0, rows * cols / 2);
    const scales = f32At(align64(rows * cols / 2), ns);
    for (let i = 0; i < ns; i++) {
      const s = scales[i];
      if (!(Math.abs(s) <= 3.4028234663852886e38)) bad(`tensor ${quoted(entry.name)}: scale of group ${i % (cols / Q4_GROUP)} of row ${Math.floor(i / (cols / Q4_GROUP))} got ${s}, expected a finite number`);
    }
    return { q4, scales, group: Q4_GROUP };
  }
  const q = new Int8Array(tensorBytes.buffer, tensorBytes.byteOffset, rows * cols);
  const scales = f32At(align64(rows * cols), rows);
  for (let r = 0; r < rows; r++) {
    const s = scales[r];
    if (!(s >= 0 && s <= 3.4028234663852886e38)) bad(`tensor ${quoted(entry.name)}: scale of row ${r} got ${s}, expected a finite non-negative number`);
  }
  return { q, scales };
}

/**
 * Open a whole weights file held in memory. With `verify` (the default) every tensor's CRC-32 is
 * checked up front (about 1 s per GB).
 */
export function readWeightsFile(bytes: Uint8Array, { verify = true }: { verify?: boolean } = {}): WeightsFile {
  const { header, dataStart } = parseWeightsHeader(bytes);
  const expectedLength = dataStart + header.data_bytes;
  if (bytes.length < expectedLength) {
    bad(`truncated: ${bytes.length} bytes, expected ${expectedLength} (data section of ${header.data_bytes} bytes at ${dataStart})`);
  }
  if (bytes.length > expectedLength) bad(`${bytes.length - expectedLength} trailing bytes: file is ${bytes.length} bytes, expected ${expectedLength}`);
  const byName = new Map<string, TensorEntry>();
  for (const e of header.tensors) byName.set(e.name, e);
  const slice = (e: TensorEntry): Uint8Array => bytes.subarray(dataStart + e.offset, dataStart + e.offset + e.bytes);
  if (verify) for (const e of header.tensors) verifyTensorBytes(e, slice(e));
  return {
    header,
    dataStart,
    tensor(name: string) {
      const entry = byName.get(name);
      if (!entry) return fail('UNKNOWN_TENSOR', `weights file has no tensor "${name}" (it has ${byName.size} tensors)`);
      return { entry, data: decodeTensor(entry, slice(entry)) };
    },
  };
}
