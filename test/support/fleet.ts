// Helpers of the fleet tests and benchmark: the real `instructor-wasm` command as child
// processes (workers, producers), a varied deterministic corpus, and .npy reading.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { rng } from './random.js';

export const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url)); // from dist/test/support/

const live = new Set<ChildProcess>();
process.once('exit', () => { for (const c of live) c.kill('SIGKILL'); });

export interface Proc {
  child: ChildProcess;
  name: string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  stdout(): string;
  /** Resolves when stderr matches `re` (rejects after `ms` or if the process exits first). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `instructor-wasm ...args` as a child process. */
export function cli(name: string, args: string[], options: { input?: string } = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let err = '';
  let out = '';
  const waiters: Array<() => void> = [];
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); for (const w of [...waiters]) w(); });
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  if (options.input !== undefined) child.stdin!.end(options.input);
  else child.stdin!.end();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    live.delete(child);
    for (const w of [...waiters]) w();
    resolve(code);
  }));
  return {
    child, name, exited,
    stderr: () => err,
    stdout: () => out,
    waitFor(re, ms = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (re.test(err)) done(resolve);
          else if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`${name} exited before ${re}:\n${err}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${name}: no ${re} within ${ms} ms:\n${err}`))), ms);
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          f();
        };
        waiters.push(check);
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * `p`, or a rejection naming `what` after `ms`: a guard against a hang (uvu has no timeouts), far
 * above the time the thing takes, never a speed target.
 */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `instructor-wasm ...args` to completion (synth, convert). */
export function cliSync(args: string[]): void {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`instructor-wasm ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
}

/** The tiny synth model converted by the CLI to an int8 weights file in `dir` (with the real tokenizer). */
export function tinyWeightsFile(dir: string): string {
  const folder = join(dir, 'tiny');
  const file = join(dir, 'tiny.int8.iwt');
  cliSync(['synth', '--config', 'tiny', '--out', folder, '--quiet']);
  cliSync(['convert', folder, '--out', file, '--dtype', 'int8', '--quiet']);
  return file;
}

/** A worker process on `queue`; resolves once it reports ready. */
export async function startWorker(url: string, queue: string, model: string, name: string, extra: string[] = []): Promise<Proc> {
  const p = cli(name, ['worker', '--redis', url, '--queue', queue, '--model', model, '--name', name, ...extra]);
  await p.waitFor(/worker: ready/);
  return p;
}

/** Inputs a worker's log says it completed ("worker: job <id> <n> inputs ..." lines), by job id. */
export function completedJobs(p: Proc): Map<string, number> {
  const jobs = new Map<string, number>();
  for (const m of p.stderr().matchAll(/^worker: job (\S+) (\d+) inputs/gm)) jobs.set(m[1], (jobs.get(m[1]) ?? 0) + Number(m[2]));
  return jobs;
}

const WORDS = ('the of and to in a is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were her she there had been one all would their we him has when who will more no if out so said what up its about ' +
  'into than them can only other new some could time these two may then do first any my now such like our over man me ' +
  'even most made after also did many before must through back years where much your way well down should because each ' +
  'just those people how too little state good very make world still own see men work long get here between both life ' +
  'Übermaß café naïve 東京 données – “quoted” 3.14 e-mail').split(' ');

/**
 * n inputs in every form `encode` takes (plain, pair, legacy, object), 1 to `maxWords` words, every
 * 211th longer than 512 tokens (truncated), every 211th from 101 on too long to tokenize whole
 * (8000 words, over 512 * 64 characters: cutChars), deterministic in `seed`.
 */
export function corpus(n: number, seed: number, maxWords = 40): unknown[] {
  const r = rng(seed);
  const text = (words: number) => Array.from({ length: words }, () => WORDS[Math.floor(r() * WORDS.length)]).join(' ');
  const instructions = ['Represent the Science title:', 'Represent the Wikipedia document for retrieval: ', 'Represent the question:'];
  return Array.from({ length: n }, (_, i) => {
    const t = i % 211 === 13 ? text(700) : i % 211 === 101 ? text(8000) : text(1 + Math.floor(r() * maxWords));
    const instr = instructions[i % instructions.length];
    switch (i % 5) {
      case 0: case 1: return t;
      case 2: return [instr, t];
      case 3: return [instr, t, 0];
      default: return { instruction: instr, text: t };
    }
  });
}

/** Rows of a float32 .npy (format 1.0, C order). */
export function readNpy(bytes: Uint8Array): Float32Array[] {
  const headerLen = bytes[8] | (bytes[9] << 8);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLen));
  const m = /'shape': \((\d+), (\d+)\)/.exec(header);
  if (!m || !header.includes("'<f4'")) throw new Error(`not a float32 2-D .npy: ${header}`);
  const [rows, dim] = [Number(m[1]), Number(m[2])];
  const body = bytes.slice(10 + headerLen);
  if (body.byteLength !== rows * dim * 4) throw new Error(`.npy body ${body.byteLength} bytes, expected ${rows * dim * 4}`);
  const all = new Float32Array(body.buffer, body.byteOffset, rows * dim);
  return Array.from({ length: rows }, (_, i) => all.subarray(i * dim, (i + 1) * dim));
}
