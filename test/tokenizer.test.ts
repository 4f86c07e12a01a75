// T5Tokenizer against the Rust `tokenizers` golden (test/golden/golden-tokenizer.json.gz).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InstructorError } from '../src/errors.js';
import { CHARS_PER_TOKEN, PrecompiledCharsmap, T5Tokenizer } from '../src/text/tokenizer.js';
import { readGz } from './support/golden.js';

const readJson = (p: string) => JSON.parse(readFileSync(fileURLToPath(new URL('../../' + p, import.meta.url)), 'utf8')); // from dist/test/

interface GoldenString { text: string; ids: number[]; tokens: string[] }
const golden = readGz<{ strings: GoldenString[] }>('golden-tokenizer.json.gz');
const tokenizerJson = readJson('tokenizer/t5/tokenizer.json');
const tokenizerConfig = readJson('tokenizer/t5/tokenizer_config.json');
const tok = new T5Tokenizer(tokenizerJson, tokenizerConfig);

function throwsCode(fn: () => unknown, code: string, re?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, InstructorError);
    assert.is((e as InstructorError).code, code, (e as Error).message);
    if (re) assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected InstructorError ${code}`);
}

test('eosId is </s> = 1, pad 0, unk 2', () => {
  assert.is(tok.eosId, 1);
  assert.is(tok.padId, 0);
  assert.is(tok.unkId, 2);
  assert.is(tok.vocabSize, 32100);
});

test(`every golden string: ids and tokens as Rust tokenizers (${golden.strings.length} strings)`, () => {
  assert.ok(golden.strings.length >= 30);
  for (const s of golden.strings) {
    const label = JSON.stringify(s.text).slice(0, 60);
    const { ids, truncated } = tok.encode(s.text, 1_000_000);
    assert.equal(ids, s.ids, `ids of ${label}`);
    assert.is(truncated, 0);
    assert.equal(tok.encodeNoSpecial(s.text), s.ids.slice(0, -1), `encodeNoSpecial of ${label}`);
    assert.equal([...tok.tokenize(s.text), '</s>'], s.tokens, `tokens of ${label}`);
  }
});

test('the tokenizer also works without tokenizer_config.json', () => {
  const t = new T5Tokenizer(tokenizerJson);
  for (const s of golden.strings) assert.equal(t.encode(s.text, 1_000_000).ids, s.ids);
});

test('special tokens written in the text are recognised (as Rust does with add_special_tokens=False)', () => {
  assert.equal(tok.encodeNoSpecial('</s>'), [1]);
  assert.equal(tok.encodeNoSpecial('<extra_id_0>'), [32099]);
  assert.equal(tok.encodeNoSpecial(''), []);
});

test('truncation at 512 keeps </s> and reports the count', () => {
  const text = 'The history of natural language processing generally started in the 1950s. '.repeat(60);
  const all = tok.encodeNoSpecial(text);
  assert.ok(all.length > 600, `${all.length} tokens`);
  const { ids, truncated } = tok.encode(text, 512);
  assert.is(ids.length, 512);
  assert.is(ids[511], 1);
  assert.is(truncated, all.length - 511);
  assert.equal(ids.slice(0, 511), all.slice(0, 511));
  // exactly at the limit: nothing cut
  const fit = tok.encode(text, all.length + 1);
  assert.is(fit.truncated, 0);
  assert.equal(fit.ids, [...all, 1]);
  const one = tok.encode(text, all.length);
  assert.is(one.truncated, 1);
  // maxLength 1: only </s>
  assert.equal(tok.encode('hello', 1), { ids: [1], truncated: 1, cutChars: 0 });
  throwsCode(() => tok.encode('x', 0), 'BAD_INPUT', /maxLength/);
  throwsCode(() => tok.encode('x', 1.5), 'BAD_INPUT', /maxLength/);
});

test('long inputs: the work is bounded by maxLength, the ids are those of the whole text, the cut is reported', () => {
  let seed = 7;
  const letters = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % 26))).join('');
  const texts: Array<[string, string]> = [
    ['words', 'Ünïcödé — “quotes” and some words, 漢字かな. '.repeat(2000)],
    // whitespace-free runs of 100k characters: over 30k pieces in one word (the port's
    // push(...pieces) overflowed the stack past ~120k: 200k letters, a long CJK text)
    ['letters', letters(100_000)],
    ['digits', '1234567890'.repeat(10_000)],
    // 100k CJK characters: no T5 piece, one lattice node each, fused into one <unk> afterwards
    ['cjk', '的一是不了人我在有他这为之大来以个中上们'.repeat(5000)],
  ];
  for (const [what, text] of texts) {
    const r = tok.encode(text, 512);
    assert.ok(r.cutChars > 0 && text.length - r.cutChars <= 512 * CHARS_PER_TOKEN, `${what}: ${r.cutChars} characters cut of ${text.length}`);
    // the same ids as tokenizing everything (which the golden strings tie to Rust tokenizers)
    const all = tok.encodeNoSpecial(text);
    assert.equal(r.ids, [...all.slice(0, 511), 1], `${what}: ids`);
    assert.is(r.ids.length, what === 'cjk' ? all.length + 1 : 512, what);
    // truncated counts the tokens cut from the part tokenized: a lower bound of all.length - 511
    assert.ok(r.truncated <= Math.max(0, all.length - 511) && (what === 'cjk' || r.truncated > 0), `${what}: truncated ${r.truncated}`);
  }
  // at the limit nothing is cut; one past it, at the last word end inside it
  const words = 'ab '.repeat(12_000); // a space at index 512 * CHARS_PER_TOKEN (32768 = 3 * 10922 + 2)
  assert.is(tok.encode(words.slice(0, 512 * CHARS_PER_TOKEN), 512).cutChars, 0);
  assert.is(tok.encode(words, 512).cutChars, words.length - 512 * CHARS_PER_TOKEN, 'cut after the "ab" that ends at the limit');
  assert.is(tok.encode('ab' + words, 512).cutChars, words.length + 2 - (512 * CHARS_PER_TOKEN - 1), 'cut after the last "ab" before the limit');
  // 500k letters in one word, then 10 million characters: typed results, not a RangeError
  for (const n of [500_000, 10_000_000]) {
    const r = tok.encode('x'.repeat(n), 512);
    assert.is(r.ids.length, 512);
    assert.is(r.cutChars, n - 512 * CHARS_PER_TOKEN);
  }
});

test('encodeEnd (TEI\'s truncation_direction "left"): the last maxLength - 1 ids of the whole text, then </s>; bounded work from the start', () => {
  const text = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' '); // distinct tokens: start and end differ
  const all = tok.encodeNoSpecial(text);
  const end = tok.encodeEnd(text, 512);
  assert.equal(end.ids, [...all.slice(all.length - 511), 1]);
  assert.is(end.truncated, all.length - 511);
  assert.is(end.cutChars, 0);
  assert.equal(tok.encodeEnd('short text', 512), tok.encode('short text', 512), 'nothing to cut: as encode');
  // past maxLength * CHARS_PER_TOKEN characters the start is never tokenized, and the ids are still the whole text's last ones
  const long = Array.from({ length: 9000 }, (_, i) => `w${i}`).join(' ');
  assert.ok(long.length > 512 * CHARS_PER_TOKEN);
  const whole = tok.encodeNoSpecial(long);
  const cut = tok.encodeEnd(long, 512);
  assert.ok(cut.cutChars > 0 && cut.cutChars < long.length - 512 * CHARS_PER_TOKEN + 64, `cutChars ${cut.cutChars}`);
  assert.equal(cut.ids, [...whole.slice(whole.length - 511), 1]);
  assert.ok(cut.truncated > 0 && cut.truncated < whole.length - 511, 'a lower bound: only the tokenized part is counted');
  throwsCode(() => tok.encodeEnd('x', 0), 'BAD_INPUT', /maxLength/);
});

test('tokenSpans: the ids of encodeNoSpecial, each token with the span of the text it came from', () => {
  const texts = ['Hello world', '  leading and trailing  ', 'a  b   c', 'Caf\u00e9 na\u00efve \ufb01ne', 'full\uff37idth \uff21\uff22', 'non\u00a0breaking',
    'emoji \ud83d\ude00 here', 'CJK \u7684\u4e00\u662f mixed', 'line\r\nbreak\ttab', '</s> written', '', ' ', 'x'];
  for (const text of texts) {
    const spans = tok.tokenSpans(text);
    assert.equal(spans.map((t) => t.id), tok.encodeNoSpecial(text), `ids of ${JSON.stringify(text)}`);
    assert.equal(spans.map((t) => t.token), tok.tokenize(text), `tokens of ${JSON.stringify(text)}`);
    assert.ok(spans.every((t) => t.start !== null), `every span known for ${JSON.stringify(text)}: ${JSON.stringify(spans)}`);
    let last = 0;
    for (const t of spans) {
      assert.ok(t.start! >= Math.min(last, t.start!) && t.end! > t.start! && t.end! <= text.length && t.end! >= last, `${JSON.stringify(text)}: ${JSON.stringify(t)} after ${last}`);
      last = t.end!;
      // the span, tokenized alone, is the token (a word-initial token with its metaspace), unless unknown characters
      const alone = tok.tokenize(text.slice(t.start!, t.end!)).join('');
      if (t.id !== tok.unkId && t.token !== '\u2581') assert.ok(alone === t.token || alone === '\u2581' + t.token, `${JSON.stringify(text)}: ${JSON.stringify(t)} alone is ${alone}`);
    }
  }
  const [hello, world] = tok.tokenSpans('Hello world');
  assert.equal([hello.start, hello.end, world.start, world.end], [0, 5, 5, 11], 'a word\'s token spans its space (as Rust\'s offsets)');
});

test('decode: ids back to text as Rust decodes them (metaspace as space, the first dropped), special tokens skipped when asked', () => {
  const ids = tok.encode('Hello world, this is a test.', 512).ids;
  assert.is(tok.decode(ids, { skipSpecialTokens: true }), 'Hello world, this is a test.');
  assert.is(tok.decode(ids), 'Hello world, this is a test.</s>');
  assert.is(tok.decode([]), '');
  assert.is(tok.decode([1], { skipSpecialTokens: true }), '');
  throwsCode(() => tok.decode([5, 32100]), 'BAD_INPUT', /token 1 is 32100, expected an integer id in \[0, 32100\)/);
  throwsCode(() => tok.decode([5, 1.5]), 'BAD_INPUT', /token 1/);
});

test('precompiled charsmap: the Rust algorithm, not NFKC', () => {
  const cfg = tokenizerJson.normalizer.normalizers[0];
  assert.is(cfg.type, 'Precompiled');
  const map = new PrecompiledCharsmap(cfg.precompiled_charsmap);
  assert.is(map.normalize('ﬁne ＡＢＣ'), 'fine ABC');
  assert.is(map.normalize('a\u0007b'), 'ab'); // control characters are deleted
  assert.is(map.normalize('\u0000'), '\u0000'); // NUL stops the trie walk: kept
  // "\r\n" is one grapheme; its shortest matching prefix "\r" gives the replacement (one space)
  assert.is(map.normalize('a\r\nb'), 'a b');
  // Rust: a grapheme under 6 UTF-8 bytes takes the replacement of its shortest prefix key,
  // so a ligature followed by a combining mark becomes the ligature's replacement only.
  assert.is(map.normalize('\ufb01\u0301'), 'fi');
  // characters newer than the charsmap are left alone (NFKC would rewrite U+32FF to 令和)
  assert.is(map.normalize('\u32ff'), '\u32ff');
  assert.is('\u32ff'.normalize('NFKC'), '令和');
  assert.equal(tok.tokenize('\u32ff'), ['▁', '\u32ff']);
});

test('lone surrogates are read as U+FFFD', () => {
  assert.equal(tok.encodeNoSpecial('a\ud800b'), tok.encodeNoSpecial('a\ufffdb'));
  assert.equal(tok.encodeNoSpecial('a\udc00'), tok.encodeNoSpecial('a\ufffd'));
  assert.equal(tok.encodeNoSpecial('😀'), tok.encodeNoSpecial('\ud83d\ude00'));
});

test('the caller\'s tokenizer.json is not modified', () => {
  const before = JSON.stringify(tokenizerJson.pre_tokenizer);
  new T5Tokenizer(tokenizerJson);
  assert.is(JSON.stringify(tokenizerJson.pre_tokenizer), before);
});

test('legacy Metaspace (tokenizers < 0.14: WhitespaceSplit + add_prefix_space) tokenizes the same words', () => {
  const legacy = {
    ...tokenizerJson,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', add_prefix_space: true }],
    },
  };
  const t = new T5Tokenizer(legacy);
  for (const s of ['Hello world', 'Represent the Science title; Input: 3D ActionSLAM', 'a b c']) {
    assert.equal(t.encodeNoSpecial(s), tok.encodeNoSpecial(s), s);
  }
  assert.equal(t.tokenize('  Hello world  '), ['▁Hello', '▁world']); // no trailing "▁" word
});

test('foreign or broken tokenizer.json gives BAD_FILE', () => {
  throwsCode(() => new T5Tokenizer(null), 'BAD_FILE', /JSON object/);
  throwsCode(() => new T5Tokenizer([1, 2]), 'BAD_FILE', /JSON object/);
  throwsCode(() => new T5Tokenizer({ version: '1.0' }), 'BAD_FILE', /model/);
  throwsCode(() => new T5Tokenizer({ ...tokenizerJson, model: { type: 'BPE', vocab: {}, merges: [] } }), 'BAD_FILE', /Unigram/);
  throwsCode(() => new T5Tokenizer({ ...tokenizerJson, model: { ...tokenizerJson.model, vocab: [['a', 'b']] } }), 'BAD_FILE', /vocab\[0\]/);
  throwsCode(() => new T5Tokenizer({ ...tokenizerJson, model: { ...tokenizerJson.model, unk_id: 99999 } }), 'BAD_FILE', /unk_id/);
  throwsCode(() => new T5Tokenizer({ ...tokenizerJson, added_tokens: undefined }), 'BAD_FILE', /added_tokens/);
  throwsCode(() => new T5Tokenizer({ ...tokenizerJson, added_tokens: [{ id: 'x' }] }), 'BAD_FILE', /added_tokens\[0\]/);
  throwsCode(
    () => new T5Tokenizer({ ...tokenizerJson, normalizer: { type: 'Precompiled', precompiled_charsmap: 'AAAA' } }),
    'BAD_FILE', /precompiled_charsmap/,
  );
  throwsCode(
    () => new T5Tokenizer({ ...tokenizerJson, normalizer: { type: 'Precompiled', precompiled_charsmap: '@@@@' } }),
    'BAD_FILE', /base64/,
  );
  throwsCode(() => new T5Tokenizer(tokenizerJson, 'config'), 'BAD_FILE', /tokenizer_config/);
});

test('a tokenizer.json nested 1e5 deep, or holding a cycle, is BAD_FILE (the library walks its configs recursively)', () => {
  let normalizer: Record<string, unknown> = { type: 'Lowercase' };
  for (let i = 0; i < 100_000; i++) normalizer = { type: 'Sequence', normalizers: [normalizer] };
  throwsCode(() => new T5Tokenizer({ ...tokenizerJson, normalizer }), 'BAD_FILE', /tokenizer\.json: nests deeper than 64 levels/);
  const cyclic: Record<string, unknown> = { type: 'Sequence', pretokenizers: [] };
  (cyclic.pretokenizers as unknown[]).push(cyclic);
  throwsCode(() => new T5Tokenizer({ ...tokenizerJson, pre_tokenizer: cyclic }), 'BAD_FILE', /nests deeper than 64 levels \(or holds a cycle\)/);
  throwsCode(() => new T5Tokenizer(tokenizerJson, { nested: JSON.parse('['.repeat(100) + ']'.repeat(100)) }), 'BAD_FILE', /tokenizer_config\.json: nests deeper/);
});

test('non-string text gives BAD_INPUT', () => {
  throwsCode(() => tok.encodeNoSpecial(5 as unknown as string), 'BAD_INPUT', /expected a string/);
});

test.run();
