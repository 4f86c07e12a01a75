// The architecture, checked: src/ in rooms by role, and who may import whom. assembly/ is pure
// numerics (no src/), the engine knows T5 but not files on disk, runtimes or the command line.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // from dist/test/

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(ROOT, p)).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The relative module specifiers a file imports or re-exports, resolved against the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
  return specs.map((s) => relative(ROOT, join(ROOT, file, '..', s)).split('\\').join('/'));
}

test('src/ holds at most 10 files at its top; the rest sits in its room', () => {
  const top = readdirSync(join(ROOT, 'src')).filter((f) => f.endsWith('.ts'));
  assert.ok(top.length <= 10, `src/ has ${top.length} top-level files: ${top.join(', ')}`);
  for (const room of ['engine', 'text', 'format', 'io', 'runtimes', 'cli', 'adapters', 'server']) {
    assert.ok(statSync(join(ROOT, 'src', room)).isDirectory(), `src/${room}/ exists`);
  }
});

test('assembly/ imports nothing from src/', () => {
  for (const f of tsFiles('assembly')) {
    for (const i of importsOf(f)) assert.not.ok(i.startsWith('src/'), `${f} imports ${i}`);
  }
});

test('src/engine/ imports nothing from src/io/, src/cli/ or src/runtimes/', () => {
  const files = tsFiles('src/engine');
  assert.ok(files.length > 5, 'the engine has its files');
  for (const f of files) {
    for (const i of importsOf(f)) assert.not.ok(/^src\/(io|cli|runtimes)\//.test(i), `${f} imports ${i}`);
  }
});

test('src/server/ runs in every runtime: no Node built-ins, nothing from src/io/, src/cli/ or src/runtimes/', () => {
  const files = tsFiles('src/server');
  assert.ok(files.length >= 4, 'the server has its files');
  for (const f of files) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    assert.not.match(text, /from\s*'node:|import\(\s*'node:/, `${f} imports a Node built-in`);
    for (const i of importsOf(f)) assert.not.ok(/^src\/(io|cli|runtimes)\//.test(i), `${f} imports ${i}`);
  }
});

test.run();
