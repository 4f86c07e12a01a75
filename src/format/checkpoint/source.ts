import { fail } from '../../errors.js';

/**
 * Random access to the bytes of one file (a weights file on disk, a fetched buffer, a Blob...).
 * `read(offset, length)` must resolve to exactly `length` bytes or reject; readers check every
 * offset against `size` before calling it and re-check the returned length.
 * `close` (optional) releases the underlying resource; a reader that owns the source calls it.
 */
export interface ByteSource {
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
  /** True when every `read` returns a new buffer that nobody else holds (readers then convert float32 in place, without a copy). */
  fresh?: boolean;
}

/** A ByteSource over bytes already in memory. `read` returns views (no copy): do not mutate them. */
export function bytesSource(u8: Uint8Array): ByteSource {
  return {
    size: u8.length,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(u8.length, offset, length);
      return u8.subarray(offset, offset + length);
    },
  };
}

/** A ByteSource over a Blob / File (browsers, Workers, Deno, Bun, Node 20). */
export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    fresh: true,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(blob.size, offset, length);
      const buf = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (buf.length !== length) fail('BAD_FILE', `short read: got ${buf.length} bytes at offset ${offset}, expected ${length}`);
      return buf;
    },
  };
}

/** Throws BAD_FILE unless [offset, offset + length) lies inside a file of `size` bytes. */
export function checkRange(size: number, offset: number, length: number, what = 'read'): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    fail('BAD_FILE', `${what} of ${length} bytes at offset ${offset} goes beyond the end of the file (${size} bytes); the file is truncated or corrupt`);
  }
}

/** Reads exactly [offset, offset + length) after checking it against `src.size`. */
export async function readExact(src: ByteSource, offset: number, length: number, what = 'read'): Promise<Uint8Array> {
  checkRange(src.size, offset, length, what);
  const out = await src.read(offset, length);
  if (out.length !== length) {
    fail('BAD_FILE', `${what}: short read, got ${out.length} bytes at offset ${offset}, expected ${length}; the file is truncated`);
  }
  return out;
}
