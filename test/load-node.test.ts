// loadInstructor: one entry for a hub id, a checkpoint folder, a weights file or bytes. The hub
// is a local HTTP server in the hub's URL scheme serving a synth checkpoint (never the internet).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { InstructorError } from '../src/errors.js';
import { convertedCachePath } from '../src/io/hub-node.js';
import { loadInstructor, type LoadEvent } from '../src/io/load-node.js';
import { writeSynthCheckpoint } from '../src/format/synth-folder.js';
import { convertCheckpoint } from '../src/format/convert-node.js';
import { cosine, readGz } from './support/golden.js';
import { FP32_MIN_COSINE } from './support/tolerances.js';
import { sameBits } from './support/assert.js';


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

test('a folder, a weights file and bytes give the same model', async () => {
  const file = join(dir, 'tiny.int8.iwt');
  await convertCheckpoint(folder, file, { dtype: 'int8' });
  const fromFolder = await loadInstructor(folder, { dtype: 'int8' });
  const fromFile = await loadInstructor(file);
  const fromBytes = await loadInstructor(new Uint8Array(readFileSync(file)));
  const [a, b, c] = await Promise.all([fromFolder.encode(inputs), fromFile.encode(inputs), fromBytes.encode(inputs)]);
  for (let i = 0; i < inputs.length; i++) {
    sameBits(a[i], b[i], `input ${i}: folder vs weights file`);
    assert.equal(Array.from(b[i]), Array.from(c[i]));
  }
  for (const m of [fromFolder, fromFile, fromBytes]) m.dispose();
});

test('sources that are none of these are typed errors', async () => {
  const bad: Array<[unknown, string, RegExp]> = [
    [join(dir, 'absent.iwt'), 'BAD_INPUT', /not a file, a folder or a hub id/],
    ['../etc/passwd', 'BAD_INPUT', /not a file, a folder or a hub id/],
    [42, 'BAD_INPUT', /got number/],
    ['hkunlp/instructor-missing', 'NOT_FOUND', /config\.json/],
  ];
  for (const [source, code, pattern] of bad) {
    try {
      await loadInstructor(source as string, { hub: { endpoint, cacheDir: join(dir, 'c2'), token: false, retries: 0 } });
      assert.unreachable(`${String(source)} loaded`);
    } catch (e) {
      assert.instance(e, InstructorError, String(e));
      assert.is((e as InstructorError).code, code, (e as Error).message);
      assert.match((e as Error).message, pattern);
    }
  }
  try {
    await loadInstructor(folder, { dtype: 'int2' as 'int8' });
    assert.unreachable();
  } catch (e) {
    assert.is((e as InstructorError).code, 'BAD_INPUT');
  }
});

test.run();
