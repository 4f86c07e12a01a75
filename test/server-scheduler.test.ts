// src/server/scheduler.ts over real backends (the tiny model inline, in slices, and on model
// threads): passes form when a lane is free, a query is not held behind a large request, the
// tokens of a running pass count against admission, one request is split over idle replicas,
// cancellation, a model thread that dies; every embedding bit-identical to encode.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InstructorModel } from '../src/format/model-loading.js';
import { nextMacrotask } from '../src/engine/backend.js';
import { startModelHost } from '../src/runtimes/model-host.js';
import { CancelledError, OverloadedError, Scheduler } from '../src/server/scheduler.js';
import type { PreparedInput } from '../src/text/inputs.js';
import { sameBits } from './support/assert.js';
import { gated } from './support/gate.js';
import { synthWeightsFile } from './support/synth-files.js';
import { synthInstructor } from './support/synth-text-model.js';

const model = await synthInstructor('tiny', 'int8');
const WEIGHTS = await synthWeightsFile('tiny', 'int8');
const texts = Array.from({ length: 24 }, (_, i) => `text number ${i} ` + 'word '.repeat(i));
const passage = (i: number) => `passage ${i} ` + 'lorem ipsum dolor sit amet '.repeat(100); // 512 tokens once cut
const tokensOf = (p: readonly PreparedInput[]) => p.reduce((a, x) => a + x.ids.length, 0);

/** Counts InstructorModel.embedPass calls (the inline backend's slices) while `fn` runs. */
async function countingSlices<T>(fn: (calls: number[]) => Promise<T>): Promise<T> {
  const original = InstructorModel.prototype.embedPass;
  const calls: number[] = [];
  InstructorModel.prototype.embedPass = function (pass) {
    calls.push(pass.lengths.length);
    return original.call(this, pass);
  };
  try {
    return await fn(calls);
  } finally {
    InstructorModel.prototype.embedPass = original;
  }
}

test('inline: a pass of 24 inputs runs in slices (one input each at a tiny slice time), macrotasks run between them, bits as encode', async () => {
  const prepared = await model.prepare(texts);
  await countingSlices(async (calls) => {
    const s = new Scheduler(model.hosted({ sliceMs: 1e-9 }).backend, { maxBatchTokens: 8192, maxQueuedTokens: 1 << 20, batching: true });
    const seen: number[] = [];
    let stopped = false;
    const loop = (async () => { while (!stopped) { seen.push(calls.length); await nextMacrotask(); } })();
    const got = await s.submit(prepared, { normalize: true });
    stopped = true;
    await loop;
    assert.ok(calls.length > 1, `slices: ${calls.join(', ')}`);
    assert.is(calls.reduce((a, n) => a + n, 0), texts.length, 'every input embedded once');
    assert.ok(calls.slice(1).every((n) => n === 1), `slices after the first (sized by the measured speed): ${calls.join(', ')}`);
    assert.ok(seen.some((n) => n > 0 && n < calls.length), `the thread came back mid-pass: seen ${seen.join(', ')}`);
    const want = await model.encode(texts);
    got.embeddings.forEach((v, i) => sameBits(v, want[i], `input ${i}`));
  });
});

test('inline: a request cancelled between slices: none of its remaining inputs is computed, the other request is unaffected', async () => {
  const prepared = await model.prepare(texts);
  await countingSlices(async (calls) => {
    const s = new Scheduler(model.hosted({ sliceMs: 1e-9 }).backend, { maxBatchTokens: 8192, maxQueuedTokens: 1 << 20, batching: true });
    await s.submit(prepared.slice(0, 1), { normalize: true }); // a first pass: the speed is known, slices are one input
    calls.length = 0;
    const ac = new AbortController();
    const kept = s.submit(prepared.slice(0, 12), { normalize: true });
    const dropped = s.submit(prepared.slice(12), { normalize: true, signal: ac.signal });
    for (let k = 0; calls.length < 2 && k < 10_000; k++) await nextMacrotask(); // bounded: one unsliced pass never gets there
    ac.abort();
    const [a, d] = await Promise.allSettled([kept, dropped]);
    assert.ok(d.status === 'rejected' && d.reason instanceof CancelledError, `cancelled: ${d.status}`);
    assert.ok(a.status === 'fulfilled');
    assert.ok(calls.reduce((x, n) => x + n, 0) < texts.length, `inputs computed: ${calls.reduce((x, n) => x + n, 0)} of ${texts.length}`);
    const want = await model.encode(texts.slice(0, 12));
    (a as PromiseFulfilledResult<{ embeddings: Float32Array[] }>).value.embeddings.forEach((v, i) => sameBits(v, want[i], `kept input ${i}`));
  });
});

test('a running pass counts against admission until it ends: a request that would pass maxQueuedTokens meanwhile is refused', async () => {
  const gate = gated(model.hosted());
  const s = new Scheduler(gate.model.backend, { maxBatchTokens: 8192, maxQueuedTokens: 600, batching: true });
  const a = await model.prepare([passage(0)]);
  const b = await model.prepare([passage(1)]);
  const first = s.submit(a, { normalize: true });
  assert.is(gate.passes.length, 1, 'the first request is in a pass at once (a lane was free)');
  assert.is(s.queuedTokens, 0);
  assert.is(s.computingTokens, tokensOf(a));
  assert.throws(() => s.submit(b, { normalize: true }), (e: unknown) => e instanceof OverloadedError && /512 tokens accepted and not yet embedded, at most 600/.test((e as Error).message));
  gate.open();
  await first;
  assert.is(s.tokensInSystem, 0);
  await s.submit(b, { normalize: true }); // room again
});

test('a query that arrives behind a request of many passages is in the next pass and answered first; bits as encode', async () => {
  const gate = gated(model.hosted());
  const s = new Scheduler(gate.model.backend, { maxBatchTokens: 1024, maxQueuedTokens: 1 << 20, batching: true });
  const passages = await model.prepare(Array.from({ length: 8 }, (_, i) => passage(i))); // 8 x 512: 4 passes of 1024
  const query = await model.prepare(['where is the food stored in a yam plant']);
  const order: string[] = [];
  const big = s.submit(passages, { normalize: true }).then((r) => { order.push('passages'); return r; });
  assert.is(gate.passes.length, 1); // the first pass holds passages 0 and 1, at the gate
  const q = s.submit(query, { normalize: true }).then((r) => { order.push('query'); return r; });
  gate.open(1);
  await until(() => gate.passes.length === 2);
  assert.ok(gate.passes[1].includes(query[0].ids.length), `the second pass holds the query: ${JSON.stringify(gate.passes[1])}`);
  gate.open();
  const [p, r] = await Promise.all([big, q]);
  assert.equal(order, ['query', 'passages']);
  sameBits(r.embeddings[0], (await model.encode(['where is the food stored in a yam plant']))[0], 'query');
  const want = await model.encode(Array.from({ length: 8 }, (_, i) => passage(i)));
  p.embeddings.forEach((v, i) => sameBits(v, want[i], `passage ${i}`));
});

test('model threads: two replicas share one request\'s inputs (two passes at once); a pass whose thread is killed runs again on a restarted thread; bits as encode', async () => {
  const host = await startModelHost(WEIGHTS, { replicas: 2, maxPassTokens: 2048 });
  try {
    assert.is(host.backend.lanes, 2);
    const gate = gated(host);
    const s = new Scheduler(gate.model.backend, { maxBatchTokens: 2048, maxQueuedTokens: 1 << 20, batching: true });
    const prepared = await model.prepare(texts);
    const all = s.submit(prepared, { normalize: true });
    assert.is(gate.passes.length, 2, 'the request is split over both idle replicas');
    assert.is(gate.passes[0].length + gate.passes[1].length, texts.length);
    assert.ok(Math.abs(gate.passes[0].reduce((a, b) => a + b, 0) - gate.passes[1].reduce((a, b) => a + b, 0)) <= 64, `about half the tokens each: ${gate.passes.map((p) => p.reduce((a, b) => a + b, 0))}`);
    gate.open();
    const got = await all;
    const want = await model.encode(texts);
    got.embeddings.forEach((v, i) => sameBits(v, want[i], `input ${i}`));

    // Both model threads die while a pass runs (as a crash would): the pass runs again on a
    // restarted thread and its request gets the same bits; later requests are served.
    const long = Array.from({ length: 64 }, (_, i) => passage(i));
    const longWant = await model.encode(long);
    const survivor = s.submit(await model.prepare(long), { normalize: true });
    await until(() => s.runningPasses > 0);
    await new Promise((r) => setTimeout(r, 5));
    host.killThread(0);
    host.killThread(1);
    const outcome = await survivor;
    outcome.embeddings.forEach((v, i) => sameBits(v, longWant[i], `the pass run again, input ${i}`));
    const again = await s.submit(prepared.slice(0, 3), { normalize: true });
    again.embeddings.forEach((v, i) => sameBits(v, want[i], `after the restart, input ${i}`));
  } finally {
    await host.dispose();
  }
});

test('model threads: one replica with 2 kernel threads gives the bits of one thread', async () => {
  const host = await startModelHost(WEIGHTS, { threads: 2 });
  try {
    assert.is(host.backend.lanes, 1);
    assert.is(host.backend.threadsPerLane, 2);
    const s = new Scheduler(host.backend, { maxBatchTokens: 8192, maxQueuedTokens: 1 << 20, batching: true });
    const got = await s.submit(await model.prepare(texts), { normalize: true });
    const want = await model.encode(texts);
    got.embeddings.forEach((v, i) => sameBits(v, want[i], `input ${i}`));
  } finally {
    await host.dispose();
  }
});

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test.after(() => model.dispose());

test.run();
