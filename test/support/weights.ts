// Weights files with a chosen dtype per tensor (the writer's own rule, storedDtype, never mixes
// f32 and quantized matrices inside a block): for tests of what the loader does with such files.
import { crc32, crc32Hex } from '../../src/format/crc32.js';
import {
  align64, encodeHeaderBlock, encodeTensorBytes, parseWeightsHeader, PREAMBLE_BYTES, tensorBytes, type InputTensor, type TensorDtype, type TensorEntry, type WeightsFileOptions,
} from '../../src/format/weights-file.js';

/** A weights file of `tensors`, each stored as `dtypeOf(tensor)` (q8 / q4 only for 2-D tensors). */
export function weightsFileWithDtypes(opts: WeightsFileOptions, tensors: Iterable<InputTensor>, dtypeOf: (t: InputTensor) => TensorDtype): Uint8Array {
  const list = Array.from(tensors);
  const entries: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of list) {
    const dtype = dtypeOf(t);
    const entry: TensorEntry = { name: t.name, dtype, shape: t.shape.slice(), offset, bytes: tensorBytes(dtype, t.shape), crc32: '00000000' };
    const bytes = encodeTensorBytes(entry, t.data);
    entry.crc32 = crc32Hex(crc32(bytes));
    entries.push(entry);
    chunks.push(bytes);
    offset = align64(offset + entry.bytes);
  }
  const head = encodeHeaderBlock(opts, entries, offset);
  const out = new Uint8Array(head.length + offset);
  out.set(head, 0);
  entries.forEach((e, i) => out.set(chunks[i], head.length + e.offset));
  return out;
}

/**
 * A copy of weights file `file` with the stored bytes of tensor `name` edited in place by `edit`,
 * and its CRC-32 (and the header's) recomputed: a file that passes every checksum.
 */
export function patchTensor(file: Uint8Array, name: string, edit: (bytes: Uint8Array, entry: TensorEntry) => void): Uint8Array {
  const out = file.slice();
  const { header, dataStart } = parseWeightsHeader(out);
  const entry = header.tensors.find((e) => e.name === name);
  if (!entry) throw new Error(`patchTensor: no tensor ${name}`);
  const bytes = out.subarray(dataStart + entry.offset, dataStart + entry.offset + entry.bytes);
  edit(bytes, entry);
  const headerLength = new DataView(out.buffer).getUint32(12, true);
  const text = new TextDecoder().decode(out.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength));
  const field = `"name":${JSON.stringify(name)},`;
  const at = text.indexOf(field);
  const crcAt = text.indexOf(`"crc32":"${entry.crc32}"`, at) + '"crc32":"'.length;
  out.set(new TextEncoder().encode(crc32Hex(crc32(bytes))), PREAMBLE_BYTES + crcAt);
  new DataView(out.buffer).setUint32(16, crc32(out.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength)), true);
  return out;
}

/** Float32 `value` into little-endian `bytes` at byte offset `at`. */
export function setF32(bytes: Uint8Array, at: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setFloat32(at, value, true);
}

/** A copy of weights file `file` with its header JSON text rewritten by `edit` (CRC and data start recomputed). */
export function withHeaderText(file: Uint8Array, edit: (text: string) => string): Uint8Array {
  const { dataStart } = parseWeightsHeader(file);
  const headerLength = new DataView(file.buffer, file.byteOffset).getUint32(12, true);
  const text = edit(new TextDecoder().decode(file.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength)));
  const header = new TextEncoder().encode(text);
  const start = align64(PREAMBLE_BYTES + header.length);
  const out = new Uint8Array(start + file.length - dataStart);
  out.set(file.subarray(0, PREAMBLE_BYTES));
  const dv = new DataView(out.buffer);
  dv.setUint32(12, header.length, true);
  dv.setUint32(16, crc32(header), true);
  out.set(header, PREAMBLE_BYTES);
  out.set(file.subarray(dataStart), start);
  return out;
}
