// Peak resident memory of loading a checkpoint folder (loadInstructor(folder): converted into wasm
// memory as its tensors stream) against the bound docs/memory.md promises, weights file + 300 MB;
// beside it the same model converted to a file (convertCheckpoint) and loaded from that file.
// Synth folders of the hkunlp shapes (float32 model.safetensors: base 0.4 GB, large 1.3 GB,
// xl 5 GB) are written to a temporary folder and deleted after each model.
//
//   npm run build && node dist/bench/folder-memory.js [base,large,xl] [int8,fp32]
//
// (xl fp32 is left out: its 5 GB of float32 weights exceed wasm32's 4 GiB, OUT_OF_MEMORY at once.)
//
// Each measurement is a fresh process; its peak RSS is the kernel's (getrusage ru_maxrss), which
// other processes on the machine do not change (times are printed by the children, not kept).
// Writes bench/results/folder-memory.json and bench/results/folder-memory.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInstructor } from '../src/io/load-node.js';
import { convertCheckpoint } from '../src/format/convert-node.js';

const MB = 1e6;
const BOUND_MB = 300;
const INPUTS = [['Represent the Science title:', '3D ActionSLAM: wearable person tracking in multi-floor environments'], 'a plain text'];

type Step = 'folder' | 'convert' | 'file';

async function child(step: Step, folder: string, file: string, dtype: 'int8' | 'int4' | 'fp32'): Promise<void> {
  const t0 = Date.now();
  let extra: Record<string, number> = {};
  if (step === 'convert') {
    await convertCheckpoint(folder, file, { dtype });
  } else {
    const model = await loadInstructor(step === 'folder' ? folder : file, { dtype, verify: true });
    const loaded = Date.now() - t0;
    const [e] = await model.encode(INPUTS as never);
    if (!e.every(Number.isFinite)) throw new Error('non-finite embedding');
    extra = { loadSeconds: loaded / 1000, wasmBytes: model.memoryBytes, weightBytes: model.info.weightBytes };
    model.dispose();
  }
  console.log(JSON.stringify({ step, seconds: (Date.now() - t0) / 1000, maxRssBytes: process.resourceUsage().maxRSS * 1024, ...extra }));
}

function run(self: string, args: string[]): Record<string, number> {
  const r = spawnSync(process.execPath, [self, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  if (process.argv[2] === '--child') {
    await child(process.argv[3] as Step, process.argv[4], process.argv[5], process.argv[6] as 'int8');
    return;
  }
  const configs = (process.argv[2] ?? 'base,large,xl').split(',');
  const dtypes = (process.argv[3] ?? 'int8,fp32').split(',') as Array<'int8' | 'int4' | 'fp32'>;
  const bin = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));
  const root = join(tmpdir(), `iw-folder-memory-${process.pid}`);
  mkdirSync(root, { recursive: true });
  const rows: Array<Record<string, unknown>> = [];
  try {
    for (const config of configs) {
      const folder = join(root, config);
      const synth = spawnSync(process.execPath, [bin, 'synth', '--config', config, '--out', folder, '--quiet'], { encoding: 'utf8' });
      if (synth.status !== 0) throw new Error(`synth ${config}: ${synth.stderr}`);
      const safetensorsBytes = statSync(join(folder, 'model.safetensors')).size;
      for (const dtype of dtypes) {
        if (config === 'xl' && dtype === 'fp32') continue;
        const file = join(root, `${config}.${dtype}.iwt`);
        const fromFolder = run(self, ['--child', 'folder', folder, file, dtype]);
        const converted = run(self, ['--child', 'convert', folder, file, dtype]);
        const fileBytes = statSync(file).size;
        const fromFile = run(self, ['--child', 'file', folder, file, dtype]);
        const row = {
          model: `${config} ${dtype}`, safetensorsBytes, fileBytes,
          folderPeakRss: fromFolder.maxRssBytes, convertPeakRss: converted.maxRssBytes, filePeakRss: fromFile.maxRssBytes,
          boundBytes: fileBytes + BOUND_MB * MB, withinBound: fromFolder.maxRssBytes <= fileBytes + BOUND_MB * MB,
        };
        rows.push(row);
        console.log(JSON.stringify(row));
        rmSync(file, { force: true });
      }
      rmSync(folder, { recursive: true, force: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const mb = (n: unknown) => ((n as number) / MB).toFixed(0);
  const md = [
    `Peak RSS (MB, 10^6 bytes) of one process per cell; Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}.`,
    '',
    '| model | model.safetensors | weights file | loadInstructor(folder) peak | bound (file + 300) | convert peak | loadInstructor(file) peak |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.model} | ${mb(r.safetensorsBytes)} | ${mb(r.fileBytes)} | ${mb(r.folderPeakRss)} | ${mb(r.boundBytes)}${r.withinBound ? '' : ' EXCEEDED'} | ${mb(r.convertPeakRss)} | ${mb(r.filePeakRss)} |`),
    '',
  ].join('\n');
  const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'folder-memory.json'), JSON.stringify({ node: process.version, cpu: cpus()[0]?.model, rows }, null, 2) + '\n');
  writeFileSync(join(out, 'folder-memory.md'), md);
  console.log(md);
  if (rows.some((r) => !r.withinBound)) process.exitCode = 1;
}

await main();
