// Shared by `npm run test:runtimes` (test/runtimes/run.ts) and the workerd memory benchmark
// (bench/workerd-memory.ts): runtime binaries from node_modules, child processes, free ports, and
// the module list that plain `workerd serve` needs for examples/worker.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // from dist/test/runtimes/
export const WORKER_OUT = join(ROOT, 'build/worker');
export const TIMEOUT_MS = 240_000;


/** An executable (ELF, Mach-O or PE), not a placeholder script that would download one. */
export function isBinary(path: string): boolean {
  if (!existsSync(path)) return false;
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(4);
    readSync(fd, b, 0, 4, 0);
    const magic = String.fromCharCode(...b);
    return magic === '\x7fELF' || magic.startsWith('MZ') || magic === '\xcf\xfa\xed\xfe';
  } finally {
    closeSync(fd);
  }
}

/**
 * Where the runtimes' npm packages are installed: a package of their own (test/runtimes/tools/), not
 * devDependencies, so that a git install of instructor-wasm (which installs the devDependencies to
 * build) does not download them (141 MB of tarballs). `npm run test:runtimes` and `bench:workerd`
 * install it first (`npm run runtime-tools`).
 */
export const RUNTIME_TOOLS = join(ROOT, 'test/runtimes/tools');

/**
 * A runtime's binary from RUNTIME_TOOLS' node_modules: the wrapper package's copy when its
 * postinstall placed one, else the platform package's own (npm packages that carry the binary in
 * the registry tarball; installed with --ignore-scripts, so this is the one found).
 */
export function findBinary(name: 'deno' | 'bun' | 'workerd'): string {
  const nm = join(RUNTIME_TOOLS, 'node_modules');
  const { platform, arch } = process;
  const cands: Record<string, string[]> = {
    deno: ['deno/deno', `@deno/${platform}-${arch}-glibc/deno`, `@deno/${platform}-${arch}/deno`],
    bun: ['bun/bin/bun.exe', `@oven/bun-${platform}-${arch === 'arm64' ? 'aarch64' : arch}/bin/bun`, `@oven/bun-${platform}-${arch}-baseline/bin/bun`],
    workerd: [`@cloudflare/workerd-${platform}-${arch === 'x64' ? '64' : arch}/bin/workerd`, 'workerd/bin/workerd'],
  };
  for (const c of cands[name]) if (isBinary(join(nm, c))) return join(nm, c);
  throw new Error(`no ${name} binary in ${nm} (tried ${cands[name].join(', ')}); run npm run runtime-tools`);
}

export interface RunResult { code: number | null; stdout: string; stderr: string }

export function run(cmd: string, argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, argv, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { stderr += `\n(timed out after ${opts.timeoutMs ?? TIMEOUT_MS} ms)`; child.kill('SIGKILL'); }, opts.timeoutMs ?? TIMEOUT_MS);
    child.on('error', (e) => { stderr += String(e); });
    child.on('close', (code) => { clearTimeout(timer); resolvePromise({ code, stdout, stderr }); });
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePromise(port));
    });
  });
}

export const tail = (s: string, n = 1500) => (s.length > n ? '…' + s.slice(-n) : s).trim();

export class Failure extends Error {}

/** The `exports` target of `pkgDir` for `subpath` under `conditions` (first match, nested). */
export function exportsTarget(pkgDir: string, subpath: string, conditions: string[]): string {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  let node: unknown = pkg.exports === undefined ? undefined : typeof pkg.exports === 'string' || !Object.keys(pkg.exports).some((k) => k.startsWith('.'))
    ? (subpath === '.' ? pkg.exports : undefined) : pkg.exports[subpath];
  if (node === undefined) {
    if (subpath === '.') return join(pkgDir, pkg.module ?? pkg.main ?? 'index.js');
    throw new Error(`${pkg.name} exports no ${subpath}`);
  }
  while (typeof node === 'object' && node !== null) {
    const key = Object.keys(node).find((k) => k !== 'types' && (conditions.includes(k) || k === 'default'));
    if (!key) throw new Error(`${pkg.name} ${subpath}: no export for conditions ${conditions.join(', ')}`);
    node = (node as Record<string, unknown>)[key];
  }
  return join(pkgDir, node as string);
}

export const WORKERD_CONDITIONS = ['workerd', 'worker', 'browser', 'import'];
const IMPORT_RE = /^\s*(?:import|export)\b[^;'"`]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;

/**
 * workerd needs every module listed in its config. Walks the static imports from worker.js
 * (bare specifiers through `exports` with wrangler's conditions), refuses Node built-ins and
 * dynamic imports, and writes build/worker/modules.capnp with each module named by its path
 * (`node_modules/<pkg>/...` for packages) so relative imports resolve as on disk.
 */
export function writeWorkerdModules(): { count: number } {
  mkdirSync(WORKER_OUT, { recursive: true });
  const workerFile = join(ROOT, 'examples/worker/worker.js');
  const pkgRoots = new Map<string, string>([['instructor-wasm', ROOT]]);
  const nameOf = (file: string): string => {
    for (const [pkg, dir] of pkgRoots) {
      if (file.startsWith(dir.endsWith(sep) ? dir : dir + sep) && !relative(dir, file).startsWith('node_modules')) return `node_modules/${pkg}/${relative(dir, file).split(sep).join('/')}`;
    }
    return relative(ROOT, file).split(sep).join('/');
  };
  const modules: Array<{ name: string; kind: 'esModule' | 'wasm'; file?: string; text?: string }> = [];
  const seen = new Set<string>();
  const bareShims = new Map<string, string>();
  const visit = (file: string, name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    if (file.endsWith('.wasm')) {
      modules.push({ name, kind: 'wasm', file });
      return;
    }
    modules.push({ name, kind: 'esModule', file });
    const src = readFileSync(file, 'utf8');
    if (/\bimport\(\s*['"]/.test(src)) throw new Failure(`${name} has a dynamic import(), which a Worker bundle cannot list`);
    // In Workers import.meta.url is undefined: `new URL(x, import.meta.url)` at module load throws.
    const topLevelUrl = src.split('\n').findIndex((l) => /^\S.*\bimport\.meta\.url\b/.test(l) && !/^\s*(\/\/|\*|\/\*)/.test(l));
    if (topLevelUrl >= 0) {
      throw new Failure(`${name}:${topLevelUrl + 1} uses import.meta.url at module load; in Workers import.meta.url is undefined, so this throws when the Worker starts (compute it lazily, inside the function that needs it)`);
    }
    for (const m of src.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('node:') || /^(fs|path|url|os|crypto|zlib|util|child_process)(\/|$)/.test(spec)) {
        throw new Failure(`${name} imports the Node built-in ${spec}: not on a Worker's path`);
      }
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        visit(target, nameOf(target));
        continue;
      }
      const pkgName = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      const subpath = spec === pkgName ? '.' : './' + spec.slice(pkgName.length + 1);
      const pkgDir = pkgRoots.get(pkgName) ?? join(ROOT, 'node_modules', pkgName);
      pkgRoots.set(pkgName, pkgDir);
      const target = exportsTarget(pkgDir, subpath, WORKERD_CONDITIONS);
      const targetName = nameOf(target);
      // workerd resolves a bare specifier like a relative one (against the importer's folder), so
      // the package gets a module of that name there, re-exporting the resolved file.
      const dir = dirname('/' + name);
      const shimName = join(dir, spec).slice(1);
      if (!bareShims.has(shimName)) {
        const hasDefault = /^\s*export\s+default\b|\bas\s+default\b/m.test(readFileSync(target, 'utf8'));
        const rel = relative(dirname('/' + shimName), '/' + targetName);
        const relSpec = rel.startsWith('.') ? rel : './' + rel;
        bareShims.set(shimName, `export * from ${JSON.stringify(relSpec)};${hasDefault ? ` export { default } from ${JSON.stringify(relSpec)};` : ''}`);
      }
      visit(target, targetName);
    }
  };
  visit(workerFile, 'worker.js'); // the first module is the Worker's main module
  const entries = modules.map((m) => m.kind === 'wasm'
    ? `  (name = ${JSON.stringify(m.name)}, wasm = embed ${JSON.stringify(relative(WORKER_OUT, m.file!))}),`
    : `  (name = ${JSON.stringify(m.name)}, esModule = embed ${JSON.stringify(relative(WORKER_OUT, m.file!))}),`);
  for (const [spec, text] of bareShims) entries.push(`  (name = ${JSON.stringify(spec)}, esModule = ${JSON.stringify(text)}),`);
  writeFileSync(join(WORKER_OUT, 'modules.capnp'), [
    '# Generated by test/runtimes/workerd.ts for examples/worker/workerd.capnp: do not edit.',
    '@0xd5e0c2a4f6b81a37;',
    'using Workerd = import "/workerd/workerd.capnp";',
    'const modules :List(Workerd.Worker.Module) = [',
    ...entries,
    '];',
    '',
  ].join('\n'));
  return { count: modules.length + bareShims.size };
}

export async function waitHttp(url: string, child: ChildProcess, log: () => string, timeoutMs = 60_000): Promise<Response> {
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Failure(`workerd exited with ${child.exitCode}: ${tail(log())}`);
    try {
      return await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    } catch {
      if (Date.now() - t0 > timeoutMs) throw new Failure(`no answer from ${url} after ${timeoutMs} ms: ${tail(log())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

