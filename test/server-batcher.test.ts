// src/server/batcher.ts with the real tiny model: a pass runs in slices, the thread given back
// between them, every embedding bit-identical to encode.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Batcher, CancelledError } from '../src/server/batcher.js';
import { nextMacrotask, type Instructor } from '../src/text/instructor.js';
import type { PreparedInput } from '../src/text/inputs.js';
import { sameBits } from './support/assert.js';
import { synthInstructor } from './support/synth-text-model.js';

const model = await synthInstructor('tiny', 'int8');
const texts = Array.from({ length: 24 }, (_, i) => `text number ${i} ` + 'word '.repeat(i));

/** The model, counting the inputs of each forward pass the batcher asks for. */
function counted(calls: number[]): Instructor {
  return { embedPrepared: (inputs: readonly PreparedInput[], o: Parameters<Instructor['embedPrepared']>[1]) => {
    calls.push(inputs.length);
    return model.embedPrepared(inputs, o);
  } } as unknown as Instructor;
}

/** Records, once per macrotask until `done()`, how many passes had run: progress seen mid-pass means the thread came back. */
function watch(calls: number[]): { seen: number[]; stop: () => Promise<void> } {
  const seen: number[] = [];
  let stopped = false;
  const loop = (async () => { while (!stopped) { seen.push(calls.length); await nextMacrotask(); } })();
  return { seen, stop: async () => { stopped = true; await loop; } };
}

test('a pass of 24 inputs runs in slices (one input each at a tiny slice time), macrotasks run between them, bits as encode', async () => {
  const prepared = await model.prepare(texts);
  const calls: number[] = [];
  const b = new Batcher(counted(calls), { maxBatchTokens: 8192, maxQueuedTokens: 1 << 20, maxWaitMs: 0, batching: true, sliceMs: 1e-9 });
  const w = watch(calls);
  const got = await b.submit(prepared, { normalize: true });
  await w.stop();
  assert.ok(calls.length > 1, `forward passes: ${calls.join(', ')}`);
  assert.is(calls.reduce((a, n) => a + n, 0), texts.length, 'every input embedded once');
  assert.ok(calls.slice(1).every((n) => n === 1), `slices after the first (sized by the measured speed): ${calls.join(', ')}`);
  assert.ok(w.seen.some((n) => n > 0 && n < calls.length), `the thread came back mid-pass: seen ${w.seen.join(', ')}`);
  const want = await model.encode(texts);
  got.forEach((v, i) => sameBits(v, want[i], `input ${i}`));
});

test('a request cancelled between slices: none of its remaining inputs reaches a forward pass, the other request is unaffected', async () => {
  const prepared = await model.prepare(texts);
  const calls: number[] = [];
  const b = new Batcher(counted(calls), { maxBatchTokens: 8192, maxQueuedTokens: 1 << 20, maxWaitMs: 0, batching: true, sliceMs: 1e-9 });
  await b.submit(prepared.slice(0, 1), { normalize: true }); // a first pass: the speed is known, slices are one input
  calls.length = 0;
  const ac = new AbortController();
  const kept = b.submit(prepared.slice(0, 12), { normalize: true });
  const dropped = b.submit(prepared.slice(12), { normalize: true, signal: ac.signal });
  const w = watch(calls);
  for (let k = 0; calls.length < 2 && k < 10_000; k++) await nextMacrotask(); // bounded: one unsliced pass never gets there
  ac.abort();
  const [a, d] = await Promise.allSettled([kept, dropped]);
  await w.stop();
  assert.ok(d.status === 'rejected' && d.reason instanceof CancelledError, `cancelled: ${d.status}`);
  assert.ok(a.status === 'fulfilled');
  assert.ok(calls.reduce((s, n) => s + n, 0) < texts.length, `inputs embedded: ${calls.reduce((s, n) => s + n, 0)} of ${texts.length}`);
  const want = await model.encode(texts.slice(0, 12));
  (a as PromiseFulfilledResult<Float32Array[]>).value.forEach((v, i) => sameBits(v, want[i], `kept input ${i}`));
});

test.run();
