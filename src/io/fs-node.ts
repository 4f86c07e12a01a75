// Small file-system helpers shared by the Node-side writers (hub cache, convert, the weights and
// safetensors writers).
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { fail } from '../errors.js';

/** A temporary name beside `path`, unique to this process and call, renamed onto `path` when complete. */
export const tmpName = (path: string): string => `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;

/** Writes all of `bytes` at `position` (a write may take fewer bytes than asked); `what` names the writer in errors. */
export async function writeAllAt(fh: FileHandle, bytes: Uint8Array, position: number, what: string): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten <= 0) fail('BAD_INPUT', `${what}: write made no progress at byte ${position + done}`);
    done += bytesWritten;
  }
}
