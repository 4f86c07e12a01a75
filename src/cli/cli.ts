// The `instructor-wasm` command: dispatches to the subcommands of COMMANDS. Results go to stdout
// or the file asked for, progress to stderr; every failure is one line on stderr,
// `instructor-wasm: error CODE: message`, and a non-zero exit (2 for a usage error, 1 otherwise).

import { InstructorError } from '../errors.js';
import { ClosedPipe, HelpRequested, packageVersion, UsageError, type Command } from './args.js';
import { convert } from './convert.js';
import { embed } from './embed.js';
import { worker } from './queue-commands.js';
import { serve } from './serve.js';
import { synth } from './synth.js';

/** Every subcommand, in the order the help lists them. A new one: its file, and one entry here. */
export const COMMANDS: readonly Command[] = [embed, serve, worker, convert, synth];

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `instructor-wasm ${packageVersion()}: INSTRUCTOR text embeddings in WebAssembly

Usage: instructor-wasm <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run instructor-wasm <command> --help for a command's options.

Options:
  -h, --help      this text
  --version       the version

Environment: HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE (the hub);
INSTRUCTOR_WASM_SIMD (simd128 or relaxed: the default of --simd; unset, simd128).

Examples:
  echo '["Represent the Science title:", "3D ActionSLAM"]' | instructor-wasm embed --model hkunlp/instructor-base
  instructor-wasm synth --config tiny --out ./tiny      # untrained synthetic weights, offline
  instructor-wasm embed --model ./tiny --input texts.jsonl --output out.jsonl`;
}

/** One line, whatever the message holds. */
const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').trim();

function report(e: unknown): number {
  if (e instanceof UsageError) {
    const help = e.command ? `instructor-wasm ${e.command} --help` : 'instructor-wasm --help';
    process.stderr.write(`instructor-wasm: error USAGE: ${oneLine(e.message)} (see ${help})\n`);
    return 2;
  }
  if (e instanceof InstructorError) {
    process.stderr.write(`instructor-wasm: error ${e.code}: ${oneLine(e.message)}\n`);
    return 1;
  }
  // A bug: still one line; the stack when asked for.
  const err = e as Error;
  const trace = process.env.INSTRUCTOR_WASM_TRACE ? `\n${err?.stack ?? ''}` : ' (INSTRUCTOR_WASM_TRACE=1 prints the stack)';
  process.stderr.write(`instructor-wasm: error INTERNAL: ${oneLine(`${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`)}${trace}\n`);
  return 1;
}

/** Runs the command line `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // A reader that goes away (`| head -n 1`) is not an error: writes see it as ClosedPipe. A closed
  // stderr only loses progress lines.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(globalHelp() + '\n');
    return 2;
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    const command = COMMANDS.find((c) => c.name === rest[0]);
    process.stdout.write((command ? command.help : globalHelp()) + '\n');
    return 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(packageVersion() + '\n');
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (!command) {
      throw new UsageError(name.startsWith('-')
        ? `unknown option ${name}`
        : `unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    }
    return (await command.run(rest)) ?? 0;
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(command!.help + '\n');
      return 0;
    }
    if (e instanceof ClosedPipe) return 0;
    return report(e);
  }
}
