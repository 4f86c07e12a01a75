// Node / Deno / Bun: write a weights file to disk, streaming, with memory bounded to about one
// tensor. The output is byte-identical to encodeWeightsFile (format: weights-file.ts).
import { open, rm, type FileHandle } from 'node:fs/promises';
import { crc32, crc32Hex } from './crc32.js';
import { fail } from '../errors.js';
import { writeAllAt } from './fs-node.js';
import {
  align64, checkInputLayout, checkWriteOptions, encodeHeaderBlock, encodeTensorBytes, planLayout,
  configLayers, storedDtype, tensorBytes,
  type InputTensor, type TensorEntry, type WeightsFileOptions,
} from './weights-file.js';

export interface WriteWeightsFileOptions extends WeightsFileOptions {
  /**
   * Names and shapes of the tensors in the order they will come (e.g. t5TensorShapes(c) plus the
   * Dense weight). With it the header is written first and patched at the end (one pass over the
   * data). Without it the data goes to a temporary file `${path}.data.tmp` that is then copied
   * after the header.
   */
  layout?: Array<{ name: string; shape: number[] }>;
}

const ZEROS = new Uint8Array(64);
const COPY_CHUNK = 16 * 1024 * 1024;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Stream `tensors` into the data section at `base`, in order; fills in the crcs of `entries`. */
async function streamData(
  fh: FileHandle, base: number, tensors: Iterable<InputTensor> | AsyncIterable<InputTensor>,
  next: (t: InputTensor, index: number) => TensorEntry, count?: number,
): Promise<{ entries: TensorEntry[]; dataBytes: number }> {
  const entries: TensorEntry[] = [];
  let pos = 0;
  let index = 0;
  for await (const t of tensors) {
    if (count !== undefined && index >= count) {
      fail('BAD_INPUT', `weights file: got more tensors than the ${count} of the layout ("${t?.name}" is extra)`);
    }
    const entry = next(t, index++);
    const bytes = encodeTensorBytes(entry, t.data);
    entry.crc32 = crc32Hex(crc32(bytes));
    await writeAllAt(fh, bytes, base + entry.offset, 'weights file');
    const end = entry.offset + entry.bytes;
    pos = align64(end);
    if (pos > end) await writeAllAt(fh, ZEROS.subarray(0, pos - end), base + end, 'weights file');
    entries.push(entry);
  }
  if (count !== undefined && index !== count) fail('BAD_INPUT', `weights file: got ${index} tensors, the layout has ${count}`);
  return { entries, dataBytes: pos };
}

/**
 * Write a weights file to `path` (replacing it). `tensors` may be sync or async and is consumed
 * once; each tensor's data can be dropped after it is yielded.
 */
export async function writeWeightsFile(
  path: string, opts: WriteWeightsFileOptions, tensors: Iterable<InputTensor> | AsyncIterable<InputTensor>,
): Promise<void> {
  checkWriteOptions(opts);
  if (opts.layout) {
    const plan = planLayout(opts.layout, opts.dtype, configLayers(opts.config));
    const head = encodeHeaderBlock(opts, plan.entries, plan.dataBytes); // placeholder crcs
    const fh = await open(path, 'w');
    try {
      await writeAllAt(fh, head, 0, 'weights file');
      await streamData(fh, head.length, tensors, (t, i) => {
        const e = plan.entries[i];
        if (!t || t.name !== e?.name || !sameShape(t.shape, e.shape)) {
          fail('BAD_INPUT', `weights file: tensor #${i} got "${t?.name}" ${JSON.stringify(t?.shape)}, the layout expects "${e?.name}" ${JSON.stringify(e?.shape)}`);
        }
        return e;
      }, plan.entries.length);
      const final = encodeHeaderBlock(opts, plan.entries, plan.dataBytes);
      if (final.length !== head.length) fail('BAD_INPUT', 'weights file: header length changed while patching crcs');
      await writeAllAt(fh, final, 0, 'weights file');
    } finally {
      await fh.close();
    }
    return;
  }
  // No layout: data first into a temporary file, then header + data into `path`.
  const numLayers = configLayers(opts.config);
  const tmp = `${path}.data.tmp`;
  const seen = new Set<string>();
  let offset = 0;
  const tfh = await open(tmp, 'w+');
  try {
    const { entries, dataBytes } = await streamData(tfh, 0, tensors, (t) => {
      checkInputLayout(t?.name, t?.shape, seen);
      const dtype = storedDtype(t.name, t.shape, opts.dtype, numLayers);
      const e: TensorEntry = { name: t.name, dtype, shape: t.shape.slice(), offset, bytes: tensorBytes(dtype, t.shape), crc32: '00000000' };
      offset = align64(offset + e.bytes);
      return e;
    });
    const head = encodeHeaderBlock(opts, entries, dataBytes);
    const fh = await open(path, 'w');
    try {
      await writeAllAt(fh, head, 0, 'weights file');
      const buf = new Uint8Array(Math.min(COPY_CHUNK, Math.max(dataBytes, 1)));
      for (let done = 0; done < dataBytes;) {
        const { bytesRead } = await tfh.read(buf, 0, Math.min(buf.length, dataBytes - done), done);
        if (bytesRead <= 0) fail('BAD_INPUT', `weights file: temporary file ${tmp} ended at ${done} of ${dataBytes} bytes`);
        await writeAllAt(fh, buf.subarray(0, bytesRead), head.length + done, 'weights file');
        done += bytesRead;
      }
    } finally {
      await fh.close();
    }
  } finally {
    await tfh.close();
    await rm(tmp, { force: true });
  }
}
