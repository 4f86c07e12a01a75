// The machine as tests use it: system binaries (Debian packages) and free loopback ports.
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** Finds an executable on PATH or in the usual Debian folders. */
export function findBinary(name: string, envVar: string, installHint: string): string {
  const fromEnv = process.env[envVar];
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];
  for (const p of fromEnv ? [fromEnv] : dirs.filter(Boolean).map((d) => join(d, name))) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  throw new Error(`${name} not found${fromEnv ? ` at ${envVar}=${fromEnv}` : ' on PATH'}: ${installHint} (or set ${envVar})`);
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
