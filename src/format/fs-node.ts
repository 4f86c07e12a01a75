// Small file-system helpers shared by the Node-side writers (hub cache, convert, the weights and
// safetensors writers, the command line).
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { access, lstat, mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fail } from '../errors.js';

/** A temporary name beside `path`, unique to this process and call, renamed onto `path` when complete. */
export const tmpName = (path: string): string => `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;

/** Writes all of `bytes` at `position` (a write may take fewer bytes than asked); `what` names the writer in errors. */
export async function writeAllAt(fh: FileHandle, bytes: Uint8Array, position: number, what: string): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten <= 0) fail('BAD_OUTPUT', `${what}: write made no progress at byte ${position + done}`);
    done += bytesWritten;
  }
}

/** What a path is, in words, for messages ("a directory", "a FIFO"...). */
export function kindOf(s: Stats): string {
  if (s.isFile()) return 'a regular file';
  if (s.isDirectory()) return 'a folder';
  if (s.isSymbolicLink()) return 'a symbolic link';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

const errno = (e: unknown): string => (e as NodeJS.ErrnoException)?.code ?? String((e as Error)?.message ?? e);

/**
 * `mkdir -p dir`, one level at a time. Node's `mkdir(dir, { recursive: true })` never settles
 * under /proc (it retries the parent forever), so the levels are created here with plain mkdir:
 * at most one call per missing level, and any failure is a BAD_OUTPUT naming the path. `what`
 * names the destination in messages (e.g. "--out"); `target` is the path the caller was given.
 */
export async function makeDirs(dir: string, what: string, target = dir): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    const s = await stat(p).catch((e: NodeJS.ErrnoException) => // ENOTDIR: a file on the way, found further up
      e.code === 'ENOENT' || e.code === 'ENOTDIR' ? null : fail('BAD_OUTPUT', `${what} ${target}: cannot use folder ${p}: ${errno(e)}`));
    if (s !== null) {
      if (!s.isDirectory()) fail('BAD_OUTPUT', `${what} ${target}: ${p} is ${kindOf(s)}, not a folder`);
      break;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    await mkdir(p).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST' && (await stat(p).catch(() => null))?.isDirectory()) return; // made meanwhile
      fail('BAD_OUTPUT', `${what} ${target}: cannot create folder ${p}: ${errno(e)}`);
    });
  }
}

/**
 * Checks that `path` is absent or a regular file this process may write (BAD_OUTPUT otherwise):
 * what a writer that replaces files needs. A device, FIFO, socket, folder or symbolic link is
 * refused, never replaced.
 */
export async function checkReplaceable(path: string, what: string): Promise<void> {
  const where = `${what} ${path}`;
  const s = await lstat(path).catch((e: NodeJS.ErrnoException) =>
    e.code === 'ENOENT' ? null : fail('BAD_OUTPUT', `${where}: cannot use it: ${errno(e)}`));
  if (s === null) return;
  if (!s.isFile()) fail('BAD_OUTPUT', `${where}: is ${kindOf(s)}, not a regular file; refusing to replace it`);
  // rename needs only the folder's permission; a read-only file is still the user's "no"
  await access(path, constants.W_OK).catch((e) => fail('BAD_OUTPUT', `${where}: cannot write it: ${errno(e)}`));
}

/** A reserved output file (see reserveOutputFile). */
export interface ReservedOutput {
  /** The temporary file to write (already created, empty). */
  tmp: string;
  /** Renames the temporary file onto the destination. */
  commit(): Promise<void>;
  /** Removes the temporary file (after a failure). */
  abort(): Promise<void>;
}

/**
 * An output file that is written under a temporary name and renamed onto `path` when complete:
 * the temporary file is created now, so a destination that cannot be written fails before any
 * work (BAD_OUTPUT, naming `what` and the path). Only a regular file (or nothing) at `path` may
 * be replaced: rename would replace a device, a FIFO or a symbolic link itself, so those are
 * refused. `makeParents` creates the missing folders above `path`.
 */
export async function reserveOutputFile(path: string, what: string, options: { makeParents?: boolean } = {}): Promise<ReservedOutput> {
  if (typeof path !== 'string' || path.length === 0) fail('BAD_OUTPUT', `${what}: expected a file path, got ${JSON.stringify(path)}`);
  const where = `${what} ${path}`;
  if (options.makeParents) await makeDirs(dirname(path), what, path);
  await checkReplaceable(path, what);
  const tmp = tmpName(path);
  const fh = await open(tmp, 'wx').catch((e: NodeJS.ErrnoException) => fail('BAD_OUTPUT', `${where}: ${
    e.code === 'ENOENT' ? `folder ${dirname(path)} does not exist` : `cannot write in folder ${dirname(path)}: ${errno(e)}`}`));
  await fh.close();
  return {
    tmp,
    commit: () => rename(tmp, path).catch(async (e) => {
      await rm(tmp, { force: true });
      fail('BAD_OUTPUT', `${where}: cannot rename the finished file onto it: ${errno(e)}`);
    }),
    abort: () => rm(tmp, { force: true }),
  };
}
