// What every subcommand of the `instructor-wasm` command shares: the Command shape the registry
// in cli.ts lists, argument parsing whose every failure is one usage line, and progress lines on
// stderr. A subcommand is one file exporting a Command, plus its line in cli.ts's COMMANDS.

import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { fail } from '../errors.js';
import type { LoadEvent } from '../io/load-node.js';
import { SIMD_AUTO_REMOVED, SIMD_OPTIONS, type SimdOption } from '../engine/simd.js';
import { isWeightsDtype, type WeightsDtype } from '../engine/dtype.js';

export interface Command {
  /** The word after `instructor-wasm`. */
  name: string;
  /** One line for the global help. */
  summary: string;
  /** The full text of `instructor-wasm <name> --help`: usage lines first, then what it does and each option. */
  help: string;
  /** Runs the command on the arguments after its name; resolves to the exit code (0 when omitted). */
  run(argv: string[]): Promise<number | void>;
}

/** A mistake in how the command was called: one line on stderr and exit code 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

/** Thrown by parseCommandArgs for -h / --help: the dispatcher prints the command's help. */
export class HelpRequested extends Error {}

/** The reader of stdout went away (`... | head -n 1`): the command stops quietly, exit code 0. */
export class ClosedPipe extends Error {}

type Options = Record<string, { type: 'string' | 'boolean' }>;
/** The parsed values of `O`: strings for string options, booleans for flags, undefined when absent. */
export type Values<O extends Options> = { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string } & { quiet?: boolean };

/** Node's parseArgs messages, in one short line each. */
function usageMessage(e: Error & { code?: string }): string {
  const m = e.message;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${/'([^']+)'/.exec(m)?.[1] ?? m}`;
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument ${/'([^']*)'/.exec(m)?.[1] ?? m}`;
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const opt = /'(--?[\w-]+)/.exec(m)?.[1];
    if (/argument missing/.test(m)) return `${opt} needs a value`;
    if (/does not take an argument/.test(m)) return `${opt} takes no value`;
  }
  return m.split('\n')[0];
}

/**
 * parseArgs for `command` with `-h/--help` and `--quiet` added; throws HelpRequested for help and
 * a one-line UsageError for anything parseArgs refuses (unknown option, missing value, ...).
 */
export function parseCommandArgs<O extends Options>(
  command: string, argv: string[], options: O, positionals: { min: number; max: number; names: string } = { min: 0, max: 0, names: '' },
): { values: Values<O>; positionals: string[] } {
  const all: ParseArgsConfig['options'] = { ...options, help: { type: 'boolean', short: 'h' }, quiet: { type: 'boolean' } };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: all, allowPositionals: positionals.max > 0, strict: true });
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(usageMessage(e as Error), command);
    throw e;
  }
  if (parsed.values.help) throw new HelpRequested();
  const n = parsed.positionals.length;
  if (n < positionals.min || n > positionals.max) {
    throw new UsageError(n < positionals.min ? `needs ${positionals.names}` : `unexpected argument ${parsed.positionals[positionals.max]}`, command);
  }
  return { values: parsed.values as Values<O>, positionals: parsed.positionals };
}

/** The package version (package.json beside dist/). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') fail('BAD_FILE', 'package.json has no version');
  return pkg.version;
}

/** `--dtype`: undefined when not given (a weights file then loads as it is; a conversion uses int8). */
export function dtypeOption(v: string | undefined, command: string): WeightsDtype | undefined {
  if (v === undefined) return undefined;
  if (!isWeightsDtype(v)) throw new UsageError(`--dtype must be int8, int4 or fp32, got "${v}"`, command);
  return v;
}

/** A positive integer option. */
export function positiveIntOption(v: string | undefined, name: string, fallback: number, command: string, alternatives = ''): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer${alternatives}, got "${v}"`, command);
  return n;
}

/** Writes one line to stderr unless quiet (a closed stderr is ignored: see cli.ts). */
/** --simd, or INSTRUCTOR_WASM_SIMD when it is not given (docs/simd-builds.md); undefined: the default, simd128. */
export function simdOption(v: string | undefined, command: string): SimdOption | undefined {
  const value = v ?? (process.env.INSTRUCTOR_WASM_SIMD || undefined); // set but empty: unset
  if (value === 'auto') throw new UsageError(`--simd (or INSTRUCTOR_WASM_SIMD): ${SIMD_AUTO_REMOVED}`, command);
  if (value !== undefined && !(SIMD_OPTIONS as readonly string[]).includes(value)) {
    throw new UsageError(`--simd (or INSTRUCTOR_WASM_SIMD) must be simd128 (the default) or relaxed, got "${value}"`, command);
  }
  return value as SimdOption | undefined;
}

export function say(quiet: boolean, line: string): void {
  if (!quiet) process.stderr.write(line + '\n');
}

/** Prints at most two progress lines a second (always the last one). */
export function throttled(quiet: boolean): (line: string, final: boolean) => void {
  let last = 0;
  return (line, final) => {
    if (quiet) return;
    const now = Date.now();
    if (!final && now - last < 500) return;
    last = now;
    say(false, line);
  };
}

/** Progress of loadInstructor (download, convert, load) as stderr lines. */
export function loadProgress(quiet: boolean): (e: LoadEvent) => void {
  const show = throttled(quiet);
  return (e) => {
    if (e.phase === 'download') show(`download ${e.file}: ${(e.loaded / 2 ** 20).toFixed(1)} / ${(e.total / 2 ** 20).toFixed(1)} MiB`, e.loaded >= e.total);
    else if (e.phase === 'convert') show(`convert: ${e.done} / ${e.total} tensors (${e.tensor})`, e.done >= e.total);
    else show(`load ${e.source}`, true);
  };
}

export const seconds = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
