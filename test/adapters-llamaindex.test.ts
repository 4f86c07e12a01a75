// instructor-wasm/llamaindex against LlamaIndex.TS itself (llamaindex's VectorStoreIndex and
// Settings, @llamaindex/core's BaseEmbedding), on the tiny synth model and golden text, offline
// and without an LLM.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BaseEmbedding } from '@llamaindex/core/embeddings';
import { Document, MetadataMode, Settings, VectorStoreIndex } from 'llamaindex';
import { DOCUMENT_INSTRUCTION, InstructorEmbedding, QUERY_INSTRUCTION } from '../src/adapters/llamaindex.js';
import { rejects, sameBits, throwsCode } from './support/assert.js';
import { assertClearWinner, assertGolden, caseOf, corpus, goldenRanking, offline, pairCases } from './support/adapters.js';
import { synthInstructor } from './support/synth-text-model.js';
import { GOLDEN_COSINE_SHIFT } from './support/tolerances.js';

const tiny = await synthInstructor('tiny', 'fp32');
const f32 = (v: number[]) => Float32Array.from(v);

const DOC = 'Represent the Financial statement; Input: ';
const QUERY = 'Represent the question for retrieving duplicate questions: ';
const QUERY_TEXT = 'How do I learn TypeScript quickly?';

test('a BaseEmbedding with LangChain Python\'s default instructions', () => {
  const e = new InstructorEmbedding({ model: tiny });
  assert.ok(e instanceof BaseEmbedding);
  assert.is(e.documentInstruction, DOCUMENT_INSTRUCTION);
  assert.is(e.queryInstruction, QUERY_INSTRUCTION);
  assert.is(e.embedBatchSize, 32);
  assert.is(new InstructorEmbedding({ model: tiny, batchSize: 4 }).embedBatchSize, 4);
});

test('getTextEmbedding(s) / getQueryEmbedding: the golden pair embeddings', async () => {
  const e = new InstructorEmbedding({ model: tiny, documentInstruction: DOC, queryInstruction: QUERY });
  const docs = pairCases(DOC);
  const many = await e.getTextEmbeddings(docs.map((d) => d.text));
  for (let i = 0; i < docs.length; i++) {
    await assertGolden(tiny, many[i], docs[i].j, `getTextEmbeddings[${i}]`);
    sameBits(f32(await e.getTextEmbedding(docs[i].text)), f32(many[i]), `getTextEmbedding(${i}) = getTextEmbeddings[${i}]`);
  }
  const q = await e.getQueryEmbedding({ type: 'text', text: QUERY_TEXT });
  assert.ok(q);
  await assertGolden(tiny, q, caseOf('pair', QUERY, QUERY_TEXT), 'getQueryEmbedding');
  assert.is(await e.getQueryEmbedding({ type: 'image_url', image_url: { url: 'https://example.com/x.png' } }), null, 'not text: null, as the base class');
});

test('defaults: bit for bit model.encode with the document / query instruction', async () => {
  const e = new InstructorEmbedding({ model: tiny });
  const texts = corpus.map((d) => d.text);
  const got = await e.getTextEmbeddingsBatch(texts);
  const want = await tiny.encode(texts, { instruction: DOCUMENT_INSTRUCTION });
  for (let i = 0; i < texts.length; i++) sameBits(f32(got[i]), want[i], `text ${i}`);
  sameBits(f32((await e.getQueryEmbedding({ type: 'text', text: QUERY_TEXT }))!), await tiny.encodeOne([QUERY_INSTRUCTION, QUERY_TEXT]), 'query');
});

test('onTruncate hears of every cut text (index in the call, tokens and characters dropped)', async () => {
  const seen: Array<[number, number, number]> = [];
  const e = new InstructorEmbedding({ model: tiny, onTruncate: (i, tokens, chars) => seen.push([i, tokens, chars]) });
  const texts = ['word '.repeat(10_000), 'short', 'word '.repeat(700)];
  await e.getTextEmbeddingsBatch(texts);
  const r = await tiny.embed(texts, { instruction: DOCUMENT_INSTRUCTION });
  assert.equal(seen, [[0, r.truncated[0], r.cutChars[0]], [2, r.truncated[2], 0]]);
  assert.ok(r.cutChars[0] > 0 && r.truncated[2] > 0);
});

test('Settings.embedModel: VectorStoreIndex.fromDocuments (in-memory store) and a retriever query, offline, no LLM', async () => {
  const ranking = goldenRanking(caseOf('pair', QUERY, QUERY_TEXT), corpus);
  assertClearWinner(ranking);
  let previous: BaseEmbedding | undefined;
  try { previous = Settings.embedModel; } catch { previous = undefined; } // the getter throws while none is set
  // Documents as plain inputs (instruction ''): each stored vector is a golden plain case.
  const embedModel = new InstructorEmbedding({ model: tiny, documentInstruction: '', queryInstruction: QUERY, embedBatchSize: 4 });
  Settings.embedModel = embedModel;
  try {
    const results = await offline(async () => {
      const index = await VectorStoreIndex.fromDocuments(corpus.map((d) => new Document({ text: d.text, id_: `case-${d.j}` })));
      return index.asRetriever({ similarityTopK: corpus.length }).retrieve({ query: QUERY_TEXT });
    });
    assert.is(results.length, corpus.length);
    assert.is(results[0].node.getContent(MetadataMode.NONE), ranking[0].text, 'the document whose golden embedding is closest');
    const golden = new Map(ranking.map((r) => [r.text, r.score]));
    for (const r of results) {
      const text = r.node.getContent(MetadataMode.NONE);
      const want = golden.get(text);
      assert.ok(want !== undefined, `retrieved an indexed text: ${text}`);
      assert.ok(Math.abs(r.score! - want) <= GOLDEN_COSINE_SHIFT, `score of "${text}": ${r.score}, golden ${want}`);
    }
  } finally {
    Settings.embedModel = previous as BaseEmbedding; // undefined again if it was: uvu runs every test file in one process
    embedModel.dispose();
  }
});

test('bad input and dispose: typed errors', async () => {
  throwsCode(() => new InstructorEmbedding({ model: undefined as never }), 'BAD_INPUT', /model must be/);
  throwsCode(() => new InstructorEmbedding({ model: tiny, embedBatchSize: 0 }), 'BAD_INPUT', /embedBatchSize/);
  throwsCode(() => new InstructorEmbedding({ model: tiny, queryInstruction: [] as never }), 'BAD_INPUT', /queryInstruction must be a string/);
  const e = new InstructorEmbedding({ model: tiny });
  await rejects(e.getTextEmbeddings([1] as never), 'BAD_INPUT', /text 0 is number/);
  await rejects(e.getTextEmbedding({} as never), 'BAD_INPUT', /expected a string/);
  await rejects(e.getQueryEmbedding(null as never), 'BAD_INPUT', /message content/);
  e.dispose();
  await rejects(e.getTextEmbedding('x'), 'DISPOSED', /disposed/);
  assert.is(tiny.disposed, false);
});

test.run();
