// instructor-wasm/ai-sdk against the AI SDK itself (`ai` 7: embed, embedMany, cosineSimilarity),
// on the tiny synth model and golden text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cosineSimilarity, embed, embedMany } from 'ai';
import { DOCUMENT_INSTRUCTION, instructor, InstructorEmbeddingModel } from '../src/adapters/ai-sdk.js';
import { rejects, sameBits, throwsCode } from './support/assert.js';
import { assertGolden, caseOf, corpus, golden, pairCases, reference } from './support/adapters.js';
import { cosine } from './support/golden.js';
import { synthInstructor } from './support/synth-text-model.js';
import { GOLDEN_COSINE_SHIFT } from './support/tolerances.js';

(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false; // the tests read the warnings themselves

const tiny = await synthInstructor('tiny', 'fp32');
const f32 = (v: number[]) => Float32Array.from(v);

const SCIENCE = 'Represent the Science sentence; Input: ';
const FINANCE = 'Represent the Financial statement; Input: ';

test('an embedding model of the specification the installed ai accepts (v4)', () => {
  const model = instructor(tiny, { modelId: 'tiny' });
  assert.ok(model instanceof InstructorEmbeddingModel);
  assert.is(model.specificationVersion, 'v4');
  assert.is(model.provider, 'instructor-wasm');
  assert.is(model.modelId, 'tiny');
  assert.is(model.maxEmbeddingsPerCall, 256);
  assert.is(model.supportsParallelCalls, false);
  assert.is(model.instruction, DOCUMENT_INSTRUCTION);
  assert.is(instructor('hkunlp/instructor-large').modelId, 'hkunlp/instructor-large');
});

test('embed: the golden pair embedding; the instruction from settings or providerOptions.instructor', async () => {
  const model = instructor(tiny, { instruction: SCIENCE });
  const [science] = pairCases(SCIENCE);
  const r = await embed({ model, value: science.text });
  await assertGolden(tiny, r.embedding, science.j, 'embed, settings instruction');
  assert.is(r.usage.tokens, golden.cases[science.j].ids.length);
  assert.equal(r.warnings, []);
  const [finance] = pairCases(FINANCE);
  const o = await embed({ model, value: finance.text, providerOptions: { instructor: { instruction: FINANCE } } });
  await assertGolden(tiny, o.embedding, finance.j, 'embed, providerOptions instruction');
  const plain = await embed({ model, value: corpus[0].text, providerOptions: { instructor: { instruction: '' } } });
  await assertGolden(tiny, plain.embedding, corpus[0].j, "instruction '': a plain input");
});

test('embedMany: more values than maxEmbeddingsPerCall is split into calls; bits = encode; usage; cosineSimilarity', async () => {
  const values = corpus.map((d) => d.text);
  const max = 3;
  assert.ok(values.length > 2 * max);
  const model = instructor(tiny, { instruction: '', maxEmbeddingsPerCall: max, batchSize: 2 });
  const r = await embedMany({ model, values });
  assert.is(r.responses?.length, Math.ceil(values.length / max), 'one doEmbed call per chunk');
  assert.is(r.embeddings.length, values.length);
  const want = await tiny.encode(values, { instruction: '' });
  for (let i = 0; i < values.length; i++) {
    sameBits(f32(r.embeddings[i]), want[i], `embedding ${i}`);
    await assertGolden(tiny, r.embeddings[i], corpus[i].j, `embedMany[${i}]`);
  }
  assert.is(r.usage.tokens, corpus.reduce((n, d) => n + golden.cases[d.j].ids.length, 0));
  for (const [a, b] of [[0, 1], [2, 5], [3, 4]]) {
    const got = cosineSimilarity(r.embeddings[a], r.embeddings[b]);
    const ref = cosine(reference(corpus[a].j), reference(corpus[b].j));
    assert.ok(Math.abs(got - ref) <= GOLDEN_COSINE_SHIFT, `cosineSimilarity(${a}, ${b}) = ${got}, golden ${ref}`);
  }
});

test('abort: an aborted signal rejects; aborting mid-call stops the encode (while it tokenizes or between batches)', async () => {
  const model = instructor(tiny, { batchSize: 1 });
  await rejects(embed({ model, value: 'x', abortSignal: AbortSignal.abort() }), 'ABORTED', /aborted/);
  await rejects(embedMany({ model, values: ['a', 'b'], abortSignal: AbortSignal.abort(new Error('user left')) }), 'ABORTED', /user left/);

  const values = Array.from({ length: 40 }, (_, i) => `value number ${i}`);
  const controller = new AbortController();
  const call = model.doEmbed({ values, abortSignal: controller.signal });
  // lands at the encode's first yield: between tokenizing slices (every 8 ms of work) or after the first batch
  setImmediate(() => controller.abort());
  const err = await rejects(call, 'ABORTED', /aborted after \d+ of 40 inputs/);
  const done = Number(/after (\d+) of/.exec(err.message)![1]);
  assert.ok(done < values.length, `stopped after ${done} of ${values.length}`);
  const after = await embed({ model, value: 'still works' });
  sameBits(f32(after.embedding), await tiny.encodeOne([DOCUMENT_INSTRUCTION, 'still works']), 'the model after an abort');
});

test('warnings: cut inputs are counted, unsupported dimensions and provider options are named', async () => {
  const model = instructor(tiny);
  const long = 'word '.repeat(1000);
  const r = await embedMany({ model, values: ['short', long], dimensions: 8, providerOptions: { instructor: { pooling: 'cls' } } });
  const messages = r.warnings.map((w) => JSON.stringify(w));
  assert.ok(messages.some((m) => /1 of 2 values were longer than 512 tokens.*value 1: \d+/.test(m)), messages.join('\n'));
  assert.ok(r.warnings.some((w) => w.type === 'unsupported' && w.feature === 'dimensions'), messages.join('\n'));
  assert.ok(r.warnings.some((w) => w.type === 'unsupported' && w.feature === 'providerOptions.instructor.pooling'), messages.join('\n'));
  assert.is(r.usage.tokens, 512 + (await tiny.embed([[DOCUMENT_INSTRUCTION, 'short']])).tokens[0]);
  const same = await embed({ model, value: 'x', dimensions: tiny.dim });
  assert.equal(same.warnings, [], 'dimensions equal to the model\'s: nothing to warn about');
});

test('bad input: typed errors', async () => {
  throwsCode(() => instructor(tiny, { maxEmbeddingsPerCall: 0 }), 'BAD_INPUT', /maxEmbeddingsPerCall/);
  throwsCode(() => instructor(tiny, { instruction: 1 as never }), 'BAD_INPUT', /instruction must be a string/);
  throwsCode(() => instructor(null as never), 'BAD_INPUT', /model must be/);
  const model = instructor(tiny, { maxEmbeddingsPerCall: 2 });
  await rejects(model.doEmbed({ values: ['a', 'b', 'c'] }), 'BAD_INPUT', /3 values in one call, at most maxEmbeddingsPerCall = 2/);
  await rejects(model.doEmbed({ values: ['a', 7 as never] }), 'BAD_INPUT', /text 1 is number/);
  await rejects(embed({ model, value: 'x', providerOptions: { instructor: { instruction: 5 } } }), 'BAD_INPUT', /providerOptions.instructor.instruction must be a string/);
  model.dispose();
  await rejects(embed({ model, value: 'x' }), 'DISPOSED', /disposed/);
  assert.is(tiny.disposed, false);
});

test.run();
