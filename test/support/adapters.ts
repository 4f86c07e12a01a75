// What the framework adapter tests share: the golden-text cases they embed through each
// framework, a guard against network use, and the checks that make those tests able to fail: an adapter that pools the instruction, skips the Dense layer
// or drops the instruction gives an embedding below FP32_MIN_COSINE of the reference.
import * as assert from 'uvu/assert';
import type { Instructor } from '../../src/text/instructor.js';
import { cosine, readGz, type GoldenTextFile } from './golden.js';
import { FP32_MIN_COSINE, GOLDEN_COSINE_SHIFT } from './tolerances.js';

export const golden = readGz<GoldenTextFile>('golden-text.json.gz');

/** The tiny synth model's float64 reference embedding of case `j`. */
export function reference(j: number): number[] {
  return golden.configs.tiny.float64[j];
}

/** The golden case of `mode` for `text` under `instruction` (a plain case ignores its instruction). */
export function caseOf(mode: 'pair' | 'plain', instruction: string, text: string): number {
  const j = golden.cases.findIndex((c) => c.mode === mode && c.text === text && (mode === 'plain' || c.instruction === instruction));
  if (j < 0) throw new Error(`golden-text has no ${mode} case ${JSON.stringify(instruction)} + ${JSON.stringify(text)}`);
  return j;
}

/** The texts of the pair cases with this instruction, with their case indices. */
export function pairCases(instruction: string): Array<{ j: number; text: string }> {
  const found = golden.cases.flatMap((c, j) => c.mode === 'pair' && c.instruction === instruction ? [{ j, text: c.text }] : []);
  if (found.length === 0) throw new Error(`golden-text has no pair case with ${JSON.stringify(instruction)}`);
  return found;
}

/**
 * Plain cases as a small corpus: short texts, distinct, none that a text splitter would reflow
 * (no tabs, newlines or runs of spaces). Embedded with the instruction '' they are plain inputs.
 */
export const corpus: Array<{ j: number; text: string }> = golden.cases.flatMap((c, j) =>
  c.mode === 'plain' && c.text.length > 0 && c.ids.length < 100 && !/\s\s|[\t\n\r]/.test(c.text) ? [{ j, text: c.text }] : []);

/**
 * Asserts `got` is case `j`'s reference embedding (tiny, fp32 threshold), and that the case can
 * tell a wrong embedder apart: with the instruction pooled in, `model` lands below the threshold.
 */
export async function assertGolden(model: Instructor, got: ArrayLike<number>, j: number, what: string): Promise<void> {
  const c = golden.cases[j];
  assert.is(got.length, reference(j).length, `${what}: dimension (the Dense layer's output)`);
  const cos = cosine(got, reference(j));
  assert.ok(cos >= FP32_MIN_COSINE, `${what} (golden case ${j}): cosine ${cos} < ${FP32_MIN_COSINE}`);
  if (c.mode === 'pair' && c.n_instr > 0) {
    const pooled = await model.encodeOne(c.instruction.trim() + c.text.trim()); // same ids, instruction in the mean
    const wrong = cosine(pooled, reference(j));
    assert.ok(wrong < FP32_MIN_COSINE, `golden case ${j} cannot tell a pooled instruction apart (cosine ${wrong})`);
  }
}

/** The corpus entries ranked by their reference cosine to the reference of case `query`, best first. */
export function goldenRanking(query: number, docs: Array<{ j: number; text: string }>): Array<{ j: number; text: string; score: number }> {
  return docs.map((d) => ({ ...d, score: cosine(reference(query), reference(d.j)) })).sort((a, b) => b.score - a.score);
}

/** Asserts the best of a golden ranking wins by more than float32 can move a cosine (else the check means nothing). */
export function assertClearWinner(ranking: Array<{ score: number }>): void {
  const gap = ranking[0].score - ranking[1].score;
  assert.ok(gap > GOLDEN_COSINE_SHIFT, `golden ranking gap ${gap} <= ${GOLDEN_COSINE_SHIFT}: the test could not tell the top two apart`);
}

/** Runs `fn` with `fetch` failing, so a test proves the framework path needs no network. */
export async function offline<T>(fn: () => Promise<T>): Promise<T> {
  const real = globalThis.fetch;
  globalThis.fetch = (async (input: unknown) => { throw new Error(`network used: ${String(input)}`); }) as typeof fetch;
  try {
    return await fn();
  } finally {
    globalThis.fetch = real;
  }
}
