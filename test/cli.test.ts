// The instructor-wasm command: synth -> convert -> embed, run as a user would (a child process),
// checked against the golden text embeddings of PyTorch + transformers; and its failures.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

function run(args: string[], input?: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
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
  assert.match(bad.stderr, /--threads must be a positive integer or auto, got "0"/);
});

test('long inputs are cut with a reported count', () => {
  const long = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ');
  const r = run(['embed', '--model', join(dir, 'tiny.int8.iwt')], JSON.stringify('short') + '\n' + JSON.stringify(long) + '\n');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /1 input\(s\) cut to 512 tokens: index \(tokens dropped\) 1 \(-\d+\)/);
  assert.is(r.stdout.trim().split('\n').length, 2);
});

test('failures are one clear line and a non-zero exit', () => {
  const file = join(dir, 'tiny.int8.iwt');
  const cases: Array<[string[], string | undefined, number, RegExp]> = [
    [['embed', '--model', file], '"ok"\n{"text": \n', 1, /error BAD_INPUT: input line 2: not JSON/],
    [['embed', '--model', file], '[1, 2]\n', 1, /error BAD_INPUT: input 0: instruction is number/],
    [['embed', '--model', file], '["a", "b", 1]\n', 1, /error BAD_INPUT: input 0/],
    [['embed', '--model', join(dir, 'absent.iwt')], '"x"\n', 1, /error BAD_INPUT: model source .*absent\.iwt/],
    [['embed', '--model', join(dir, 'in.jsonl')], '"x"\n', 1, /error BAD_FILE: .*(not an instructor-wasm weights file|truncated)/],
    [['embed', '--model', join(dir, 'tiny', 'tokenizer.json')], '"x"\n', 1, /error BAD_FILE: .*not an instructor-wasm weights file: magic/],
    [['embed', '--model', file, '--dtype', 'int2'], '"x"\n', 2, /--dtype must be int8, int4 or fp32, got "int2"/],
    [['embed', '--model', file, '--batch-size', '0'], '"x"\n', 2, /--batch-size must be a positive integer/],
    [['embed'], undefined, 2, /embed needs --model/],
    [['synth', '--config', 'huge', '--out', join(dir, 'x')], undefined, 1, /error BAD_INPUT: --config "huge"/],
    [['convert', join(dir, 'absent'), '--out', join(dir, 'y.iwt')], undefined, 1, /error BAD_CONFIG/],
    [['frob'], undefined, 2, /unknown command "frob"/],
    [['embed', '--model', 'hkunlp/instructor-tiny'], '"x"\n', 1, /error OFFLINE: .*not in the cache/],
  ];
  for (const [args, input, code, pattern] of cases) {
    const r = run(args, input, { HF_HUB_OFFLINE: '1', HF_HUB_CACHE: join(dir, 'empty-cache') });
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('instructor-wasm:'));
    assert.is(errorLines.length, 1, r.stderr);
    assert.not.match(r.stderr, /\n\s+at /); // no stack trace
  }
  const help = run(['--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /instructor-wasm synth --config/);
});

test('an unwritable or failing --output is one typed line, not an unhandled stream error', () => {
  const file = join(dir, 'tiny.int8.iwt');
  for (const [output, pattern] of [
    [join(dir, 'no-such-dir', 'out.jsonl'), /error BAD_INPUT: --output ".*out\.jsonl" cannot be written \(ENOENT\)/],
    [dir, /error BAD_INPUT: --output ".*" cannot be written \(EISDIR\)/],
    ['/dev/full', /error BAD_INPUT: writing \/dev\/full failed \(ENOSPC\)/],
  ] as const) {
    const r = run(['embed', '--model', file, '--output', output, '--quiet'], '"a"\n"b"\n');
    assert.is(r.code, 1, `${output}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
