// synth-v1 models (test/golden/README.md) as weights files on disk, written once per process and
// shared by every test file and benchmark that asks for the same one. Streamed: the writer holds one
// tensor at a time, and the loaders read the file straight into wasm memory, so even large fp32
// (1.34 GB) costs its wasm memory and one tensor, not three copies of the model in the JS heap.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { SYNTH_CONFIGS, toHfConfig } from '../../src/engine/config.js';
import { DENSE_WEIGHT, t5TensorShapes } from '../../src/engine/tensors.js';
import { synthModel } from '../../src/format/synth.js';
import { writeWeightsFile } from '../../src/format/weights-file-node.js';
import type { WeightsDtype } from '../../src/format/weights-file.js';

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

/** The `model` field of a synth weights file: with the T5 tokenizer (text in) or without (ids in). */
export function synthModelMeta(name: string, withTokenizer: boolean, config: { denseOut: number } | undefined = SYNTH_CONFIGS[name]): Record<string, unknown> {
  if (!config) throw new Error(`no synth config "${name}"`);
  const model: Record<string, unknown> = { dense_out: config.denseOut, max_seq_length: 512, normalize: true, source: { kind: 'synth', name } };
  return withTokenizer ? Object.assign(model, t5TokenizerFiles()) : model;
}

let dir: string | undefined;
const files = new Map<string, Promise<string>>();

/** The path of synth config `name` as a weights file of `dtype` (written on first use, removed at exit). */
export function synthWeightsFile(name: string, dtype: WeightsDtype, { withTokenizer = true } = {}): Promise<string> {
  const key = `${name}-${dtype}${withTokenizer ? '' : '-ids'}`;
  let file = files.get(key);
  if (!file) {
    if (dir === undefined) {
      const d = mkdtempSync(join(tmpdir(), 'instructor-wasm-synth-'));
      dir = d;
      process.once('exit', () => rmSync(d, { recursive: true, force: true }));
    }
    const c = SYNTH_CONFIGS[name];
    const path = join(dir, `${key}.iwt`);
    const layout = [...t5TensorShapes(c).map(([n, shape]) => ({ name: n, shape })), { name: DENSE_WEIGHT, shape: [c.denseOut, c.dModel] }];
    file = writeWeightsFile(path, { config: toHfConfig(c), model: synthModelMeta(name, withTokenizer), dtype, layout }, synthModel(c, c.denseOut)).then(() => path);
    files.set(key, file);
  }
  return file;
}
