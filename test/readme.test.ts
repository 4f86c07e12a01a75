// The README's quick start runs as written (the hub id swapped for a local synth checkpoint).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSynthCheckpoint } from '../src/format/synth-folder.js';

test('README quick start', async () => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const code = /## Quick start[^\n]*\n+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'README has a quick start code block');
  const dir = mkdtempSync(join(tmpdir(), 'iw-readme-'));
  try {
    await writeSynthCheckpoint('tiny', join(dir, 'tiny'));
    const entry = fileURLToPath(new URL('../src/node-index.js', import.meta.url));
    const script = code!
      .replace(`from 'instructor-wasm/node'`, `from ${JSON.stringify(entry)}`)
      .replace(`'hkunlp/instructor-large'`, JSON.stringify(join(dir, 'tiny')))
      + '\nconsole.log(JSON.stringify({ dim: embedding.length, rows: similarities.length, best: best.length, labels: Array.from(labels) }));\n';
    writeFileSync(join(dir, 'quickstart.mjs'), script);
    const r = spawnSync(process.execPath, [join(dir, 'quickstart.mjs')], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.is(out.dim, 24);
    assert.is(out.rows, 2);
    assert.is(out.best, 2);
    assert.is(out.labels.length, 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("README's first lines: the two commands a newcomer runs, each an npm script that exists", () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const first = /^# [^\n]*\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(first, 'README opens with a sh block');
  const commands = first!.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  assert.is(commands.length, 2, `two commands, got ${JSON.stringify(commands)}`);
  assert.match(commands[0], /^npm ci && npm run \S+$/, 'set up, then the main job');
  assert.match(commands[1], /^npm test$/);
  const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts as Record<string, string>;
  for (const c of commands) for (const [, name] of c.matchAll(/npm run (\S+)/g)) assert.ok(scripts[name], `package.json has the script "${name}"`);
  assert.match(scripts.demo, /--input examples\/texts\.jsonl/, 'the demo embeds the example texts');
});

test.run();
