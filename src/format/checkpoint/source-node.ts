import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { fail } from '../../errors.js';
import { kindOf } from '../fs-node.js';
import { checkRange, type ByteSource } from './source.js';

const CHUNK = 1 << 30; // FileHandle.read takes at most 2 GiB - 1 per call

/** A ByteSource over a file on disk (Node, and Deno / Bun through their node:fs). Call `close()` when done. */
export async function fileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  // O_NONBLOCK: a FIFO (or a device) would block the open itself until a writer comes; this way it
  // opens at once and the check below refuses it
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let size: number;
  try {
    const st = await fh.stat();
    // a directory opens on Linux (and fails at the first read); only regular files hold bytes to read
    if (!st.isFile()) fail('BAD_FILE', `${path}: is ${kindOf(st)}, expected a regular file`);
    size = st.size;
  } catch (e) {
    await fh.close();
    throw e;
  }
  let closed = false;
  return {
    size,
    fresh: true,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (closed) fail('BAD_INPUT', `read from ${path} after close()`);
      checkRange(size, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = Math.min(CHUNK, length - done);
        const { bytesRead } = await fh.read(out, done, n, offset + done);
        if (bytesRead === 0) fail('BAD_FILE', `${path}: short read at offset ${offset + done}, expected ${length - done} more bytes; the file shrank or is truncated`);
        done += bytesRead;
      }
      return out;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}
