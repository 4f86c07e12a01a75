// INSTRUCTOR input semantics against test/golden/golden-text.json.gz, Python's str.strip(),
// the empty-pooling edge case and bad inputs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InstructorError } from '../src/errors.js';
import { PY_WHITESPACE, isPyWhitespace, prepareInput, pyStrip } from '../src/text/inputs.js';
import { T5Tokenizer } from '../src/text/tokenizer.js';
import { readGz } from './support/golden.js';


interface TextCase { instruction: string; text: string; mode: 'pair' | 'legacy' | 'plain'; ids: number[]; n_instr: number }
const golden = readGz<{ max_seq_length: number; cases: TextCase[] }>('golden-text.json.gz');
const tok = new T5Tokenizer(JSON.parse(readFileSync(fileURLToPath(new URL('../../tokenizer/t5/tokenizer.json', import.meta.url)), 'utf8'))); // from dist/test/
const MAX = golden.max_seq_length;

/** `[c for c in range(0x110000) if chr(c).isspace()]` in CPython 3.8 to 3.14, written out. */
const PYTHON_ISSPACE = [
  0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
  0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029,
  0x202f, 0x205f, 0x3000,
];

function throwsBadInput(fn: () => unknown, index: number, re?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, InstructorError);
    assert.is((e as InstructorError).code, 'BAD_INPUT', (e as Error).message);
    assert.ok((e as Error).message.startsWith(`input ${index}: `), (e as Error).message);
    assert.match((e as Error).message, /expected/);
    if (re) assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('expected InstructorError BAD_INPUT');
}

test('golden file: max_seq_length 512, all three modes', () => {
  assert.is(MAX, 512);
  for (const m of ['pair', 'legacy', 'plain']) assert.ok(golden.cases.some((c) => c.mode === m), m);
});

test(`every golden text case: ids and n_instr exactly (${golden.cases.length} cases)`, () => {
  golden.cases.forEach((c, j) => {
    const forms: unknown[] = c.mode === 'plain'
      ? [c.text]
      : c.mode === 'pair'
        ? [[c.instruction, c.text], { instruction: c.instruction, text: c.text }]
        : [[c.instruction, c.text, 0]];
    for (const input of forms) {
      const r = prepareInput(tok, input, j, MAX);
      assert.instance(r.ids, Int32Array);
      assert.equal(Array.from(r.ids), c.ids, `case ${j} (${c.mode}) ids`);
      assert.is(r.nInstr, c.n_instr, `case ${j} (${c.mode}) n_instr`);
      assert.is(r.mode, c.mode);
      assert.is(r.emptyPool, false);
      assert.is(r.ids[r.ids.length - 1], 1);
    }
  });
});

test('truncation at 512 keeps </s> and reports the count', () => {
  const long = golden.cases.filter((c) => c.ids.length === 512);
  assert.ok(long.length >= 3, 'the golden set has truncated cases');
  for (const c of long) {
    const input = c.mode === 'plain' ? c.text : c.mode === 'pair' ? [c.instruction, c.text] : [c.instruction, c.text, 0];
    const r = prepareInput(tok, input, 0, MAX);
    assert.is(r.ids.length, 512);
    assert.is(r.ids[511], 1);
    assert.ok(r.truncated > 0);
    const joined = c.mode === 'plain' ? pyStrip(c.text)
      : c.mode === 'pair' ? pyStrip(pyStrip(c.instruction) + pyStrip(c.text)) : pyStrip(c.instruction + pyStrip(c.text));
    assert.is(r.truncated, tok.encodeNoSpecial(joined).length - 511);
  }
  // a short text is not truncated
  assert.is(prepareInput(tok, 'short', 0, MAX).truncated, 0);
  // an instruction longer than the window: n_instr = 511, pooling keeps only </s>
  const r = prepareInput(tok, ['Represent the query: '.repeat(200), 'text'], 0, MAX);
  assert.is(r.ids.length, 512);
  assert.is(r.nInstr, 511);
  assert.is(r.emptyPool, false);
});

test('cut "start" (TEI\'s truncation_direction "left"): the instruction\'s tokens stay, the text keeps its last tokens', () => {
  const text = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ');
  const instr = 'Represent the Science title:';
  const plain = prepareInput(tok, text, 0, MAX, 'start');
  const all = tok.encodeNoSpecial(text);
  assert.equal(Array.from(plain.ids), [...all.slice(all.length - (MAX - 1)), 1]);
  assert.is(plain.nInstr, 0);
  assert.is(plain.truncated, all.length - (MAX - 1));
  const pair = prepareInput(tok, [instr, text], 0, MAX, 'start');
  const joined = tok.encodeNoSpecial(instr + text);
  const nInstr = tok.encodeNoSpecial(instr).length;
  assert.is(pair.nInstr, nInstr);
  assert.equal(Array.from(pair.ids), [...joined.slice(0, nInstr), ...joined.slice(joined.length - (MAX - 1 - nInstr)), 1]);
  assert.is(pair.truncated, joined.length - (MAX - 1));
  assert.equal(prepareInput(tok, [instr, 'short'], 0, MAX, 'start'), prepareInput(tok, [instr, 'short'], 0, MAX), 'nothing to cut: as the end cut');
});

test('pyStrip strips exactly the characters of Python str.isspace()', () => {
  assert.equal([...PY_WHITESPACE], PYTHON_ISSPACE);
  const scanned: number[] = [];
  for (let cp = 0; cp < 0x110000; cp++) if (isPyWhitespace(cp)) scanned.push(cp);
  assert.equal(scanned, PYTHON_ISSPACE);
  for (const cp of PYTHON_ISSPACE) {
    const w = String.fromCodePoint(cp);
    assert.is(pyStrip(`${w}${w}a${w}b${w}`), `a${w}b`, `U+${cp.toString(16)}`);
    assert.is(pyStrip(w), '');
  }
  // Python whitespace that JS trim() keeps
  for (const cp of [0x1c, 0x1d, 0x1e, 0x1f, 0x85]) {
    const w = String.fromCodePoint(cp);
    assert.is(`${w}x`.trim(), `${w}x`);
    assert.is(pyStrip(`${w}x${w}`), 'x');
  }
  // JS whitespace (or look-alikes) that Python keeps
  for (const cp of [0xfeff, 0x200b, 0x180e, 0x00, 0x2060, 0x1f]) {
    if (cp === 0x1f) continue;
    const w = String.fromCodePoint(cp);
    assert.is(pyStrip(`${w}x${w}`), `${w}x${w}`, `U+${cp.toString(16)}`);
  }
  assert.is('\ufeffx'.trim(), 'x');
  assert.is(pyStrip(''), '');
  assert.is(pyStrip('  a  b  '), 'a  b');
  assert.is(pyStrip('😀 '), '😀');
});

test('strip semantics per mode: what is stripped and the no-space join', () => {
  // pair strips the instruction; legacy keeps its trailing space (joined with no space)
  const pair = prepareInput(tok, ['Represent:  ', '  text'], 0, MAX);
  const legacy = prepareInput(tok, ['Represent:  ', '  text', 0], 0, MAX);
  assert.equal(Array.from(pair.ids), [...tok.encodeNoSpecial('Represent:text'), 1]);
  assert.equal(Array.from(legacy.ids), [...tok.encodeNoSpecial('Represent:  text'), 1]);
  // Python strips \x1c, JS trim() would not
  const r = prepareInput(tok, '\x1chello\x1c', 0, MAX);
  assert.equal(Array.from(r.ids), [...tok.encodeNoSpecial('hello'), 1]);
});

test('legacy: n_instr of at most 1 becomes 0; pair keeps it', () => {
  // "Hello" is one token: n_instr = 1 -> legacy 0, pair 1
  assert.equal(tok.tokenize('Hello'), ['▁Hello']);
  assert.is(prepareInput(tok, ['Hello', ' house'], 0, MAX).nInstr, 1);
  assert.is(prepareInput(tok, ['Hello ', 'house', 0], 0, MAX).nInstr, 0);
  // "X" is two tokens [▁, X]: n_instr = 2 in both
  assert.is(prepareInput(tok, ['X', 'house', 0], 0, MAX).nInstr, 2);
  // empty instruction: 0 in both
  assert.is(prepareInput(tok, ['', 'house'], 0, MAX).nInstr, 0);
  assert.is(prepareInput(tok, ['  ', 'house', 0], 0, MAX).nInstr, 0);
});

test('empty text is valid: the reference embeds </s> alone', () => {
  assert.equal(Array.from(prepareInput(tok, '', 0, MAX).ids), [1]);
  assert.equal(Array.from(prepareInput(tok, '   ', 0, MAX).ids), [1]);
  const r = prepareInput(tok, { instruction: '', text: '' }, 0, MAX);
  assert.equal(Array.from(r.ids), [1]);
  assert.is(r.nInstr, 0);
  assert.is(r.emptyPool, false);
});

test('n_instr reaching the ids (tokens merged across the join): emptyPool, clamped', () => {
  // tok("t") = [▁, t] (n_instr 2) but tok("the") = [▁the] : the mean would be over no token;
  // the reference gives a zero vector (sum 0 / clamp(0, 1e-9)).
  assert.equal(tok.tokenize('t'), ['▁', 't']);
  assert.equal(tok.tokenize('the'), ['▁the']);
  for (const input of [['t', 'he'], ['t', 'he', 0], { instruction: 't', text: 'he' }]) {
    const r = prepareInput(tok, input, 0, MAX);
    assert.equal(Array.from(r.ids), [...tok.encodeNoSpecial('the'), 1]);
    assert.is(r.nInstr, 2);
    assert.is(r.emptyPool, true);
  }
  // not empty when one token is left
  const ok = prepareInput(tok, ['t', 'he cat'], 0, MAX);
  assert.is(ok.emptyPool, false);
});

test('bad inputs are BAD_INPUT naming the index, with got vs expected', () => {
  const cases: [unknown, RegExp][] = [
    [5, /got number 5/],
    [NaN, /got number NaN/],
    [null, /got null/],
    [undefined, /got undefined/],
    [true, /got boolean/],
    [{}, /without "text"/],
    [{ instruction: 'a' }, /without "text"/],
    [{ text: 'a' }, /without "instruction"/],
    [{ instruction: 'a', text: 5 }, /text is number 5/],
    [{ instruction: null, text: 'a' }, /instruction is null/],
    [[], /array of length 0/],
    [['a'], /array of length 1/],
    [['a', 'b', 0, 0], /array of length 4/],
    [['a', 'b', 1], /third element is number 1/],
    [['a', 'b', '0'], /third element is string "0"/],
    [['a', 'b', NaN], /third element is number NaN/],
    [['a', 'b', null], /third element is null/],
    [['a', 5], /text is number 5/],
    [[null, 'b'], /instruction is null/],
    [[['a'], 'b'], /instruction is an array/],
    [new String('x'), /got an object/],
    [new Uint8Array(2), /Uint8Array/],
    [Symbol('s'), /symbol/],
    [() => 'x', /function/],
  ];
  cases.forEach(([input, re], i) => throwsBadInput(() => prepareInput(tok, input, i + 3, MAX), i + 3, re));
});

test('bad maxSeqLength is BAD_INPUT', () => {
  for (const m of [0, -1, 1.5, NaN, '512']) {
    try {
      prepareInput(tok, 'x', 0, m as number);
      assert.unreachable('expected BAD_INPUT');
    } catch (e) {
      assert.instance(e, InstructorError);
      assert.is((e as InstructorError).code, 'BAD_INPUT');
      assert.match((e as Error).message, /maxSeqLength/);
    }
  }
});

test.run();
