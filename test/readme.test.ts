// The README's quick start runs as written (the hub id swapped for a local synth checkpoint).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeSynthCheckpoint } from '../src/format/synth-folder.js';
import { synthTextWeights } from './support/synth-text-model.js';

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

test('README Frameworks: each example runs as written, against the framework it names', async () => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const section = /## Frameworks\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  // Each example prints what it found; the hub id becomes a local tiny model.
  const report: Record<string, string> = {
    'LangChain.js': 'JSON.stringify({ hit: hit.pageContent })',
    'AI SDK': 'JSON.stringify({ scores: scores.length, tokens: usage.tokens })',
    'LlamaIndex.TS': 'JSON.stringify({ nodes: nodes.length, text: nodes[0].node.text })',
  };
  // Inside the package folder, so `instructor-wasm/...` (a self-reference) and the frameworks resolve.
  const dir = fileURLToPath(new URL('../../build/readme-frameworks/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'tiny.iwt'), synthTextWeights('tiny', 'fp32'));
    const runs = Object.entries(report).map(async ([framework, print], k) => {
      const code = new RegExp(`### ${framework.replace('.', '\\.')}[^\\n]*\\n+\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(section)?.[1];
      assert.ok(code, `README Frameworks has a ${framework} example`);
      assert.ok(code!.includes(`'hkunlp/instructor-large'`), `${framework} example loads a model by hub id`);
      const file = join(dir, `example-${k}.mjs`);
      writeFileSync(file, code!.replaceAll(`'hkunlp/instructor-large'`, JSON.stringify(join(dir, 'tiny.iwt'))) + `\nconsole.log(${print});\n`);
      const { stdout } = await promisify(execFile)(process.execPath, [file], { encoding: 'utf8', env: { ...process.env, AI_SDK_LOG_WARNINGS: 'false' } })
        .catch((e: Error & { stderr?: string }) => assert.unreachable(`${framework} example: ${e.stderr ?? e.message}`) as never);
      return [framework, JSON.parse(stdout.trim().split('\n').pop()!)] as const;
    });
    const out = Object.fromEntries(await Promise.all(runs));
    assert.match(out['LangChain.js'].hit, /Capitalism|Disparate/);
    assert.equal(out['AI SDK'].scores, 2);
    assert.ok(out['AI SDK'].tokens > 0);
    assert.is(out['LlamaIndex.TS'].nodes, 1);
    assert.match(out['LlamaIndex.TS'].text, /Capitalism|Disparate/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
