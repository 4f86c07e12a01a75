// instructor-wasm/langchain against LangChain's own packages: @langchain/core's Embeddings and
// AsyncCaller, @langchain/classic's MemoryVectorStore, on the tiny synth model and golden text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document } from '@langchain/core/documents';
import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import { Embeddings } from '@langchain/core/embeddings';
import { DOCUMENT_INSTRUCTION, InstructorEmbeddings, QUERY_INSTRUCTION } from '../src/adapters/langchain.js';
import { InstructorError } from '../src/errors.js';
import { rejects, sameBits, throwsCode } from './support/assert.js';
import { assertClearWinner, assertGolden, caseOf, corpus, goldenRanking, offline, pairCases, reference } from './support/adapters.js';
import { cosine } from './support/golden.js';
import { synthInstructor, synthTextWeights } from './support/synth-text-model.js';
import { FP32_MIN_COSINE } from './support/tolerances.js';

const tiny = await synthInstructor('tiny', 'fp32');
const f32 = (v: number[]) => Float32Array.from(v);

const DOC = 'Represent the Medicine sentence for clustering; Input: ';
const QUERY = 'Represent the question for retrieving duplicate questions: ';
const QUERY_TEXT = 'How do I learn TypeScript quickly?';

test('defaults are LangChain Python HuggingFaceInstructEmbeddings instructions', () => {
  assert.is(DOCUMENT_INSTRUCTION, 'Represent the document for retrieval: ');
  assert.is(QUERY_INSTRUCTION, 'Represent the question for retrieving supporting documents: ');
  const e = new InstructorEmbeddings({ model: tiny });
  assert.ok(e instanceof Embeddings);
  assert.is(e.documentInstruction, DOCUMENT_INSTRUCTION);
  assert.is(e.queryInstruction, QUERY_INSTRUCTION);
});

test('embedDocuments / embedQuery: the golden pair embeddings, instruction out of the pooling, Dense applied', async () => {
  const e = new InstructorEmbeddings({ model: tiny, documentInstruction: DOC, queryInstruction: QUERY });
  const docs = pairCases(DOC);
  assert.ok(docs.length >= 2);
  const got = await e.embedDocuments(docs.map((d) => d.text));
  assert.is(got.length, docs.length);
  for (let i = 0; i < docs.length; i++) await assertGolden(tiny, got[i], docs[i].j, `embedDocuments[${i}]`);
  await assertGolden(tiny, await e.embedQuery(QUERY_TEXT), caseOf('pair', QUERY, QUERY_TEXT), 'embedQuery');
  // The default document instruction is itself a golden case (with an empty text).
  await assertGolden(tiny, (await new InstructorEmbeddings({ model: tiny }).embedDocuments(['']))[0], caseOf('pair', DOCUMENT_INSTRUCTION, ''), 'default instruction');
});

test('embedQuery / embedDocuments = model.encode with the same instruction, bit for bit', async () => {
  const texts = corpus.map((d) => d.text);
  for (const e of [new InstructorEmbeddings({ model: tiny }), new InstructorEmbeddings({ model: tiny, documentInstruction: DOC, queryInstruction: QUERY, batchSize: 3 })]) {
    const docs = await e.embedDocuments(texts);
    const want = await tiny.encode(texts, { instruction: e.documentInstruction });
    for (let i = 0; i < texts.length; i++) sameBits(f32(docs[i]), want[i], `document ${i}`);
    sameBits(f32(await e.embedQuery(QUERY_TEXT)), await tiny.encodeOne([e.queryInstruction, QUERY_TEXT]), 'query');
  }
  assert.equal(await new InstructorEmbeddings({ model: tiny }).embedDocuments([]), []);
});

test('onTruncate hears of every cut document (index in the call, tokens and characters dropped)', async () => {
  const seen: Array<[number, number, number]> = [];
  const e = new InstructorEmbeddings({ model: tiny, onTruncate: (i, tokens, chars) => seen.push([i, tokens, chars]) });
  const texts = ['short', 'word '.repeat(700), 'word '.repeat(10_000)];
  await e.embedDocuments(texts);
  const r = await tiny.embed(texts, { instruction: e.documentInstruction });
  assert.equal(seen, [[1, r.truncated[1], 0], [2, r.truncated[2], r.cutChars[2]]]);
  assert.ok(r.truncated[1] > 0 && r.cutChars[2] > 0);
});

test('MemoryVectorStore: similaritySearch returns the document whose golden embedding is closest', async () => {
  const ranking = goldenRanking(caseOf('pair', QUERY, QUERY_TEXT), corpus);
  assertClearWinner(ranking);
  await offline(async () => {
    // Documents as plain inputs (instruction ''), so each stored vector is a golden plain case.
    const embeddings = new InstructorEmbeddings({ model: tiny, documentInstruction: '', queryInstruction: QUERY });
    const store = await MemoryVectorStore.fromDocuments(corpus.map((d) => new Document({ pageContent: d.text, metadata: { j: d.j } })), embeddings);
    assert.is(store.memoryVectors.length, corpus.length);
    for (const v of store.memoryVectors) {
      assert.ok(cosine(v.embedding, reference(v.metadata.j)) >= FP32_MIN_COSINE, `stored vector of case ${v.metadata.j}`);
    }
    const [best] = await store.similaritySearch(QUERY_TEXT, 1);
    assert.is(best.pageContent, ranking[0].text);
    const scored = await store.similaritySearchWithScore(QUERY_TEXT, 2);
    assert.is(scored[0][0].metadata.j, ranking[0].j);
    assert.ok(scored[0][1] > scored[1][1]);
  });
});

test('AsyncCaller options reach the base class: maxConcurrency bounds concurrent encodes', async () => {
  const encode = tiny.encode;
  let active = 0, peak = 0;
  tiny.encode = async function (this: typeof tiny, ...args: Parameters<typeof encode>) {
    active++;
    peak = Math.max(peak, active);
    try {
      return await encode.apply(this, args);
    } finally {
      active--;
    }
  };
  try {
    const texts = corpus.map((d) => d.text);
    const one = new InstructorEmbeddings({ model: tiny, maxConcurrency: 1, batchSize: 1 });
    await Promise.all([one.embedDocuments(texts), one.embedDocuments(texts), one.embedQuery('x')]);
    assert.is(peak, 1, 'maxConcurrency: 1');
    peak = 0;
    const unbounded = new InstructorEmbeddings({ model: tiny, batchSize: 1 });
    await Promise.all([unbounded.embedDocuments(texts), unbounded.embedDocuments(texts), unbounded.embedQuery('x')]);
    assert.ok(peak >= 2, `default maxConcurrency (Infinity): peak ${peak}`);
  } finally {
    tiny.encode = encode;
  }
});

/** Weights whose reads are counted; `bad` bytes make every load fail with BAD_FILE. */
function countingSource(bytes: Uint8Array): { source: { arrayBuffer(): Promise<ArrayBuffer> }; reads: () => number } {
  let reads = 0;
  return {
    source: { arrayBuffer: async () => { reads++; return bytes.slice().buffer; } },
    reads: () => reads,
  };
}

test('retries: a deterministic error is not retried; maxRetries and onFailedAttempt are honoured', async () => {
  const garbage = new Uint8Array(256).fill(7);
  const a = countingSource(garbage);
  const e = new InstructorEmbeddings({ model: a.source as never, maxRetries: 3 });
  await rejects(e.embedQuery('x'), 'BAD_FILE', /./);
  assert.is(a.reads(), 1, 'BAD_FILE is marked not retryable');

  const b = countingSource(garbage);
  const failures: unknown[] = [];
  const retrying = new InstructorEmbeddings({ model: b.source as never, maxRetries: 1, onFailedAttempt: (err) => { failures.push(err); } });
  await rejects(retrying.embedDocuments(['x']), 'BAD_FILE', /./);
  assert.is(b.reads(), 2, 'maxRetries: 1 with a handler that retries everything: two loads');
  assert.is(failures.length, 2);
  assert.ok(failures.every((f) => f instanceof InstructorError));
});

test('the model loads lazily, once per source, shared by embedders and concurrent first calls; dispose', async () => {
  const bytes = synthTextWeights('tiny', 'fp32');
  const c = countingSource(bytes);
  const a = new InstructorEmbeddings({ model: c.source as never });
  const b = new InstructorEmbeddings({ model: c.source as never, documentInstruction: DOC });
  assert.is(c.reads(), 0, 'nothing loaded by the constructor');
  const [qa, qb, da] = await Promise.all([a.embedQuery(QUERY_TEXT), b.embedQuery(QUERY_TEXT), a.embedDocuments(['one', 'two'])]);
  assert.is(c.reads(), 1, 'one load for three concurrent first calls of two embedders');
  sameBits(f32(qa), f32(qb), 'same model, same query instruction');
  sameBits(f32(da[0]), await tiny.encodeOne([DOCUMENT_INSTRUCTION, 'one']), 'the shared model is the tiny model');
  const other = new InstructorEmbeddings({ model: c.source as never, verify: false });
  await other.embedQuery('x');
  assert.is(c.reads(), 2, 'other load options, another model');
  other.dispose();

  a.dispose();
  await rejects(a.embedQuery('x'), 'DISPOSED', /disposed/);
  a.dispose(); // idempotent
  await b.embedQuery('still loaded for b');
  assert.is(c.reads(), 2);
  b.dispose();
  const again = new InstructorEmbeddings({ model: c.source as never });
  await again.embedQuery('x');
  assert.is(c.reads(), 3, 'the last holder disposed it: a new embedder loads again');
  again.dispose();

  const given = new InstructorEmbeddings({ model: tiny });
  given.dispose();
  assert.is(tiny.disposed, false, 'a loaded Instructor passed in stays the caller\'s');
});

test('a failed load is forgotten: the next call loads again', async () => {
  const bytes = synthTextWeights('tiny', 'fp32');
  let reads = 0;
  const flaky = { arrayBuffer: async () => { if (reads++ === 0) throw new Error('transient read failure'); return bytes.slice().buffer; } };
  const e = new InstructorEmbeddings({ model: flaky as never, maxRetries: 0 });
  await e.embedQuery('x').then(() => assert.unreachable('first load fails'), (err: Error) => assert.match(err.message, /transient/));
  sameBits(f32(await e.embedQuery('x')), await tiny.encodeOne([QUERY_INSTRUCTION, 'x']), 'second call');
  assert.is(reads, 2);
  e.dispose();
});

// A user without network (or with the hub unreachable) who names a hub id: a typed error at once,
// not LangChain's six retries of a download that cannot start (about 90 s before). In a child
// process with the environment a user would set; requests counted on the way out.
test('offline, an uncached hub id fails at once with OFFLINE, one request, not retried: HF_ENDPOINT at a closed port, and HF_HUB_OFFLINE', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r)); // nothing listens there now: connections are refused
  const cache = mkdtempSync(join(tmpdir(), 'iw-langchain-offline-'));
  const script = `
    import { InstructorEmbeddings } from ${JSON.stringify(fileURLToPath(new URL('../src/adapters/langchain.js', import.meta.url)))};
    import { getRetryable } from '@langchain/core/errors';
    let requests = 0;
    const counting = (input, init) => { requests++; return fetch(input, init); };
    const e = new InstructorEmbeddings({ model: 'hkunlp/instructor-base', hub: { fetch: counting } });
    try { await e.embedQuery('where is the food stored in a yam plant'); console.log(JSON.stringify({ ok: true })); }
    catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message, retryable: getRetryable(err) ?? null, requests })); }
  `;
  const base: NodeJS.ProcessEnv = { ...process.env, HF_HOME: cache, HF_HUB_CACHE: join(cache, 'hub') };
  delete base.HF_ENDPOINT;
  delete base.HF_HUB_OFFLINE;
  try {
    for (const [how, env, requests] of [
      ['HF_ENDPOINT at a closed port', { HF_ENDPOINT: `http://127.0.0.1:${port}` }, 1],
      ['HF_HUB_OFFLINE=1', { HF_HUB_OFFLINE: '1' }, 0],
    ] as const) {
      // a generous watchdog only: the old adapter took about 90 s here
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('../../', import.meta.url)), encoding: 'utf8', timeout: 60_000,
        env: { ...base, ...env },
      });
      assert.is(r.status, 0, `${how}: ${r.error ?? ''} ${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.is(out.code, 'OFFLINE', `${how}: ${JSON.stringify(out)}`);
      assert.match(out.message, /config\.json of hkunlp\/instructor-base@main is not in the cache/, how);
      assert.is(out.retryable, false, `${how}: marked not retryable for LangChain's AsyncCaller`);
      assert.is(out.requests, requests, `${how}: requests to the hub`);
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('bad input: typed errors', async () => {
  throwsCode(() => new InstructorEmbeddings({ model: 42 as never }), 'BAD_INPUT', /model must be/);
  throwsCode(() => new InstructorEmbeddings({ model: '' }), 'BAD_INPUT', /empty string/);
  throwsCode(() => new InstructorEmbeddings(undefined as never), 'BAD_INPUT', /options object/);
  throwsCode(() => new InstructorEmbeddings({ model: tiny, documentInstruction: 5 as never }), 'BAD_INPUT', /documentInstruction must be a string, got number/);
  throwsCode(() => new InstructorEmbeddings({ model: tiny, dtype: 'int3' as never }), 'BAD_INPUT', /dtype/);
  throwsCode(() => new InstructorEmbeddings({ model: tiny, threads: 0 }), 'BAD_INPUT', /threads/);
  const e = new InstructorEmbeddings({ model: tiny, maxRetries: 0 });
  await rejects(e.embedDocuments('text' as never), 'BAD_INPUT', /expected an array of strings, got string/);
  await rejects(e.embedDocuments(['ok', 3 as never]), 'BAD_INPUT', /text 1 is number/);
  await rejects(e.embedQuery(null as never), 'BAD_INPUT', /expected a string, got null/);
  await rejects(new InstructorEmbeddings({ model: tiny, batchSize: 0, maxRetries: 0 }).embedQuery('x'), 'BAD_INPUT', /batchSize/);
});

test.run();
