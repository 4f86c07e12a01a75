// `instructor-wasm synth`: a synth-v1 checkpoint folder, for offline tests and benchmarks.
import { readFile } from 'node:fs/promises';
import { parseT5Config, SYNTH_CONFIGS, type T5Config } from '../engine/config.js';
import { fail, InstructorError } from '../errors.js';
import { writeSynthCheckpoint } from '../format/synth-folder.js';
import { parseCommandArgs, say, seconds, throttled, UsageError, type Command } from './args.js';

const NAMES = Object.keys(SYNTH_CONFIGS);

export const synth: Command = {
  name: 'synth',
  summary: 'write an offline checkpoint folder with synthetic (untrained) weights',
  help: `Usage: instructor-wasm synth --config <${NAMES.join('|')}|FILE> --out DIR [--quiet]

Writes a synth-v1 checkpoint folder in the hkunlp layout (float32 model.safetensors, 2_Dense,
tokenizer files) that every reader takes for hkunlp/instructor-*: for offline tests, benchmarks
and trying the pipeline. The weights are synthetic and UNTRAINED: the pipeline is real, the
similarities and rankings it gives are not. Use a real checkpoint (a hub id) for meaning.

Options:
  --config NAME|FILE  the model's shape: tiny or tiny-gated (test sizes), base, large or xl (the
                      hkunlp sizes; xl writes about 5 GB), or a JSON file of Hugging Face
                      config.json keys plus "dense_out" (the embedding size)
  --out DIR           the folder to write (created if needed; its files are replaced)
  --quiet             no progress on stderr
  -h, --help          this text`,

  async run(argv) {
    const { values } = parseCommandArgs('synth', argv, { config: { type: 'string' }, out: { type: 'string' } });
    if (values.config === undefined || values.out === undefined) throw new UsageError('needs --config and --out', 'synth');
    const config = Object.prototype.hasOwnProperty.call(SYNTH_CONFIGS, values.config) ? values.config : await configFile(values.config);
    const quiet = values.quiet ?? false;
    const t0 = Date.now();
    const show = throttled(quiet);
    await writeSynthCheckpoint(config, values.out, {
      onProgress: (done, total, name) => show(`synth: ${done} / ${total} tensors (${name})`, done >= total),
    });
    say(quiet, `synth: wrote ${values.out} in ${seconds(t0)} (synthetic weights: untrained, for testing the pipeline)`);
  },
};

async function configFile(path: string): Promise<T5Config & { denseOut: number }> {
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new UsageError(`--config "${path}" is neither ${NAMES.join(', ')} nor an existing file`, 'synth');
    return fail('BAD_CONFIG', `--config ${path}: cannot read it: ${e.code ?? e.message}`);
  });
  return configFromJson(text, path);
}

/** A synth config file: config.json keys plus "dense_out". A UTF-8 byte-order mark is skipped, as JSON tools do. */
export function configFromJson(text: string, path: string): T5Config & { denseOut: number } {
  let j: unknown;
  try {
    j = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    return fail('BAD_CONFIG', `--config ${path}: not JSON (${(e as Error).message})`);
  }
  let c: T5Config;
  try {
    c = parseT5Config(j);
  } catch (e) {
    if (e instanceof InstructorError) throw new InstructorError(e.code, `--config ${path}: ${e.message}`);
    throw e;
  }
  const denseOut = (j as Record<string, unknown>).dense_out;
  if (typeof denseOut !== 'number' || !Number.isInteger(denseOut) || denseOut < 1) {
    fail('BAD_CONFIG', `--config ${path}: "dense_out" must be a positive integer, got ${JSON.stringify(denseOut)}`);
  }
  return { ...c, denseOut };
}
