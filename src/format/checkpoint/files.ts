// A checkpoint folder as the folder reader sees it: a tree of files addressed by relative POSIX
// paths ('config.json', '2_Dense/model.safetensors'). Runtime-neutral: Node has dirFiles
// (files-node.ts); browsers can wrap the File objects of a picked directory with mapFiles.

import { fail } from '../../errors.js';
import { blobSource, bytesSource, type ByteSource } from './source.js';

export interface CheckpointFiles {
  /** For messages: where the files come from (a directory path, a repository name...). */
  describe: string;
  /** The file as UTF-8 text, or null when it does not exist. */
  text(path: string): Promise<string | null>;
  /** Random access to the file, or null when it does not exist. The caller closes it. */
  source(path: string): Promise<ByteSource | null>;
}

/**
 * Checks a relative POSIX path inside a checkpoint folder and returns its segments. Refuses
 * absolute paths, backslashes, drive letters, empty segments, '.' and '..' (BAD_INPUT), so that
 * no path can name a file outside the folder.
 */
export function checkRelativePath(path: string): string[] {
  if (typeof path !== 'string' || path.length === 0) fail('BAD_INPUT', `checkpoint path must be a non-empty string, got ${JSON.stringify(path)}`);
  if (path.startsWith('/') || path.includes('\\') || /^[A-Za-z]:/.test(path) || path.includes('\0')) {
    fail('BAD_INPUT', `checkpoint path ${JSON.stringify(path)} must be relative to the folder (no leading "/", drive letter or backslash)`);
  }
  const parts = path.split('/');
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..') {
      fail('BAD_INPUT', `checkpoint path ${JSON.stringify(path)} has a "${p}" segment; paths must stay inside the folder`);
    }
  }
  return parts;
}

/**
 * A CheckpointFiles over files already at hand, keyed by relative path: Blobs / Files (e.g. a
 * directory picked in a browser, keyed by `webkitRelativePath` minus its first segment), bytes,
 * or strings.
 */
export function mapFiles(describe: string, files: Map<string, Blob | Uint8Array | string> | Record<string, Blob | Uint8Array | string>): CheckpointFiles {
  const map = files instanceof Map ? files : new Map(Object.entries(files));
  const get = (path: string): Blob | Uint8Array | string | undefined => {
    checkRelativePath(path);
    return map.get(path);
  };
  return {
    describe,
    async text(path) {
      const f = get(path);
      if (f === undefined) return null;
      if (typeof f === 'string') return f;
      if (f instanceof Uint8Array) return new TextDecoder().decode(f);
      return f.text();
    },
    async source(path) {
      const f = get(path);
      if (f === undefined) return null;
      if (typeof f === 'string') return bytesSource(new TextEncoder().encode(f));
      if (f instanceof Uint8Array) return bytesSource(f);
      return blobSource(f);
    },
  };
}
