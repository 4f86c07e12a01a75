// loadInstructor: one entry for a hub id, a checkpoint folder, a weights file or bytes. The hub
// is a local HTTP server in the hub's URL scheme serving a synth checkpoint (never the internet).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { convertedCachePath } from '../src/io/hub-node.js';
import { loadInstructor, type LoadEvent } from '../src/io/load-node.js';
import { loadModelFile } from '../src/io/disk.js';
import { writeSynthCheckpoint } from '../src/format/synth-folder.js';
import { convertCheckpoint } from '../src/format/convert-node.js';
import { encodeHeaderBlock, parseWeightsHeader } from '../src/format/weights-file.js';
import { cosine, readGz } from './support/golden.js';
import { FP32_MIN_COSINE } from './support/tolerances.js';
import { rejects, sameBits } from './support/assert.js';


interface GoldenText {
  cases: Array<{ instruction: string; text: string; mode: 'pair' | 'legacy' | 'plain' }>;
  configs: Record<string, { float64: number[][] }>;
}
const golden = readGz<GoldenText>('golden-text.json.gz');
const inputs = golden.cases.slice(0, 12).map((c) =>
  (c.mode === 'plain' ? c.text : c.mode === 'legacy' ? [c.instruction, c.text, 0] : [c.instruction, c.text]) as never);

const dir = mkdtempSync(join(tmpdir(), 'iw-load-'));
const folder = join(dir, 'tiny');
const COMMIT = 'a'.repeat(40);
let server: Server;
let endpoint = '';
const requests: string[] = [];

test.before(async () => {
  await writeSynthCheckpoint('tiny', folder);
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const m = /^\/hkunlp\/instructor-tiny\/resolve\/(main|[0-9a-f]{40})\/(.+)$/.exec(req.url ?? '');
    const path = m && join(folder, decodeURIComponent(m[2]));
    if (!m || !path || relative(folder, path).startsWith('..') || !existsSync(path) || !path.includes('.') && !path.endsWith('Normalize')) {
      res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' }).end();
      return;
    }
    let body: Buffer;
    try { body = readFileSync(path); } catch { res.writeHead(404).end(); return; }
    const etag = createHash('sha1').update(`blob ${body.length}\0`).update(body as Uint8Array).digest('hex');
    res.writeHead(200, { 'X-Repo-Commit': COMMIT, ETag: `"${etag}"`, 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  endpoint = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

test.after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

test('a hub id downloads into the HF cache, converts once, then loads from the converted cache', async () => {
  const cacheDir = join(dir, 'hub-cache');
  const events: LoadEvent[] = [];
  const model = await loadInstructor('hkunlp/instructor-tiny', { dtype: 'fp32', hub: { endpoint, cacheDir, token: false }, onProgress: (e) => events.push(e) });
  const first = await model.encode(inputs);
  first.forEach((e, i) => assert.ok(cosine(e, golden.configs.tiny.float64[i]) >= FP32_MIN_COSINE, `case ${i}`));
  assert.ok(existsSync(convertedCachePath('hkunlp/instructor-tiny', COMMIT, 'fp32', cacheDir)), 'converted file cached');
  assert.ok(existsSync(join(cacheDir, 'models--hkunlp--instructor-tiny', 'snapshots', COMMIT, 'model.safetensors')));
  assert.ok(events.some((e) => e.phase === 'download') && events.some((e) => e.phase === 'convert'));
  model.dispose();

  // Second load: no weights transferred, no conversion.
  requests.length = 0;
  events.length = 0;
  const again = await loadInstructor('hkunlp/instructor-tiny', { dtype: 'fp32', hub: { endpoint, cacheDir, token: false }, onProgress: (e) => events.push(e) });
  assert.not.ok(requests.some((r) => r.startsWith('GET')), requests.join(', '));
  assert.not.ok(events.some((e) => e.phase === 'convert'));
  const second = await again.encode(inputs);
  second.forEach((e, i) => assert.equal(Array.from(e), Array.from(first[i])));
  again.dispose();

  // Offline: from the cache only, no request at all.
  requests.length = 0;
  const offline = await loadInstructor(`hkunlp/instructor-tiny@${COMMIT}`, { dtype: 'fp32', hub: { endpoint, cacheDir, offline: true } });
  assert.is(requests.length, 0);
  assert.equal(Array.from((await offline.encode(inputs.slice(0, 1)))[0]), Array.from(first[0]));
  offline.dispose();
});

test('a folder (converted into wasm memory as it streams), a weights file and bytes give the same model, bit for bit', async () => {
  for (const dtype of ['int8', 'int4', 'fp32'] as const) {
    const file = join(dir, `tiny.${dtype}.iwt`);
    await convertCheckpoint(folder, file, { dtype });
    const events: LoadEvent[] = [];
    const fromFolder = await loadInstructor(folder, { dtype, onProgress: (e) => events.push(e) });
    const fromFile = await loadInstructor(file);
    const fromBytes = await loadInstructor(new Uint8Array(readFileSync(file)), { dtype });
    assert.is(fromFolder.info.dtype, dtype);
    assert.is(fromFile.info.dtype, dtype);
    assert.ok(events.some((e) => e.phase === 'convert' && e.done === e.total), 'conversion progress');
    const [a, b, c] = await Promise.all([fromFolder.encode(inputs), fromFile.encode(inputs), fromBytes.encode(inputs)]);
    for (let i = 0; i < inputs.length; i++) {
      sameBits(a[i], b[i], `${dtype} folder vs file, input ${i}`);
      sameBits(c[i], b[i], `${dtype} bytes vs file, input ${i}`);
    }
    for (const m of [fromFolder, fromFile, fromBytes]) m.dispose();
  }
});

test('model.info is a compact summary; the tokenizer config stays reachable on the tokenizer', async () => {
  const model = await loadInstructor(join(dir, 'tiny.int8.iwt'));
  const printed = JSON.stringify(model.info);
  assert.not.match(printed, /extra_id/);
  assert.ok(printed.length < 1000, `${printed.length} characters: ${printed.slice(0, 200)}...`);
  assert.equal(Object.keys(model.info.model).sort(), ['dense_out', 'max_seq_length', 'normalize', 'source']);
  const special = model.tokenizer.config?.additional_special_tokens as string[];
  assert.is(special.length, 100);
  assert.is(special[0], '<extra_id_0>');
  model.dispose();
});

test('a null in a weights file\'s model metadata is BAD_FILE naming the key, never the default', async () => {
  const bytes = new Uint8Array(readFileSync(join(dir, 'tiny.int8.iwt')));
  const { header, dataStart } = parseWeightsHeader(bytes);
  for (const key of ['max_seq_length', 'normalize', 'dense_out']) {
    const head = encodeHeaderBlock({ config: header.config, model: { ...header.model, [key]: null }, dtype: 'int8' }, header.tensors, header.data_bytes);
    const mutant = new Uint8Array(head.length + header.data_bytes);
    mutant.set(head);
    mutant.set(bytes.subarray(dataStart), head.length);
    await rejects(loadInstructor(mutant), 'BAD_FILE', new RegExp(`model\\.${key}.*null`));
  }
});

test('a dtype that a weights file does not hold is refused, never ignored', async () => {
  const file = join(dir, 'tiny.int8.iwt');
  await rejects(loadInstructor(file, { dtype: 'fp32' }), 'BAD_INPUT', /dtype "fp32" was asked for, but the weights file holds int8 weights/);
  await rejects(loadInstructor(new Uint8Array(readFileSync(file)), { dtype: 'int4' }), 'BAD_INPUT', /dtype "int4" was asked for, but the weights file holds int8/);
});

test('sources that are none of these are typed errors; only a bare org/name asks the hub', async () => {
  const fifo = join(dir, 'weights.fifo');
  execFileSync('mkfifo', [fifo]);
  const bad: Array<[unknown, string, RegExp]> = [
    [join(dir, 'absent.iwt'), 'NOT_FOUND', /absent\.iwt: no such file or folder/],
    ['../etc/passwd', 'NOT_FOUND', /\.\.\/etc\/passwd: no such file or folder/],
    ['nope/model.iwt', 'NOT_FOUND', /nope\/model\.iwt: no such file or folder \(it reads as a path, so the hub was not asked/],
    [`${relative(process.cwd(), dir)}/absent`, 'NOT_FOUND', /absent: no such file or folder/], // first segment exists here
    [fifo, 'BAD_INPUT', /weights\.fifo is a FIFO; a model is a weights file, a checkpoint folder or a hub id/],
    [42, 'BAD_INPUT', /got number/],
    ['', 'BAD_INPUT', /got an empty string/],
  ];
  requests.length = 0;
  for (const [source, code, pattern] of bad) {
    await rejects(loadInstructor(source as string, { hub: { endpoint, cacheDir: join(dir, 'c2'), token: false, retries: 0 } }), code as 'BAD_INPUT', pattern);
  }
  assert.equal(requests, [], 'no request reached the hub');
  // the weights-file opener itself never blocks on a FIFO (it opens without waiting for a writer)
  await rejects(loadModelFile(fifo), 'BAD_INPUT', /weights file \S+weights\.fifo is a FIFO, not a regular file/);
  await rejects(loadInstructor('hkunlp/instructor-missing', { hub: { endpoint, cacheDir: join(dir, 'c2'), token: false, retries: 0 } }), 'NOT_FOUND', /config\.json/);
  assert.ok(requests.length > 0, 'a bare org/name is a hub request');
  await rejects(loadInstructor(folder, { dtype: 'int2' as 'int8' }), 'BAD_INPUT', /dtype must be/);
});

test.run();
