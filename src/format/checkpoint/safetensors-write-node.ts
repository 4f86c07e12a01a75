// Node / Deno / Bun: write a float32 `.safetensors` file streaming, one tensor at a time.
// The header is computed from the layout first (every offset is known up front), then each
// tensor's bytes are written as it comes, so memory stays at about one tensor whatever the file
// size. The file is written to a temporary name of this process beside it and renamed at the end: an interrupted write never
// leaves a half file under `path`.

import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { fail } from '../../errors.js';
import { tmpName, writeAllAt } from '../fs-node.js';

export interface SafetensorsLayoutEntry {
  name: string;
  shape: number[];
}

export interface WriteSafetensorsOptions {
  /** String -> string metadata (`__metadata__`); default {format: 'pt'} as PyTorch writers use. */
  metadata?: Record<string, string>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const CHUNK_ELEMENTS = 1 << 22; // big-endian hosts: converted 16 MB at a time

/** The header bytes (8-byte length + JSON padded with spaces to a multiple of 8) and each tensor's data offset. */
export function safetensorsHeader(
  layout: readonly SafetensorsLayoutEntry[], metadata: Record<string, string> = { format: 'pt' },
): { header: Uint8Array; offsets: number[]; dataBytes: number } {
  const json: Record<string, unknown> = { __metadata__: metadata };
  const offsets: number[] = [];
  const seen = new Set<string>();
  let pos = 0;
  for (const t of layout) {
    if (typeof t?.name !== 'string' || t.name.length === 0 || t.name === '__metadata__') {
      fail('BAD_INPUT', `safetensors writer: bad tensor name ${JSON.stringify(t?.name)}`);
    }
    if (seen.has(t.name)) fail('BAD_INPUT', `safetensors writer: duplicate tensor "${t.name}"`);
    seen.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail('BAD_INPUT', `safetensors writer: tensor "${t.name}" shape must be non-negative integers, got ${JSON.stringify(t.shape)}`);
    }
    const bytes = 4 * t.shape.reduce((p, d) => p * d, 1);
    offsets.push(pos);
    json[t.name] = { dtype: 'F32', shape: t.shape.slice(), data_offsets: [pos, pos + bytes] };
    pos += bytes;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return { header, offsets, dataBytes: pos };
}

/**
 * Writes `tensors` (sync or async, consumed once, in `layout` order, float32 data) as a
 * safetensors file at `path`. Each tensor's name and shape must match the layout (BAD_INPUT).
 */
export async function writeSafetensors(
  path: string,
  layout: readonly SafetensorsLayoutEntry[],
  tensors: Iterable<{ name: string; shape: number[]; data: Float32Array }> | AsyncIterable<{ name: string; shape: number[]; data: Float32Array }>,
  options: WriteSafetensorsOptions = {},
): Promise<void> {
  const { header, offsets } = safetensorsHeader(layout, options.metadata);
  const tmp = tmpName(path);
  const fh = await open(tmp, 'wx');
  let ok = false;
  try {
    await writeAllAt(fh, header, 0, 'safetensors writer');
    let i = 0;
    for await (const t of tensors) {
      const want = layout[i];
      if (!want) fail('BAD_INPUT', `safetensors writer: got more tensors than the ${layout.length} of the layout ("${t?.name}" is extra)`);
      const n = want.shape.reduce((p, d) => p * d, 1);
      if (t?.name !== want.name || !Array.isArray(t.shape) || t.shape.length !== want.shape.length || t.shape.some((d, k) => d !== want.shape[k])) {
        fail('BAD_INPUT', `safetensors writer: tensor #${i} got "${t?.name}" ${JSON.stringify(t?.shape)}, the layout expects "${want.name}" ${JSON.stringify(want.shape)}`);
      }
      if (!(t.data instanceof Float32Array) || t.data.length !== n) {
        fail('BAD_INPUT', `safetensors writer: tensor "${t.name}" data must be a Float32Array of ${n} values`);
      }
      const at = header.length + offsets[i];
      if (LITTLE_ENDIAN) {
        await writeAllAt(fh, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at, 'safetensors writer');
      } else {
        for (let s = 0; s < n; s += CHUNK_ELEMENTS) {
          const m = Math.min(CHUNK_ELEMENTS, n - s);
          const buf = new Uint8Array(4 * m);
          const dv = new DataView(buf.buffer);
          for (let k = 0; k < m; k++) dv.setFloat32(4 * k, t.data[s + k], true);
          await writeAllAt(fh, buf, at + 4 * s, 'safetensors writer');
        }
      }
      i++;
    }
    if (i !== layout.length) fail('BAD_INPUT', `safetensors writer: got ${i} tensors, the layout has ${layout.length}`);
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await rm(tmp, { force: true });
  }
  await rename(tmp, path);
}
