// A synth-v1 model (../shared/golden/README.md) as a complete, text-capable weights file: the
// tensors of SYNTH_CONFIGS[name] plus the package's T5 tokenizer, loaded as an Instructor.
import { readFileSync } from 'node:fs';
import { SYNTH_CONFIGS, toHfConfig, type T5Config } from '../../src/engine/config.js';
import { Instructor } from '../../src/text/instructor.js';
import { loadKernelsFromDisk } from '../../src/io/disk.js';
import { synthModel } from '../../src/format/synth.js';
import { encodeWeightsFile } from '../../src/format/weights-file.js';

const TOKENIZER_DIR = new URL('../../../tokenizer/t5/', import.meta.url); // from dist/test/support/

let tokenizerFiles: { tokenizer: unknown; tokenizer_config: unknown } | undefined;

/** The package's tokenizer.json and tokenizer_config.json, parsed (read once). */
export function t5TokenizerFiles(): { tokenizer: unknown; tokenizer_config: unknown } {
  tokenizerFiles ??= {
    tokenizer: JSON.parse(readFileSync(new URL('tokenizer.json', TOKENIZER_DIR), 'utf8')),
    tokenizer_config: JSON.parse(readFileSync(new URL('tokenizer_config.json', TOKENIZER_DIR), 'utf8')),
  };
  return tokenizerFiles;
}

/**
 * Smaller than tiny: one layer, one head of d_kv 16 (the int8 kernels need H x Dk to be a multiple
 * of 16). For tests whose cost is attention over many full-length inputs, not numerics.
 */
export const MICRO_CONFIG: T5Config & { denseOut: number } = { ...SYNTH_CONFIGS.tiny, numHeads: 1, dKv: 16, numLayers: 1, dFf: 32, denseOut: 16 };

/** Weights file bytes of a synth config (a name or MICRO_CONFIG) with the T5 tokenizer (`withTokenizer: false`: engine-level). */
export function synthTextWeights(name: string | (T5Config & { denseOut: number }), dtype: 'fp32' | 'int8' | 'int4', { withTokenizer = true } = {}): Uint8Array {
  const c = typeof name === 'string' ? SYNTH_CONFIGS[name] : name;
  if (!c) throw new Error(`no synth config "${name}"`);
  const model: Record<string, unknown> = {
    dense_out: c.denseOut,
    max_seq_length: 512,
    normalize: true,
    source: { kind: 'synth', name: typeof name === 'string' ? name : 'micro' },
  };
  if (withTokenizer) Object.assign(model, t5TokenizerFiles());
  return encodeWeightsFile({ config: toHfConfig(c), model, dtype }, synthModel(c, c.denseOut));
}

/** An Instructor on synth-v1 weights of `name` (e.g. 'tiny', 'large', or MICRO_CONFIG). */
export async function synthInstructor(name: string | (T5Config & { denseOut: number }), dtype: 'fp32' | 'int8'): Promise<Instructor> {
  return Instructor.fromWeightsFile(synthTextWeights(name, dtype), { kernels: await loadKernelsFromDisk() });
}
