import { describeValue, fail, InstructorError } from '../../errors.js';
import { readExact, type ByteSource } from './source.js';
import { jsonTextDepth, MAX_JSON_DEPTH } from '../json.js';
import type { TensorInfo, TensorReader } from './index.js';

/** Largest JSON header we accept (the safetensors library itself uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Byte size of every dtype of the safetensors format. Only F32, F16 and BF16 can be read. */
const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8, C64: 8,
};

/** The float dtypes that readers convert to float32 (safetensors spelling). */
export type FloatDtype = 'F32' | 'F16' | 'BF16';

export function isFloatDtype(d: string): d is FloatDtype {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

export function dtypeSize(d: FloatDtype): number {
  return d === 'F32' ? 4 : 2;
}

const f16Scratch = new Float32Array(1);
const f16ScratchU = new Uint32Array(f16Scratch.buffer);

/** IEEE binary16 bits -> number (exact: every half value is a float32). */
export function f16ToF32(h: number): number {
  const s = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) {
    f16ScratchU[0] = s | 0x7f800000 | (m << 13); // inf, or nan keeping its payload
    return f16Scratch[0];
  }
  if (e === 0) {
    const v = m * 2 ** -24; // zero or subnormal
    return s ? -v : v;
  }
  f16ScratchU[0] = s | ((e + 112) << 23) | (m << 13);
  return f16Scratch[0];
}

/** bfloat16 bits -> number (the high half of a float32). */
export function bf16ToF32(h: number): number {
  f16ScratchU[0] = (h & 0xffff) << 16;
  return f16Scratch[0];
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes little-endian F32 / F16 / BF16 bytes into a Float32Array. The result never aliases
 * `bytes` unless `owned` is true (the caller hands the buffer over), which saves a copy for F32.
 */
export function decodeFloats(bytes: Uint8Array, dtype: FloatDtype, owned = false): Float32Array {
  const size = dtypeSize(dtype);
  if (bytes.length % size !== 0) fail('BAD_FILE', `${dtype} data of ${bytes.length} bytes is not a multiple of ${size}`);
  const n = bytes.length / size;
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN_HOST) {
      if (owned && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
      return new Float32Array(bytes.slice().buffer, 0, n);
    }
    const out = new Float32Array(n);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    return out;
  }
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  if (dtype === 'BF16') {
    for (let i = 0; i < n; i++) bits[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
    return out;
  }
  for (let i = 0; i < n; i++) {
    const h = bytes[2 * i] | (bytes[2 * i + 1] << 8);
    const e = (h >>> 10) & 0x1f;
    if (e === 0) out[i] = f16ToF32(h); // zero / subnormal: exact as a float32 normal
    else bits[i] = ((h & 0x8000) << 16) | (e === 0x1f ? 0x7f800000 : (e + 112) << 23) | ((h & 0x3ff) << 13);
  }
  return out;
}

/** Product of dims, failing if it is not a safe integer. */
export function numelOf(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) fail('BAD_FILE', `${what}: shape [${shape.join(', ')}] has too many elements`);
  }
  return n;
}

interface StEntry {
  dtype: string;
  shape: number[];
  begin: number; // absolute file offsets
  end: number;
}

/**
 * Opens a `.safetensors` file: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {...}}`, then the data.
 * Everything in the header is validated before any tensor is read; tensors are read one at a time.
 */
export async function openSafetensors(src: ByteSource): Promise<TensorReader> {
  if (src.size < 8) fail('BAD_FILE', `safetensors: file of ${src.size} bytes is too small, expected at least 8 (header length)`);
  const lenBytes = await readExact(src, 0, 8, 'safetensors header length');
  const dv = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const lo = dv.getUint32(0, true), hi = dv.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > MAX_HEADER_BYTES) {
    fail('BAD_FILE', `safetensors: header length ${headerLen} is absurd, expected at most ${MAX_HEADER_BYTES} bytes (not a safetensors file?)`);
  }
  if (8 + headerLen > src.size) {
    fail('BAD_FILE', `safetensors: header length ${headerLen} goes beyond the end of the file (${src.size} bytes); truncated or not a safetensors file`);
  }
  if (headerLen < 2) fail('BAD_FILE', `safetensors: header length ${headerLen} is too small for a JSON object`);
  const headerBytes = await readExact(src, 8, headerLen, 'safetensors header');
  let json: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    const depth = jsonTextDepth(text);
    if (depth > MAX_JSON_DEPTH) fail('BAD_FILE', `safetensors: header JSON nests ${depth} deep, expected at most ${MAX_JSON_DEPTH}`);
    json = JSON.parse(text);
  } catch (e) {
    if (e instanceof InstructorError) throw e;
    fail('BAD_FILE', `safetensors: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    fail('BAD_FILE', `safetensors: header must be a JSON object, got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = src.size - dataStart;
  const entries = new Map<string, StEntry>();
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const what = `safetensors: tensor "${name}"`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('BAD_FILE', `${what}: expected an object {dtype, shape, data_offsets}, got ${describeValue(raw)}`);
    const t = raw as Record<string, unknown>;
    if (typeof t.dtype !== 'string') fail('BAD_FILE', `${what}: dtype must be a string, got ${describeValue(t.dtype)}`);
    const size = DTYPE_SIZES[t.dtype];
    if (size === undefined) fail('BAD_FILE', `${what}: unknown dtype "${t.dtype}", expected one of ${Object.keys(DTYPE_SIZES).join(', ')}`);
    if (!Array.isArray(t.shape) || t.shape.length > 32 || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail('BAD_FILE', `${what}: shape must be an array of at most 32 non-negative integers, got ${describeValue(t.shape)}`);
    }
    const shape = t.shape as number[];
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail('BAD_FILE', `${what}: data_offsets must be two non-negative integers, got ${describeValue(off)}`);
    }
    const [b, e] = off as number[];
    if (b > e || e > dataLen) {
      fail('BAD_FILE', `${what}: data_offsets [${b}, ${e}] lie outside the data section of ${dataLen} bytes`);
    }
    const bytes = numelOf(shape, what) * size;
    if (e - b !== bytes) {
      fail('BAD_FILE', `${what}: data_offsets [${b}, ${e}] span ${e - b} bytes, expected ${bytes} for ${t.dtype} [${shape.join(', ')}]`);
    }
    entries.set(name, { dtype: t.dtype, shape: shape.slice(), begin: dataStart + b, end: dataStart + e });
  }
  // The format requires the tensors to cover the data section exactly, without holes or overlaps
  // (safetensors' own validate: "MetadataIncompleteBuffer"), so a header length off by one, which
  // shifts every tensor by a byte, or bytes appended after the last tensor, is refused.
  const sorted = [...entries].sort((x, y) => x[1].begin - y[1].begin || x[1].end - y[1].end);
  let covered = dataStart;
  for (let i = 0; i < sorted.length; i++) {
    const [name, e] = sorted[i];
    if (e.begin < covered) {
      fail('BAD_FILE', `safetensors: tensors "${sorted[i - 1][0]}" and "${name}" overlap (bytes ${e.begin - dataStart} < ${covered - dataStart})`);
    }
    if (e.begin > covered) {
      fail('BAD_FILE', `safetensors: bytes [${covered - dataStart}, ${e.begin - dataStart}) of the data section belong to no tensor (before "${name}"); the format requires the tensors to cover it exactly`);
    }
    covered = e.end;
  }
  if (covered !== src.size) {
    fail('BAD_FILE', `safetensors: the data section is ${dataLen} bytes but its tensors cover ${covered - dataStart}; the format requires exact coverage (a header length off by one, or bytes appended)`);
  }
  return new SafetensorsReader(src, entries);
}

class SafetensorsReader implements TensorReader {
  constructor(private readonly src: ByteSource, private readonly entries: Map<string, StEntry>) {}

  names(): string[] {
    return [...this.entries.keys()];
  }

  private get(name: string): StEntry {
    const e = this.entries.get(name);
    if (!e) fail('UNKNOWN_TENSOR', `safetensors: no tensor named "${name}" (the file has ${this.entries.size} tensors)`);
    return e;
  }

  info(name: string): TensorInfo {
    const e = this.get(name);
    return { dtype: e.dtype, shape: e.shape.slice() };
  }

  async read(name: string): Promise<Float32Array> {
    const e = this.get(name);
    if (!isFloatDtype(e.dtype)) {
      fail('BAD_FILE', `safetensors: tensor "${name}" has dtype ${e.dtype}; only F32, F16 and BF16 can be read`);
    }
    const bytes = await readExact(this.src, e.begin, e.end - e.begin, `safetensors tensor "${name}"`);
    return decodeFloats(bytes, e.dtype, this.src.fresh === true);
  }

  async close(): Promise<void> {
    await this.src.close?.();
  }
}
