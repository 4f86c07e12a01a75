// How the adapters ship: subpath exports with types, each framework an optional peer (and a
// devDependency for these tests), the base package free of them, no `node:` import on the paths
// Workers and browsers take, and the model sources that need a filesystem loaded only on Node.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSynthCheckpoint } from '../src/format/synth-folder.js';
import { sameBits } from './support/assert.js';
import { synthInstructor, synthTextWeights } from './support/synth-text-model.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // from dist/test/
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>; devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>; peerDependenciesMeta: Record<string, { optional?: boolean }>;
  exports: Record<string, unknown>; imports: Record<string, Record<string, string>>;
};
const ADAPTERS = ['langchain', 'ai-sdk', 'llamaindex'];

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(ROOT, p)).isDirectory() ? tsFiles(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Static import / export-from specifiers of a file (type-only imports excluded: erased from the JavaScript). */
function staticImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?'([^']+)'/gm)].map((m) => m[1]);
}

function dynamicImports(file: string): string[] {
  return [...readFileSync(join(ROOT, file), 'utf8').matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]);
}

/** The npm package a bare specifier names ('@scope/name/sub' -> '@scope/name'). */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function resolveRelative(from: string, spec: string): string {
  return relative(ROOT, join(ROOT, from, '..', spec)).split('\\').join('/').replace(/\.js$/, '.ts');
}

test('subpath exports with types; every framework an optional peer and a devDependency, never a dependency', () => {
  for (const name of ADAPTERS) {
    const entry = pkg.exports[`./${name}`] as { types: string; default: string } | undefined;
    assert.ok(entry, `exports has ./${name}`);
    assert.is(entry!.types, `./dist/src/adapters/${name}.d.ts`);
    assert.is(entry!.default, `./dist/src/adapters/${name}.js`);
    for (const f of [entry!.types, entry!.default]) assert.ok(existsSync(join(ROOT, f)), `${f} is built`);
  }
  const frameworks = new Set(tsFiles('src/adapters').flatMap((f) => [
    ...staticImports(f), ...[...readFileSync(join(ROOT, f), 'utf8').matchAll(/^import\s+type\s[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]),
  ]).filter((s) => !s.startsWith('.') && !s.startsWith('#')).map(packageOf));
  assert.equal([...frameworks].sort(), ['@ai-sdk/provider', '@langchain/core', '@llamaindex/core'].sort());
  for (const f of [...frameworks, 'ai']) {
    assert.ok(pkg.peerDependencies[f], `${f} is a peerDependency`);
    assert.is(pkg.peerDependenciesMeta[f]?.optional, true, `${f} is an optional peer`);
    assert.ok(pkg.devDependencies[f], `${f} is a devDependency (the tests run against it)`);
    assert.is(pkg.dependencies[f], undefined, `${f} is not a dependency`);
  }
});

test('the base package stays free of the frameworks: nothing outside src/adapters/ imports them or it', () => {
  // bullmq and ioredis are the queue's optional peers: test/layout.test.ts says where they may be imported
  const frameworks = new Set(Object.keys(pkg.peerDependencies).filter((p) => p !== 'bullmq' && p !== 'ioredis'));
  for (const f of tsFiles('src').filter((f) => !f.startsWith('src/adapters/'))) {
    for (const spec of [...staticImports(f), ...dynamicImports(f)]) {
      assert.not.ok(frameworks.has(packageOf(spec)), `${f} imports ${spec}`);
      if (spec.startsWith('.')) assert.not.ok(resolveRelative(f, spec).startsWith('src/adapters/'), `${f} imports ${spec}`);
    }
  }
});

test('no node: built-in on the static import graph of any adapter (Workers, browsers); dynamic imports only where a source needs them', () => {
  for (const name of ADAPTERS) {
    const seen = new Set<string>();
    const todo = [`src/adapters/${name}.ts`];
    while (todo.length > 0) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const spec of staticImports(f)) {
        assert.not.ok(spec.startsWith('node:'), `${name}: ${f} imports ${spec}`);
        if (spec.startsWith('.')) todo.push(resolveRelative(f, spec));
      }
      if (!f.startsWith('src/adapters/')) continue; // the engine's own lazy imports (threads) are its business
      for (const spec of dynamicImports(f)) assert.ok(['#filesystem-loader', 'instructor-wasm'].includes(spec), `${name}: ${f} imports ${spec} dynamically`);
    }
    assert.ok(seen.has('src/adapters/model-source.ts') && seen.has('src/text/instructor.ts'), `${name} reaches the shared loader and the Instructor`);
  }
});

test('the subpaths resolve by package name', async () => {
  const [lc, ai, li] = await Promise.all([import('instructor-wasm/langchain'), import('instructor-wasm/ai-sdk'), import('instructor-wasm/llamaindex')]);
  assert.type(lc.InstructorEmbeddings, 'function');
  assert.type(ai.instructor, 'function');
  assert.type(li.InstructorEmbedding, 'function');
  assert.is(lc.DOCUMENT_INSTRUCTION, ai.DOCUMENT_INSTRUCTION);
  assert.is(li.QUERY_INSTRUCTION, lc.QUERY_INSTRUCTION);
});

test('#filesystem-loader: io/load-node.js on Node, Deno and Bun; a typed refusal under the workerd and browser conditions', () => {
  const map = pkg.imports['#filesystem-loader'];
  for (const c of ['node', 'deno', 'bun']) assert.is(map[c], './dist/src/io/load-node.js', c);
  for (const c of ['workerd', 'browser', 'default']) assert.is(map[c], './dist/src/adapters/no-filesystem.js', c);
  const script = `const { instructor } = await import(${JSON.stringify(join(ROOT, 'dist/src/adapters/ai-sdk.js'))});
    try { await instructor(${JSON.stringify(join(ROOT, 'build/kernels.wasm'))}).doEmbed({ values: ['x'] }); console.log('{}'); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`;
  for (const condition of ['workerd', 'browser']) {
    const out = execFileSync(process.execPath, [`--conditions=${condition}`, '--input-type=module', '-e', script], { encoding: 'utf8' });
    const got = JSON.parse(out.trim()) as { name: string; code: string; message: string };
    assert.is(got.name, 'InstructorError', condition);
    assert.is(got.code, 'BAD_INPUT', condition);
    assert.match(got.message, /needs a filesystem \(Node, Deno, Bun\)/, condition);
  }
});

test('sources that need a filesystem (Node): a weights file path, a checkpoint folder with dtype; bytes with threads', async () => {
  const { instructor } = await import('../src/adapters/ai-sdk.js');
  const tiny = await synthInstructor('tiny', 'fp32');
  const dir = mkdtempSync(join(tmpdir(), 'iw-adapters-'));
  try {
    const values = ['first text', 'a second, longer text to embed', 'third'];
    const want = await tiny.encode(values, { instruction: '' });
    const check = async (model: ReturnType<typeof instructor>, expected: Float32Array[], what: string) => {
      const { embeddings } = await model.doEmbed({ values });
      for (let i = 0; i < values.length; i++) sameBits(Float32Array.from(embeddings[i]), expected[i], `${what} ${i}`);
      model.dispose();
    };
    writeFileSync(join(dir, 'tiny.iwt'), synthTextWeights('tiny', 'fp32'));
    await check(instructor(join(dir, 'tiny.iwt'), { instruction: '' }), want, 'weights file path');

    // fp32 is not the default (int8), so equal bits prove dtype reached the conversion.
    await writeSynthCheckpoint('tiny', join(dir, 'ckpt'));
    await check(instructor(join(dir, 'ckpt'), { instruction: '', dtype: 'fp32' }), want, 'checkpoint folder, fp32');

    await check(instructor(synthTextWeights('tiny', 'fp32'), { instruction: '', threads: 2 }), want, 'bytes, 2 threads');
  } finally {
    tiny.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
