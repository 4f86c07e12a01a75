// A synth-v1 model (test/golden/README.md) as a complete, text-capable weights file: the
// tensors of SYNTH_CONFIGS[name] plus the package's T5 tokenizer, loaded as an Instructor.
import { SYNTH_CONFIGS, toHfConfig, type T5Config } from '../../src/engine/config.js';
import { Instructor } from '../../src/text/instructor.js';
import { loadKernelsFromDisk, loadModelFile } from '../../src/io/disk.js';
import { synthModel } from '../../src/format/synth.js';
import { encodeWeightsFile } from '../../src/format/weights-file.js';
import { synthModelMeta, synthWeightsFile } from './synth-files.js';

export { t5TokenizerFiles } from './synth-files.js';

/**
 * Smaller than tiny: one layer, one head of d_kv 16 (the int8 kernels need H x Dk to be a multiple
 * of 16). For tests whose cost is attention over many full-length inputs, not numerics.
 */
export const MICRO_CONFIG: T5Config & { denseOut: number } = { ...SYNTH_CONFIGS.tiny, numHeads: 1, dKv: 16, numLayers: 1, dFf: 32, denseOut: 16 };

/**
 * Weights file bytes of a synth config (a name or MICRO_CONFIG) with the T5 tokenizer
 * (`withTokenizer: false`: engine-level). In memory: for small configs.
 */
export function synthTextWeights(name: string | (T5Config & { denseOut: number }), dtype: 'fp32' | 'int8' | 'int4', { withTokenizer = true } = {}): Uint8Array {
  const c = typeof name === 'string' ? SYNTH_CONFIGS[name] : name;
  if (!c) throw new Error(`no synth config "${name}"`);
  const model = synthModelMeta(typeof name === 'string' ? name : 'micro', withTokenizer, c);
  return encodeWeightsFile({ config: toHfConfig(c), model, dtype }, synthModel(c, c.denseOut));
}

/**
 * An Instructor on synth-v1 weights of `name` (e.g. 'tiny', 'large': from a streamed weights file)
 * or of a config such as MICRO_CONFIG (built in memory).
 */
export async function synthInstructor(name: string | (T5Config & { denseOut: number }), dtype: 'fp32' | 'int8', { threads = 1 }: { threads?: number | 'auto' } = {}): Promise<Instructor> {
  if (typeof name !== 'string') return Instructor.fromWeightsFile(synthTextWeights(name, dtype), { kernels: await loadKernelsFromDisk(), threads });
  return Instructor.fromModel(await loadModelFile(await synthWeightsFile(name, dtype), { threads }));
}
