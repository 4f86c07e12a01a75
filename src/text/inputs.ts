/**
 * INSTRUCTOR's input semantics (test/golden/README.md, "Reference semantics"): how an
 * input becomes token ids and `nInstr`, the number of leading positions that the mean pooling
 * skips. No Node built-ins.
 *
 *   plain   `text`                       ids = tok(strip(text))                         nInstr = 0
 *   pair    `[instruction, text]`        ids = tok(strip(strip(instruction) + strip(text)))
 *           `{instruction, text}`        nInstr = len(tok(strip(instruction))) - 1
 *   legacy  `[instruction, text, 0]`     ids = tok(strip(instruction + strip(text)))
 *                                        nInstr = len(tok(strip(instruction))) - 1, 0 if <= 1
 *
 * `strip` is Python's `str.strip()` (see `pyStrip`), `tok` is `T5Tokenizer.encode(s, maxSeqLength)`
 * (cut to maxSeqLength - 1 tokens, then `</s>`); the strings are joined with no space.
 *
 * Empty pooling window. Joining can merge the instruction's last token with the text's first
 * one (e.g. instruction "X" = [▁, X] and text "Y" may give [▁XY, </s>]), so `nInstr` can reach
 * or exceed the number of ids. The Python reference then zeroes every position of the mask, its
 * mean is 0 / clamp(0, min=1e-9) = a zero vector, Dense keeps it zero and F.normalize (eps
 * 1e-12) returns a zero embedding. We keep those semantics: `nInstr` is clamped to `ids.length`
 * (masking positions past the end changes nothing, and keeps `ids.length - nInstr >= 0` for
 * callers) and `emptyPool` is true, so callers can report the zero vector. Truncation alone never
 * empties the window: tok(instruction) has at most maxSeqLength - 1 tokens before `</s>`, so
 * nInstr <= maxSeqLength - 1 < ids.length whenever the joined text was truncated.
 */
import { describeThrown, describeValue, fail, InstructorError } from '../errors.js';
import type { T5Tokenizer } from './tokenizer.js';

export type EmbedInput = string | [string, string] | [string, string, 0] | { instruction: string; text: string };

export type InputMode = 'plain' | 'pair' | 'legacy';

/**
 * Which end of a text too long for max_seq_length is cut: its end (INSTRUCTOR's, the
 * reference's), or its start (TEI's `truncation_direction: "left"`: the instruction's tokens
 * stay, the text keeps its last tokens).
 */
export type TruncationSide = 'end' | 'start';

export interface PreparedInput {
  /** Token ids ending with `</s>`, at most maxSeqLength of them. */
  ids: Int32Array;
  /** Leading positions left out of the mean pooling (clamped to ids.length). */
  nInstr: number;
  /** Tokens of the (joined) text cut to fit maxSeqLength; 0 if none (a lower bound when cutChars > 0). */
  truncated: number;
  /** Characters at the end of the (joined) text never tokenized (see T5Tokenizer.encode); 0 if none. */
  cutChars: number;
  /** True when nInstr >= ids.length: the reference's pooled vector (and embedding) is all zeros. */
  emptyPool: boolean;
  mode: InputMode;
}

/**
 * Every code point for which CPython's `str.isspace()` is true (bidirectional class WS, B or S,
 * or general category Zs; Unicode 15/16, Python 3.8 to 3.14). Differs from JavaScript `\s` /
 * `trim()`: U+001C..U+001F and U+0085 are Python whitespace but not JS; U+FEFF is JS whitespace
 * but not Python's. U+180E (Mongolian vowel separator) and U+200B are neither.
 */
export const PY_WHITESPACE: readonly number[] = Object.freeze([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

const PY_WS_SET = new Set(PY_WHITESPACE);

/** CPython's `str.isspace()` for one code point. */
export function isPyWhitespace(codePoint: number): boolean {
  return PY_WS_SET.has(codePoint);
}

/** Python's `str.strip()` with no argument: removes `isspace()` characters at both ends. */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  // All Python whitespace is in the BMP, so UTF-16 code units suffice (surrogates never match).
  while (start < end && PY_WS_SET.has(s.charCodeAt(start))) start++;
  while (end > start && PY_WS_SET.has(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

const EXPECTED = 'expected a string, [instruction, text], [instruction, text, 0] or {instruction, text}';

/** An input's form and strings, checked (no tokenizer needed). */
export type InputForm = { mode: 'plain'; text: string } | { mode: 'pair' | 'legacy'; instruction: string; text: string };

/**
 * Checks that `input` is one of the accepted forms (BAD_INPUT naming `where` otherwise) and
 * returns its parts. Needs no tokenizer, so callers can check every input before loading a model.
 */
export function checkInputForm(input: unknown, where: string): InputForm {
  try {
    return readInputForm(input, where);
  } catch (e) {
    // a revoked proxy, a throwing getter or `has` trap: the input cannot even be looked at
    if (e instanceof InstructorError) throw e;
    return fail('BAD_INPUT', `${where}: reading it threw ${describeThrown(e)}; ${EXPECTED}`);
  }
}

function readInputForm(input: unknown, where: string): InputForm {
  if (typeof input === 'string') return { mode: 'plain', text: input };
  let instruction: unknown, text: unknown, mode: 'pair' | 'legacy';
  if (Array.isArray(input)) {
    if (input.length === 2) {
      [instruction, text] = input;
      mode = 'pair';
    } else if (input.length === 3) {
      [instruction, text] = input;
      if (input[2] !== 0) {
        fail('BAD_INPUT', `${where}: third element is ${describeValue(input[2], { withKind: true })}, expected the number 0 ([instruction, text, 0], the model card's legacy form)`);
      }
      mode = 'legacy';
    } else {
      fail('BAD_INPUT', `${where}: got ${describeValue(input, { withKind: true })}, ${EXPECTED} (an array must have 2 or 3 elements)`);
    }
  } else if (typeof input === 'object' && input !== null && !ArrayBuffer.isView(input)) {
    const o = input as Record<string, unknown>;
    if (!('text' in o)) fail('BAD_INPUT', `${where}: got ${describeValue(input, { withKind: true })} without "text", ${EXPECTED}`);
    if (!('instruction' in o)) fail('BAD_INPUT', `${where}: got ${describeValue(input, { withKind: true })} without "instruction", ${EXPECTED}`);
    instruction = o.instruction;
    text = o.text;
    mode = 'pair';
  } else {
    fail('BAD_INPUT', `${where}: got ${describeValue(input, { withKind: true })}, ${EXPECTED}`);
  }
  if (typeof instruction !== 'string') fail('BAD_INPUT', `${where}: instruction is ${describeValue(instruction, { withKind: true })}, expected a string`);
  if (typeof text !== 'string') fail('BAD_INPUT', `${where}: text is ${describeValue(text, { withKind: true })}, expected a string`);
  return { mode, instruction, text };
}

/**
 * Turns one `EmbedInput` into ids and nInstr exactly as the reference does.
 * @param index position of the input in the caller's batch (named in error messages)
 * @param maxSeqLength the model's max_seq_length (512 for the hkunlp models)
 */
export function prepareInput(tok: T5Tokenizer, input: unknown, index: number, maxSeqLength: number, cut: TruncationSide = 'end'): PreparedInput {
  if (!Number.isInteger(maxSeqLength) || maxSeqLength < 1) {
    fail('BAD_INPUT', `maxSeqLength is ${describeValue(maxSeqLength, { withKind: true })}, expected an integer >= 1`);
  }
  const form = checkInputForm(input, `input ${index}`);
  if (form.mode === 'plain') {
    const text = pyStrip(form.text);
    let encoded = tok.encode(text, maxSeqLength);
    if (cut === 'start' && (encoded.truncated > 0 || encoded.cutChars > 0)) encoded = tok.encodeEnd(text, maxSeqLength);
    const { ids, truncated, cutChars } = encoded;
    return { ids: Int32Array.from(ids), nInstr: 0, truncated, cutChars, emptyPool: false, mode: 'plain' };
  }
  const { mode, instruction, text } = form;
  const instr = pyStrip(instruction);
  const joined = mode === 'pair' ? pyStrip(instr + pyStrip(text)) : pyStrip(instruction + pyStrip(text));
  let { ids, truncated, cutChars } = tok.encode(joined, maxSeqLength);
  let nInstr = tok.encode(instr, maxSeqLength).ids.length - 1;
  if (mode === 'legacy' && nInstr <= 1) nInstr = 0;
  if (cut === 'start' && (truncated > 0 || cutChars > 0)) {
    // the instruction's tokens stay (the pooling skips them), the text loses its start instead of its end
    const end = tok.encodeEnd(joined, maxSeqLength - nInstr);
    ids = [...ids.slice(0, nInstr), ...end.ids];
    truncated = Math.max(0, end.truncated - nInstr);
    cutChars = end.cutChars;
  }
  const emptyPool = nInstr >= ids.length;
  if (emptyPool) nInstr = ids.length;
  return { ids: Int32Array.from(ids), nInstr, truncated, cutChars, emptyPool, mode };
}

/**
 * An input given as token ids of the model's tokenizer (OpenAI's `input: number[]`), without
 * `</s>`: cut to `maxSeqLength - 1` ids and `</s>` appended, as `tok` does for text, so the ids
 * of a text embed exactly as the text. No instruction (nInstr 0). Each id must be an integer in
 * [0, vocabSize); a bad one is a `BAD_INPUT` naming the input and position.
 */
export function prepareTokenIds(tok: Pick<T5Tokenizer, 'eosId' | 'vocabSize'>, ids: readonly unknown[], index: number, maxSeqLength: number, cut: TruncationSide = 'end'): PreparedInput {
  if (!Array.isArray(ids)) fail('BAD_INPUT', `input ${index}: got ${describeValue(ids, { withKind: true })}, expected an array of token ids`);
  const keep = Math.min(ids.length, maxSeqLength - 1);
  const first = cut === 'start' ? ids.length - keep : 0; // the ids kept: [first, first + keep)
  const out = new Int32Array(keep + 1);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= tok.vocabSize) {
      fail('BAD_INPUT', `input ${index}: token ${t} is ${describeValue(id, { withKind: true })}, expected an integer id in [0, ${tok.vocabSize})`);
    }
    if (t >= first && t < first + keep) out[t - first] = id;
  }
  out[keep] = tok.eosId;
  return { ids: out, nInstr: 0, truncated: ids.length - keep, cutChars: 0, emptyPool: false, mode: 'plain' };
}
