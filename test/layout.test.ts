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
  for (const room of ['engine', 'text', 'format', 'io', 'runtimes', 'cli', 'adapters', 'server', 'queue']) {
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

test('bullmq (an optional peer) is imported only by src/queue/ and the queue commands, which cli.ts loads on demand', () => {
  const allowed = /^src\/(queue\/|cli\/(worker|embed-redis)\.ts$)/;
  const users = tsFiles('src').filter((f) => /from '(bullmq|ioredis)'/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.ok(users.includes('src/queue/worker.ts') && users.includes('src/queue/producer.ts'), `bullmq users: ${users.join(', ')}`);
  for (const f of users) assert.ok(allowed.test(f), `${f} imports bullmq or ioredis`);
  // No static path from the package's other entries (or cli.ts) to a bullmq user.
  const statics = (f: string) => {
    const text = readFileSync(join(ROOT, f), 'utf8');
    const specs = [...text.matchAll(/^\s*(?:import|export)\b[^;'()]*?(?:from\s*)?'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1]);
    return specs.map((sp) => relative(ROOT, join(ROOT, f, '..', sp)).split('\\').join('/').replace(/\.js$/, '.ts'));
  };
  const reached = new Set<string>();
  const walk = (f: string) => {
    if (reached.has(f)) return;
    reached.add(f);
    for (const i of statics(f)) if (i.startsWith('src/') && i.endsWith('.ts')) walk(i);
  };
  for (const entry of ['src/index.ts', 'src/node-index.ts', 'src/cli/cli.ts', ...tsFiles('src/runtimes')]) walk(entry);
  for (const f of users) assert.not.ok(reached.has(f), `${f} is reached by a static import from an entry point`);
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

/**
 * The room of a src/ file: its folder under src/ (engine, text, format, ...), or for a file at
 * src/'s top (errors.ts, the entry points) the file itself.
 */
function roomOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1] : parts[1].replace(/\.[jt]s$/, '.ts');
}

/** The package's entry points at src/'s top: they only re-export the rooms (runtimes/node.ts re-exports node-index.ts). */
const ENTRY_POINTS = new Set(['src/index.ts', 'src/node-index.ts']);

/**
 * Room -> the rooms its files import (static imports, re-exports and import('...')), with one file
 * doing it each. The entry points are left out: a facade that re-exports every room is no arrow
 * between them.
 */
function roomGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const f of tsFiles('src')) {
    if (ENTRY_POINTS.has(f)) continue;
    const from = roomOf(f);
    if (!graph.has(from)) graph.set(from, new Map());
    for (const i of importsOf(f)) {
      if (!i.startsWith('src/') || ENTRY_POINTS.has(i.replace(/\.js$/, '.ts'))) continue;
      const to = roomOf(i);
      if (to !== from && !graph.get(from)!.has(to)) graph.get(from)!.set(to, `${f} imports ${i}`);
    }
  }
  return graph;
}

/** Every cycle's rooms, one per strongly connected component of more than one room (Tarjan). */
function roomCycles(graph: Map<string, Map<string, string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); component.push(w); } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

test('the rooms of src/ import each other without a cycle', () => {
  const graph = roomGraph();
  assert.ok(graph.size >= 10, `rooms: ${[...graph.keys()].join(', ')}`);
  const described = roomCycles(graph).map((rooms) => {
    const arrows = rooms.flatMap((a) => rooms.filter((b) => graph.get(a)!.has(b)).map((b) => `${a} -> ${b} (${graph.get(a)!.get(b)})`));
    return `cycle among ${rooms.join(', ')}: ${arrows.join('; ')}`;
  });
  assert.equal(described, [], described.join('\n'));
});

test('the engine imports nothing from format/, queue/ nothing from server/, format/ nothing from io/', () => {
  const graph = roomGraph();
  for (const [from, to] of [['engine', 'format'], ['queue', 'server'], ['format', 'io']]) {
    const arrow = graph.get(from)?.get(to);
    assert.ok(arrow === undefined, `${from} -> ${to}: ${arrow}`);
  }
});

test.run();
