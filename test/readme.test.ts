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

test.run();
