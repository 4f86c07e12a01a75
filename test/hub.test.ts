// The hub client against a local imitation of the Hugging Face hub (127.0.0.1 only): a "hub"
// server answering /{repo}/resolve/{rev}/{path} and a "CDN" server on another port for LFS files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as http from 'node:http';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { InstructorError, type InstructorErrorCode } from '../src/errors.js';
import {
  convertedCachePath, downloadFile, downloadSnapshot, fetchHubFile, hfCacheDir, hubCachePaths, hubFileUrl, normalizeEtag,
  parseRepoId, type HubOptions, type HubProgress,
} from '../src/io/hub-node.js';
import { rejects } from './support/assert.js';
import { GOLDEN_DIR } from './support/golden.js';

const SRC = GOLDEN_DIR + 'tiny-st-bin';
const REPO = 'hkunlp/instructor-tiny';
const PRIVATE = 'hkunlp/instructor-private';
const COMMIT = '5d0b8d2f1c3e4a6b7c8d9e0f1a2b3c4d5e6f7a8b';
const TOKEN = 'hf_test_secret_token';
const LFS = new Set(['pytorch_model.bin', '2_Dense/pytorch_model.bin']);

// ---------------------------------------------------------------- the repo's files

interface RepoFile { bytes: Uint8Array; sha256: string; gitSha1: string }
const FILES = new Map<string, RepoFile>();
function u8(b: { buffer: ArrayBufferLike; byteOffset: number; length: number }): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
const rd = async (p: string) => u8(await readFile(p));
function addFile(path: string, bytes: Uint8Array): void {
  FILES.set(path, {
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    gitSha1: createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex'),
  });
}
(function walk(dir: string, prefix: string) {
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, `${prefix}${name}/`);
    else addFile(`${prefix}${name}`, u8(readFileSync(full)));
  }
})(SRC, '');
addFile('flaky.json', new TextEncoder().encode('{"flaky": true}\n'));

// ---------------------------------------------------------------- the servers

interface LogEntry { srv: 'hub' | 'cdn'; method: string; url: string; auth?: string; range?: string }

interface State {
  log: LogEntry[];
  flaky: number; // HEADs of flaky.json that 500 before it works
  cutOnce: boolean; // the next CDN body is cut halfway
  slow: boolean; // CDN bodies trickle (for abort tests)
  lie?: string; // this file's announced etag is wrong
  down: boolean; // every hub request 503s
  cdnHop: boolean; // the hub's LFS redirect goes to a CDN URL that redirects once more
  ignoreRange: boolean; // CDN answers 200 to Range requests
  getViaCdn: boolean; // GETs of regular files on the hub redirect to the CDN (HEADs do not)
}

interface Servers { hub: string; cdn: string; state: State; close(): Promise<void> }

function freshState(): State {
  return { log: [], flaky: 0, cutOnce: false, slow: false, lie: undefined, down: false, cdnHop: false, ignoreRange: false, getViaCdn: false };
}

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function sendBytes(req: http.IncomingMessage, res: http.ServerResponse, bytes: Uint8Array, state: State, headers: Record<string, string>, cdn: boolean): void {
  let start = 0;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m && !(cdn && state.ignoreRange)) {
    start = Number(m[1]);
    if (start >= bytes.length) {
      res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end();
      return;
    }
    res.writeHead(206, { ...headers, 'Content-Length': String(bytes.length - start), 'Content-Range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` });
  } else {
    res.writeHead(200, { ...headers, 'Content-Length': String(bytes.length), 'Accept-Ranges': 'bytes' });
  }
  if (req.method === 'HEAD') return void res.end();
  const body = bytes.subarray(start);
  if (cdn && state.cutOnce) {
    state.cutOnce = false;
    res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  if (cdn && state.slow) {
    let o = 0;
    const step = () => {
      if (res.destroyed) return;
      if (o >= body.length) return void res.end();
      const n = Math.min(65536, body.length - o);
      res.write(body.subarray(o, o + n));
      o += n;
      setTimeout(step, 3);
    };
    step();
    return;
  }
  res.end(body);
}

async function startServers(): Promise<Servers> {
  const state = freshState();
  const cdn = await listen((req, res) => {
    state.log.push({ srv: 'cdn', method: req.method!, url: req.url!, auth: req.headers.authorization, range: req.headers.range });
    const u = new URL(req.url!, 'http://x');
    if (u.pathname.startsWith('/hop/')) {
      res.writeHead(302, { Location: `${cdnBase}/cdn/${u.pathname.slice(5)}${u.search}` }).end();
      return;
    }
    const f = u.pathname.startsWith('/cdn/') ? FILES.get(decodeURIComponent(u.pathname.slice(5))) : undefined;
    if (!f || u.searchParams.get('sig') !== 'ok') return void res.writeHead(403).end('bad signature');
    sendBytes(req, res, f.bytes, state, { 'Content-Type': 'application/octet-stream', ETag: '"s3-md5-whatever"' }, true);
  });
  const cdnBase = cdn.base;
  const hub = await listen((req, res) => {
    state.log.push({ srv: 'hub', method: req.method!, url: req.url!, auth: req.headers.authorization, range: req.headers.range });
    if (state.down) return void res.writeHead(503).end('down');
    const m = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(new URL(req.url!, 'http://x').pathname);
    if (!m) return void res.writeHead(404, { 'X-Error-Code': 'RepoNotFound' }).end();
    const [, org, name, revEnc, pathEnc] = m;
    const repo = `${org}/${name}`;
    const rev = decodeURIComponent(revEnc);
    const path = pathEnc.split('/').map(decodeURIComponent).join('/');
    if (repo === 'hkunlp/instructor-old') return void res.writeHead(307, { Location: `/hkunlp/instructor-renamed/resolve/${revEnc}/${pathEnc}` }).end();
    if (repo === 'hkunlp/instructor-renamed') return void res.writeHead(307, { Location: `/${REPO}/resolve/${revEnc}/${pathEnc}` }).end();
    if (repo === 'hkunlp/loop') return void res.writeHead(307, { Location: req.url! }).end();
    if (repo !== REPO && repo !== PRIVATE) return void res.writeHead(401, { 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Repository not found' }).end();
    if (repo === PRIVATE && req.headers.authorization !== `Bearer ${TOKEN}`) {
      return void res.writeHead(401, { 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Invalid credentials in Authorization header' }).end();
    }
    if (rev !== 'main' && rev !== 'v1' && rev !== COMMIT) return void res.writeHead(404, { 'X-Error-Code': 'RevisionNotFound', 'X-Error-Message': 'Invalid rev id' }).end();
    const f = FILES.get(path);
    if (!f) return void res.writeHead(404, { 'X-Error-Code': 'EntryNotFound', 'X-Error-Message': 'Entry not found', 'X-Repo-Commit': COMMIT }).end();
    if (path === 'flaky.json' && state.flaky > 0) {
      state.flaky--;
      return void res.writeHead(500).end('oops');
    }
    const lie = state.lie === path;
    if (LFS.has(path)) {
      const sha = lie ? createHash('sha256').update('a lie').digest('hex') : f.sha256;
      const where = state.cdnHop ? 'hop' : 'cdn';
      res.writeHead(302, {
        Location: `${cdnBase}/${where}/${encodeURIComponent(path)}?sig=ok`,
        'X-Repo-Commit': COMMIT,
        'X-Linked-Etag': `"${sha}"`,
        'X-Linked-Size': String(f.bytes.length),
        ETag: '"pointer-etag"',
        'Content-Length': '0',
      }).end();
      return;
    }
    if (state.getViaCdn && req.method === 'GET') return void res.writeHead(302, { Location: `${cdnBase}/cdn/${encodeURIComponent(path)}?sig=ok` }).end();
    const etag = lie ? 'f'.repeat(40) : f.gitSha1;
    // one file with a weak etag, as some proxies send
    sendBytes(req, res, f.bytes, state, { 'X-Repo-Commit': COMMIT, ETag: path === 'modules.json' ? `W/"${etag}"` : `"${etag}"` }, false);
  });
  return {
    hub: hub.base,
    cdn: cdn.base,
    state,
    async close() {
      for (const s of [hub.server, cdn.server]) {
        s.closeAllConnections();
        await new Promise<void>((res) => s.close(() => res()));
      }
    },
  };
}

// ---------------------------------------------------------------- helpers

let S: Servers;
const temps: string[] = [];

async function tempCache(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'hub-test-'));
  temps.push(d);
  return d;
}

/** Options for the test hub with a fresh temp cache and an env that touches nothing real. */
async function opts(extra: HubOptions = {}): Promise<HubOptions & { cacheDir: string }> {
  const home = await tempCache();
  return { endpoint: S.hub, cacheDir: join(home, 'hub'), env: { HF_HOME: home }, retryDelayMs: 1, timeoutMs: 5000, ...extra } as HubOptions & { cacheDir: string };
}


const count = (pred: (e: LogEntry) => boolean) => S.state.log.filter(pred).length;
const cdnGets = () => count((e) => e.srv === 'cdn' && e.method === 'GET');
const noNetwork: typeof fetch = async () => {
  throw new Error('no network expected in this test');
};

const SNAPSHOT_FILES = [
  'config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json', '2_Dense/config.json',
  { path: '2_Dense/pytorch_model.bin', optional: true }, { path: '2_Dense/model.safetensors', optional: true },
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
  { path: 'pytorch_model.bin', optional: true }, { path: 'model.safetensors', optional: true },
];

test.before(async () => {
  S = await startServers();
});
test.before.each(() => {
  Object.assign(S.state, freshState(), { log: S.state.log });
  S.state.log.length = 0;
});
test.after(async () => {
  await S.close();
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------- pure helpers

test('parseRepoId: org/name, @revision, default main', () => {
  assert.equal(parseRepoId('hkunlp/instructor-base'), { repo: 'hkunlp/instructor-base', revision: 'main' });
  assert.equal(parseRepoId('hkunlp/instructor-xl@v1.0'), { repo: 'hkunlp/instructor-xl', revision: 'v1.0' });
  assert.equal(parseRepoId(`hkunlp/instructor-large@${COMMIT}`), { repo: 'hkunlp/instructor-large', revision: COMMIT });
  assert.equal(parseRepoId('org/my_model.v2@refs/pr/1'), { repo: 'org/my_model.v2', revision: 'refs/pr/1' });
});

test('parseRepoId: bad ids are BAD_INPUT', async () => {
  const bad = ['', 'instructor-base', 'a/b/c', '../x', '/org/name', 'org/../name', 'org/..', 'org\\name', 'org/na me', 'org--x/name',
    'https://huggingface.co/hkunlp/instructor-base', 'hf.co/hkunlp/instructor-base', 'org/name@', 'org/name@../x', 'org/name@a..b',
    'org/name@/main', 'org/name@main/', 'org/name@a\\b', 'org/name@a b', 'org/name.git', 'org/-name', 'org/name@x@{1}'];
  for (const s of bad) await rejects(() => parseRepoId(s), 'BAD_INPUT', /repo id|revision/);
  await rejects(() => parseRepoId('https://huggingface.co/hkunlp/instructor-base'), 'BAD_INPUT', /looks like a URL/);
});

test('hubFileUrl encodes the revision whole and each path segment', () => {
  assert.is(hubFileUrl('https://huggingface.co/', 'hkunlp/instructor-base', 'main', '2_Dense/config.json'),
    'https://huggingface.co/hkunlp/instructor-base/resolve/main/2_Dense/config.json');
  assert.is(hubFileUrl('http://h:1', 'org/name', 'refs/pr/1', 'dir/a b#c.json'), 'http://h:1/org/name/resolve/refs%2Fpr%2F1/dir/a%20b%23c.json');
  for (const p of ['../secret', '/etc/passwd', 'a//b', 'a/./b', 'a\\b', 'C:/x']) {
    assert.throws(() => hubFileUrl('https://huggingface.co', 'org/name', 'main', p), (e: unknown) => e instanceof InstructorError && e.code === 'BAD_INPUT');
  }
});

test('normalizeEtag strips W/ and quotes', () => {
  assert.is(normalizeEtag('W/"abc123"'), 'abc123');
  assert.is(normalizeEtag('"abc"'), 'abc');
  assert.is(normalizeEtag('abc'), 'abc');
  assert.is(normalizeEtag(null), undefined);
});

test('hfCacheDir: HF_HUB_CACHE > HF_HOME/hub > XDG_CACHE_HOME > ~/.cache', () => {
  assert.is(hfCacheDir({ HF_HUB_CACHE: '/c/hub', HF_HOME: '/h', HOME: '/home/u' }), '/c/hub');
  assert.is(hfCacheDir({ HUGGINGFACE_HUB_CACHE: '/legacy', HF_HOME: '/h' }), '/legacy');
  assert.is(hfCacheDir({ HF_HUB_CACHE: '/c', HUGGINGFACE_HUB_CACHE: '/legacy' }), '/c');
  assert.is(hfCacheDir({ HF_HOME: '/h', XDG_CACHE_HOME: '/x', HOME: '/home/u' }), '/h/hub');
  assert.is(hfCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/home/u' }), '/x/huggingface/hub');
  assert.is(hfCacheDir({ HOME: '/home/u' }), '/home/u/.cache/huggingface/hub');
  assert.is(hfCacheDir({ HF_HOME: '~/hf', HOME: '/home/u' }), '/home/u/hf/hub');
  assert.is(hfCacheDir({ HF_HUB_CACHE: '', HF_HOME: '/h' }), '/h/hub'); // empty = unset
});

test('hubCachePaths / convertedCachePath', () => {
  const p = hubCachePaths('hkunlp/instructor-base', COMMIT, '/c');
  assert.is(p.root, '/c/models--hkunlp--instructor-base');
  assert.is(p.blobs, '/c/models--hkunlp--instructor-base/blobs');
  assert.is(p.snapshot, `/c/models--hkunlp--instructor-base/snapshots/${COMMIT}`);
  assert.is(p.refs, '/c/models--hkunlp--instructor-base/refs');
  assert.is(convertedCachePath('hkunlp/instructor-xl@main', COMMIT, 'int8', '/c'), `/c/models--hkunlp--instructor-xl/instructor-wasm/${COMMIT}.int8.iwt`);
  assert.throws(() => convertedCachePath('hkunlp/instructor-xl', 'main', 'int8', '/c'));
  assert.throws(() => convertedCachePath('hkunlp/instructor-xl', COMMIT, '../x', '/c'));
});

// ---------------------------------------------------------------- downloads

test('downloadSnapshot: exact huggingface_hub cache layout, bytes identical, optional 404s remembered', async () => {
  const o = await opts();
  const r = await downloadSnapshot(REPO, SNAPSHOT_FILES, o);
  const root = join(o.cacheDir, 'models--hkunlp--instructor-tiny');
  assert.is(r.commit, COMMIT);
  assert.is(r.dir, join(root, 'snapshots', COMMIT));
  assert.equal(r.missing, ['2_Dense/model.safetensors', 'model.safetensors']);
  assert.is(await readFile(join(root, 'refs', 'main'), 'utf8'), COMMIT);
  for (const f of SNAPSHOT_FILES) {
    const path = typeof f === 'string' ? f : f.path;
    const want = FILES.get(path);
    const p = join(r.dir, path);
    if (!want) {
      assert.not.ok(await lstat(p).catch(() => undefined), `${path} absent`);
      assert.ok((await stat(join(root, '.no_exist', COMMIT, path))).isFile(), `.no_exist marker for ${path}`);
      continue;
    }
    const l = await lstat(p);
    assert.ok(l.isSymbolicLink(), `${path} is a symlink`);
    const etag = LFS.has(path) ? want.sha256 : want.gitSha1;
    const depth = path.split('/').length;
    assert.is(await readlink(p), `${'../'.repeat(depth + 1)}blobs/${etag}`);
    assert.ok(same(await rd(p), want.bytes), `${path} bytes`);
    assert.ok(same(await rd(join(root, 'blobs', etag)), want.bytes));
  }
  const blobs = (await readdir(join(root, 'blobs'))).sort();
  assert.is(blobs.length, 10);
  assert.ok(blobs.every((b) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(b)), 'no .incomplete left');

  // second call: one metadata request (to learn main's commit), no download
  S.state.log.length = 0;
  const r2 = await downloadSnapshot(REPO, SNAPSHOT_FILES, o);
  assert.equal(r2, r);
  assert.equal(S.state.log.map((e) => `${e.srv} ${e.method}`), ['hub HEAD']);

  // pinned to the commit: no request at all
  S.state.log.length = 0;
  const r3 = await downloadSnapshot(`${REPO}@${COMMIT}`, SNAPSHOT_FILES, o);
  assert.is(r3.dir, r.dir);
  assert.is(S.state.log.length, 0);
});

test('downloadFile: second call makes no download; tag ref written; commit-pinned needs no request', async () => {
  const o = await opts();
  const p1 = await downloadFile(REPO, 'pytorch_model.bin', o);
  assert.is(cdnGets(), 1);
  assert.is(count((e) => e.srv === 'hub' && e.method === 'HEAD'), 1);
  const p2 = await downloadFile(REPO, 'pytorch_model.bin', o);
  assert.is(p2, p1);
  assert.is(cdnGets(), 1, 'no second download');
  assert.is(count((e) => e.method === 'GET'), 1);
  const p3 = await downloadFile(`${REPO}@v1`, 'pytorch_model.bin', o);
  assert.is(p3, p1);
  assert.is(cdnGets(), 1);
  const root = join(o.cacheDir, 'models--hkunlp--instructor-tiny');
  assert.is(await readFile(join(root, 'refs', 'v1'), 'utf8'), COMMIT);
  const n = S.state.log.length;
  assert.is(await downloadFile(REPO, 'pytorch_model.bin', { ...o, revision: COMMIT }), p1);
  assert.is(S.state.log.length, n, 'commit-pinned cached file: no request');
  assert.not.ok(await stat(join(root, 'refs', COMMIT)).catch(() => undefined), 'no ref for a commit revision');
});

test('offline: from the cache (refs -> commit -> snapshot), OFFLINE when uncached', async () => {
  const o = await opts();
  const p = await downloadFile(REPO, 'config.json', o);
  const off = { ...o, fetch: noNetwork };
  assert.is(await downloadFile(REPO, 'config.json', { ...off, offline: true }), p);
  assert.is(await downloadFile(REPO, 'config.json', { ...off, env: { ...o.env, HF_HUB_OFFLINE: '1' } }), p);
  assert.is(await downloadFile(REPO, 'config.json', { ...off, env: { ...o.env, HF_HUB_OFFLINE: 'true' } }), p);
  await rejects(downloadFile(REPO, 'tokenizer.json', { ...off, offline: true }), 'OFFLINE', /tokenizer\.json.*not in the cache/);
  await rejects(downloadFile(`${REPO}@v1`, 'config.json', { ...off, offline: true }), 'OFFLINE', /config\.json.*not in the cache/);
  await rejects(downloadFile(REPO, 'config.json', { ...off, offline: true, cacheDir: await tempCache() }), 'OFFLINE', /not in the cache/);
  // a snapshot offline: the cached files plus optional ones skipped
  await downloadSnapshot(REPO, ['config.json', { path: 'model.safetensors', optional: true }], o);
  const r = await downloadSnapshot(REPO, ['config.json', { path: 'model.safetensors', optional: true }, { path: 'tokenizer.json', optional: true }], { ...off, offline: true });
  assert.is(r.commit, COMMIT);
  assert.equal(r.missing, ['model.safetensors', 'tokenizer.json']);
  await rejects(downloadSnapshot(REPO, ['config.json', 'tokenizer.json'], { ...off, offline: true }), 'OFFLINE', /tokenizer\.json/);
});

test('hub unreachable (503 after retries): falls back to the cached revision, else NETWORK', async () => {
  const o = await opts({ retries: 1 });
  const p = await downloadFile(REPO, 'config.json', o);
  S.state.down = true;
  assert.is(await downloadFile(REPO, 'config.json', o), p);
  await rejects(downloadFile(REPO, 'modules.json', o), 'NETWORK', /HTTP 503.*2 attempts/);
});

/** A loopback port nothing listens on (bound, then closed): connections to it are refused. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test('hub unreachable (connection refused): the cached revision, else OFFLINE at once, one request, no retries', async () => {
  const o = await opts({ retries: 4 });
  const p = await downloadFile(REPO, 'config.json', o);
  let requests = 0;
  const counting = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => { requests++; return fetch(input, init); }) as typeof fetch;
  const refused = { ...o, endpoint: `http://127.0.0.1:${await closedPort()}`, fetch: counting };
  assert.is(await downloadFile(REPO, 'config.json', refused), p, 'answered from the cache');
  requests = 0;
  await rejects(downloadFile(REPO, 'modules.json', refused), 'OFFLINE', /cannot reach http:\/\/127\.0\.0\.1:\d+\/.*ECONNREFUSED.*modules\.json of hkunlp\/instructor-tiny@main is not in the cache/);
  assert.is(requests, 1, 'no retry of a refused connection');
});

test('resume after a cut connection: Range request, identical bytes (within one call)', async () => {
  const o = await opts();
  S.state.cutOnce = true;
  const p = await downloadFile(REPO, 'pytorch_model.bin', o);
  assert.ok(same(await rd(p), FILES.get('pytorch_model.bin')!.bytes));
  const gets = S.state.log.filter((e) => e.srv === 'cdn' && e.method === 'GET');
  assert.is(gets.length, 2);
  assert.is(gets[0].range, undefined);
  assert.match(gets[1].range ?? '', /^bytes=[1-9]\d*-$/);
});

test('resume across calls: the .incomplete file is continued with Range', async () => {
  const o = await opts({ retries: 0 });
  const f = FILES.get('pytorch_model.bin')!;
  S.state.cutOnce = true;
  await rejects(downloadFile(REPO, 'pytorch_model.bin', o), 'NETWORK', /127\.0\.0\.1/);
  const inc = join(o.cacheDir, 'models--hkunlp--instructor-tiny', 'blobs', `${f.sha256}.incomplete`);
  const have = (await stat(inc)).size;
  assert.ok(have > 0 && have < f.bytes.length, `partial of ${have} bytes`);
  const events: HubProgress[] = [];
  const p = await downloadFile(REPO, 'pytorch_model.bin', { ...o, onProgress: (e) => events.push(e) });
  assert.ok(same(await rd(p), f.bytes));
  const last = S.state.log.filter((e) => e.srv === 'cdn').at(-1)!;
  assert.is(last.range, `bytes=${have}-`);
  assert.is(events[0].loaded, have, 'progress starts at the partial size');
  assert.not.ok(await stat(inc).catch(() => undefined), '.incomplete renamed');
});

test('resume when the server ignores Range (200): starts over, identical bytes', async () => {
  const o = await opts({ retries: 0 });
  const f = FILES.get('pytorch_model.bin')!;
  S.state.cutOnce = true;
  await rejects(downloadFile(REPO, 'pytorch_model.bin', o), 'NETWORK', /./);
  S.state.ignoreRange = true;
  const p = await downloadFile(REPO, 'pytorch_model.bin', o);
  assert.ok(same(await rd(p), f.bytes));
});

test('integrity: a lying etag -> INTEGRITY and nothing left in blobs/ (sha256 and git sha1)', async () => {
  for (const file of ['pytorch_model.bin', 'tokenizer_config.json']) {
    const o = await opts();
    S.state.lie = file;
    await rejects(downloadFile(REPO, file, o), 'INTEGRITY', new RegExp(`${file.replace('.', '\\.')}.*(sha256|sha1)`));
    const blobs = join(o.cacheDir, 'models--hkunlp--instructor-tiny', 'blobs');
    assert.equal(await readdir(blobs), [], `blobs/ empty after a bad ${file}`);
    assert.not.ok(await stat(join(o.cacheDir, 'models--hkunlp--instructor-tiny', 'snapshots', COMMIT, file)).catch(() => undefined));
  }
});

test('token: sent to the hub origin, never to the CDN origin; private repo 401 -> UNAUTHORIZED', async () => {
  const o = await opts();
  const e = await rejects(downloadFile(PRIVATE, 'pytorch_model.bin', o), 'UNAUTHORIZED', /HF_TOKEN/);
  assert.match(e.message, /No token was sent/);
  await rejects(downloadFile(PRIVATE, 'config.json', { ...o, token: 'hf_wrong' }), 'UNAUTHORIZED', /A token was sent/);
  S.state.log.length = 0;
  const p = await downloadFile(PRIVATE, 'pytorch_model.bin', { ...o, token: TOKEN });
  assert.ok(same(await rd(p), FILES.get('pytorch_model.bin')!.bytes));
  const hub = S.state.log.filter((x) => x.srv === 'hub');
  const cdn = S.state.log.filter((x) => x.srv === 'cdn');
  assert.ok(hub.length >= 1 && hub.every((x) => x.auth === `Bearer ${TOKEN}`), 'token sent to the hub');
  assert.ok(cdn.length >= 1 && cdn.every((x) => x.auth === undefined), 'no token on the CDN');
  // a regular file is downloaded from the hub origin itself: token on the GET too
  S.state.log.length = 0;
  await downloadFile(PRIVATE, 'config.json', { ...o, token: TOKEN });
  assert.equal(S.state.log.map((x) => `${x.method} ${x.auth}`), [`HEAD Bearer ${TOKEN}`, `GET Bearer ${TOKEN}`]);
  // a GET that starts on the hub and is redirected to another origin loses the token there
  S.state.getViaCdn = true;
  S.state.log.length = 0;
  await downloadFile(PRIVATE, 'tokenizer_config.json', { ...o, token: TOKEN });
  assert.equal(S.state.log.map((x) => `${x.srv} ${x.method} ${x.auth}`), [`hub HEAD Bearer ${TOKEN}`, `hub GET Bearer ${TOKEN}`, 'cdn GET undefined']);
  S.state.getViaCdn = false;
  // HF_TOKEN from the environment, and the token file $HF_HOME/token
  const o2 = await opts();
  await downloadFile(PRIVATE, 'modules.json', { ...o2, env: { ...o2.env, HF_TOKEN: TOKEN } });
  const o3 = await opts();
  await writeFile(join(o3.env!.HF_HOME!, 'token'), `${TOKEN}\n`);
  await downloadFile(PRIVATE, 'modules.json', o3);
  await rejects(downloadFile(PRIVATE, 'config.json', { ...o3, token: false }), 'UNAUTHORIZED', /No token/);
});

test('redirect chain: relative 307s (renamed repo) keep the token, CDN hop drops it; loops stop', async () => {
  const o = await opts({ token: TOKEN });
  S.state.cdnHop = true;
  const p = await downloadFile('hkunlp/instructor-old', 'pytorch_model.bin', o);
  assert.is(p, join(o.cacheDir, 'models--hkunlp--instructor-old', 'snapshots', COMMIT, 'pytorch_model.bin'));
  assert.ok(same(await rd(p), FILES.get('pytorch_model.bin')!.bytes));
  assert.equal(S.state.log.map((x) => `${x.srv} ${x.method} ${x.url.split('?')[0]} ${x.auth ? 'auth' : '-'}`), [
    'hub HEAD /hkunlp/instructor-old/resolve/main/pytorch_model.bin auth',
    'hub HEAD /hkunlp/instructor-renamed/resolve/main/pytorch_model.bin auth',
    'hub HEAD /hkunlp/instructor-tiny/resolve/main/pytorch_model.bin auth',
    'cdn GET /hop/pytorch_model.bin -',
    'cdn GET /cdn/pytorch_model.bin -',
  ]);
  // a regular file through the renamed repo
  const q = await downloadFile('hkunlp/instructor-old', '1_Pooling/config.json', o);
  assert.ok(same(await rd(q), FILES.get('1_Pooling/config.json')!.bytes));
  await rejects(downloadFile('hkunlp/loop', 'config.json', o), 'NETWORK', /too many redirects/);
  assert.ok(count((x) => x.url.startsWith('/hkunlp/loop/')) <= 12, 'bounded');
});

test('404 -> NOT_FOUND naming repo / revision / file; .no_exist marker', async () => {
  const o = await opts();
  await rejects(downloadFile(REPO, 'nope.json', o), 'NOT_FOUND', /file nope\.json not found in hkunlp\/instructor-tiny at revision main/);
  assert.ok((await stat(join(o.cacheDir, 'models--hkunlp--instructor-tiny', '.no_exist', COMMIT, 'nope.json'))).isFile());
  await rejects(downloadFile(`${REPO}@v9`, 'config.json', o), 'NOT_FOUND', /revision v9 not found in hkunlp\/instructor-tiny/);
  await rejects(downloadSnapshot(REPO, ['config.json', 'model.safetensors'], o), 'NOT_FOUND', /model\.safetensors/);
  // optional 404 at a pinned commit with a marker: no request
  S.state.log.length = 0;
  const r = await downloadSnapshot(`${REPO}@${COMMIT}`, ['config.json', { path: 'nope.json', optional: true }], o);
  assert.equal(r.missing, ['nope.json']);
  assert.is(S.state.log.length, 0);
});

test('transient 500 is retried', async () => {
  const o = await opts();
  S.state.flaky = 1;
  const p = await downloadFile(REPO, 'flaky.json', o);
  assert.is(await readFile(p, 'utf8'), '{"flaky": true}\n');
  assert.is(count((e) => e.method === 'HEAD'), 2);
  S.state.flaky = 5;
  await rejects(downloadFile(REPO, 'flaky.json', { ...o, revision: 'v1', retries: 2 }), 'NETWORK', /HTTP 500.*3 attempts/);
});

test('progress: monotone, constant total, ends at total', async () => {
  const o = await opts();
  const events: HubProgress[] = [];
  await downloadFile(REPO, 'pytorch_model.bin', { ...o, onProgress: (e) => events.push(e) });
  const size = FILES.get('pytorch_model.bin')!.bytes.length;
  assert.ok(events.length > 2, `${events.length} events`);
  for (let i = 0; i < events.length; i++) {
    assert.is(events[i].file, 'pytorch_model.bin');
    assert.is(events[i].total, size);
    if (i) assert.ok(events[i].loaded >= events[i - 1].loaded, 'monotone');
  }
  assert.is(events.at(-1)!.loaded, size);
  // a cached file reports one final event
  const again: HubProgress[] = [];
  await downloadFile(REPO, 'pytorch_model.bin', { ...o, onProgress: (e) => again.push(e) });
  assert.equal(again, [{ file: 'pytorch_model.bin', loaded: size, total: size }]);
});

test('abort -> ABORTED, partial kept, then resumed', async () => {
  const o = await opts();
  const f = FILES.get('pytorch_model.bin')!;
  S.state.slow = true;
  const ac = new AbortController();
  await rejects(downloadFile(REPO, 'pytorch_model.bin', { ...o, signal: ac.signal, onProgress: (e) => { if (e.loaded > 1 << 20) ac.abort(); } }), 'ABORTED', /pytorch_model\.bin/);
  const inc = join(o.cacheDir, 'models--hkunlp--instructor-tiny', 'blobs', `${f.sha256}.incomplete`);
  const have = (await stat(inc)).size;
  assert.ok(have > 1 << 20 && have < f.bytes.length, `partial ${have}`);
  S.state.slow = false;
  const p = await downloadFile(REPO, 'pytorch_model.bin', o);
  assert.ok(same(await rd(p), f.bytes));
  assert.is(S.state.log.filter((e) => e.srv === 'cdn').at(-1)!.range, `bytes=${have}-`);
  // already aborted: no request
  S.state.log.length = 0;
  await rejects(downloadFile(REPO, 'config.json', { ...o, signal: AbortSignal.abort() }), 'ABORTED', /config\.json/);
  await rejects(downloadSnapshot(REPO, ['config.json'], { ...o, signal: AbortSignal.abort() }), 'ABORTED', /./);
  assert.is(S.state.log.length, 0);
});

test('concurrent downloads of one blob share one transfer', async () => {
  const o = await opts();
  const [a, b] = await Promise.all([downloadFile(REPO, 'pytorch_model.bin', o), downloadFile(`${REPO}@v1`, 'pytorch_model.bin', o)]);
  assert.is(a, b);
  assert.is(cdnGets(), 1);
  assert.ok(same(await rd(a), FILES.get('pytorch_model.bin')!.bytes));
});

/** downloadFile in another node process (the same cache, the same test hub); resolves to its stdout. */
function downloadInChild(repo: string, file: string, o: HubOptions): Promise<string> {
  const hubModule = new URL('../src/io/hub-node.js', import.meta.url).href;
  const script = `const { downloadFile } = await import(${JSON.stringify(hubModule)});
    process.stdout.write(await downloadFile(${JSON.stringify(repo)}, ${JSON.stringify(file)}, JSON.parse(process.argv[1])));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(o)], (err, stdout, stderr) =>
      err ? reject(new Error(`child download failed: ${stderr || err.message}`)) : resolve(stdout));
  });
}

test('two processes downloading one blob: one transfer, the other waits on the lock, no leftovers', async () => {
  const o = await opts();
  S.state.slow = true; // 64 KiB every 3 ms: the transfers overlap
  const [mine, theirs] = await Promise.all([downloadFile(REPO, 'pytorch_model.bin', o), downloadInChild(REPO, 'pytorch_model.bin', o)]);
  assert.is(theirs, mine);
  assert.is(cdnGets(), 1, 'one transfer of the blob across both processes');
  assert.ok(same(await rd(mine), FILES.get('pytorch_model.bin')!.bytes));
  const blobs = await readdir(join(o.cacheDir, 'models--hkunlp--instructor-tiny', 'blobs'));
  assert.equal(blobs.filter((n) => /\.(lock|incomplete)$/.test(n)), [], 'no lock or partial file left');
});

test('a lock left by a process that died is taken over', async () => {
  const o = await opts();
  const blobs = join(o.cacheDir, 'models--hkunlp--instructor-tiny', 'blobs');
  await mkdir(blobs, { recursive: true });
  const dead = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['-e', '0']);
    child.on('exit', () => resolve(child.pid!));
  });
  const lock = join(blobs, `${FILES.get('pytorch_model.bin')!.sha256}.lock`);
  await writeFile(lock, `${dead} ${hostname()}\n`);
  const p = await downloadFile(REPO, 'pytorch_model.bin', o);
  assert.ok(same(await rd(p), FILES.get('pytorch_model.bin')!.bytes));
  assert.is(await stat(lock).then(() => 'present', () => 'gone'), 'gone');
  // a live holder is waited for: the download ends only after the holder lets go (and then finds no blob, so transfers)
  const o2 = await opts();
  const blobs2 = join(o2.cacheDir, 'models--hkunlp--instructor-tiny', 'blobs');
  await mkdir(blobs2, { recursive: true });
  const lock2 = join(blobs2, `${FILES.get('pytorch_model.bin')!.sha256}.lock`);
  await writeFile(lock2, `${process.pid} ${hostname()}\n`);
  let done = false;
  const waiting = downloadFile(REPO, 'pytorch_model.bin', o2).then((x) => { done = true; return x; });
  await new Promise((r) => setTimeout(r, 600));
  assert.is(done, false, 'waits while a live process holds the lock');
  assert.is(cdnGets(), 1, 'no transfer while waiting (the one above only)');
  await rm(lock2);
  assert.ok(same(await rd(await waiting), FILES.get('pytorch_model.bin')!.bytes));
});

test('bad inputs to downloadFile / downloadSnapshot are BAD_INPUT before any request', async () => {
  const o = await opts();
  await rejects(downloadFile('../etc', 'config.json', o), 'BAD_INPUT', /repo id/);
  await rejects(downloadFile(REPO, '../../etc/passwd', o), 'BAD_INPUT', /file path/);
  await rejects(downloadFile(REPO, '/etc/passwd', o), 'BAD_INPUT', /file path/);
  await rejects(downloadFile(`${REPO}@main`, 'config.json', { ...o, revision: 'v1' }), 'BAD_INPUT', /revision given twice/);
  await rejects(downloadSnapshot(REPO, [], o), 'BAD_INPUT', /non-empty/);
  await rejects(downloadSnapshot(REPO, ['config.json', { path: 'a/../b' }], o), 'BAD_INPUT', /file path/);
  assert.is(S.state.log.length, 0);
});

test('fetchHubFile (no cache): same redirect / token / integrity rules, in memory', async () => {
  const o = await opts({ token: TOKEN });
  const bytes = await fetchHubFile(PRIVATE, 'pytorch_model.bin', o);
  assert.ok(same(bytes, FILES.get('pytorch_model.bin')!.bytes));
  assert.ok(S.state.log.filter((x) => x.srv === 'cdn').every((x) => x.auth === undefined));
  assert.ok(S.state.log.filter((x) => x.srv === 'hub').every((x) => x.auth === `Bearer ${TOKEN}`));
  const cfg = await fetchHubFile(REPO, 'modules.json', o); // weak etag, git sha1 checked
  assert.ok(same(cfg, FILES.get('modules.json')!.bytes));
  S.state.cutOnce = true;
  const again = await fetchHubFile(REPO, '2_Dense/pytorch_model.bin', o);
  assert.ok(same(again, FILES.get('2_Dense/pytorch_model.bin')!.bytes));
  S.state.lie = 'pytorch_model.bin';
  await rejects(fetchHubFile(REPO, 'pytorch_model.bin', o), 'INTEGRITY', /sha256/);
  S.state.lie = 'config.json';
  await rejects(fetchHubFile(REPO, 'config.json', o), 'INTEGRITY', /sha1/);
  await rejects(fetchHubFile(REPO, 'nope.json', o), 'NOT_FOUND', /nope\.json/);
  await rejects(fetchHubFile(REPO, 'config.json', { ...o, offline: true }), 'OFFLINE', /config\.json/);
});

test.run();
