// The package as a user gets it, both ways it can be installed while it is not on the registry:
//   - packed (`npm pack`) from an unbuilt copy of the repository (so `prepare` must build what
//     `files` lists) and the tarball installed into an empty project;
//   - installed from a git URL (`npm install git+file://...`) of a fresh repository holding the same
//     files, into another empty project, as the README's Install section says (its allowScripts
//     entry, under --strict-allow-scripts: the policy npm announces as its future default). npm
//     clones it, installs its devDependencies, runs `prepare` and packs it: the same files, byte
//     for byte, as the tarball.
// then
//   - its contents: the entries, the wasm, LICENSE, source maps with their sources, no tests;
//   - its types: small consumer projects type-check against it in each resolution mode, with
//     skipLibCheck false and no DOM lib for Node code;
//   - from each install, its command: --version, synth, convert, embed (a folder and its converted
//     file agree bit for bit), and the README's quick start and offline example, run as written
//     (a local synth model for the hub id; the offline example with tiny for base).
//
//   npm run test:package      (.ci/run runs it; about three minutes, most of it the two builds)
//
// Needs git, npm and the npm registry (or npm's cache) for the package's dependencies, the git
// install's devDependencies, and @types/node in the consumer projects. One line per step:
//   package <step> pass (<seconds> s) | package <step> FAIL <what went wrong>
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // from dist/test/package/
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** A @types/node that TypeScript 5.9 checks cleanly with skipLibCheck false (20.9.x does not: its Buffer typing predates TS 5.7). */
const TYPES_NODE = '@types/node@22.20.7';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };

function sh(cmd: string, args: string[], cwd: string, input?: string): string {
  const r = spawnSync(cmd, args, { cwd, input, encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} exited ${r.status}:\n${(r.stdout ?? '').slice(-2000)}\n${(r.stderr ?? '').slice(-2000)}`);
  return r.stdout;
}

let failed = 0;
async function step(name: string, fn: () => void | Promise<void>): Promise<void> {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`package ${name} pass (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`package ${name} FAIL ${(e as Error).message}`);
  }
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

/** Every file under `dir`, as paths relative to it. */
function walk(dir: string, d = ''): string[] {
  return readdirSync(join(dir, d), { withFileTypes: true }).flatMap((f) => {
    const p = d === '' ? f.name : `${d}/${f.name}`;
    return f.isDirectory() ? walk(dir, p) : [p];
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** An empty project to install into. */
function emptyProject(dir: string, extra: Record<string, unknown> = {}): void {
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', ...extra }, null, 2));
}

const work = mkdtempSync(join(tmpdir(), 'iw-package-'));
const clone = join(work, 'clone'), app = join(work, 'app'), repo = join(work, 'repo'), gitApp = join(work, 'git-app');
let tarball = '';
// The files git knows (tracked, or new and not ignored): no dist/, no build/, as a fresh clone.
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
  .split('\0').filter((f) => f !== '' && statSync(join(ROOT, f), { throwIfNoEntry: false })?.isFile());

try {
  await step('pack from an unbuilt copy (prepare builds)', () => {
    for (const f of files) {
      mkdirSync(dirname(join(clone, f)), { recursive: true });
      cpSync(join(ROOT, f), join(clone, f));
    }
    check(statSync(join(clone, 'dist'), { throwIfNoEntry: false }) === undefined, 'the copy has no dist/');
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir'); // the dev tools (asc, tsc), as `npm ci` gives them
    sh('npm', ['pack', '--pack-destination', work, '--loglevel', 'error'], clone);
    tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz')) ?? '');
    check(tarball.endsWith(`${pkg.name}-${pkg.version}.tgz`), `no tarball in ${work}`);
  });

  await step('install the tarball into an empty project', () => {
    emptyProject(app);
    sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel', 'error', tarball, TYPES_NODE], app);
  });

  const installed = join(app, 'node_modules', pkg.name);
  await step('contents: entries, wasm, LICENSE, maps with their sources, no tests', () => {
    const list = walk(installed);
    for (const need of ['dist/src/runtimes/node.js', 'dist/src/runtimes/node.d.ts', 'dist/src/runtimes/browser.js', 'dist/src/node-index.js',
      'dist/src/cli/bin.js', 'build/kernels.wasm', 'build/kernels-mt.wasm', 'build/kernels-relaxed.wasm', 'build/kernels-relaxed-mt.wasm',
      'tokenizer/t5/tokenizer.json', 'LICENSE', 'README.md', 'docs/usage.md']) {
      check(list.includes(need), `${need} is missing from the package`);
    }
    check(/Apache License\s+Version 2\.0/.test(readFileSync(join(installed, 'LICENSE'), 'utf8')), 'LICENSE is not the Apache-2.0 text');
    const stray = list.filter((f) => /^(dist\/(test|bench)|test|bench|src)\//.test(f));
    check(stray.length === 0, `files that are not the package: ${stray.slice(0, 5).join(', ')}`);
    const maps = list.filter((f) => f.endsWith('.js.map'));
    for (const m of maps) {
      const map = JSON.parse(readFileSync(join(installed, m), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      check(Array.isArray(map.sourcesContent) && map.sourcesContent.length === map.sources.length && map.sourcesContent.every((s) => typeof s === 'string' && s.length > 0),
        `${m} points at sources the package does not ship and has no sourcesContent`);
    }
    const js = list.filter((f) => f.endsWith('.js') && f.startsWith('dist/'));
    check(js.length > 0 && maps.length === js.length, `${js.length} .js files but ${maps.length} maps`);
  });

  // ---- the git install: a fresh repository of the same files, installed by URL as the README says
  const gitUrl = `git+file://${repo}`;
  await step('install from a git URL of a fresh repository (as README Install says; prepare builds in the clone)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const install = readme.slice(readme.indexOf('## Install'));
    const placeholder = /npm install (git\+https:\/\/\S+)/.exec(install)?.[1];
    check(placeholder !== undefined, 'README Install has no `npm install git+https://...` command');
    check(install.includes(`"allowScripts": { "${placeholder}": true }`), `README Install does not say to allow the package's prepare script ("allowScripts": { "${placeholder}": true })`);
    for (const f of files) {
      mkdirSync(dirname(join(repo, f)), { recursive: true });
      cpSync(join(ROOT, f), join(repo, f));
    }
    const git = (...args: string[]) => sh('git', ['-c', 'user.name=package test', '-c', 'user.email=package-test@localhost', '-c', 'commit.gpgsign=false', ...args], repo);
    git('init', '--quiet');
    git('add', '--all');
    git('commit', '--quiet', '--message', 'the files of the working tree');
    emptyProject(gitApp, { allowScripts: { [gitUrl]: true } });
    sh('npm', ['install', '--strict-allow-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel', 'error', gitUrl], gitApp);
  });

  const gitInstalled = join(gitApp, 'node_modules', pkg.name);
  await step('the git install is the packed tarball, file for file and byte for byte', () => {
    const packed = walk(installed).sort(), fromGit = walk(gitInstalled).sort();
    const onlyPacked = packed.filter((f) => !fromGit.includes(f)), onlyGit = fromGit.filter((f) => !packed.includes(f));
    check(onlyPacked.length === 0 && onlyGit.length === 0, `only in the tarball: ${onlyPacked.slice(0, 5).join(', ') || '-'}; only in the git install: ${onlyGit.slice(0, 5).join(', ') || '-'}`);
    const differ = packed.filter((f) => !sameBytes(new Uint8Array(readFileSync(join(installed, f))), new Uint8Array(readFileSync(join(gitInstalled, f)))));
    check(differ.length === 0, `${differ.length} of ${packed.length} files differ: ${differ.slice(0, 5).join(', ')}`);
  });

  // ---- types: the public .d.ts files in a consumer's compiler, nothing skipped
  const strict = { target: 'es2022', strict: true, skipLibCheck: false, noEmit: true };
  const typeModes: Array<[string, Record<string, unknown>, string]> = [
    ['node (nodenext, lib es2022, types node, no DOM)', { ...strict, module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2022'], types: ['node'] }, 'node-app.ts'],
    ['node (bundler resolution, lib es2022, types node, no DOM)', { ...strict, module: 'esnext', moduleResolution: 'bundler', lib: ['es2022'], types: ['node'] }, 'node-app.ts'],
    ['browser (bundler resolution, customConditions browser, lib dom, no node types)',
      { ...strict, module: 'esnext', moduleResolution: 'bundler', customConditions: ['browser'], lib: ['es2022', 'dom'], types: [] }, 'browser-app.ts'],
  ];
  writeFileSync(join(app, 'node-app.ts'), `// Node code: the root entry (node condition, or bundler resolution's default) and the subpaths.
import { loadInstructor, createInstructor, loadKernels, cosineSimilarityMatrix, topK, InstructorError, type Instructor } from '${pkg.name}';
import { loadInstructor as loadFromNode, convertCheckpoint, writeSynthCheckpoint, type LoadEvent } from '${pkg.name}/node';
import { Instructor as CoreInstructor, kmeans, type EmbedInput } from '${pkg.name}/core';

export async function demo(folder: string): Promise<number> {
  await writeSynthCheckpoint('tiny', folder);
  await convertCheckpoint(folder, folder + '.iwt', { dtype: 'int8' });
  const events: LoadEvent[] = [];
  const model: Instructor = await loadInstructor(folder, { dtype: 'int8', onProgress: (e) => events.push(e) });
  const inputs: EmbedInput[] = [['Represent the title:', 'a'], { instruction: 'Represent:', text: 'b' }, 'c'];
  const vectors: Float32Array[] = await model.encode(inputs);
  const sims: Float32Array[] = cosineSimilarityMatrix(vectors, vectors);
  const best = topK(vectors[0], vectors, 1)[0];
  const { labels } = kmeans(vectors, 2, { seed: 0 });
  const other = await loadFromNode(folder + '.iwt');
  other.dispose();
  model.dispose();
  return sims.length + best.index + labels.length + (model instanceof CoreInstructor ? 1 : 0);
}

export const fromBytes = async (bytes: Uint8Array): Promise<Instructor> => createInstructor(bytes, { kernels: await loadKernels() });
export const isTyped = (e: unknown): boolean => e instanceof InstructorError && e.code === 'BAD_FILE';
`);
  writeFileSync(join(app, 'browser-app.ts'), `// Browser code: the browser entry has no filesystem API, and its types say so.
import { createInstructor, fetchWeightsResponse, loadKernels, type Instructor } from '${pkg.name}';
// @ts-expect-error loadInstructor reads files and the Hugging Face cache: Node, Deno and Bun only ('${pkg.name}/node')
import { loadInstructor } from '${pkg.name}';

export async function demo(url: string): Promise<Float32Array> {
  const model: Instructor = await createInstructor(fetchWeightsResponse(url), { kernels: await loadKernels() });
  void loadInstructor;
  return model.encodeOne(['Represent the title:', 'a']);
}
`);
  for (const [mode, compilerOptions, file] of typeModes) {
    await step(`types: ${mode}`, () => {
      const name = `tsconfig.${file.replace('.ts', '')}.${String(compilerOptions.moduleResolution)}.json`;
      writeFileSync(join(app, name), JSON.stringify({ compilerOptions, files: [file] }, null, 2));
      sh(process.execPath, [TSC, '-p', name], app);
    });
  }

  // ---- from each install: the command, the README's quick start and its offline example
  for (const [how, dir] of [['tarball', app], ['git', gitApp]] as const) {
    const bin = join(dir, 'node_modules', '.bin', 'instructor-wasm');
    const readme = readFileSync(join(dir, 'node_modules', pkg.name, 'README.md'), 'utf8');
    await step(`${how}: cli --version, synth, convert, embed`, () => {
      check(sh(bin, ['--version'], dir) === `${pkg.version}\n`, '--version does not print the package version');
      sh(bin, ['synth', '--config', 'tiny', '--out', 'tiny', '--quiet'], dir);
      sh(bin, ['convert', 'tiny', '--out', 'tiny.iwt', '--dtype', 'int8', '--quiet'], dir);
      const input = ['"plain text"', '["Represent the Science title:", "3D ActionSLAM"]', '{"instruction": "Represent:", "text": "x"}'].join('\n') + '\n';
      const fromFile = sh(bin, ['embed', '--model', 'tiny.iwt', '--quiet'], dir, input);
      const lines = fromFile.trim().split('\n').map((l) => JSON.parse(l) as { index: number; embedding: number[] });
      check(lines.length === 3 && lines.every((l, i) => l.index === i && l.embedding.length === 24), `embed printed ${fromFile.slice(0, 200)}`);
      const fromFolder = sh(bin, ['embed', '--model', 'tiny', '--quiet'], dir, input);
      check(fromFolder === fromFile, 'a folder and its converted file embed differently');
    });

    await step(`${how}: README quick start on a local model`, () => {
      const code = /## Quick start[^\n]*\n+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
      check(code !== undefined && code.includes("'hkunlp/instructor-base'"), 'README has no quick start block loading hkunlp/instructor-base');
      writeFileSync(join(dir, 'quickstart.mjs'), code!.replace("'hkunlp/instructor-base'", JSON.stringify(join(dir, 'tiny')))
        .replace(/console\.log\((topK\([^;]*\))\);/, 'console.log(JSON.stringify($1));'));
      const hits = JSON.parse(sh(process.execPath, ['quickstart.mjs'], dir).trim().split('\n').pop()!) as Array<{ index: number }>;
      check(hits.length === 2 && hits.map((h) => h.index).sort().join() === '0,1', `quick start printed ${JSON.stringify(hits)}`);
    });

    await step(`${how}: README offline example as written (npx; tiny for base)`, () => {
      const at = readme.indexOf('**Offline**');
      const block = at < 0 ? undefined : /```sh\n([\s\S]*?)```/.exec(readme.slice(at))?.[1];
      check(block !== undefined && block.includes('npx instructor-wasm'), 'README has no offline sh block using npx instructor-wasm');
      const out = sh('sh', ['-euc', block!.replace('--config base', '--config tiny')], dir);
      const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { index: number; embedding: number[] });
      check(lines.length === 1 && lines[0].index === 0 && lines[0].embedding.length === 24, `the offline example printed ${out.slice(0, 200)}`);
    });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(failed === 0 ? 'package: all steps pass' : `package: ${failed} step(s) FAIL`);
process.exitCode = failed === 0 ? 0 : 1;
