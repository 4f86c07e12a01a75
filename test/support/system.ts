// The machine as tests use it: system binaries (Debian packages) and free loopback ports, and a
// setup that fails every test of a file when it cannot run (never a green file with tests not run).
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import type { Test } from 'uvu';

/** A binary the tests need is not installed: the message names the Debian package and how to install it. */
export class MissingSystemDependency extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingSystemDependency';
  }
}

/**
 * Debian puts daemons in the sbin folders, which a non-root user's PATH lacks: they are looked in
 * after PATH. (/usr/bin and /usr/local/bin are on every PATH: a binary hidden from PATH is missing.)
 */
const SBIN = ['/usr/sbin', '/usr/local/sbin'];

/**
 * Finds the executable `name`: `envVar` when set (that path or nothing), else PATH, else the sbin
 * folders. Throws MissingSystemDependency naming Debian's `debianPackage`, the install command and
 * what needs it.
 */
export function findBinary(name: string, envVar: string, debianPackage: string, neededBy: string): string {
  const fromEnv = process.env[envVar];
  const path = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const candidates = fromEnv ? [fromEnv] : [...path, ...SBIN.filter((d) => !path.includes(d))].map((d) => join(d, name));
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  const where = fromEnv ? `not an executable at ${envVar}=${fromEnv}` : `not on PATH nor in ${SBIN.join(', ')}`;
  throw new MissingSystemDependency(
    `${name} is missing (${where}): ${neededBy} need it. It is Debian's ${debianPackage} package: ` +
    `sudo apt-get install -y ${debianPackage} (CI's .ci/run installs it), or set ${envVar} to the binary.`);
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

/**
 * Runs `fn` as the file's before hook. uvu swallows an error thrown by a before hook (its runner
 * returns from a `finally`): the file would report (0 / N) in green and the run exit 0. Here a
 * failing setup fails every test of the file instead: the first with the setup's error (say, a
 * MissingSystemDependency naming the package to install), the others as not run.
 */
export function setup(test: Test, fn: () => Promise<void> | void): void {
  let failure: { error: unknown } | null = null;
  let shown = false;
  test.before(async () => {
    try {
      await fn();
    } catch (error) {
      failure = { error };
    }
  });
  test.before.each(() => {
    if (!failure) return;
    if (!shown) {
      shown = true;
      throw (failure as { error: unknown }).error;
    }
    const e = (failure as { error: unknown }).error;
    throw new Error(`not run: the file's setup failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  });
}
