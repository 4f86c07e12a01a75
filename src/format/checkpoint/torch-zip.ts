import { fail } from '../../errors.js';
import { readExact, type ByteSource } from './source.js';
import { crc32 } from '../crc32.js';

/**
 * A minimal, defensive zip reader for PyTorch checkpoints (torch.save writes a zip of stored
 * entries: `<prefix>/data.pkl`, `<prefix>/data/<key>`, ...). Supports zip64 (files > 4 GiB,
 * e.g. instructor-xl). Never trusts a size or offset before checking it against the file.
 */

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** The central directory is read in one piece; bound it (xl has ~500 entries, ~50 KB). */
export const MAX_CENTRAL_DIRECTORY_BYTES = 64 << 20;
/** Largest entry that `readEntry` inflates or reads whole (data.pkl, byteorder, version...). */
export const MAX_SMALL_ENTRY_BYTES = 256 << 20;

/** Bytes per crc32 call while checking a storage (the crc32 of a piece continues the previous one). */
const CRC_PIECE = 1 << 24;

export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflate
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  /** The name's bytes as the central directory spells them (the local header must spell them so too). */
  nameBytes: Uint8Array;
  /** Where the next entry's local header (or the central directory) starts: this entry's data must end by then. */
  extentEnd: number;
}

function u64(dv: DataView, at: number, what: string): number {
  const lo = dv.getUint32(at, true), hi = dv.getUint32(at + 4, true);
  const v = hi * 2 ** 32 + lo;
  if (!Number.isSafeInteger(v)) fail('BAD_FILE', `zip: ${what} ${v} is not a usable size or offset`);
  return v;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export class ZipReader {
  private readonly byName = new Map<string, ZipEntry>();
  private readonly dataStarts = new Map<string, number>();

  private constructor(readonly src: ByteSource, readonly entries: ZipEntry[]) {
    for (const e of entries) this.byName.set(e.name, e);
  }

  /** Parses the end of central directory (zip64 too) and the whole central directory. */
  static async open(src: ByteSource): Promise<ZipReader> {
    const size = src.size;
    if (!Number.isSafeInteger(size) || size < EOCD_SIZE) {
      fail('BAD_FILE', `zip: file of ${size} bytes is too small to be a zip (at least ${EOCD_SIZE} bytes expected)`);
    }
    // 1. End of central directory: the last 22 bytes plus at most a 64 KiB comment.
    const tailLen = Math.min(size, EOCD_SIZE + MAX_COMMENT);
    const tailStart = size - tailLen;
    const tail = await readExact(src, tailStart, tailLen, 'zip end of central directory');
    const tdv = view(tail);
    let eocd = -1;
    for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
      if (tdv.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tdv.getUint16(i + 20, true) <= tailLen) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      fail('BAD_FILE', `zip: no end-of-central-directory record in the last ${tailLen} bytes; the file is truncated or not a zip (a legacy non-zip torch.save file is not supported either)`);
    }
    const eocdAbs = tailStart + eocd;
    const disk = tdv.getUint16(eocd + 4, true), cdDisk = tdv.getUint16(eocd + 6, true);
    let count = tdv.getUint16(eocd + 10, true);
    const countOnDisk = tdv.getUint16(eocd + 8, true);
    let cdSize = tdv.getUint32(eocd + 12, true);
    let cdOffset = tdv.getUint32(eocd + 16, true);
    let cdEnd = eocdAbs; // where the central directory must end at the latest
    // 2. zip64: a locator 20 bytes before the EOCD points to the zip64 EOCD record.
    let zip64 = false;
    if (eocdAbs >= 20) {
      const loc = await readExact(src, eocdAbs - 20, 20, 'zip64 end of central directory locator');
      const ldv = view(loc);
      if (ldv.getUint32(0, true) === SIG_ZIP64_LOCATOR) {
        zip64 = true;
        const recOffset = u64(ldv, 8, 'zip64 end-of-central-directory offset');
        if (recOffset + 56 > eocdAbs - 20) {
          fail('BAD_FILE', `zip: zip64 end-of-central-directory record at offset ${recOffset} lies beyond its locator at ${eocdAbs - 20}; truncated or corrupt`);
        }
        const rec = await readExact(src, recOffset, 56, 'zip64 end of central directory');
        const rdv = view(rec);
        if (rdv.getUint32(0, true) !== SIG_ZIP64_EOCD) {
          fail('BAD_FILE', `zip: bad zip64 end-of-central-directory signature 0x${rdv.getUint32(0, true).toString(16)} at offset ${recOffset}, expected 0x${SIG_ZIP64_EOCD.toString(16)}`);
        }
        if (rdv.getUint32(16, true) !== 0 || rdv.getUint32(20, true) !== 0) fail('BAD_FILE', 'zip: multi-disk (split) zip64 archives are not supported');
        const n64OnDisk = u64(rdv, 24, 'zip64 entry count');
        count = u64(rdv, 32, 'zip64 entry count');
        if (n64OnDisk !== count) fail('BAD_FILE', `zip: zip64 entries on this disk ${n64OnDisk} != total entries ${count} (split archive?)`);
        cdSize = u64(rdv, 40, 'zip64 central directory size');
        cdOffset = u64(rdv, 48, 'zip64 central directory offset');
        cdEnd = recOffset;
      }
    }
    if (!zip64) {
      if (disk !== 0 || cdDisk !== 0 || countOnDisk !== count) fail('BAD_FILE', `zip: multi-disk (split) archives are not supported (disk ${disk}, central directory disk ${cdDisk})`);
      if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
        fail('BAD_FILE', 'zip: end-of-central-directory record says zip64 but there is no zip64 locator; truncated or corrupt');
      }
    }
    if (cdOffset + cdSize > cdEnd) {
      fail('BAD_FILE', `zip: central directory [${cdOffset}, ${cdOffset + cdSize}) goes beyond its end record at ${cdEnd} (file of ${size} bytes); truncated or corrupt`);
    }
    if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES) fail('BAD_FILE', `zip: central directory of ${cdSize} bytes is too large, expected at most ${MAX_CENTRAL_DIRECTORY_BYTES}`);
    if (count * 46 > cdSize) fail('BAD_FILE', `zip: ${count} entries cannot fit in a central directory of ${cdSize} bytes`);
    // 3. Central directory entries.
    const cd = await readExact(src, cdOffset, cdSize, 'zip central directory');
    const cdv = view(cd);
    const entries: ZipEntry[] = [];
    const seen = new Set<string>();
    const dec = new TextDecoder('utf-8');
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize) fail('BAD_FILE', `zip: central directory entry ${i} at ${cdOffset + p} is cut off by the end of the directory`);
      if (cdv.getUint32(p, true) !== SIG_CENTRAL) {
        fail('BAD_FILE', `zip: bad central directory signature 0x${cdv.getUint32(p, true).toString(16)} for entry ${i} at offset ${cdOffset + p}, expected 0x${SIG_CENTRAL.toString(16)}`);
      }
      const flags = cdv.getUint16(p + 8, true);
      const method = cdv.getUint16(p + 10, true);
      const crc = cdv.getUint32(p + 16, true);
      let compressedSize = cdv.getUint32(p + 20, true);
      let uncompressedSize = cdv.getUint32(p + 24, true);
      const nameLen = cdv.getUint16(p + 28, true);
      const extraLen = cdv.getUint16(p + 30, true);
      const commentLen = cdv.getUint16(p + 32, true);
      const diskStart = cdv.getUint16(p + 34, true);
      let localHeaderOffset = cdv.getUint32(p + 42, true);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cdSize) fail('BAD_FILE', `zip: central directory entry ${i} (${end - p} bytes) runs past the end of the directory`);
      const nameBytes = cd.slice(p + 46, p + 46 + nameLen);
      const name = dec.decode(nameBytes);
      // zip64 extended information extra field (id 1): only the saturated fields, in order.
      let q = p + 46 + nameLen;
      const qEnd = q + extraLen;
      while (q + 4 <= qEnd) {
        const id = cdv.getUint16(q, true), len = cdv.getUint16(q + 2, true);
        if (q + 4 + len > qEnd) fail('BAD_FILE', `zip: extra field of entry "${name}" runs past its end`);
        if (id === 1) {
          let r = q + 4;
          const take = (what: string): number => {
            if (r + 8 > q + 4 + len) fail('BAD_FILE', `zip: zip64 extra field of entry "${name}" is too short for the ${what}`);
            const v = u64(cdv, r, `zip64 ${what} of "${name}"`);
            r += 8;
            return v;
          };
          if (uncompressedSize === 0xffffffff) uncompressedSize = take('uncompressed size');
          if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('local header offset');
        }
        q += 4 + len;
      }
      if (uncompressedSize === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
        fail('BAD_FILE', `zip: entry "${name}" has saturated 32-bit sizes but no zip64 extra field`);
      }
      if (diskStart !== 0 && diskStart !== 0xffff) fail('BAD_FILE', `zip: entry "${name}" starts on disk ${diskStart}; split archives are not supported`);
      if (flags & 1) fail('BAD_FILE', `zip: entry "${name}" is encrypted, which is not supported`);
      if (localHeaderOffset + 30 + compressedSize > cdOffset) {
        fail('BAD_FILE', `zip: entry "${name}" (local header at ${localHeaderOffset}, ${compressedSize} bytes) points beyond the data area, which ends at ${cdOffset} (file of ${size} bytes)`);
      }
      if (method === 0 && compressedSize !== uncompressedSize) {
        fail('BAD_FILE', `zip: stored entry "${name}" has compressed size ${compressedSize} != uncompressed size ${uncompressedSize}`);
      }
      if (seen.has(name)) fail('BAD_FILE', `zip: duplicate entry "${name}"`);
      seen.add(name);
      entries.push({ name, method, flags, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset, nameBytes, extentEnd: cdOffset });
      p = end;
    }
    // Every entry owns [its local header, its data end), and no two may share bytes: a central
    // directory entry pointing at another entry's local header (or into its data) would read that
    // entry's bytes as its own.
    const byOffset = entries.slice().sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
    for (let i = 0; i < byOffset.length; i++) {
      const e = byOffset[i];
      const next = i + 1 < byOffset.length ? byOffset[i + 1] : null;
      e.extentEnd = next ? next.localHeaderOffset : cdOffset;
      const minEnd = e.localHeaderOffset + 30 + e.nameBytes.length + e.compressedSize;
      if (minEnd > e.extentEnd) {
        fail('BAD_FILE', next
          ? `zip: entry "${e.name}" (local header at ${e.localHeaderOffset}, at least ${minEnd - e.localHeaderOffset} bytes with its data) overlaps entry "${next.name}" at ${next.localHeaderOffset}`
          : `zip: entry "${e.name}" (local header at ${e.localHeaderOffset}, ${e.compressedSize} bytes) runs into the central directory at ${cdOffset}`);
      }
    }
    return new ZipReader(src, entries);
  }

  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * Absolute offset of the entry's data, from its local header, which must agree with the central
   * directory: same name, method and (without a data descriptor) CRC-32 and sizes. Its extra field
   * may differ from the central one (torch pads the local one to align the data).
   */
  async dataOffset(e: ZipEntry): Promise<number> {
    const cached = this.dataStarts.get(e.name);
    if (cached !== undefined) return cached;
    const nameBytes = e.nameBytes;
    const h = await readExact(this.src, e.localHeaderOffset, 30 + nameBytes.length, `zip local header of "${e.name}"`);
    const dv = view(h);
    if (dv.getUint32(0, true) !== SIG_LOCAL) {
      fail('BAD_FILE', `zip: bad local header signature 0x${dv.getUint32(0, true).toString(16)} for "${e.name}" at offset ${e.localHeaderOffset}, expected 0x${SIG_LOCAL.toString(16)}`);
    }
    const disagree = (what: string, local: string | number, central: string | number): never =>
      fail('BAD_FILE', `zip: local header of "${e.name}" at ${e.localHeaderOffset} says ${what} ${local}, the central directory ${central}; the file is corrupt`);
    const method = dv.getUint16(8, true);
    if (method !== e.method) disagree('method', method, e.method);
    const nameLen = dv.getUint16(26, true);
    const localName = h.subarray(30, 30 + Math.min(nameLen, nameBytes.length));
    if (nameLen !== nameBytes.length || localName.some((b, i) => b !== nameBytes[i])) {
      disagree('name', JSON.stringify(new TextDecoder().decode(localName)), JSON.stringify(e.name));
    }
    const flags = dv.getUint16(6, true);
    if ((flags & 8) === 0) { // no data descriptor: the local header carries CRC and sizes
      const crc = dv.getUint32(14, true), csize = dv.getUint32(18, true), usize = dv.getUint32(22, true);
      if (crc !== e.crc32) disagree('CRC-32', `0x${crc.toString(16)}`, `0x${e.crc32.toString(16)}`);
      if (csize !== 0xffffffff && csize !== e.compressedSize) disagree('compressed size', csize, e.compressedSize);
      if (usize !== 0xffffffff && usize !== e.uncompressedSize) disagree('size', usize, e.uncompressedSize);
    }
    const start = e.localHeaderOffset + 30 + nameLen + dv.getUint16(28, true);
    if (start + e.compressedSize > e.extentEnd) {
      fail('BAD_FILE', `zip: data of "${e.name}" [${start}, ${start + e.compressedSize}) runs past ${e.extentEnd}, where the next entry or the central directory starts; truncated or corrupt`);
    }
    this.dataStarts.set(e.name, start);
    return start;
  }

  /**
   * The whole of a stored entry, its CRC-32 checked as it is read (in pieces of CRC_PIECE bytes),
   * so no storage is used unchecked.
   */
  async readStoredVerified(e: ZipEntry): Promise<Uint8Array> {
    const out = await this.readStored(e, 0, e.uncompressedSize);
    let c = 0;
    for (let at = 0; at < out.length; at += CRC_PIECE) c = crc32(out.subarray(at, Math.min(at + CRC_PIECE, out.length)), c);
    if (c !== e.crc32) fail('BAD_FILE', `zip: CRC-32 of "${e.name}" is 0x${c.toString(16)}, expected 0x${e.crc32.toString(16)}; the file is corrupt`);
    return out;
  }

  /** Reads `length` bytes at `offset` inside a stored (uncompressed) entry. */
  async readStored(e: ZipEntry, offset: number, length: number): Promise<Uint8Array> {
    if (e.method !== 0) fail('BAD_FILE', `zip: entry "${e.name}" is compressed (method ${e.method}); tensor storages must be stored uncompressed`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > e.uncompressedSize) {
      fail('BAD_FILE', `zip: read of ${length} bytes at ${offset} is outside entry "${e.name}" of ${e.uncompressedSize} bytes`);
    }
    const start = await this.dataOffset(e);
    return readExact(this.src, start + offset, length, `zip entry "${e.name}"`);
  }

  /**
   * Reads a whole small entry (at most `maxBytes`), inflating method 8 with DecompressionStream
   * when the runtime has it, and checks its CRC-32.
   */
  async readEntry(e: ZipEntry, maxBytes = MAX_SMALL_ENTRY_BYTES): Promise<Uint8Array> {
    if (e.uncompressedSize > maxBytes || e.compressedSize > maxBytes) {
      fail('BAD_FILE', `zip: entry "${e.name}" of ${e.uncompressedSize} bytes is larger than the ${maxBytes} bytes expected`);
    }
    let out: Uint8Array;
    if (e.method === 0) {
      out = await this.readStored(e, 0, e.uncompressedSize);
    } else if (e.method === 8) {
      const start = await this.dataOffset(e);
      const packed = await readExact(this.src, start, e.compressedSize, `zip entry "${e.name}"`);
      out = await inflateRaw(packed, e.uncompressedSize, e.name);
    } else {
      fail('BAD_FILE', `zip: entry "${e.name}" uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    }
    const c = crc32(out);
    if (c !== e.crc32) fail('BAD_FILE', `zip: CRC-32 of "${e.name}" is 0x${c.toString(16)}, expected 0x${e.crc32.toString(16)}; the file is corrupt`);
    return out;
  }
}

export function openZip(src: ByteSource): Promise<ZipReader> {
  return ZipReader.open(src);
}

async function inflateRaw(packed: Uint8Array, expected: number, name: string): Promise<Uint8Array> {
  const DS = (globalThis as { DecompressionStream?: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).DecompressionStream;
  if (typeof DS !== 'function') {
    fail('BAD_FILE', `zip: entry "${name}" is deflate-compressed and this runtime has no DecompressionStream('deflate-raw'); re-save the checkpoint uncompressed (torch.save does) or convert it to safetensors`);
  }
  let ds: TransformStream<Uint8Array, Uint8Array>;
  try {
    ds = new DS('deflate-raw');
  } catch {
    fail('BAD_FILE', `zip: entry "${name}" is deflate-compressed and this runtime's DecompressionStream does not support 'deflate-raw'`);
  }
  const out = new Uint8Array(expected);
  let n = 0;
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  const writing = writer.write(packed.slice()).then(() => writer.close()).catch(() => undefined);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > expected) {
        await reader.cancel().catch(() => undefined);
        fail('BAD_FILE', `zip: entry "${name}" inflates to more than its declared ${expected} bytes`);
      }
      out.set(value, n);
      n += value.length;
    }
  } catch (err) {
    if (err instanceof Error && err.name === 'InstructorError') throw err;
    fail('BAD_FILE', `zip: entry "${name}" is not valid deflate data (${(err as Error)?.message ?? String(err)})`);
  } finally {
    await writing;
  }
  if (n !== expected) fail('BAD_FILE', `zip: entry "${name}" inflates to ${n} bytes, expected ${expected}`);
  return out;
}
