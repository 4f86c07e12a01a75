// A synth-v1 model (test/golden/README.md) as a complete, text-capable weights file: the
// tensors of SYNTH_CONFIGS[name] plus the package's T5 tokenizer, loaded as an Instructor.
import { SYNTH_CONFIGS, toHfConfig } from '../../src/engine/config.js';
import { Instructor } from '../../src/text/instructor.js';
import { loadModelFile } from '../../src/io/disk.js';
import { synthModel } from '../../src/format/synth.js';
import { encodeWeightsFile } from '../../src/format/weights-file.js';
import { synthModelMeta, synthWeightsFile } from './synth-files.js';

export { t5TokenizerFiles } from './synth-files.js';

/** Weights file bytes of a synth config with the T5 tokenizer (`withTokenizer: false`: engine-level). In memory: for small configs. */
export function synthTextWeights(name: string, dtype: 'fp32' | 'int8' | 'int4', { withTokenizer = true } = {}): Uint8Array {
  const c = SYNTH_CONFIGS[name];
  if (!c) throw new Error(`no synth config "${name}"`);
  return encodeWeightsFile({ config: toHfConfig(c), model: synthModelMeta(name, withTokenizer), dtype }, synthModel(c, c.denseOut));
}

/** An Instructor on synth-v1 weights of `name` (e.g. 'tiny', 'large'), loaded from a streamed weights file. */
export async function synthInstructor(name: string, dtype: 'fp32' | 'int8', { threads = 1 }: { threads?: number | 'auto' } = {}): Promise<Instructor> {
  return Instructor.fromModel(await loadModelFile(await synthWeightsFile(name, dtype), { threads }));
}
