// Server replicas behind a real nginx (deploy/nginx/instructor-wasm.conf): two `instructor-wasm
// serve` processes on loopback ports, a load of concurrent /v1/embeddings clients through nginx,
// every answer checked bit for bit against one process's encode. A rolling restart (SIGTERM one,
// start it again, then the other) fails no request; after kill -9 of a replica mid-load, every
// failed request was in flight on it, retrying it succeeds, and nginx itself resent the ones it could.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInstructor } from '../src/io/load-node.js';
import { base64ToFloat32 } from '../src/queue/protocol.js';
import { cli, corpus, tinyWeightsFile, type Proc } from './support/fleet.js';
import { startNginx, type Nginx } from './support/nginx.js';
import { freePort, setup } from './support/system.js';

const dir = mkdtempSync(join(tmpdir(), 'iw-replicas-'));
const modelFile = tinyWeightsFile(dir);
const texts = corpus(240, 11).filter((x): x is string => typeof x === 'string').slice(0, 64);
const want: Float32Array[] = await (async () => {
  const m = await loadInstructor(modelFile);
  try {
    return await m.encode(texts);
  } finally {
    m.dispose();
  }
})();
const INPUTS_PER_REQUEST = 8;

interface Replica {
  port: number;
  proc: Proc;
}

async function startReplica(port: number): Promise<Replica> {
  const proc = cli(`serve:${port}`, ['serve', '--model', modelFile, '--model-name', 'tiny', '--port', String(port), '--drain-timeout-ms', '10000']);
  await proc.waitFor(/serve: ready/);
  return { port, proc };
}

/** Requests answered 200 by this replica process since it started. */
const answered = (r: Replica) => (r.proc.stderr().match(/POST \/v1\/embeddings 200/g) ?? []).length;

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Outcome {
  id: string;
  start: number;
  end: number;
  /** HTTP status, 0 when the connection failed. */
  status: number;
  /** The answer's vectors equal encode's, bit for bit. */
  exact: boolean;
  error?: string;
}

async function request(url: string, id: string, first: number): Promise<Outcome> {
  const idx = Array.from({ length: INPUTS_PER_REQUEST }, (_, i) => (first + i) % texts.length);
  const start = Date.now();
  try {
    const res = await fetch(`${url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': id },
      body: JSON.stringify({ model: 'tiny', input: idx.map((i) => texts[i]), encoding_format: 'base64' }),
    });
    const body = await res.text();
    let exact = false;
    if (res.status === 200) {
      const data = (JSON.parse(body) as { data: Array<{ index: number; embedding: string }> }).data;
      exact = data.length === idx.length && data.every((d, k) => {
        const got = new Uint32Array(base64ToFloat32(d.embedding, want[0].length, 'embedding').buffer);
        const exp = new Uint32Array(want[idx[k]].buffer, want[idx[k]].byteOffset, want[0].length);
        return d.index === k && got.every((x, j) => x === exp[j]);
      });
    }
    return { id, start, end: Date.now(), status: res.status, exact, ...(res.status === 200 ? {} : { error: body.slice(0, 200) }) };
  } catch (e) {
    return { id, start, end: Date.now(), status: 0, exact: false, error: String((e as Error).cause ?? e) };
  }
}

/** `clients` loops sending requests through `url` until stopped. */
function load(url: string, clients: number, tag: string): { stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  let running = true;
  let n = 0;
  const loops = Array.from({ length: clients }, async () => {
    while (running) outcomes.push(await request(url, `${tag}-${n}`, n++ * 5));
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

const describe = (o: Outcome) => `${o.id}: ${o.status} ${o.error ?? ''}`;

let ports: number[];
let replicas: Replica[];
let nginx: Nginx;

setup(test, async () => {
  // nginx first: a missing nginx fails the file at once, naming the package.
  ports = [await freePort(), await freePort()];
  nginx = await startNginx(ports);
  replicas = await Promise.all(ports.map(startReplica));
});

test.after(async () => {
  await Promise.all((replicas ?? []).map((r) => r.proc.kill('SIGKILL')));
  await nginx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a rolling restart under load (SIGTERM, start again, then the other) fails no request', async () => {
  const traffic = load(nginx.url, 8, 'roll');
  for (let k = 0; k < 2; k++) {
    const old = replicas[k];
    await until(`replica ${k} to answer through nginx`, () => answered(old) >= 10);
    old.proc.child.kill('SIGTERM');
    assert.is(await old.proc.exited, 0, `replica ${k} drained and exited 0:\n${old.proc.stderr().slice(-2000)}`);
    assert.match(old.proc.stderr(), /serve: SIGTERM: draining/);
    replicas[k] = await startReplica(old.port);
    // Back in nginx's rotation before the other one goes: what a readiness probe waits for.
    await until(`restarted replica ${k} to take traffic`, () => answered(replicas[k]) >= 10);
  }
  const outcomes = await traffic.stop();
  const failed = outcomes.filter((o) => o.status !== 200);
  assert.is(failed.length, 0, `failed requests:\n${failed.slice(0, 10).map(describe).join('\n')}`);
  assert.ok(outcomes.every((o) => o.exact), 'every answer equals encode bit for bit');
  assert.ok(outcomes.length > 100, `${outcomes.length} requests`);
  // The drain was exercised: nginx sent some requests on after a 503 or a refused connection.
  const resent = nginx.accessLog().filter((e) => e.requestId.startsWith('roll-') && e.upstreams.length > 1);
  assert.ok(resent.length > 0, 'no request met a draining or stopped replica: the restart proved nothing');
  assert.ok(resent.every((e) => e.status === 200), 'every resent request succeeded');
});

test('kill -9 of a replica mid-load: only requests in flight on it may fail, retries succeed', async () => {
  // A kill between two requests proves nothing: kill again (up to 3 times) until one lands mid-request.
  let resent = 0;
  for (let attempt = 1; attempt <= 3 && resent === 0; attempt++) {
    const tag = `kill${attempt}`;
    const traffic = load(nginx.url, 8, tag);
    const victim = replicas[1];
    const victimAddr = `127.0.0.1:${victim.port}`;
    const [v0, s0] = [answered(victim), answered(replicas[0])];
    await until('both replicas to answer through nginx', () => answered(victim) >= v0 + 20 && answered(replicas[0]) >= s0 + 20);
    const killedAt = Date.now();
    victim.proc.child.kill('SIGKILL');
    assert.is(await victim.proc.exited, null);
    const after = answered(replicas[0]);
    await until('the survivor to answer the load alone', () => answered(replicas[0]) >= after + 50);
    const outcomes = await traffic.stop();
    const log = new Map(nginx.accessLog().map((e) => [e.requestId, e]));

    const inFlightOnVictim = (o: Outcome) => o.start <= killedAt && o.end >= killedAt && (log.get(o.id)?.upstreams.includes(victimAddr) ?? true);
    const failed = outcomes.filter((o) => o.status !== 200);
    for (const o of failed) assert.ok(inFlightOnVictim(o), `${describe(o)} failed but was not in flight on the killed replica`);
    for (const o of failed) {
      const again = await request(nginx.url, `${o.id}-retry`, 0);
      assert.is(again.status, 200, describe(again));
      assert.ok(again.exact);
    }
    assert.ok(outcomes.filter((o) => o.status === 200).every((o) => o.exact), 'every answer equals encode bit for bit');
    // Requests the kill cut off on the victim that nginx sent on to the survivor: they succeeded.
    const cut = outcomes.filter((o) => inFlightOnVictim(o) && log.get(o.id)?.upstreams[0] === victimAddr && (log.get(o.id)?.upstreams.length ?? 0) > 1);
    assert.ok(cut.every((o) => o.status === 200), 'requests nginx resent after the kill succeeded');
    resent = cut.length;
    replicas[1] = await startReplica(victim.port);
  }
  assert.ok(resent > 0, 'no kill landed while a request was in flight on the victim');
});

test.run();
