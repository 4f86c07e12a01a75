// Small file-system helpers shared by the Node-side writers (hub cache, convert).
import { randomBytes } from 'node:crypto';

/** A temporary name beside `path`, unique to this process and call, renamed onto `path` when complete. */
export const tmpName = (path: string): string => `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
