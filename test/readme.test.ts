// The README and the docs/ pages run as written (each hub id swapped for a local synth model), their
// links lead somewhere, and the limits they state are the code's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeSynthCheckpoint } from '../src/format/synth-folder.js';
import { synthTextWeights } from './support/synth-text-model.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');
const NODE_ENTRY = fileURLToPath(new URL('../src/node-index.js', import.meta.url));
const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));

/** The first fenced block of `lang` after the heading that starts with `heading`, in `markdown`. */
function block(markdown: string, heading: string, lang: string): string | undefined {
  const at = markdown.split('\n').findIndex((l) => /^#+ /.test(l) && l.replace(/^#+ /, '').startsWith(heading));
  if (at < 0) return undefined;
  const rest = markdown.split('\n').slice(at + 1).join('\n');
  return new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```', 'm').exec(rest)?.[1];
}

/** Runs `code` (an ES module) with Node from `dir`; its last stdout line, parsed as JSON. */
function runModule(dir: string, name: string, code: string): any {
  writeFileSync(join(dir, name), code);
  const r = spawnSync(process.execPath, [join(dir, name)], { encoding: 'utf8', cwd: dir });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test("README quick start: the hub example runs as written (a local synth checkpoint for the hub id)", async () => {
  const code = block(read('README.md'), 'Quick start', 'ts');
  assert.ok(code, 'README has a quick start ts block');
  assert.ok(code!.includes(`loadInstructor('hkunlp/instructor-base')`), 'the quick start loads a real model by hub id');
  assert.ok(code!.trim().split('\n').length <= 12, `the quick start is short, got ${code!.trim().split('\n').length} lines`);
  const dir = mkdtempSync(join(tmpdir(), 'iw-readme-'));
  try {
    await writeSynthCheckpoint('tiny', join(dir, 'tiny'));
    const script = code!
      .replace(`from 'instructor-wasm/node'`, `from ${JSON.stringify(NODE_ENTRY)}`)
      .replace(`'hkunlp/instructor-base'`, JSON.stringify(join(dir, 'tiny')))
      .replace(/console\.log\((topK\([^;]*\))\);/, 'console.log(JSON.stringify($1));');
    const hits = runModule(dir, 'quickstart.mjs', script) as Array<{ index: number; score: number }>;
    assert.equal(hits.map((h) => h.index).sort(), [0, 1]);
    assert.ok(hits[0].score >= hits[1].score && hits.every((h) => Math.abs(h.score) <= 1 + 1e-6), JSON.stringify(hits));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('README offline example: synth, convert, embed run as written (tiny for base)', () => {
  const readme = read('README.md');
  const at = readme.indexOf('**Offline**');
  assert.ok(at > 0, 'README has the offline example');
  const sh = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))?.[1];
  assert.ok(sh, 'the offline example is a sh block');
  const dir = mkdtempSync(join(tmpdir(), 'iw-readme-offline-'));
  try {
    const script = sh!.replaceAll('npx instructor-wasm', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`).replace('--config base', '--config tiny');
    const r = spawnSync('sh', ['-euc', script], { cwd: dir, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { index: number; embedding: number[] });
    assert.is(lines.length, 1);
    assert.is(lines[0].index, 0);
    assert.is(lines[0].embedding.length, 24);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docs/usage.md: the model card example runs as written (a local synth checkpoint for the hub id)', async () => {
  const code = block(read('docs/usage.md'), 'The model card', 'ts');
  assert.ok(code, 'docs/usage.md has the model card example');
  const dir = mkdtempSync(join(tmpdir(), 'iw-readme-'));
  try {
    await writeSynthCheckpoint('tiny', join(dir, 'tiny'));
    const script = code!
      .replace(`from 'instructor-wasm/node'`, `from ${JSON.stringify(NODE_ENTRY)}`)
      .replace(`'hkunlp/instructor-large'`, JSON.stringify(join(dir, 'tiny')))
      + '\nconsole.log(JSON.stringify({ dim: embedding.length, rows: similarities.length, best: best.length, labels: Array.from(labels) }));\n';
    const out = runModule(dir, 'modelcard.mjs', script);
    assert.is(out.dim, 24);
    assert.is(out.rows, 2);
    assert.is(out.best, 2);
    assert.is(out.labels.length, 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("README's first lines: the two commands a newcomer runs, each an npm script that exists", () => {
  const readme = read('README.md');
  const first = /^# [^\n]*\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(first, 'README opens with a sh block');
  const commands = first!.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  assert.is(commands.length, 2, `two commands, got ${JSON.stringify(commands)}`);
  assert.match(commands[0], /^npm ci && npm run \S+$/, 'set up, then the main job');
  assert.match(commands[1], /^npm test$/);
  const scripts = JSON.parse(read('package.json')).scripts as Record<string, string>;
  for (const c of commands) for (const [, name] of c.matchAll(/npm run (\S+)/g)) assert.ok(scripts[name], `package.json has the script "${name}"`);
  assert.match(scripts.demo, /--input examples\/texts\.jsonl/, 'the demo embeds the example texts');
});

test('docs/frameworks.md: each example runs as written, against the framework it names', async () => {
  const page = read('docs/frameworks.md');
  // Each example prints what it found; the hub id becomes a local tiny model.
  const report: Record<string, string> = {
    'LangChain.js': 'JSON.stringify({ hit: hit.pageContent })',
    'AI SDK': 'JSON.stringify({ scores: scores.length, tokens: usage.tokens })',
    'LlamaIndex.TS': 'JSON.stringify({ nodes: nodes.length, text: nodes[0].node.text })',
  };
  // Inside the package folder, so `instructor-wasm/...` (a self-reference) and the frameworks resolve.
  const dir = join(ROOT, 'build', 'readme-frameworks');
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'tiny.iwt'), synthTextWeights('tiny', 'fp32'));
    const runs = Object.entries(report).map(async ([framework, print], k) => {
      const code = block(page, framework, 'ts');
      assert.ok(code, `docs/frameworks.md has a ${framework} example`);
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

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const anchor = (heading: string): string => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

test('README and docs/: every relative link leads to a file in the repository (and a heading, when it names one)', () => {
  const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  assert.ok(pages.length >= 10, `docs/ has the reference pages, got ${pages.join(', ')}`);
  const broken: string[] = [];
  for (const page of pages) {
    const text = read(page).replace(/^```[\s\S]*?^```/gm, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [path, hash] = target.split('#');
      const file = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), path));
      if (!existsSync(join(ROOT, file))) { broken.push(`${page}: ${target} (no ${file})`); continue; }
      if (hash !== undefined && file.endsWith('.md')) {
        const headings = read(file).split('\n').filter((l) => /^#+ /.test(l)).map((l) => anchor(l.replace(/^#+ /, '')));
        if (!headings.includes(hash)) broken.push(`${page}: ${target} (no heading #${hash} in ${file})`);
      }
    }
  }
  assert.equal(broken, []);
});

test("docs/: the Worker's request limits are the ones examples/worker/worker.js sets", () => {
  const worker = read('examples/worker/worker.js');
  const maxInputs = Number(/const MAX_INPUTS = (\d+);/.exec(worker)?.[1]);
  const maxBodyKiB = Number(/const MAX_BODY_BYTES = (\d+) << 10;/.exec(worker)?.[1]);
  assert.ok(maxInputs > 0 && maxBodyKiB > 0, 'worker.js sets MAX_INPUTS and MAX_BODY_BYTES');
  const stated = ['README.md', 'docs/runtimes.md', 'docs/memory.md'].flatMap((page) =>
    [...read(page).matchAll(/at most (\d+) inputs and a (\d+) KiB body per request/g)].map((m) => ({ page, inputs: Number(m[1]), kib: Number(m[2]) })));
  assert.ok(stated.some((s) => s.page === 'docs/runtimes.md'), 'docs/runtimes.md states the Worker limits');
  for (const s of stated) assert.equal([s.inputs, s.kib], [maxInputs, maxBodyKiB], `${s.page} states ${s.inputs} inputs, ${s.kib} KiB`);
  // No other figure for the inputs a Worker request takes ("up to 256 per request" was stale).
  for (const page of ['docs/runtimes.md', 'docs/memory.md']) assert.not.match(read(page), /up to \d+ per request/, page);
});

test.run();
