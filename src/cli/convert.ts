// `instructor-wasm convert`: a checkpoint folder to the project's weights file.
import { convertCheckpoint } from '../format/convert-node.js';
import { dtypeOption, parseCommandArgs, say, seconds, throttled, UsageError, type Command } from './args.js';

export const convert: Command = {
  name: 'convert',
  summary: 'convert a checkpoint folder to a weights file (.iwt)',
  help: `Usage: instructor-wasm convert SRC --out FILE [--dtype int8|int4|fp32] [--quiet]

Converts the INSTRUCTOR checkpoint folder SRC (sentence-transformers layout: model.safetensors
or pytorch_model.bin, 2_Dense, tokenizer.json) to one weights file that loads in every runtime.
Streams: memory stays at about one tensor whatever the model size.

Options:
  --out FILE        the weights file to write (written under a temporary name, renamed when
                    complete; an existing regular file is replaced, anything else is refused)
  --dtype TYPE      int8 (default: per-row int8 matmul weights), int4 (4-bit groups of 32, for
                    128 MB Workers) or fp32
  --quiet           no progress on stderr
  -h, --help        this text`,

  async run(argv) {
    const { values, positionals } = parseCommandArgs('convert', argv,
      { out: { type: 'string' }, dtype: { type: 'string' } }, { min: 1, max: 1, names: 'SRC' });
    if (values.out === undefined) throw new UsageError('needs --out FILE', 'convert');
    const dtype = dtypeOption(values.dtype, 'convert') ?? 'int8';
    const quiet = values.quiet ?? false;
    const t0 = Date.now();
    const show = throttled(quiet);
    const r = await convertCheckpoint(positionals[0], values.out, {
      dtype, onProgress: (done, total, tensor) => show(`convert: ${done} / ${total} tensors (${tensor})`, done >= total),
    });
    say(quiet, `convert: ${r.tensors} tensors to ${values.out} in ${seconds(t0)}`);
  },
};
