/**
 * The T5 SentencePiece (Unigram) tokenizer of INSTRUCTOR, built on `@huggingface/tokenizers`
 * (a pure JavaScript port of the Rust `tokenizers` library) with the fixes needed to give the
 * Rust library's ids exactly. No Node built-ins: runs in browsers and Workers.
 *
 * Where the JavaScript port differs from Rust `tokenizers` (the reference), and what we do:
 *
 * 1. `Precompiled` normalizer. The port does not read `precompiled_charsmap` at all: it strips a
 *    fixed set of control characters, maps a fixed set of spaces to U+0020 and applies NFKC.
 *    SentencePiece's charsmap (nmt_nfkc) is not NFKC: it has its own table, and Rust applies it
 *    per extended grapheme cluster with a "shortest matching prefix wins" rule (see
 *    `tokenizers/src/normalizers/precompiled.rs` and `spm_precompiled`). Examples where NFKC and
 *    the charsmap disagree: U+00A0 inside words, U+FF5E, graphemes like "fi" ligature + combining
 *    mark (Rust keeps only the ligature's replacement), "\r\n" (one grapheme: replaced by " "),
 *    characters the charsmap deletes but NFKC keeps and vice versa. We decode the charsmap (a
 *    darts-clone double-array trie plus a NUL-separated replacement blob) and run exactly the
 *    Rust algorithm; the port's approximation is never used.
 * 2. Unigram score of the `<unk>` *vocabulary piece*. The port overwrites the score of the
 *    `<unk>` piece (id 2, score 0 in tokenizer.json) with the unknown-character penalty
 *    (min score - 10); Rust keeps the vocabulary score. This matters when normalised text spells
 *    `<unk>` (e.g. full-width "＜unk＞"). We restore the vocabulary score.
 * 3. Metaspace `split: true`. The port does not split pre-tokens at "▁"; Rust runs the Unigram
 *    lattice (and unknown-token fusion) per "▁"-word. We split the port's pre-tokens before every
 *    "▁" (Rust's MergedWithNext), which makes lattices and unk fusion per word as in Rust.
 *    (For the T5 vocabulary no piece has an inner "▁", so the lattice result was already equal;
 *    splitting also keeps lattices small on long inputs.)
 * 4. Metaspace written by tokenizers < 0.14 (`add_prefix_space` without `prepend_scheme`): we
 *    translate it as Rust does (`true` -> "always", `false` -> "never"); the port would always
 *    prepend.
 * 5. Lone UTF-16 surrogates cannot exist in a Rust `String` (Python's reference raises). We
 *    replace them with U+FFFD first, as `TextEncoder` and every web API do.
 *
 * With these, every string of test/golden/golden-tokenizer.json.gz matches (ids and tokens).
 * Known residual risk: grapheme segmentation comes from `Intl.Segmenter` (ICU) whereas Rust uses
 * the `unicode-segmentation` crate; both implement UAX #29 but may be on different Unicode
 * versions. Runtimes without `Intl.Segmenter` use a built-in approximation (base + marks/ZWJ).
 */
import * as hf from '@huggingface/tokenizers';
import { describeValue, fail, positiveInteger } from '../errors.js';
import { MAX_JSON_DEPTH, nestsAtMost } from '../format/json.js';

// The package's .d.ts files use extension-less relative imports, which NodeNext resolution
// cannot follow (every export would be `any`), so we declare the small surface we use.
interface HfEncoding { ids: number[]; tokens: string[] }
interface HfPreTokenizer {
  pre_tokenize(text: string | string[], options?: unknown): string[];
}
interface HfTokenizer {
  normalizer: unknown;
  pre_tokenizer: HfPreTokenizer | null;
  model: { scores: number[] };
  encode(text: string, options: { add_special_tokens: boolean }): HfEncoding;
  decode(ids: number[], options: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean }): string;
  special_tokens: string[];
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Ctor<T> = abstract new (...args: any[]) => T;
const lib = hf as unknown as {
  Tokenizer: new (tokenizerJson: object, config: object) => HfTokenizer;
  Normalizer: Ctor<object>;
  PreTokenizer: Ctor<HfPreTokenizer>;
  SequenceNormalizer: new (config: object) => { normalize(text: string): string };
};

// ---------------------------------------------------------------------------------------------
// SentencePiece precompiled charsmap (exact port of Rust tokenizers' Precompiled normalizer)
// ---------------------------------------------------------------------------------------------

/** Standard base64 (with or without padding) to bytes, by the platform's atob; throws on a foreign character. */
function base64Decode(s: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(s);
  } catch (e) {
    throw new Error(`invalid base64: ${(e as Error).message}`);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Extended grapheme clusters (UAX #29), as Rust's `graphemes(true)`. */
type GraphemeSplitter = (s: string) => Iterable<string>;

function makeGraphemeSplitter(): GraphemeSplitter {
  const Seg = (globalThis as { Intl?: { Segmenter?: new (l?: string, o?: { granularity: string }) => { segment(s: string): Iterable<{ segment: string }> } } }).Intl?.Segmenter;
  if (typeof Seg === 'function') {
    const seg = new Seg(undefined, { granularity: 'grapheme' });
    // V8's segment iterator is quadratic in the string length, so segment a sliding window and
    // keep all but its last cluster (which may continue past the window); restarting at a
    // reported boundary gives the same clusters as segmenting the whole string.
    return function* (s: string) {
      const W = 256;
      let pos = 0;
      let w = W;
      while (pos < s.length) {
        const end = pos + w;
        const last = end >= s.length;
        const parts: string[] = [];
        for (const g of seg.segment(last ? s.slice(pos) : s.slice(pos, end))) parts.push(g.segment);
        if (last) {
          yield* parts;
          return;
        }
        if (parts.length < 2) {
          w *= 2; // one cluster longer than the window: widen it
          continue;
        }
        for (let i = 0; i < parts.length - 1; i++) {
          yield parts[i];
          pos += parts[i].length;
        }
        w = W;
      }
    };
  }
  // Approximation for runtimes without Intl.Segmenter: CR LF, a base followed by marks,
  // variation selectors, ZWJ sequences, emoji modifiers; Hangul and regional indicators are
  // left as single code points.
  const re = /\r\n|(?:[^\p{M}\u200d](?:[\p{M}\u{1f3fb}-\u{1f3ff}]|\u200d[^\p{M}\u200d])*)|[\p{M}\u200d]+/gsu;
  return (s: string) => s.match(re) ?? [];
}

export class PrecompiledCharsmap {
  private readonly trie: Uint32Array;
  private readonly blob: Uint8Array;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private readonly replacementAt = new Map<number, string>();
  private readonly cache = new Map<string, string | null>();
  private readonly split: GraphemeSplitter = makeGraphemeSplitter();

  /** `precompiled_charsmap` as stored in tokenizer.json (base64). Throws on a malformed map. */
  constructor(base64: string) {
    const bytes = base64Decode(base64);
    if (bytes.length < 4) throw new Error('precompiled_charsmap is shorter than its header');
    const trieSize = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
    if (trieSize % 4 !== 0 || trieSize === 0 || 4 + trieSize > bytes.length) {
      throw new Error(`precompiled_charsmap trie size ${trieSize} does not fit in ${bytes.length} bytes`);
    }
    const trie = new Uint32Array(trieSize / 4);
    for (let i = 0; i < trie.length; i++) {
      const o = 4 + 4 * i;
      trie[i] = (bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24)) >>> 0;
    }
    this.trie = trie;
    this.blob = bytes.slice(4 + trieSize);
    this.decoder.decode(this.blob); // Rust requires the replacement blob to be valid UTF-8
  }

  /**
   * darts-clone `commonPrefixSearch` over the UTF-8 bytes of `s`, returning the value of the
   * shortest key that is a prefix of `s` (Rust's `transform` takes `results[0]`), or -1.
   * Stops at a NUL byte, as Rust does.
   */
  private shortestPrefixValue(s: string): number {
    const a = this.trie;
    let pos = offset(a[0]);
    for (let i = 0; i < s.length; i++) {
      let cp = s.charCodeAt(i);
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
        const lo = s.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i++;
        }
      }
      // UTF-8 bytes of cp
      let n: number, b0: number;
      if (cp < 0x80) { n = 0; b0 = cp; }
      else if (cp < 0x800) { n = 1; b0 = 0xc0 | (cp >> 6); }
      else if (cp < 0x10000) { n = 2; b0 = 0xe0 | (cp >> 12); }
      else { n = 3; b0 = 0xf0 | (cp >> 18); }
      for (let k = 0; k <= n; k++) {
        const byte = k === 0 ? b0 : 0x80 | ((cp >> (6 * (n - k))) & 0x3f);
        if (byte === 0) return -1;
        pos ^= byte;
        if (pos >= a.length) return -1;
        const unit = a[pos];
        if ((unit & 0x800000ff) >>> 0 !== byte) return -1; // label
        pos ^= offset(unit);
        if ((unit >>> 8) & 1) {
          if (pos >= a.length) return -1;
          return a[pos] & 0x7fffffff; // value
        }
      }
    }
    return -1;
  }

  private replacement(index: number): string {
    let r = this.replacementAt.get(index);
    if (r === undefined) {
      let end = index;
      while (end < this.blob.length && this.blob[end] !== 0) end++;
      r = this.decoder.decode(this.blob.subarray(Math.min(index, this.blob.length), end));
      this.replacementAt.set(index, r);
    }
    return r;
  }

  /** Rust's `Precompiled::transform`: the replacement of `chunk`, or null to keep it. */
  transform(chunk: string): string | null {
    const v = this.shortestPrefixValue(chunk);
    return v < 0 ? null : this.replacement(v);
  }

  /** Exactly Rust tokenizers' `impl Normalizer for Precompiled`. */
  normalize(text: string): string {
    let out = '';
    for (const g of this.split(text)) out += this.normalizeGrapheme(g);
    return out;
  }

  private normalizeGrapheme(g: string): string {
    const hit = this.cache.get(g);
    if (hit !== undefined) return hit ?? g;
    let result: string;
    const whole = utf8Length(g) < 6 ? this.transform(g) : null;
    if (whole !== null) {
      result = whole;
    } else {
      result = '';
      for (const c of g) result += this.transform(c) ?? c;
    }
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(g, result === g ? null : result);
    return result;
  }
}

function offset(unit: number): number {
  return ((unit >>> 10) << ((unit & (1 << 9)) >>> 6)) >>> 0;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Normalizer / pre-tokenizer overrides for the JS port
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A normalizer tree where every `Precompiled` node runs our exact charsmap code. */
function buildNormalizer(cfg: Json): (s: string) => string {
  if (cfg.type === 'Sequence') {
    const parts = Array.isArray(cfg.normalizers) ? cfg.normalizers.filter(isObj).map(buildNormalizer) : [];
    return (s) => parts.reduce((t, f) => f(t), s);
  }
  if (cfg.type === 'Precompiled') {
    if (cfg.precompiled_charsmap === null || cfg.precompiled_charsmap === undefined) return (s) => s;
    if (typeof cfg.precompiled_charsmap !== 'string') throw new Error('precompiled_charsmap is not a base64 string');
    const map = new PrecompiledCharsmap(cfg.precompiled_charsmap);
    return (s) => map.normalize(s);
  }
  // Any other normalizer: the port's own implementation.
  const n = new lib.SequenceNormalizer({ type: 'Sequence', normalizers: [cfg] });
  return (s) => n.normalize(s);
}

class ExactNormalizer extends lib.Normalizer {
  private readonly fn: (s: string) => string;
  constructor(cfg: Json) {
    super(cfg);
    this.fn = buildNormalizer(cfg);
  }
  normalize(text: string): string {
    return this.fn(text);
  }
}

/** Splits the wrapped pre-tokenizer's pieces before every "▁" (Rust Metaspace split: true). */
class MetaspaceSplit extends lib.PreTokenizer {
  constructor(private readonly inner: HfPreTokenizer, private readonly replacement: string) {
    super();
  }
  pre_tokenize_text(text: string, options?: unknown): string[] {
    const pieces = this.inner.pre_tokenize(text, options);
    const out: string[] = [];
    const r = this.replacement;
    for (const p of pieces) {
      let start = 0;
      let i = p.indexOf(r, 1);
      while (i > 0) {
        out.push(p.slice(start, i));
        start = i;
        i = p.indexOf(r, i + r.length);
      }
      if (start < p.length) out.push(p.slice(start));
    }
    return out;
  }
}

/** Rewrites legacy Metaspace configs as Rust reads them; returns the last Metaspace (if any). */
function fixMetaspace(cfg: Json): Json | null {
  if (cfg.type === 'Metaspace') {
    if (cfg.prepend_scheme === undefined) cfg.prepend_scheme = cfg.add_prefix_space === false ? 'never' : 'always';
    return cfg;
  }
  if (cfg.type === 'Sequence' && Array.isArray(cfg.pretokenizers)) {
    let last: Json | null = null;
    for (const p of cfg.pretokenizers) if (isObj(p)) last = fixMetaspace(p) ?? last;
    const tail = cfg.pretokenizers[cfg.pretokenizers.length - 1];
    return isObj(tail) && tail.type === 'Metaspace' ? last : null;
  }
  return null;
}

/** The parts of the port's Unigram model that `linearUnigram` replaces. */
interface UnigramInternals {
  tokenize(word: string): string[];
  _call(words: string[]): string[];
  fuse_unk: boolean;
  tokens_to_ids: Map<string, number>;
}

/**
 * Replaces the two steps of the port's Unigram model whose cost grows faster than the input, with
 * the same results: its encode appends each word's pieces with push(...pieces), which overflows
 * the stack past ~120k pieces (200k letters without a space), and its fuse_unk grows the fused
 * <unk> string one piece at a time while hashing it at each step (quadratic: 2 s for a run of 32k
 * unknown characters, e.g. CJK, which T5 has no pieces for).
 */
function linearUnigram(model: UnigramInternals, unkId: number): void {
  const ids = model.tokens_to_ids;
  const isUnk = (piece: string) => (ids.get(piece) ?? unkId) === unkId;
  model._call = (words: string[]): string[] => {
    const pieces: string[] = [];
    for (const w of words) for (const piece of model.tokenize(w)) pieces.push(piece);
    if (!model.fuse_unk) return pieces;
    // Consecutive <unk> pieces become one; the port joins their text unless the first piece is the
    // literal <unk> token (its lookup test on the growing string stays false for every other start).
    const fused: string[] = [];
    for (let i = 0; i < pieces.length;) {
      const first = pieces[i++];
      if (!isUnk(first)) {
        fused.push(first);
        continue;
      }
      const run = [first];
      while (i < pieces.length && isUnk(pieces[i])) run.push(pieces[i++]);
      fused.push(ids.get(first) === unkId ? first : run.join(''));
    }
    return fused;
  };
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

// ---------------------------------------------------------------------------------------------
// T5Tokenizer
// ---------------------------------------------------------------------------------------------

export interface EncodeResult {
  /** Token ids, at most `maxLength`, always ending with `</s>`. */
  ids: number[];
  /**
   * How many tokens of the text were cut to fit `maxLength` (0 if none). When `cutChars` > 0 only
   * the tokenized part is counted: a lower bound.
   */
  truncated: number;
  /**
   * Characters (UTF-16 code units) at the end of the text that were never tokenized, because the
   * text is longer than `maxLength * CHARS_PER_TOKEN` (0 if none; see `T5Tokenizer.encode`).
   */
  cutChars: number;
}

/**
 * Characters (UTF-16 code units) of a text tokenized per token of `maxLength`: four times the
 * longest T5 piece (16 characters), so that a text is cut before tokenizing only far past what
 * its first `maxLength` tokens need (32768 characters for 512 tokens; the golden texts have at
 * most 4959).
 */
export const CHARS_PER_TOKEN = 64;

const GRAPHEME_EXTEND = /^[\p{M}\u200c\u200d\ufe00-\ufe0f\u{e0100}-\u{e01ef}\u{1f3fb}-\u{1f3ff}]/u;

/**
 * Where to cut a text longer than `limit`: after the last word (a space after a printable ASCII
 * character, where the normalizer and the pre-tokenizer split the same with or without what
 * follows) in the second half of [0, limit), else at `limit` moved back off a surrogate pair or
 * a combining mark.
 */
function cutPoint(text: string, limit: number): number {
  for (let i = limit; i > limit / 2; i--) {
    const before = text.charCodeAt(i - 1);
    if (text.charCodeAt(i) === 0x20 && before > 0x20 && before < 0x7f) return i;
  }
  let at = limit;
  for (let back = 0; back < 32 && at > 1; back++) {
    const c = text.charCodeAt(at);
    if ((c & 0xfc00) === 0xdc00 || GRAPHEME_EXTEND.test(text.slice(at, at + 2))) at--;
    else break;
  }
  return at;
}

/**
 * Where to start the end of a text kept by `encodeEnd` (the mirror of `cutPoint`): at the start of
 * a word (after a space that follows a printable ASCII character) in the first half of
 * [from, text.length), else at `from` moved forward off a surrogate pair or a combining mark.
 */
function startPoint(text: string, from: number): number {
  const stop = from + (text.length - from) / 2;
  for (let i = from; i < stop; i++) {
    const before = text.charCodeAt(i - 1);
    if (text.charCodeAt(i) === 0x20 && before > 0x20 && before < 0x7f) return i + 1;
  }
  let at = from;
  for (let ahead = 0; ahead < 32 && at < text.length - 1; ahead++) {
    const c = text.charCodeAt(at);
    if ((c & 0xfc00) === 0xdc00 || GRAPHEME_EXTEND.test(text.slice(at, at + 2))) at++;
    else break;
  }
  return at;
}

/** A token of `T5Tokenizer.tokenSpans`: its id and string, and the span of the text it came from (UTF-16 code units, end exclusive), or nulls. */
export interface TokenSpan {
  id: number;
  token: string;
  start: number | null;
  end: number | null;
}

export class T5Tokenizer {
  /** Id of `</s>`, appended to every sequence. */
  readonly eosId: number;
  /** Id of `<pad>` (0 for T5). */
  readonly padId: number;
  /** Id of `<unk>`. */
  readonly unkId: number;
  /** Vocabulary size of the model (without added tokens beyond it). */
  readonly vocabSize: number;
  /** The parsed `tokenizer_config.json` it was built with (special tokens, model_max_length...), if any. */
  readonly config: Readonly<Record<string, unknown>> | undefined;
  private readonly tok: HfTokenizer;
  private readonly graphemes: GraphemeSplitter = makeGraphemeSplitter();

  /**
   * @param tokenizerJson parsed `tokenizer.json` (a SentencePiece Unigram tokenizer, as T5's)
   * @param tokenizerConfig parsed `tokenizer_config.json` (optional)
   */
  constructor(tokenizerJson: unknown, tokenizerConfig?: unknown) {
    const j = validate(tokenizerJson);
    if (tokenizerConfig !== undefined && tokenizerConfig !== null && !isObj(tokenizerConfig)) {
      fail('BAD_FILE', `tokenizer_config.json: expected a JSON object, got ${Array.isArray(tokenizerConfig) ? 'an array' : typeof tokenizerConfig}`);
    }
    if (!nestsAtMost(tokenizerConfig, MAX_JSON_DEPTH)) fail('BAD_FILE', `tokenizer_config.json: nests deeper than ${MAX_JSON_DEPTH} levels (or holds a cycle)`);
    const model = j.model as Json;
    const vocab = model.vocab as [string, number][];
    const added = j.added_tokens as Json[];

    // Copies of the parts we rewrite (never mutate the caller's object).
    const preCfg = isObj(j.pre_tokenizer) ? (structuredCloneJson(j.pre_tokenizer) as Json) : null;
    const metaspace = preCfg ? fixMetaspace(preCfg) : null;
    const config: Json = { ...(isObj(tokenizerConfig) ? tokenizerConfig : {}) };
    // The port's own pre-normalisation options that Rust does not have.
    delete config.remove_space;
    delete config.do_lowercase_and_remove_accent;

    let tok: HfTokenizer;
    try {
      tok = new lib.Tokenizer({ ...j, pre_tokenizer: preCfg }, config);
      if (isObj(j.normalizer)) tok.normalizer = new ExactNormalizer(j.normalizer);
    } catch (e) {
      fail('BAD_FILE', `tokenizer.json: cannot build the tokenizer: ${(e as Error).message}`);
    }
    if (metaspace && metaspace.split !== false && tok.pre_tokenizer) {
      const r = typeof metaspace.replacement === 'string' && metaspace.replacement.length > 0 ? metaspace.replacement : '\u2581';
      tok.pre_tokenizer = new MetaspaceSplit(tok.pre_tokenizer, r);
    }
    const unkId = model.unk_id as number;
    tok.model.scores[unkId] = vocab[unkId][1]; // Rust keeps the vocabulary score of the <unk> piece
    linearUnigram(tok.model as unknown as UnigramInternals, unkId);

    const eos = added.find((t) => t.content === '</s>');
    const eosId = eos ? (eos.id as number) : tok.token_to_id('</s>');
    if (typeof eosId !== 'number') fail('BAD_FILE', 'tokenizer.json: no </s> token, expected the T5 end-of-sequence token');
    const pad = tok.token_to_id('<pad>');
    this.tok = tok;
    this.eosId = eosId;
    this.padId = typeof pad === 'number' ? pad : 0;
    this.unkId = unkId;
    this.vocabSize = vocab.length;
    this.config = isObj(tokenizerConfig) ? tokenizerConfig : undefined;
  }

  /** Ids of `text` without special tokens added (special tokens written in the text are kept). */
  encodeNoSpecial(text: string): number[] {
    return this.tok.encode(clean(text), { add_special_tokens: false }).ids;
  }

  /** Token strings of `text` without special tokens added (as Rust's `Encoding.tokens`). */
  tokenize(text: string): string[] {
    return this.tok.encode(clean(text), { add_special_tokens: false }).tokens;
  }

  /**
   * The reference's `tok(s)`: ids without special tokens, cut to `maxLength - 1`, then `</s>`.
   * `truncated` counts the tokens cut (callers report it: input is never lost silently).
   *
   * The work is bounded by `maxLength`: a text longer than `maxLength * CHARS_PER_TOKEN`
   * characters is cut to that length (at a word end where there is one) before tokenizing, and
   * `cutChars` says how much. The ids are still the reference's whenever its first `maxLength - 1`
   * tokens come from the kept part, which holds at least 4x what any maxLength - 1 pieces of the
   * T5 vocabulary spell; only text whose characters mostly vanish (runs of unknown characters
   * fused into one <unk>, characters the normalizer deletes) can need more.
   */
  encode(text: string, maxLength: number): EncodeResult {
    const limit = charsToTokenize(text, maxLength);
    let cutChars = 0;
    if (text.length > limit) {
      const at = cutPoint(text, limit);
      cutChars = text.length - at;
      text = text.slice(0, at);
    }
    const ids = this.encodeNoSpecial(text);
    const keep = maxLength - 1;
    const truncated = Math.max(0, ids.length - keep);
    if (truncated > 0) ids.length = keep;
    ids.push(this.eosId);
    return { ids, truncated, cutChars };
  }

  /**
   * Ids of the end of `text`: the reference's `tok(s)` cut on the left instead (its last
   * `maxLength - 1` ids without special tokens, then `</s>`), with `truncated` as in `encode`.
   * The work is bounded as in `encode`, from the other end: a text longer than
   * `maxLength * CHARS_PER_TOKEN` characters loses its start (at a word start where there is
   * one, so the words kept tokenize as in the whole text: the pre-tokenizer splits at spaces)
   * and `cutChars` counts the characters at the start never tokenized.
   */
  encodeEnd(text: string, maxLength: number): EncodeResult {
    const limit = charsToTokenize(text, maxLength);
    let cutChars = 0;
    if (text.length > limit) {
      cutChars = startPoint(text, text.length - limit);
      text = text.slice(cutChars);
    }
    let ids = this.encodeNoSpecial(text);
    const keep = maxLength - 1;
    const truncated = Math.max(0, ids.length - keep);
    if (truncated > 0) ids = ids.slice(truncated);
    ids.push(this.eosId);
    return { ids, truncated, cutChars };
  }

  /**
   * `text` as tokens (without special tokens), each with the span of `text` it came from in
   * UTF-16 code units (Rust's `Encoding.offsets`, which count bytes), or null spans throughout
   * when the spans cannot be told for certain.
   *
   * The spans come from walking the normalized text (each grapheme normalized on its own, as
   * the Precompiled normalizer does, then runs of spaces as one) along the token strings, a
   * space matching a "▁" and the prepended "▁" the first character; an `<unk>` covers the characters
   * up to where the next token starts. If that walk does not reproduce the normalizer's output
   * and every token exactly (a tokenizer whose normalizer does more), no span is given.
   */
  tokenSpans(text: string): TokenSpan[] {
    const cleaned = clean(text);
    const { ids, tokens } = this.tok.encode(cleaned, { add_special_tokens: false });
    const spans: TokenSpan[] = ids.map((id, k) => ({ id, token: tokens[k], start: null, end: null }));
    const normalizer = this.tok.normalizer as { normalize?: (s: string) => string } | null;
    const normalize = (s: string) => (typeof normalizer?.normalize === 'function' ? normalizer.normalize(s) : s);
    const seen = new Map<string, string>(); // graphemes repeat: each is normalized once
    const normalizeGrapheme = (g: string) => {
      let n = seen.get(g);
      if (n === undefined) seen.set(g, (n = normalize(g)));
      return n;
    };
    // the normalized text as code points, each with the span of the grapheme it came from
    const chars: string[] = [], from: number[] = [], to: number[] = [];
    let at = 0;
    for (const g of this.graphemes(cleaned)) {
      for (const c of normalizeGrapheme(g)) {
        if (c === ' ' && chars.length > 0 && chars[chars.length - 1] === ' ') {
          to[to.length - 1] = at + g.length; // a run of spaces is one space
        } else {
          chars.push(c);
          from.push(at);
          to.push(at + g.length);
        }
      }
      at += g.length;
    }
    if (chars.join('') !== normalize(cleaned)) return spans;
    const found: Array<[number, number] | null> = [];
    const META = '\u2581';
    let p = 0;
    for (let k = 0; k < tokens.length; k++) {
      let start = -1, end = -1;
      const take = () => {
        if (start < 0) start = from[p];
        end = to[p];
        p++;
      };
      if (ids[k] === this.unkId && tokens[k] !== chars.slice(p, p + [...tokens[k]].length).join('')) {
        // unknown characters, fused: up to the next token's first character (or the next word)
        const next = k + 1 < tokens.length ? [...tokens[k + 1]].find((c) => c !== META) : undefined;
        if (p < chars.length && chars[p] === ' ' && tokens[k].startsWith(META)) take();
        if (p >= chars.length) return spans;
        do take(); while (p < chars.length && chars[p] !== ' ' && chars[p] !== next);
      } else {
        for (const c of tokens[k]) {
          if (p < chars.length && (chars[p] === c || (c === META && chars[p] === ' '))) take();
          else if (c !== META || k > 0 || start >= 0) return spans; // only the first token's leading "▁" is prepended
          else if (p < chars.length) [start, end] = [from[p], to[p]]; // which Rust aligns with the first character
        }
      }
      found.push(start < 0 ? null : [start, end]);
    }
    if (p !== chars.length) return spans;
    for (let k = 0; k < spans.length; k++) {
      const f = found[k];
      if (f) [spans[k].start, spans[k].end] = f;
    }
    return spans;
  }

  /**
   * Text of token ids as Rust `tokenizers` decodes it (Metaspace: "▁" is a space, the first
   * one dropped; no clean-up of spaces around punctuation). `skipSpecialTokens` leaves out
   * `</s>`, `<pad>`, `<unk>` and the other special tokens. Ids must be in [0, vocabSize).
   */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        fail('BAD_INPUT', `token ${t} is ${describeValue(id)}, expected an integer id in [0, ${this.vocabSize})`);
      }
    }
    const skip = options.skipSpecialTokens ?? false;
    const kept = skip ? ids.filter((id) => !this.tok.special_tokens.includes(this.tok.id_to_token(id) ?? '')) : [...ids];
    if (kept.length === 0) return '';
    return this.tok.decode(kept, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** Id to token string (for debugging), or undefined. */
  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }
}

function clean(text: string): string {
  if (typeof text !== 'string') fail('BAD_INPUT', `text is ${text === null ? 'null' : typeof text}, expected a string`);
  return text.replace(LONE_SURROGATE, '\ufffd');
}

function structuredCloneJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}

/** Enough of tokenizer.json's shape to reject a foreign file with BAD_FILE. */
function validate(j: unknown): Json {
  const bad = (what: string): never => fail('BAD_FILE', `tokenizer.json: ${what}`);
  if (!isObj(j)) bad(`expected a JSON object, got ${Array.isArray(j) ? 'an array' : j === null ? 'null' : typeof j}`);
  const t = j as Json;
  // the library walks normalizer / pre_tokenizer / post_processor configs recursively
  if (!nestsAtMost(t, MAX_JSON_DEPTH)) bad(`nests deeper than ${MAX_JSON_DEPTH} levels (or holds a cycle)`);
  const model = t.model;
  if (!isObj(model)) bad('no "model" object, expected a Hugging Face tokenizers file');
  const m = model as Json;
  if (m.type !== 'Unigram' && !(m.type === undefined && Array.isArray(m.vocab))) {
    bad(`model type is ${describeValue(m.type)}, expected "Unigram" (the T5 SentencePiece model)`);
  }
  if (!Array.isArray(m.vocab) || m.vocab.length === 0) bad('model.vocab is not a non-empty array of [piece, score]');
  const vocab = m.vocab as unknown[];
  for (let i = 0; i < vocab.length; i++) {
    const e = vocab[i];
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number' || !Number.isFinite(e[1])) {
      bad(`model.vocab[${i}] is ${JSON.stringify(e)?.slice(0, 60)}, expected [piece: string, score: number]`);
    }
  }
  if (!Number.isInteger(m.unk_id) || (m.unk_id as number) < 0 || (m.unk_id as number) >= vocab.length) {
    bad(`model.unk_id is ${describeValue(m.unk_id)}, expected an index into the vocabulary (0..${vocab.length - 1})`);
  }
  if (m.byte_fallback === true) bad('model.byte_fallback is true, expected false (T5 has no byte fallback)');
  if (!Array.isArray(t.added_tokens)) bad('no "added_tokens" array');
  (t.added_tokens as unknown[]).forEach((a, i) => {
    if (!isObj(a) || typeof a.content !== 'string' || !Number.isInteger(a.id)) {
      bad(`added_tokens[${i}] is ${JSON.stringify(a)?.slice(0, 60)}, expected {id, content, ...}`);
    }
  });
  for (const key of ['normalizer', 'pre_tokenizer'] as const) {
    if (t[key] !== null && t[key] !== undefined && !isObj(t[key])) bad(`"${key}" is ${typeof t[key]}, expected an object or null`);
  }
  return t;
}

/** The characters of `text` that encode and encodeEnd tokenize at most, the arguments checked. */
function charsToTokenize(text: unknown, maxLength: number): number {
  positiveInteger(maxLength, 'maxLength');
  if (typeof text !== 'string') fail('BAD_INPUT', `text is ${describeValue(text)}, expected a string`);
  return maxLength * CHARS_PER_TOKEN;
}
