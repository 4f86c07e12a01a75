// A real redis-server for a test file: its own loopback port and data folder, stopped at the end
// (and killed if the test process exits first). Debian's redis-server package; REDIS_SERVER
// overrides the binary; without either, MissingSystemDependency says how to install it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findBinary, freePort } from './system.js';

export interface RedisServer {
  port: number;
  url: string;
  /** Stops the server (SIGTERM: it writes its append-only file first). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder (what it had is reloaded). */
  start(): Promise<void>;
  /** Stops it and removes its data folder. */
  dispose(): Promise<void>;
  /** Its log, for failure messages. */
  log(): string;
}

const READY = 'Ready to accept connections';
const live = new Set<ChildProcess>();
process.once('exit', () => { for (const c of live) c.kill('SIGKILL'); });

/** Starts one; `args` go on its command line after ours (say, `--maxmemory 20mb`). */
export async function startRedis(o: { args?: string[] } = {}): Promise<RedisServer> {
  const bin = findBinary('redis-server', 'REDIS_SERVER', 'redis-server', 'the queue and fleet tests (test/queue.test.ts, test/fleet.test.ts)');
  const dir = mkdtempSync(join(tmpdir(), 'iw-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  let log = '';

  const start = async () => {
    const c = spawn(bin, [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no',
      '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--logfile', '', ...(o.args ?? []),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    live.add(c);
    const readyBefore = log.split(READY).length;
    c.on('exit', () => live.delete(c));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start in 10 s:\n${log}`)), 10_000);
      const onData = (d: Buffer) => {
        log += d.toString();
        if (log.split(READY).length > readyBefore) {
          clearTimeout(timer);
          resolve();
        }
      };
      c.stdout!.on('data', onData);
      c.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}) while starting:\n${log}`));
      });
    });
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    await exited;
    child = null;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => log,
  };
}

/** Options of a Redis that refuses writes once full, as the (`--maxmemory-policy noeviction`); fill it with fillRedis. */
export const NOEVICTION = ['--maxmemory', '50mb', '--maxmemory-policy', 'noeviction', '--appendonly', 'no'];

/**
 * Makes a Redis started with NOEVICTION full: writes 4 MiB of keys, then (from a second client,
 * once the first and its 1 MiB query buffer are gone) lowers its maxmemory 2 MiB under what it
 * uses, so that it refuses every write with "OOM command not allowed" from then on. (Filling it to
 * exactly its limit is not deterministic: Redis counts client buffers, which it frees lazily, so a
 * server that just refused a write may take the next small one.) Returns the new limit.
 */
export async function fillRedis(url: string): Promise<number> {
  const filler = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const value = 'x'.repeat(1 << 20);
    for (let i = 0; i < 4; i++) await filler.set(`fill:${i}`, value);
  } finally {
    await filler.quit();
  }
  const c = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const used = Number(/^used_memory:(\d+)/m.exec(await c.info('memory'))?.[1]);
    if (!(used > 4 << 20)) throw new Error(`redis INFO memory: used_memory ${used}, expected over 4 MiB`);
    const limit = used - (2 << 20);
    await c.config('SET', 'maxmemory', String(limit));
    try {
      await c.set('one-more', 'x');
    } catch (e) {
      if (/^OOM /.test((e as Error).message)) return limit;
      throw e;
    }
    throw new Error(`redis took a write over its maxmemory ${limit} (used ${used})`);
  } finally {
    c.disconnect();
  }
}
