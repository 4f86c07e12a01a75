// The instructor-wasm command: synth -> convert -> embed, run as a user would (a child process),
// checked against the golden text embeddings of PyTorch + transformers; and its failures.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cosine, readGz } from './support/golden.js';
import { FP32_MIN_COSINE, TINY_INT8_MIN_COSINE } from './support/tolerances.js';

const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));

interface GoldenText {
  cases: Array<{ instruction: string; text: string; mode: 'pair' | 'legacy' | 'plain'; ids: number[] }>;
  configs: Record<string, { float64: number[][] }>;
}
const golden = readGz<GoldenText>('golden-text.json.gz');
const dir = mkdtempSync(join(tmpdir(), 'iw-cli-'));

function run(args: string[], input?: string | Uint8Array, env: Record<string, string> = {}, timeout = 120_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28, timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** As run, without blocking the event loop (for tests that serve HTTP to the child). */
function runAsync(args: string[], input: string, env: Record<string, string> = {}, cwd = process.cwd()): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

function jsonl(): string {
  return golden.cases.map((c) => JSON.stringify(
    c.mode === 'plain' ? c.text : c.mode === 'legacy' ? [c.instruction, c.text, 0] : [c.instruction, c.text],
  )).join('\n') + '\n';
}

test('synth, convert and embed reproduce the golden text embeddings (tiny, fp32 and int8)', () => {
  const folder = join(dir, 'tiny');
  let r = run(['synth', '--config', 'tiny', '--out', folder]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /synth: wrote/);
  for (const dtype of ['fp32', 'int8']) {
    const file = join(dir, `tiny.${dtype}.iwt`);
    r = run(['convert', folder, '--out', file, '--dtype', dtype]);
    assert.is(r.code, 0, r.stderr);
    writeFileSync(join(dir, 'in.jsonl'), jsonl());
    r = run(['embed', '--model', file, '--input', join(dir, 'in.jsonl'), '--batch-size', '7']);
    assert.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.is(lines.length, golden.cases.length);
    const min = dtype === 'fp32' ? FP32_MIN_COSINE : TINY_INT8_MIN_COSINE;
    lines.forEach((l, i) => {
      assert.is(l.index, i);
      const c = cosine(l.embedding, golden.configs.tiny.float64[i]);
      assert.ok(c >= min, `${dtype} case ${i} (${golden.cases[i].mode}): cosine ${c}`);
    });
  }
});

test('embed from a folder and stdin to a float32 .npy', () => {
  const out = join(dir, 'out.npy');
  const r = run(['embed', '--model', join(dir, 'tiny'), '--dtype', 'fp32', '--format', 'npy', '--output', out, '--quiet'], jsonl());
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /^(load|convert|embed):/m); // --quiet: no progress (truncation reports stay)
  const bytes = readFileSync(out);
  assert.equal([...bytes.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const headerLen = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLen).toString('latin1');
  assert.match(header, new RegExp(`'shape': \\(${golden.cases.length}, 24\\)`));
  assert.match(header, /'descr': '<f4'/);
  assert.is((10 + headerLen) % 64, 0);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + headerLen, bytes.byteOffset + bytes.length));
  assert.is(data.length, golden.cases.length * 24);
  for (let i = 0; i < golden.cases.length; i++) {
    assert.ok(cosine(data.subarray(i * 24, i * 24 + 24), golden.configs.tiny.float64[i]) >= FP32_MIN_COSINE, `case ${i}`);
  }
});

test('--instruction turns plain strings into pairs', () => {
  const c = golden.cases.findIndex((x) => x.mode === 'pair');
  const { instruction, text } = golden.cases[c];
  const r = run(['embed', '--model', join(dir, 'tiny.fp32.iwt'), '--instruction', instruction, '--quiet'], JSON.stringify(text) + '\n');
  assert.is(r.code, 0, r.stderr);
  const [line] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(cosine(line.embedding, golden.configs.tiny.float64[c]) >= FP32_MIN_COSINE);
});

test('--threads 2 gives the same embeddings as one thread', () => {
  const file = join(dir, 'tiny.int8.iwt');
  const one = run(['embed', '--model', file, '--quiet'], jsonl());
  const two = run(['embed', '--model', file, '--threads', '2', '--quiet'], jsonl());
  assert.is(one.code, 0, one.stderr);
  assert.is(two.code, 0, two.stderr);
  assert.is(two.stdout, one.stdout);
  const bad = run(['embed', '--model', file, '--threads', '0'], '"x"\n');
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /error USAGE: --threads must be a positive integer or auto, got "0"/);
});

test('long inputs are cut with a reported count', () => {
  const long = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ');
  const r = run(['embed', '--model', join(dir, 'tiny.int8.iwt')], JSON.stringify('short') + '\n\n' + JSON.stringify(long) + '\n');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /1 input\(s\) cut to 512 tokens: line \(tokens dropped\) 3 \(-\d+\)/); // the blank line counts
  assert.is(r.stdout.trim().split('\n').length, 2);
  // too long to tokenize whole: the characters never tokenized are reported too
  const huge = 'word '.repeat(10_000);
  const h = run(['embed', '--model', join(dir, 'tiny.int8.iwt')], JSON.stringify(huge) + '\n');
  assert.is(h.code, 0, h.stderr);
  assert.match(h.stderr, /1 input\(s\) cut to 512 tokens: line \(tokens dropped\) 1 \(-\d+, -\d+ chars\)/);
});

/** Asserts one error line `instructor-wasm: error CODE: ...` on stderr, no stack trace, and the exit code. */
function oneErrorLine(r: { code: number | null; stderr: string }, exit: number, pattern: RegExp, what: string): void {
  assert.is(r.code, exit, `${what}: ${r.stderr}`);
  assert.match(r.stderr, pattern, what);
  const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('instructor-wasm: error'));
  assert.is(errorLines.length, 1, `${what}: ${r.stderr}`);
  assert.not.match(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

test('failures are one clear line, the right code and a non-zero exit', () => {
  const file = join(dir, 'tiny.int8.iwt');
  const cases: Array<[string[], string | Uint8Array | undefined, number, RegExp]> = [
    [['embed', '--model', file], '"ok"\n{"text": \n', 1, /error BAD_INPUT: input line 2: not JSON/],
    [['embed', '--model', file], '"ok"\n\n[1, 2]\n', 1, /error BAD_INPUT: input line 3: instruction is number/],
    [['embed', '--model', file], '["a", "b", 1]\n', 1, /error BAD_INPUT: input line 1: third element/],
    [['embed', '--model', join(dir, 'absent.iwt')], '"x"\n', 1, /error NOT_FOUND: model source .*absent\.iwt: no such file or folder/],
    [['embed', '--model', join(dir, 'in.jsonl')], '"x"\n', 1, /error BAD_FILE: .*(not an instructor-wasm weights file|truncated)/],
    [['embed', '--model', join(dir, 'tiny', 'tokenizer.json')], '"x"\n', 1, /error BAD_FILE: .*not an instructor-wasm weights file: magic/],
    [['embed', '--model', file, '--input', join(dir, 'absent.jsonl')], undefined, 1, /error NOT_FOUND: --input .*absent\.jsonl/],
    [['embed', '--model', file], new Uint8Array([0x22, 0x78, 0x22, 0x0a, 0xff, 0x0a]), 1, /error BAD_INPUT: input line 2: not UTF-8/],
    // usage errors: one line, code USAGE, exit 2, whatever part of the line is wrong
    [['embed', '--model', file, '--dtype', 'int2'], '"x"\n', 2, /error USAGE: --dtype must be int8, int4 or fp32, got "int2" \(see instructor-wasm embed --help\)/],
    [['embed', '--model', file, '--batch-size', '0'], '"x"\n', 2, /error USAGE: --batch-size must be a positive integer/],
    [['embed', '--model', file, '--batch-size', '1.5'], '"x"\n', 2, /error USAGE: --batch-size must be a positive integer/],
    [['embed', '--model', file, '--format', 'csv'], '"x"\n', 2, /error USAGE: --format must be jsonl or npy/],
    [['embed', '--model'], undefined, 2, /error USAGE: --model needs a value/],
    [['embed', '--frob'], undefined, 2, /error USAGE: unknown option --frob/],
    [['embed', 'stray'], undefined, 2, /error USAGE: unexpected argument stray/],
    [['embed'], undefined, 2, /error USAGE: needs --model SRC/],
    [['convert', '--out', 'x.iwt'], undefined, 2, /error USAGE: needs SRC \(see instructor-wasm convert --help\)/],
    [['convert', join(dir, 'tiny')], undefined, 2, /error USAGE: needs --out FILE/],
    [['synth', '--config', 'huge', '--out', join(dir, 'x')], undefined, 2, /error USAGE: --config "huge" is neither tiny, .* nor an existing file/],
    [['frob'], undefined, 2, /error USAGE: unknown command "frob"/],
    [['--frob'], undefined, 2, /error USAGE: unknown option --frob/],
    [['convert', join(dir, 'absent'), '--out', join(dir, 'y.iwt')], undefined, 1, /error NOT_FOUND: convert source \S+absent: no such folder/],
    [['convert', join(dir, 'tiny.int8.iwt'), '--out', join(dir, 'y.iwt')], undefined, 1, /error BAD_INPUT: convert source \S+tiny\.int8\.iwt is a regular file, not a checkpoint folder/],
    [['convert', join(dir, 'empty-folder'), '--out', join(dir, 'y.iwt')], undefined, 1, /error BAD_CONFIG: .*neither modules\.json nor config\.json/],
    [['embed', '--model', 'hkunlp/instructor-tiny'], '"x"\n', 1, /error OFFLINE: .*not in the cache/],
  ];
  mkdirSync(join(dir, 'empty-folder'), { recursive: true });
  for (const [args, input, code, pattern] of cases) {
    const r = run(args, input, { HF_HUB_OFFLINE: '1', HF_HUB_CACHE: join(dir, 'empty-cache') });
    oneErrorLine(r, code, pattern, args.join(' '));
  }
});

// ---------------------------------------------------------------- a Unix tool

test('--version, per-command --help, and usage on stderr without arguments', () => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8'));
  const v = run(['--version']);
  assert.is(v.code, 0);
  assert.is(v.stdout, `${pkg.version}\n`);

  const help = run(['--help']);
  assert.is(help.code, 0);
  for (const c of ['embed', 'convert', 'synth']) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'));
  for (const [args, own, others] of [
    [['embed', '--help'], /^Usage: instructor-wasm embed --model SRC/, /Usage: instructor-wasm (synth|convert)/],
    [['convert', '-h'], /^Usage: instructor-wasm convert SRC --out FILE/, /Usage: instructor-wasm (synth|embed)/],
    [['synth', '--help'], /^Usage: instructor-wasm synth --config/, /Usage: instructor-wasm (embed|convert)/],
    [['help', 'embed'], /^Usage: instructor-wasm embed/, /Usage: instructor-wasm synth/],
  ] as Array<[string[], RegExp, RegExp]>) {
    const r = run(args);
    assert.is(r.code, 0, args.join(' '));
    assert.match(r.stdout, own, args.join(' '));
    assert.not.match(r.stdout, others, `${args.join(' ')} prints its own help only`);
    assert.is(r.stderr, '');
  }
  assert.match(run(['synth', '--help']).stdout, /UNTRAINED/); // synth weights say what they are

  const bare = run([]);
  assert.is(bare.code, 2);
  assert.is(bare.stdout, '');
  assert.match(bare.stderr, /^instructor-wasm .*\n\nUsage: instructor-wasm <command>/);
});

test('a closed pipe (embed ... | head -n 1) ends quietly with exit 0', () => {
  const lines = Array.from({ length: 4000 }, (_, i) => JSON.stringify(['Represent the sentence:', `text number ${i}`])).join('\n') + '\n';
  writeFileSync(join(dir, 'many.jsonl'), lines);
  const cmd = `"${process.execPath}" "${BIN}" embed --model "${join(dir, 'tiny.int8.iwt')}" --input "${join(dir, 'many.jsonl')}" --quiet | head -n 1; echo "status=\${PIPESTATUS[0]}" >&2`;
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.is(r.stdout.split('\n').length, 2, 'one line and its newline');
  assert.is(JSON.parse(r.stdout).index, 0);
  assert.is(r.stderr, 'status=0\n'); // nothing else on stderr: no EPIPE trace
});

/** A corpus long enough that embedding all of it takes seconds (tiny int8: about 12 s for 20000 here). */
function longInput(): string {
  const file = join(dir, 'long.jsonl');
  writeFileSync(file, Array.from({ length: 20000 }, (_, i) => JSON.stringify(['Represent the sentence:', `text number ${i}`])).join('\n') + '\n');
  return file;
}
/** The report line embed prints once every input is embedded (and only then). */
const SUMMARY = /^embed: \d+ inputs, \d+ tokens in /m;

test('embed writes each batch as it completes, in input order: `| head -n 1` ends it after a batch, exit 0, the rest never computed', () => {
  const input = longInput(), err = join(dir, 'head.err');
  const cmd = `"${process.execPath}" "${BIN}" embed --model "${join(dir, 'tiny.int8.iwt')}" --input "${input}" 2>"${err}" | head -n 1; echo "status=\${PIPESTATUS[0]}" >&2`;
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.is(r.stdout.split('\n').length, 2, 'one line and its newline');
  assert.is(JSON.parse(r.stdout).index, 0);
  assert.is(r.stderr, 'status=0\n');
  const log = readFileSync(err, 'utf8');
  assert.match(log, /^embed: kernels simd128$/m, log);
  // the output holds 7 MB that head never reads: the command can only have ended on the closed pipe
  assert.not.match(log, SUMMARY, `embed went on to the end: ${log}`);
  assert.not.match(log, /error/);
});

test('embed killed midway (SIGKILL) leaves every batch it finished on its pipe: whole lines, in input order, the bits of a full run', async () => {
  const input = longInput();
  const child = spawn(process.execPath, [BIN, 'embed', '--model', join(dir, 'tiny.int8.iwt'), '--input', input], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', log = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (log += d));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      if (out.split('\n').length > 100 && child.exitCode === null && !child.killed) {
        child.kill('SIGKILL'); // the pipe is full long before the end: it cannot have finished
        resolve();
      }
    });
    child.on('close', () => resolve());
  });
  await closed;
  assert.is(child.signalCode, 'SIGKILL', `embed ended by itself: ${log}`);
  assert.not.match(log, SUMMARY, `embed had embedded everything before its first line: ${log}`);
  const lines = out.split('\n').slice(0, -1); // the last piece may be a line cut by the kill
  assert.ok(lines.length >= 100, `${lines.length} lines`);
  lines.forEach((l, i) => assert.is((JSON.parse(l) as { index: number }).index, i));
  const first = readFileSync(input, 'utf8').split('\n').slice(0, lines.length).join('\n') + '\n';
  const full = run(['embed', '--model', join(dir, 'tiny.int8.iwt'), '--quiet'], first);
  assert.is(full.code, 0, full.stderr);
  assert.is(out.slice(0, out.lastIndexOf('\n') + 1), full.stdout, 'the lines kept are the full run\'s, bit for bit');
});

test('embed stopped by SIGTERM with --output FILE keeps what it finished in FILE.partial (JSON Lines, and a valid .npy of the rows done)', async () => {
  const input = longInput();
  for (const ext of ['jsonl', 'npy']) {
    const target = join(dir, `stopped.${ext}`);
    const child = spawn(process.execPath, [BIN, 'embed', '--model', join(dir, 'tiny.int8.iwt'), '--input', input, '--output', target], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (d) => {
        log += d;
        if (/^embed: \d+ \/ 20000$/m.test(log) && !child.killed) child.kill('SIGTERM'); // after its first batch
      });
      child.on('close', (c) => resolve(c));
    });
    assert.is(code, 1, log);
    const done = Number(/error ABORTED: interrupted by SIGTERM after (\d+) of 20000 inputs/.exec(log)?.[1]);
    assert.ok(done > 0 && done < 20000, log);
    assert.match(log, new RegExp(`the ${done} embeddings done \\(input lines 1-${done}\\) are in \\S+stopped\\.${ext}\\.partial`));
    assert.not.ok(existsSync(target), 'nothing at the final name: the output is not complete');
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
    const first = readFileSync(input, 'utf8').split('\n').slice(0, done).join('\n') + '\n';
    const full = spawnSync(process.execPath, [BIN, 'embed', '--model', join(dir, 'tiny.int8.iwt'), '--quiet', '--format', ext, '--output', join(dir, `full.${ext}`)], { input: first });
    assert.is(full.status, 0, String(full.stderr));
    assert.ok(readFileSync(`${target}.partial`).toString('base64') === readFileSync(join(dir, `full.${ext}`)).toString('base64'), `${ext}: the partial file is the full run of its ${done} inputs, byte for byte`);
  }
});

test('an unwritable --output / --out fails before any work, one line naming the path', () => {
  const file = join(dir, 'tiny.int8.iwt');
  writeFileSync(join(dir, 'ok.jsonl'), '"x"\n');
  mkdirSync(join(dir, 'a-folder'), { recursive: true });
  const fifo = join(dir, 'out.fifo');
  spawnSync('mkfifo', [fifo]);
  symlinkSync(join(dir, 'ok.jsonl'), join(dir, 'link.iwt'));
  const cases: Array<[string[], RegExp]> = [
    [['embed', '--model', file, '--input', join(dir, 'ok.jsonl'), '--output', join(dir, 'no-such-folder', 'o.jsonl')],
      /error BAD_OUTPUT: --output \S+no-such-folder\/o\.jsonl: folder \S+no-such-folder does not exist/],
    [['embed', '--model', file, '--input', join(dir, 'ok.jsonl'), '--output', join(dir, 'a-folder')], /error BAD_OUTPUT: --output \S+a-folder: is a folder/],
    [['embed', '--model', file, '--input', join(dir, 'ok.jsonl'), '--output', '/proc/no/o.jsonl'], /error BAD_OUTPUT: --output \/proc\/no\/o\.jsonl/],
    // under /proc a recursive mkdir never settles: these finish, with the path
    [['convert', join(dir, 'tiny'), '--out', '/proc/no/such/t.iwt'], /error BAD_OUTPUT: convert output \/proc\/no\/such\/t\.iwt: cannot create folder \/proc\/no: ENOENT/],
    [['synth', '--config', 'tiny', '--out', '/proc/no/such'], /error BAD_OUTPUT: synth output \/proc\/no\/such: cannot create folder \/proc\/no: ENOENT/],
    // never replaced by rename: a FIFO, a symbolic link, a folder
    [['convert', join(dir, 'tiny'), '--out', fifo], /error BAD_OUTPUT: convert output \S+out\.fifo: is a FIFO, not a regular file; refusing to replace it/],
    [['convert', join(dir, 'tiny'), '--out', join(dir, 'link.iwt')], /error BAD_OUTPUT: convert output \S+link\.iwt: is a symbolic link, not a regular file/],
    [['convert', join(dir, 'tiny'), '--out', join(dir, 'a-folder')], /error BAD_OUTPUT: convert output \S+a-folder: is a folder/],
    [['synth', '--config', 'tiny', '--out', join(dir, 'ok.jsonl')], /error BAD_OUTPUT: synth output \S+ok\.jsonl: \S+ok\.jsonl is a regular file, not a folder/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(args, undefined, {}, 20_000);
    oneErrorLine(r, 1, pattern, args.join(' '));
    assert.not.match(r.stderr, /^(load|convert|synth|embed):/m, `${args.join(' ')}: no work started`);
  }
  assert.ok(lstatSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
  assert.ok(lstatSync(join(dir, 'link.iwt')).isSymbolicLink(), 'the link is still a link');
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
});

test('--output: a file is written under a temporary name and renamed; a device such as /dev/null is written in place', () => {
  const out = join(dir, 'out.jsonl');
  writeFileSync(out, 'old\n');
  const r = run(['embed', '--model', join(dir, 'tiny.int8.iwt'), '--output', out, '--quiet'], '"x"\n"y"\n');
  assert.is(r.code, 0, r.stderr);
  assert.is(readFileSync(out, 'utf8').trim().split('\n').length, 2);
  const devnull = run(['embed', '--model', join(dir, 'tiny.int8.iwt'), '--output', '/dev/null', '--quiet'], '"x"\n');
  assert.is(devnull.code, 0, devnull.stderr);
  assert.ok(lstatSync('/dev/null').isCharacterDevice(), '/dev/null is still a device');
  // a failure after the output was reserved leaves the old file and no temporary one
  const failed = run(['embed', '--model', join(dir, 'tiny.int8.iwt'), '--output', out], '"x"\n[1]\n');
  assert.is(failed.code, 1);
  assert.is(readFileSync(out, 'utf8').trim().split('\n').length, 2);
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

test('input is checked before the model loads, by line, blank lines counted; a BOM is skipped', () => {
  // the model path is a folder that would take a conversion: a bad line fails before it starts
  const r = run(['embed', '--model', join(dir, 'tiny')], '\uFEFF"ok"\n\n\n{"text": "no instruction"}\n');
  oneErrorLine(r, 1, /error BAD_INPUT: input line 4: got an object with keys text without "instruction"/, 'bad object');
  assert.not.match(r.stderr, /^(load|convert):/m, 'the model was not loaded');
  const crlf = run(['embed', '--model', join(dir, 'tiny.fp32.iwt'), '--quiet'], '\uFEFF"first"\r\n\r\n"third"\r\n');
  assert.is(crlf.code, 0, crlf.stderr);
  const out = crlf.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(out.map((o) => o.index), [0, 1]);
  const plain = run(['embed', '--model', join(dir, 'tiny.fp32.iwt'), '--quiet'], '"first"\n"third"\n');
  assert.is(crlf.stdout, plain.stdout, 'a BOM and CRLF change nothing');
});

test('stdin from a terminal prints a one-line hint; from a pipe it does not', () => {
  const cmd = `"${process.execPath}" "${BIN}" embed --model "${join(dir, 'tiny.int8.iwt')}" --output "${join(dir, 'tty.jsonl')}"`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { input: '"hello"\n\x04', encoding: 'utf8', timeout: 20_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const hints = r.stdout.split(/\r?\n/).filter((l) => /reading JSON Lines from the terminal/.test(l));
  assert.is(hints.length, 1, r.stdout);
  assert.match(hints[0], /Ctrl-D/);
  assert.is(readFileSync(join(dir, 'tty.jsonl'), 'utf8').trim().split('\n').length, 1);
  const piped = run(['embed', '--model', join(dir, 'tiny.int8.iwt')], '"hello"\n');
  assert.not.match(piped.stderr, /terminal/);
});

test('--dtype that does not match a weights file is an error; a matching one or none loads it', () => {
  const file = join(dir, 'tiny.int8.iwt');
  oneErrorLine(run(['embed', '--model', file, '--dtype', 'fp32'], '"x"\n'), 1,
    /error BAD_INPUT: dtype "fp32" was asked for, but the weights file holds int8 weights/, '--dtype fp32 on int8');
  const same = run(['embed', '--model', file, '--dtype', 'int8', '--quiet'], '"x"\n');
  const none = run(['embed', '--model', file, '--quiet'], '"x"\n');
  assert.is(same.code, 0, same.stderr);
  assert.is(same.stdout, none.stdout);
});

test('--model: a FIFO fails at once; a mistyped path is NOT_FOUND and never a hub request', async () => {
  const fifo = join(dir, 'model.fifo');
  spawnSync('mkfifo', [fifo]);
  const t0 = Date.now();
  oneErrorLine(run(['embed', '--model', fifo], '"x"\n', {}, 20_000), 1, /error BAD_INPUT: model source \S+model\.fifo is a FIFO/, 'FIFO');
  assert.ok(Date.now() - t0 < 20_000);

  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(404, { 'X-Error-Code': 'RepoNotFound' }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const env = { HF_ENDPOINT: `http://127.0.0.1:${port}`, HF_HUB_CACHE: join(dir, 'hub-cache'), HF_TOKEN: '' };
    for (const source of ['nope/model.iwt', 'nope/model.safetensors', `${basename(dir)}/nothing`, './nope/model', 'nope']) {
      const r = await runAsync(['embed', '--model', source], '"x"\n', env, source.startsWith(basename(dir)) ? tmpdir() : process.cwd());
      oneErrorLine(r, 1, new RegExp(`error NOT_FOUND: model source ${source.replace(/[.]/g, '\\.')}: no such file or folder`), source);
    }
    assert.equal(requests, [], 'no request reached the hub');
    const r = await runAsync(['embed', '--model', 'nope/model'], '"x"\n', env);
    oneErrorLine(r, 1, /error NOT_FOUND/, 'a bare org/name');
    assert.ok(requests.length > 0, 'a bare org/name goes to the hub');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('config files: null never takes a default (BAD_CONFIG naming the key), paths they name stay inside', () => {
  const cases: Array<[string, (j: any) => void, RegExp]> = [
    ['config.json', (j) => { j.layer_norm_epsilon = null; }, /layer_norm_epsilon must be a number in \(0, 1\), got null/],
    ['config.json', (j) => { j.relative_attention_num_buckets = null; }, /"relative_attention_num_buckets" must be a positive integer of at most \d+, got null/],
    ['config.json', (j) => { j.feed_forward_proj = null; }, /feed_forward_proj null is not supported/],
    ['sentence_bert_config.json', (j) => { j.max_seq_length = null; }, /max_seq_length must be a positive integer of at most \d+, got null/],
    ['1_Pooling/config.json', (j) => { j.pooling_mode_cls_token = null; }, /pooling_mode_cls_token is null/],
    ['modules.json', (j) => { j[1].path = null; }, /module #1 .* has path null, expected a string/],
    ['modules.json', (j) => { j[1].path = '../1_Pooling'; }, /module #1 .* path "\.\.\/1_Pooling" must be a relative path inside the folder/],
  ];
  for (const [file, edit, pattern] of cases) {
    const m = join(dir, 'mutant');
    rmSync(m, { recursive: true, force: true });
    cpSync(join(dir, 'tiny'), m, { recursive: true });
    const j = JSON.parse(readFileSync(join(m, file), 'utf8'));
    edit(j);
    writeFileSync(join(m, file), JSON.stringify(j));
    oneErrorLine(run(['convert', m, '--out', join(dir, 'mutant.iwt')]), 1, new RegExp(`error BAD_CONFIG: .*${pattern.source}`), `${file}: ${pattern}`);
  }
  // synth --config FILE: a BOM is skipped, a null is refused, an unreadable file is BAD_CONFIG
  const cfg = { ...JSON.parse(readFileSync(join(dir, 'tiny', 'config.json'), 'utf8')), dense_out: 24 };
  writeFileSync(join(dir, 'cfg.json'), '\uFEFF' + JSON.stringify(cfg));
  const ok = run(['synth', '--config', join(dir, 'cfg.json'), '--out', join(dir, 'from-cfg'), '--quiet']);
  assert.is(ok.code, 0, ok.stderr);
  writeFileSync(join(dir, 'cfg-null.json'), JSON.stringify({ ...cfg, d_kv: null }));
  oneErrorLine(run(['synth', '--config', join(dir, 'cfg-null.json'), '--out', join(dir, 'x')]), 1,
    /error BAD_CONFIG: --config \S+cfg-null\.json: config\.json: "d_kv" must be a positive integer of at most \d+, got null/, 'synth null');
  oneErrorLine(run(['synth', '--config', join(dir, 'a-folder'), '--out', join(dir, 'x')]), 1, /error BAD_CONFIG: --config \S+a-folder: cannot read it: EISDIR/, 'synth folder config');
});

test('an unwritable or failing --output is one typed line, not an unhandled stream error', () => {
  const file = join(dir, 'tiny.int8.iwt');
  for (const [output, pattern] of [
    [join(dir, 'no-such-dir', 'out.jsonl'), /error BAD_OUTPUT: --output \S+out\.jsonl: folder \S+no-such-dir does not exist/],
    [dir, /error BAD_OUTPUT: --output \S+: is a folder/],
    ['/dev/full', /error BAD_OUTPUT: --output \/dev\/full: write failed: ENOSPC/],
  ] as const) {
    const r = run(['embed', '--model', file, '--output', output, '--quiet'], '"a"\n"b"\n');
    assert.is(r.code, 1, `${output}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
