// The user-facing API (src/text/instructor.ts): golden text -> embeddings, the model card's three uses,
// options, batching, concurrency and every error path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InstructorError } from '../src/errors.js';
import { Instructor, type EmbedInput } from '../src/text/instructor.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { l2normalize } from '../src/engine/head.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { cosineSimilarityMatrix, kmeans, topK } from '../src/text/similarity.js';
import { CHARS_PER_TOKEN } from '../src/text/tokenizer.js';
import { cosine, readGz, type GoldenTextFile } from './support/golden.js';
import { synthInstructor, synthTextWeights } from './support/synth-text-model.js';
import { FP32_MIN_COSINE, INT8_MIN_COSINE, TINY_INT8_MIN_COSINE } from './support/tolerances.js';
import { sameBits } from './support/assert.js';


const golden = readGz<GoldenTextFile>('golden-text.json.gz');
const tiny = await synthInstructor('tiny', 'fp32');

async function rejectsCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<InstructorError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, InstructorError, String(e));
    assert.is((e as InstructorError).code, code, (e as Error).message);
    if (message) assert.match((e as Error).message, message);
    return e as InstructorError;
  }
  return assert.unreachable(`expected ${code}`) as never;
}

/** Counts InstructorModel.embedIds calls (the only path to model compute) while `fn` runs. */
async function countForwardCalls(fn: () => Promise<unknown>): Promise<number> {
  const original = InstructorModel.prototype.embedIds;
  let calls = 0;
  InstructorModel.prototype.embedIds = function (this: InstructorModel, ...args: Parameters<typeof original>) {
    calls++;
    return original.apply(this, args);
  };
  try {
    await fn();
  } finally {
    InstructorModel.prototype.embedIds = original;
  }
  return calls;
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

// ---------------------------------------------------------------------------------------------
// Golden text

test('golden-text file: synth-v1 with tiny and large', () => {
  assert.is(golden.spec, 'synth-v1');
  assert.is(golden.max_seq_length, 512);
  for (const c of ['tiny', 'large']) assert.is(golden.configs[c].float64.length, golden.cases.length);
});

// tiny in fp32 and int8, large in int8: text -> ids -> pooling is exact on tiny fp32 and the same
// code at every size; large fp32 on the same ids is test/golden.test.ts's (one large fp32 pass of
// these 4772 tokens would take 2.5 min of the suite to show nothing more).
for (const [config, dtype] of [['tiny', 'fp32'], ['tiny', 'int8'], ['large', 'int8']] as const) {
  test(`golden-text ${config} ${dtype}: every case, in its mode, in one encode call`, async () => {
    const model = config === 'tiny' && dtype === 'fp32' ? tiny : await synthInstructor(config, dtype, { threads: 'auto' });
    const inputs: EmbedInput[] = [];
    const caseOf: number[] = [];
    const objectForm = new Map<number, number>(); // case -> position of its {instruction, text} form
    golden.cases.forEach((c, j) => {
      if (c.mode === 'pair') {
        inputs.push([c.instruction, c.text]);
        caseOf.push(j);
        objectForm.set(j, inputs.length);
        inputs.push({ instruction: c.instruction, text: c.text });
      } else {
        inputs.push(c.mode === 'legacy' ? [c.instruction, c.text, 0] : c.text);
      }
      caseOf.push(j);
    });
    const t0 = performance.now();
    let progressCalls = 0;
    const r = await model.embed(inputs, { batchSize: 8, onProgress: () => { progressCalls++; } });
    const seconds = (performance.now() - t0) / 1000;
    assert.is(progressCalls, Math.ceil(inputs.length / 8));
    assert.is(r.embeddings.length, inputs.length);
    const threshold = dtype === 'fp32' ? FP32_MIN_COSINE : config === 'tiny' ? TINY_INT8_MIN_COSINE : INT8_MIN_COSINE;
    let minCos = Infinity;
    for (let k = 0; k < inputs.length; k++) {
      const j = caseOf[k];
      assert.is(r.tokens[k], golden.cases[j].ids.length, `input ${k} (case ${j}): token count`);
      assert.is(r.embeddings[k].length, model.dim);
      const c = cosine(r.embeddings[k], golden.configs[config].float64[j]);
      minCos = Math.min(minCos, c);
      assert.ok(c >= threshold, `input ${k} (case ${j}, ${golden.cases[j].mode}): cosine ${c} < ${threshold}`);
    }
    for (const [j, k] of objectForm) {
      sameBits(r.embeddings[k], r.embeddings[k - 1], `case ${j}: {instruction, text} = [instruction, text]`);
    }
    assert.equal(r.emptyPool, []);
    const tokens = r.tokens.reduce((a, b) => a + b, 0);
    console.log(`  golden-text ${config} ${dtype} min_cosine=${minCos.toFixed(8)} (1 - ${(1 - minCos).toExponential(2)}) inputs=${inputs.length} tokens=${tokens} (${seconds.toFixed(1)} s)`);
    if (model !== tiny) model.dispose();
  });
}

// ---------------------------------------------------------------------------------------------
// The model card's three uses

test('model card: similarity of two lists of [instruction, sentence] pairs', async () => {
  const a = await tiny.encode([
    ['Represent the Science sentence: ', 'Parton energy loss in QCD matter'],
    ['Represent the Financial statement: ', 'The Federal Reserve on Wednesday raised its benchmark interest rate.'],
  ]);
  const b = await tiny.encode([
    ['Represent the Science sentence: ', 'The Chiral Phase Transition in Dissipative Dynamics'],
    ['Represent the Financial statement: ', 'The funds rose less than 0.5 per cent on Friday'],
  ]);
  const sims = cosineSimilarityMatrix(a, b);
  assert.is(sims.length, 2);
  for (let i = 0; i < 2; i++) {
    assert.is(sims[i].length, 2);
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(sims[i][j] - cosine(a[i], b[j])) < 1e-6);
  }
});

test('model card: retrieval (query + corpus -> topK)', async () => {
  const query = await tiny.encodeOne(['Represent the Wikipedia question for retrieving supporting documents: ', 'where is the food stored in a yam plant']);
  const corpus = await tiny.encode([
    ['Represent the Wikipedia document for retrieval: ', 'Capitalism has been dominant in the Western world since the end of feudalism.'],
    ['Represent the Wikipedia document for retrieval: ', 'The disparate impact theory is especially controversial under the Fair Housing Act.'],
    ['Represent the Wikipedia document for retrieval: ', 'Disparate impact in United States labor law refers to practices in employment.'],
  ]);
  const hits = topK(query, corpus, 2);
  const row = cosineSimilarityMatrix([query], corpus)[0];
  assert.is(hits.length, 2);
  const best = Array.from(row.keys()).sort((x, y) => row[y] - row[x] || x - y);
  assert.equal(hits.map((h) => h.index), best.slice(0, 2));
  for (const h of hits) assert.is(Math.fround(h.score), row[h.index]);
});

test('model card: clustering (kmeans, k = 2, on 6 sentences)', async () => {
  const instr = 'Represent the Medicine sentence for clustering: ';
  const vectors = await tiny.encode([
    'Dynamical Scalar Degree of Freedom in Horava-Lifshitz Gravity',
    'Comparison of Atmospheric Neutrino Flux Calculations at Low Energies',
    "Fermion Bags in the Massive Gross-Neveu Model",
    "QCD corrections to Associated t-tbar-H production at the Tevatron",
    'A New Analysis of the R Measurements: Resonance Parameters of the Higher, Vector States of Charmonium',
    'Neutrino masses and mixings in a minimal SO(10) model',
  ], { instruction: instr });
  const { labels, centroids, inertia } = kmeans(vectors, 2);
  assert.is(labels.length, 6);
  assert.is(centroids.length, 2);
  assert.ok(centroids.every((c) => c.length === tiny.dim));
  let sum = 0;
  for (let i = 0; i < 6; i++) {
    const d = centroids.map((c) => c.reduce((s, x, j) => s + (vectors[i][j] - x) ** 2, 0));
    assert.is(labels[i], d[0] <= d[1] ? 0 : 1, `vector ${i} is labelled with its nearest centroid`);
    sum += d[labels[i]];
  }
  assert.ok(Math.abs(sum - inertia) < 1e-6);
});

// ---------------------------------------------------------------------------------------------
// Options and API shape

test('dim, maxSeqLength, info', () => {
  assert.is(tiny.dim, 24);
  assert.is(tiny.maxSeqLength, 512);
  assert.is(tiny.info.dtype, 'fp32');
  assert.is(tiny.info.config.dModel, 32);
  assert.is(tiny.disposed, false);
});

test('encodeOne = encode([x])[0]; encode of a non-array -> BAD_INPUT pointing to encodeOne', async () => {
  const one = await tiny.encodeOne(['Represent the title:', 'hello']);
  const [list] = await tiny.encode([['Represent the title:', 'hello']]);
  assert.ok(same(one, list));
  await rejectsCode(tiny.encode('hello' as never), 'BAD_INPUT', /encodeOne/);
  assert.equal(await tiny.encode([]), []);
});

test('instruction option turns plain strings into pairs; pairs and triples keep theirs', async () => {
  const I = 'Represent the Science title: ';
  const withOpt = await tiny.encode(['alpha decay', ['Other instruction:', 'beta'], 'gamma rays'], { instruction: I });
  const explicit = await tiny.encode([[I, 'alpha decay'], ['Other instruction:', 'beta'], [I, 'gamma rays']]);
  for (let i = 0; i < 3; i++) assert.ok(same(withOpt[i], explicit[i]), `input ${i}`);
  const plain = await tiny.encodeOne('alpha decay');
  assert.ok(cosine(plain, withOpt[0]) < 0.9999, 'the instruction changes the embedding');
});

test('batchSize and input order never change a result; normalize: false', async () => {
  const texts: EmbedInput[] = [
    'short', ['Represent the sentence:', 'a somewhat longer sentence with more tokens in it'], 'mid length text here',
    ['Represent:', 'x', 0], { instruction: 'Represent the document:', text: 'one two three four five six seven' }, 'z',
  ];
  const ref = await tiny.encode(texts, { batchSize: 32 });
  for (const batchSize of [1, 2, 5]) {
    const got = await tiny.encode(texts, { batchSize });
    got.forEach((v, i) => sameBits(v, ref[i], `batchSize ${batchSize}, input ${i}`));
  }
  // maxBatchTokens 1: every input becomes its own forward pass (the longest exceeds it alone)
  for (const maxBatchTokens of [1, 16]) {
    const got = await tiny.encode(texts, { maxBatchTokens });
    got.forEach((v, i) => sameBits(v, ref[i], `maxBatchTokens ${maxBatchTokens}, input ${i}`));
  }
  const reversed = (await tiny.encode([...texts].reverse())).reverse();
  reversed.forEach((v, i) => sameBits(v, ref[i], `reversed, input ${i}`));
  const raw = await tiny.encode(texts, { normalize: false });
  raw.forEach((v, i) => {
    const n = Math.hypot(...v);
    assert.ok(Math.abs(n - 1) > 1e-3, `unnormalised norm ${n}`);
    const u = l2normalize(v.slice());
    sameBits(u, ref[i], `normalize: false, then L2, input ${i}`);
    assert.ok(Math.abs(Math.hypot(...ref[i]) - 1) < 1e-6);
  });
});

test('progress: one call per batch, monotone, ending at total', async () => {
  const calls: Array<[number, number]> = [];
  const inputs = Array.from({ length: 11 }, (_, i) => `sentence number ${i}`);
  await tiny.encode(inputs, { batchSize: 3, onProgress: (done, total) => calls.push([done, total]) });
  assert.equal(calls, [[3, 11], [6, 11], [9, 11], [11, 11]]);
});

test('a text over 512 tokens: embed() and onTruncate report the dropped tokens', async () => {
  const long = 'word '.repeat(700).trim();
  const all = tiny.tokenizer.encodeNoSpecial(long).length;
  assert.ok(all > 511);
  const seen: Array<[number, number]> = [];
  const r = await tiny.embed(['short one', long, ['Represent the document:', long]], { onTruncate: (i, n) => seen.push([i, n]) });
  assert.is(r.tokens[0], tiny.tokenizer.encode('short one', 512).ids.length);
  assert.is(r.tokens[1], 512);
  assert.is(r.tokens[2], 512);
  assert.is(r.truncated[0], 0);
  assert.is(r.truncated[1], all - 511);
  assert.ok(r.truncated[2] > r.truncated[1], 'the instruction takes room too');
  assert.equal(seen, [[1, r.truncated[1]], [2, r.truncated[2]]]);
  assert.equal(r.emptyPool, []);
  assert.equal(r.cutChars, [0, 0, 0]);
});

test('texts too long to tokenize whole (a 300k-letter word, a 1 MB document): embedded from their first 512 * 64 characters, the cut reported', async () => {
  const word = 'abcdefghij'.repeat(30_000); // one word: over 100k pieces, a stack overflow in the tokenizer library before
  const doc = 'The quick brown fox jumps over the lazy dog. '.repeat(23_000); // 1 MB
  const seen: Array<[number, number, number]> = [];
  const r = await tiny.embed([word, ['Represent the document:', doc], 'short'], { onTruncate: (i, n, c) => seen.push([i, n, c]) });
  const limit = 512 * CHARS_PER_TOKEN;
  assert.is(r.cutChars[0], word.length - limit);
  assert.ok(r.cutChars[1] > doc.length - limit && r.cutChars[1] < doc.length - limit + 50, `cut at a word end: ${r.cutChars[1]}`);
  assert.is(r.cutChars[2], 0);
  assert.equal(r.tokens, [512, 512, tiny.tokenizer.encode('short', 512).ids.length]);
  assert.ok(r.truncated[0] > 0 && r.truncated[1] > 0, 'tokens cut from the tokenized part (a lower bound)');
  assert.equal(seen, [[0, r.truncated[0], r.cutChars[0]], [1, r.truncated[1], r.cutChars[1]]]);
  // bit for bit the embedding of the first 511 tokens of the whole text, then </s>
  const engine = await InstructorModel.fromWeightsFile(synthTextWeights('tiny', 'fp32'), { kernels: await loadKernelsFromDisk() });
  const [ref] = engine.embedIds([{ ids: [...tiny.tokenizer.encodeNoSpecial(word).slice(0, 511), tiny.tokenizer.eosId], nInstr: 0 }]).embeddings;
  sameBits(r.embeddings[0], ref, 'the cut 300k-letter word');
  engine.dispose();
});

test('an empty pooling window is reported, and its embedding is zeros (as the reference)', async () => {
  const r = await tiny.embed(['fine', ['a', 'b']]); // "a" + "b" tokenizes to ["▁ab", "</s>"]: the instruction covers all
  assert.equal(r.emptyPool, [1]);
  assert.ok(r.embeddings[1].every((x) => x === 0));
  assert.ok(!r.embeddings[0].every((x) => x === 0));
});

test('concurrent encode() calls interleave at batch boundaries and equal sequential results', async () => {
  const A = Array.from({ length: 8 }, (_, i) => ['Represent the question:', `what is item ${i} made of?`] as [string, string]);
  const B = Array.from({ length: 8 }, (_, i) => `a plain sentence about topic ${i * 7}`);
  const seqA = await tiny.encode(A, { batchSize: 2 });
  const seqB = await tiny.encode(B, { batchSize: 2 });
  const log: string[] = [];
  const [conA, conB] = await Promise.all([
    tiny.encode(A, { batchSize: 2, onProgress: (d) => log.push(`A${d}`) }),
    tiny.encode(B, { batchSize: 2, onProgress: (d) => log.push(`B${d}`) }),
  ]);
  assert.ok(log.indexOf('B2') < log.indexOf('A8') && log.indexOf('A2') < log.indexOf('B8'), `interleaved: ${log.join(' ')}`);
  for (let i = 0; i < 8; i++) {
    assert.ok(same(conA[i], seqA[i]), `A ${i}`);
    assert.ok(same(conB[i], seqB[i]), `B ${i}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Errors

test('bad inputs -> BAD_INPUT naming the index, before any model compute', async () => {
  const ok = Array.from({ length: 40 }, (_, i) => `valid input ${i}`);
  const cases: Array<[unknown, RegExp]> = [
    [42, /input 40: got number 42/],
    [null, /input 40: got null/],
    [NaN, /input 40: got number NaN/],
    [['only one'], /input 40: .*2 or 3 elements/],
    [['a', 'b', 'c', 'd'], /input 40: .*2 or 3 elements/],
    [['a', 'b', 1], /input 40: third element/],
    [['a', 7], /input 40: text is number 7/],
    [[undefined, 'b'], /input 40: instruction is undefined/],
    [{ text: 'no instruction' }, /input 40: .*without "instruction"/],
  ];
  for (const [bad, message] of cases) {
    let progress = 0;
    const calls = await countForwardCalls(() =>
      rejectsCode(tiny.encode([...ok, bad, 'after'] as EmbedInput[], { batchSize: 4, onProgress: () => progress++ }), 'BAD_INPUT', message));
    assert.is(calls, 0, `no compute for ${String(bad)}`);
    assert.is(progress, 0);
  }
});

test('inputs and options that throw when read (revoked proxies, throwing getters) are BAD_INPUT, never a TypeError', async () => {
  const revoked = () => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; };
  const throwing = { instruction: 'Represent:', get text(): string { throw new RangeError('no text today'); } };
  await rejectsCode(tiny.encode(['fine', revoked()] as EmbedInput[]), 'BAD_INPUT', /input 1: reading it threw TypeError/);
  await rejectsCode(tiny.encode(['fine', [revoked(), 'x']] as EmbedInput[]), 'BAD_INPUT', /input 1: instruction is a value that cannot be inspected/);
  await rejectsCode(tiny.encode([throwing as EmbedInput]), 'BAD_INPUT', /input 0: reading it threw RangeError: no text today/);
  await rejectsCode(tiny.encode(revoked() as EmbedInput[]), 'BAD_INPUT', /encode: reading the inputs threw TypeError/);
  await rejectsCode(tiny.encode(['fine'], revoked() as never), 'BAD_INPUT', /encode: reading the options threw TypeError/);
  await rejectsCode(tiny.encode(['fine'], { signal: revoked() as never }), 'BAD_INPUT', /signal is not an AbortSignal/);
  await rejectsCode(tiny.encode(['fine'], { batchSize: Symbol('x') as never }), 'BAD_INPUT', /batchSize must be a positive integer, got a symbol/);
});

test('the parsed tokenizer.json is not kept once the tokenizer is built', async () => {
  const model = await Instructor.fromWeightsFile(synthTextWeights('tiny', 'fp32'), { kernels: await loadKernelsFromDisk() });
  assert.is(model.info.model.tokenizer, undefined);
  assert.is(model.info.model.max_seq_length, 512);
  assert.equal(Array.from(await model.encodeOne('hello')), Array.from(await tiny.encodeOne('hello')));
  model.dispose();
});

test('maxBatchTokens bounds the wasm memory a call grows to (memoryBytes)', async () => {
  // Four 512-token inputs: one 2048-token forward pass by default, four of 512 with the bound.
  const long = ['Represent the document: ', 'embedding '.repeat(600)] as [string, string];
  const inputs = [0, 1, 2, 3].map((i) => [long[0], `${i} ${long[1]}`] as [string, string]);
  const grownTo = async (maxBatchTokens?: number): Promise<{ bytes: number; vectors: Float32Array[] }> => {
    const kernels = await loadKernelsFromDisk(); // a fresh instance: its own memory
    const model = await Instructor.fromWeightsFile(synthTextWeights('tiny', 'fp32'), { kernels });
    const vectors = await model.encode(inputs, { maxBatchTokens });
    const bytes = model.memoryBytes;
    assert.is(bytes, kernels.memory.buffer.byteLength, 'memoryBytes is the wasm memory');
    model.dispose();
    assert.is(model.memoryBytes, 0, 'memoryBytes after dispose');
    return { bytes, vectors };
  };
  const whole = await grownTo();
  const split = await grownTo(512);
  assert.ok(split.bytes < whole.bytes, `wasm memory with maxBatchTokens 512: ${split.bytes} bytes, expected less than the default's ${whole.bytes}`);
  split.vectors.forEach((v, i) => sameBits(v, whole.vectors[i], `input ${i}`));
});

test('bad options -> BAD_INPUT', async () => {
  for (const batchSize of [0, -1, 1.5, NaN, '8']) {
    await rejectsCode(tiny.encode(['x'], { batchSize: batchSize as number }), 'BAD_INPUT', /batchSize/);
  }
  for (const maxBatchTokens of [0, 1.5, '512', null]) {
    await rejectsCode(tiny.encode(['x'], { maxBatchTokens: maxBatchTokens as number }), 'BAD_INPUT', /maxBatchTokens/);
  }
  await rejectsCode(tiny.encode(['x'], { normalize: 'yes' as never }), 'BAD_INPUT', /normalize/);
  await rejectsCode(tiny.encode(['x'], { instruction: 3 as never }), 'BAD_INPUT', /instruction/);
  await rejectsCode(tiny.encode(['x'], { onProgress: 'no' as never }), 'BAD_INPUT', /onProgress/);
  await rejectsCode(tiny.encode(['x'], { signal: {} as never }), 'BAD_INPUT', /signal/);
  await rejectsCode(tiny.encode(['x'], 5 as never), 'BAD_INPUT', /options/);
});

test('abort: mid-way -> ABORTED after the current batch; already aborted -> no compute', async () => {
  const controller = new AbortController();
  const done: number[] = [];
  const inputs = Array.from({ length: 10 }, (_, i) => `text ${i}`);
  const err = await rejectsCode(tiny.encode(inputs, {
    batchSize: 2,
    signal: controller.signal,
    onProgress: (d) => { done.push(d); if (d === 4) controller.abort(new Error('user cancelled')); },
  }), 'ABORTED', /after 4 of 10 inputs: user cancelled/);
  assert.equal(done, [2, 4]);
  assert.instance((err as Error & { cause?: unknown }).cause, Error);
  const calls = await countForwardCalls(() => rejectsCode(tiny.encode(inputs, { signal: AbortSignal.abort() }), 'ABORTED'));
  assert.is(calls, 0);
  // A timer abort lands between batches too (the call yields to the event loop).
  const many = Array.from({ length: 400 }, (_, i) => `sentence ${i} `.repeat(5));
  await rejectsCode(tiny.encode(many, { batchSize: 1, signal: AbortSignal.timeout(1) }), 'ABORTED');
});

test('dispose -> DISPOSED (also for a call in flight); engine-level file -> BAD_FILE', async () => {
  const m = await synthInstructor('tiny', 'int8');
  assert.is(m.info.dtype, 'int8');
  const inflight = m.encode(['one', 'two', 'three', 'four'], { batchSize: 1, onProgress: (d) => { if (d === 1) m.dispose(); } });
  await rejectsCode(inflight, 'DISPOSED');
  assert.is(m.disposed, true);
  await rejectsCode(m.encode(['x']), 'DISPOSED');
  await rejectsCode(m.encodeOne('x'), 'DISPOSED');
  m.dispose(); // idempotent

  const kernels = await loadKernelsFromDisk();
  await rejectsCode(Instructor.fromWeightsFile(synthTextWeights('tiny', 'fp32', { withTokenizer: false }), { kernels }), 'BAD_FILE', /engine-level weights file; convert a checkpoint folder/);
  await rejectsCode(Instructor.fromWeightsFile('nope' as never, { kernels }), 'BAD_INPUT');
  const engine = await InstructorModel.fromWeightsFile(synthTextWeights('tiny', 'fp32', { withTokenizer: false }), { kernels });
  await rejectsCode((async () => Instructor.fromModel(engine))(), 'BAD_FILE', /engine-level/);
  engine.dispose();
});

test('fromModel wraps a loaded model (same results; dispose disposes it)', async () => {
  const kernels = await loadKernelsFromDisk();
  const model = await InstructorModel.fromWeightsFile(synthTextWeights('tiny', 'fp32'), { kernels });
  const wrapped = Instructor.fromModel(model);
  const inputs: EmbedInput[] = ['plain', ['Represent the title:', 'pair'], ['Represent the title: ', 'legacy', 0]];
  const got = await wrapped.encode(inputs), want = await tiny.encode(inputs);
  inputs.forEach((_, i) => assert.ok(same(got[i], want[i]), `input ${i}`));
  wrapped.dispose();
  assert.throws(() => model.embedIds([{ ids: [1], nInstr: 0 }]), (e: Error) => (e as InstructorError).code === 'DISPOSED');
});

test.run();
